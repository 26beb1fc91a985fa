import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { createAgentClient, silentLogger, type AgentClient } from '@hvctl/common';
import type { Capability__Output, GetInfoResponse__Output, WatchResponse__Output } from '@hvctl/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../agent.js';
import { parseAgentConfig } from '../config.js';
import { FAKE_DRBDSETUP, fakeToolbox, type FakeToolbox } from '../drivers/real/testing/fake-tools.js';

// Agents with real drivers whose tools are fake scripts the test adds and removes while
// the agent runs: capabilities and gRPC health follow within the probe interval, and a
// call failing because its tool vanished makes the agent probe at once.

const FIXTURES = fileURLToPath(new URL('../drivers/real/routing/__fixtures__', import.meta.url));
const DRBDADM = `printf 'DRBD_KERNEL_VERSION=9.2.12\\nDRBDADM_VERSION=9.22.0\\n'`;

interface HealthClient extends grpc.Client {
  check(request: { service: string }, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: { status: string }) => void): void;
}

function healthClient(port: number): HealthClient {
  const definition = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
  const Health = (grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: new (address: string, credentials: grpc.ChannelCredentials) => HealthClient } } } }).grpc.health.v1.Health;
  return new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

const deadline = (): grpc.CallOptions => ({ deadline: new Date(Date.now() + 5000) });

function serviceStatus(health: HealthClient, service: string): Promise<string> {
  return new Promise((resolve, reject) => health.check({ service }, deadline(), (error, response) => (error ? reject(error) : resolve(response!.status))));
}
const drbdStatus = (health: HealthClient): Promise<string> => serviceStatus(health, 'hvctl.v1.DrbdService');

async function capability(client: AgentClient, area: string): Promise<Capability__Output | undefined> {
  const info = await new Promise<GetInfoResponse__Output>((resolve, reject) =>
    client.node.GetInfo({}, deadline(), (error: grpc.ServiceError | null, response?: GetInfoResponse__Output) => (error ? reject(error) : resolve(response!))),
  );
  return info.node?.capabilities.find((entry) => entry.area === area);
}
const drbdCapability = (client: AgentClient): Promise<Capability__Output | undefined> => capability(client, 'drbd');

/** A fake birdc: answers like BIRD 2.0.12 (captured output) while $STATE/bird-up exists, else cannot reach the socket. */
const FAKE_BIRDC = `[ -f "$STATE/bird-up" ] || { echo "Unable to connect to server control socket ($2): Connection refused" >&2; exit 1; }
case "$3 $4" in
  'show status') cat '${FIXTURES}/bird-show-status.captured.txt' ;;
  'show protocols') cat '${FIXTURES}/bird-show-protocols.captured.txt' ;;
  *) echo 'BIRD 2.0.12 ready.' ;;
esac`;

