import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { createAgentClient, processAlive, silentLogger, type AgentClient } from '@hvctl/common';
import type { GetInfoResponse__Output, ListDomainsResponse__Output } from '@hvctl/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../../agent.js';
import { parseAgentConfig } from '../../config.js';
import { FAKE_DRBDSETUP, fakeToolbox, type FakeToolbox } from './testing/fake-tools.js';

// An agent with every driver real, each tool a fake script; virsh can be told to hang.
// Shows that a hung tool cannot hang an RPC or leave a process behind.

describe('an agent with real drivers and a hung tool', () => {
  let box: FakeToolbox;
  let agent: RunningAgent;
  let client: AgentClient;

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-agent-real-');
    const tools = {
      drbdadm: await box.tool('drbdadm', `printf 'DRBD_KERNEL_VERSION=9.2.12\\nDRBDADM_VERSION=9.22.0\\n'`),
      drbdsetup: await box.tool('drbdsetup', FAKE_DRBDSETUP),
      // `list` hangs (with a TERM-ignoring child) once $STATE/hang exists.
      virsh: await box.tool(
        'virsh',
        `[ "$1" = --version ] && { echo 9.0.0; exit 0; }
shift 2
case "$1" in
  list) if [ -f "$STATE/hang" ]; then echo $$ >> "$STATE/virsh.pids"; (trap '' TERM; exec sleep 1000) & echo $! >> "$STATE/virsh.pids"; trap '' TERM; while :; do sleep 1; done; fi; printf '\\n' ;;
  event) while :; do sleep 1; done ;;
  *) exit 1 ;;
esac`,
      ),
      birdc: await box.tool('birdc', `echo 'Unable to connect to server control socket (/x): No such file or directory' >&2; exit 1`),
      ip: await box.tool('ip', `echo '[]'`),
      restic: await box.tool('restic', `case "$1" in version) echo 'restic 0.14.0 compiled with go1.19.8 on linux/amd64' ;; cat) echo '{}' ;; snapshots) echo '[]' ;; *) exit 1 ;; esac`),
    };
    await box.set('status.json', '[]');
    await box.set('events2.txt', 'exists -\n');
    await writeFile(join(box.dir, 'pw'), 'x', { mode: 0o600 });
    const config = parseAgentConfig(
      {
        node: 'msk-1',
        site: 'msk',
        listen: '127.0.0.1:0',
        stateDir: join(box.dir, 'state'),
        drivers: { drbd: 'real', kvm: 'real', routing: 'real', backup: 'real', host: 'real' },
        tools,
        kvm: { uri: 'qemu:///system', timeoutMs: 800 },
        routing: { socket: join(box.dir, 'bird.ctl'), includeFile: join(box.dir, 'hvctl.conf') },
        backup: { repository: join(box.dir, 'repo'), passwordFile: join(box.dir, 'pw') },
      },
      join(box.dir, 'agent.yaml'),
    );
    agent = await startAgent({ ...config, insecureLab: true }, silentLogger());
    client = createAgentClient(`127.0.0.1:${agent.port}`);
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop(500);
    await box.cleanup();
  });

  it('reports each real driver as a capability, routing as missing', async () => {
    const info = await new Promise<GetInfoResponse__Output>((resolve, reject) =>
      client.node.GetInfo({}, { deadline: new Date(Date.now() + 5000) }, (error: grpc.ServiceError | null, response?: GetInfoResponse__Output) => (error ? reject(error) : resolve(response!))),
    );
    const capabilities = Object.fromEntries(info.node!.capabilities.map((capability) => [capability.area, capability]));
    expect(capabilities['drbd']).toMatchObject({ driver: 'real', available: true, detail: 'drbd-utils 9.22.0, kernel module 9.2.12' });
    expect(capabilities['kvm']).toMatchObject({ driver: 'real', available: true });
    expect(capabilities['backup']).toMatchObject({ driver: 'real', available: true });
    expect(capabilities['routing']).toMatchObject({ driver: 'real', available: false, detail: expect.stringContaining('BIRD is not reachable') });
    // The agent wrote its BIRD include file at start.
    expect(existsSync(join(box.dir, 'hvctl.conf'))).toBe(true);
  });

  it('answers ListDomains with DEADLINE_EXCEEDED when virsh hangs, and kills virsh and its child', async () => {
    await box.set('hang', '');
    const started = Date.now();
    const error = await new Promise<grpc.ServiceError>((resolve, reject) =>
      client.kvm.ListDomains({}, { deadline: new Date(Date.now() + 5000) }, (failure: grpc.ServiceError | null, response?: ListDomainsResponse__Output) =>
        failure ? resolve(failure) : reject(new Error(`unexpected answer ${JSON.stringify(response)}`)),
      ),
    );
    expect(Date.now() - started).toBeLessThan(2500);
    expect(error.code).toBe(4); // DEADLINE_EXCEEDED, from the agent (the client allowed 5 s)
    expect(error.details).toContain('did not finish within its 800 ms timeout; it was killed');
    const pids = (await readFile(join(box.dir, 'virsh.pids'), 'utf8')).split('\n').filter(Boolean).map(Number);
    expect(pids.length).toBeGreaterThanOrEqual(2);
    expect(pids.filter((pid) => processAlive(pid))).toEqual([]);
  });
});
