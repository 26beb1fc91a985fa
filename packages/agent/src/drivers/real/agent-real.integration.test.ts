import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import { createAgentClient, processAlive, type AgentClient } from '@hvctl/common';
import type { GetInfoResponse__Output, ListDomainsResponse__Output } from '@hvctl/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAgent } from '../../agent.js';
import { startFakeToolAgent } from './testing/fake-agent.js';
import { fakeToolbox, type FakeToolbox } from './testing/fake-tools.js';

// An agent with every driver real, each tool a fake script; virsh can be told to hang.
// Shows that a hung tool cannot hang an RPC or leave a process behind.

describe('an agent with real drivers and a hung tool', () => {
  let box: FakeToolbox;
  let agent: RunningAgent;
  let client: AgentClient;

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-agent-real-');
    agent = await startFakeToolAgent(box, {
      virshBody: `[ "$1" = --version ] && { echo 9.0.0; exit 0; }
shift 2
case "$1" in
  list) if [ -f "$STATE/hang" ]; then echo $$ >> "$STATE/virsh.pids"; (trap '' TERM; exec sleep 1000) & echo $! >> "$STATE/virsh.pids"; trap '' TERM; while :; do sleep 1; done; fi; printf '\\n' ;;
  event) while :; do sleep 1; done ;;
  *) exit 1 ;;
esac`,
    });
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
