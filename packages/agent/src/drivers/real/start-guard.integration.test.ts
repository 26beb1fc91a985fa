import { readFileSync } from 'node:fs';
import { createAgentClient, deadline, unary, type AgentClient, type HvctlError } from '@hvctl/common';
import type { StartResponse__Output } from '@hvctl/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAgent } from '../../agent.js';
import { startFakeToolAgent } from './testing/fake-agent.js';
import { fakeToolbox, type FakeToolbox } from './testing/fake-tools.js';

const drbdFixture = (name: string): string => readFileSync(new URL(`./drbd/__fixtures__/${name}`, import.meta.url), 'utf8');
const kvmFixture = (name: string): string => readFileSync(new URL(`./kvm/__fixtures__/${name}`, import.meta.url), 'utf8');

/** A fake virsh with one shut-off domain whose disk is DRBD resource vm-web-1 (no intent in its metadata, as libvirt answers then); `start` marks it running. */
const VIRSH = `[ "$1" = --version ] && { echo 9.0.0; exit 0; }
shift 2
case "$1" in
  list) printf 'vm-web-1\\n\\n' ;;
  event) while :; do sleep 1; done ;;
  dominfo) cat "$STATE/dominfo.txt" ;;
  domstate) if [ -f "$STATE/started" ]; then printf 'running (booted)\\n\\n'; else printf 'shut off (destroyed)\\n\\n'; fi ;;
  domblklist) printf ' Type   Device   Target   Source\\n------------------------------------------------\\n block  disk     vda      /dev/drbd/by-res/vm-web-1/0\\n\\n' ;;
  start) : > "$STATE/started"; printf 'Domain vm-web-1 started\\n\\n' ;;
  metadata) echo 'error: metadata not found: Requested metadata element is not present' >&2; exit 1 ;;
  *) exit 1 ;;
esac`;

// KvmService.Start through an agent whose drivers are all real (tools faked): the service,
// not only the simulator, refuses to start a VM whose DRBD resource is not Primary here.
describe('KvmService.Start with real drivers', () => {
  let box: FakeToolbox;
  let agent: RunningAgent;
  let client: AgentClient;
  let requests = 0;
  const start = (): Promise<StartResponse__Output> =>
    unary<StartResponse__Output>('Start', (cb) => client.kvm.start({ name: 'vm-web-1', requestId: `start-${(requests += 1)}` }, deadline(5000), cb));
  const virshCommands = async (): Promise<string[]> => (await box.calls()).filter((call) => call[0] === 'virsh').map((call) => call[3] ?? '');

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-start-guard-');
    await box.set('dominfo.txt', kvmFixture('dominfo-shutoff.captured.txt').replace(/^Name:.*$/m, 'Name:           vm-web-1'));
    agent = await startFakeToolAgent(box, { virshBody: VIRSH });
    client = createAgentClient(`127.0.0.1:${agent.port}`);
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop(500);
    await box.cleanup();
  });

  it('refuses with FAILED_PRECONDITION naming the resource and its role, and runs no virsh start', async () => {
    // Given vm-web-1's resource is Secondary on this node
    await box.set('status.json', drbdFixture('status-healthy-two.json').replace('"role": "Primary"', '"role": "Secondary"'));
    // When Start is called
    const error = (await start().catch((caught: unknown) => caught)) as HvctlError;
    // Then it is refused, saying which resource is in which role
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('vm-web-1 cannot start on msk-1: its DRBD resource vm-web-1 is Secondary here, not Primary');
    // And virsh was never asked to start it
    expect(await virshCommands()).not.toContain('start');
  });

  it('refuses when the resource is not configured here', async () => {
    await box.set('status.json', '[]');
    const error = (await start().catch((caught: unknown) => caught)) as HvctlError;
    expect(error.message).toContain('its DRBD resource vm-web-1 is not configured here');
    expect(await virshCommands()).not.toContain('start');
  });

  it('starts it once the resource is Primary', async () => {
    await box.set('status.json', drbdFixture('status-healthy-two.json'));
    const { domain } = await start();
    expect(domain).toMatchObject({ name: 'vm-web-1', state: 'DOMAIN_STATE_RUNNING' });
    expect(await virshCommands()).toContain('start');
  });
});