/** Polls until `check` holds; returns how long it took. */
async function within(ms: number, what: string, check: () => Promise<boolean>): Promise<number> {
  const start = Date.now();
  while (!(await check())) {
    if (Date.now() - start > ms) throw new Error(`${what} did not happen within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return Date.now() - start;
}

async function realAgent(box: FakeToolbox, probeIntervalMs: number): Promise<RunningAgent> {
  const tools = {
    drbdadm: join(box.dir, 'drbdadm'),
    drbdsetup: await box.tool('drbdsetup', FAKE_DRBDSETUP),
    virsh: await box.tool('virsh', `[ "$1" = --version ] && { echo 9.0.0; exit 0; }; shift 2; case "$1" in list) printf '\\n' ;; event) while :; do sleep 1; done ;; *) exit 1 ;; esac`),
    birdc: await box.tool('birdc', FAKE_BIRDC),
    ip: await box.tool('ip', `echo '[]'`),
    restic: join(box.dir, 'restic'),
  };
  await box.set('status.json', '[]');
  await box.set('events2.txt', 'exists -\n');
  const config = parseAgentConfig(
    {
      node: 'msk-1',
      site: 'msk',
      listen: '127.0.0.1:0',
      stateDir: join(box.dir, 'state'),
      probeIntervalMs,
      drivers: { drbd: 'real', kvm: 'real', routing: 'real', backup: 'sim', host: 'real' },
      tools,
      routing: { socket: join(box.dir, 'bird.ctl'), includeFile: join(box.dir, 'hvctl.conf') },
      sim: { link: '127.0.0.1:0', peers: [], repositoryNode: 'msk-1' },
    },
    join(box.dir, 'agent.yaml'),
  );
  return startAgent({ ...config, insecureLab: true }, silentLogger());
}

describe('re-probing a running agent', () => {
  let box: FakeToolbox;
  let agent: RunningAgent;
  let client: AgentClient;
  let health: HealthClient;

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-reprobe-');
    agent = await realAgent(box, 200);
    client = createAgentClient(`127.0.0.1:${agent.port}`);
    health = healthClient(agent.port);
  });
  afterAll(async () => {
    client?.close();
    health?.close();
    await agent?.stop(500);
    await box?.cleanup();
  });

  it('starts with drbd missing: capability unavailable, DrbdService NOT_SERVING', async () => {
    expect(await drbdCapability(client)).toMatchObject({ available: false, detail: expect.stringContaining('drbdadm not found') });
    expect(await drbdStatus(health)).toBe('NOT_SERVING');
  });

  it('shows a tool installed after start within the probe interval, as a node delta and a log line', async () => {
    const deltas: WatchResponse__Output[] = [];
    const unsubscribe = agent.context.hub.subscribe((message) => deltas.push(message));
    try {
      await box.tool('drbdadm', DRBDADM);
      await within(2000, 'DrbdService SERVING', async () => (await drbdStatus(health)) === 'SERVING');
      expect(await drbdCapability(client)).toMatchObject({ available: true, detail: 'drbd-utils 9.22.0, kernel module 9.2.12' });
      const node = deltas.find((message) => message.change?.change === 'node' && message.change.node?.capabilities.some((c) => c.area === 'drbd' && c.available));
      const log = deltas.find((message) => message.change?.change === 'log' && message.change.log?.message.startsWith('drbd became available'));
      expect({ node: node !== undefined, log: log?.change?.log?.level }).toEqual({ node: true, log: 'info' });
    } finally {
      unsubscribe();
    }
  });

  it('reports a tool that disappears as unavailable within the probe interval', async () => {
    await rm(join(box.dir, 'drbdadm'));
    await within(2000, 'DrbdService NOT_SERVING', async () => (await drbdStatus(health)) === 'NOT_SERVING');
    expect(await drbdCapability(client)).toMatchObject({ available: false, detail: expect.stringContaining('drbdadm not found') });
  });

  it('picks up a BIRD started after the agent, and notices when it stops', async () => {
    const routing = (): Promise<string> => serviceStatus(health, 'hvctl.v1.RoutingService');
    expect(await routing()).toBe('NOT_SERVING');
    expect(await capability(client, 'routing')).toMatchObject({ available: false, detail: expect.stringContaining('Unable to connect') });
    await box.set('bird-up', '');
    await within(2000, 'RoutingService SERVING', async () => (await routing()) === 'SERVING');
    expect(await capability(client, 'routing')).toMatchObject({ available: true, detail: expect.stringContaining('BIRD 2.0.12') });
    await rm(join(box.dir, 'bird-up'));
    await within(2000, 'RoutingService NOT_SERVING', async () => (await routing()) === 'NOT_SERVING');
  });
});

describe('a driver call failing because its tool vanished', () => {
  let box: FakeToolbox;
  let agent: RunningAgent;
  let client: AgentClient;
  let health: HealthClient;

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-reprobe-call-');
    await box.tool('drbdadm', DRBDADM);
    // An hour: only the failed call can make the agent probe again during the test.
    agent = await realAgent(box, 3_600_000);
    client = createAgentClient(`127.0.0.1:${agent.port}`);
    health = healthClient(agent.port);
  });
  afterAll(async () => {
    client?.close();
    health?.close();
    await agent?.stop(500);
    await box?.cleanup();
  });

  it('makes the agent probe at once: DrbdService turns NOT_SERVING', async () => {
    expect(await drbdStatus(health)).toBe('SERVING');
    await rm(join(box.dir, 'drbdsetup'));
    // Nothing probes on its own within the test.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await drbdStatus(health)).toBe('SERVING');

    const error = await new Promise<grpc.ServiceError | null>((resolve) => client.drbd.ListResources({}, deadline(), (e: grpc.ServiceError | null) => resolve(e)));
    expect(error?.code).toBe(grpc.status.UNAVAILABLE);
    await within(3000, 'DrbdService NOT_SERVING', async () => (await drbdStatus(health)) === 'NOT_SERVING');
    expect(await drbdCapability(client)).toMatchObject({ available: false, detail: expect.stringContaining('drbdsetup not found') });
  });
});
