import { describe, expect, it } from 'vitest';
import type { Lease__Output, NodeState__Output, Workflow__Output } from '@hvctl/proto';
import { checkInvariants } from './invariants.js';
import { buildTopology } from './topology.js';
import { fakeClusterSnapshot, fakeLabStates } from './testing/fixtures.js';

const topologyOf = (mutate: (states: Map<string, NodeState__Output>) => void = () => undefined) => {
  const states = fakeLabStates(2);
  mutate(states);
  return buildTopology(fakeClusterSnapshot(states), 1_700_000_000_000);
};
const state = (states: Map<string, NodeState__Output>, node: string): NodeState__Output => states.get(node)!;
const lease = (key: string, workflowId: string): Lease__Output & { on: string } => ({
  on: 'msk-1',
  key,
  workflowId,
  owner: 'alice',
  coordinator: 'msk-1',
  sinceUnixMs: 0,
  expiresUnixMs: 0,
});
const runningWorkflow = { id: 'wf-1', state: 'running' } as Workflow__Output;

describe('checkInvariants', () => {
  it('passes on a healthy lab', () => {
    expect(checkInvariants(topologyOf(), [], []).violations).toEqual([]);
  });

  it('flags two Primaries unless a running workflow holds the resource', () => {
    // Given the Secondary of vm-msk-1-1 on spb-1 turned Primary
    const topology = topologyOf((states) => {
      state(states, 'spb-1').resources.find((r) => r.name === 'vm-msk-1-1')!.role = 'Primary';
    });
    // Then it is a violation, but not while a migration (a running workflow's lease) holds it
    expect(checkInvariants(topology, [], []).violations.map((v) => v.rule)).toContain('dual-primary');
    expect(checkInvariants(topology, [lease('resource/vm-msk-1-1', 'wf-1')], [runningWorkflow]).violations.map((v) => v.rule)).not.toContain('dual-primary');
  });

  it('flags a VM running on two nodes and a /32 announced from the wrong node', () => {
    const topology = topologyOf((states) => {
      const domain = state(states, 'msk-1').domains.find((d) => d.name === 'vm-msk-1-1')!;
      state(states, 'spb-1').domains.push({ ...domain });
      state(states, 'spb-1').announcements.push({ prefix: `${domain.ip}/32`, kind: 'ANNOUNCEMENT_KIND_VM', node: 'spb-1', vm: domain.name, sinceUnixMs: 0 });
    });
    const rules = checkInvariants(topology, [], []).violations.map((v) => v.rule);
    expect(rules).toContain('vm-twice');
    expect(rules).toContain('route');
  });

  it('flags a resource without an UpToDate replica, stale allow-two-primaries and stale leases', () => {
    const topology = topologyOf((states) => {
      state(states, 'msk-1').resources.find((r) => r.name === 'vm-msk-1-2')!.diskState = 'Inconsistent';
      state(states, 'spb-1').resources.find((r) => r.name === 'vm-msk-1-2')!.diskState = 'Outdated';
      state(states, 'msk-2').resources.find((r) => r.name === 'vm-msk-2-1')!.allowTwoPrimaries = true;
    });
    const report = checkInvariants(topology, [lease('node/msk-2', 'wf-gone')], [{ id: 'wf-gone', state: 'succeeded' } as Workflow__Output]);
    expect(report.violations.map((v) => v.rule).sort()).toEqual(['no-uptodate', 'stale-lease', 'stale-two-primaries']);
  });

  it('flags a split brain: StandAlone pairs where both sides changed, naming the nodes and the commands to discard one side', () => {
    // Given vm-msk-1-1's pair refused each other (StandAlone) after both wrote while apart
    const standAlone = (states: Map<string, NodeState__Output>, node: string, bytes: number) => {
      const resource = state(states, node).resources.find((r) => r.name === 'vm-msk-1-1')!;
      for (const peer of resource.peers) if (!peer.peerClient) Object.assign(peer, { connectionState: 'StandAlone', peerRole: 'Unknown', peerDiskState: 'DUnknown', replicationState: 'Off', outOfSyncBytes: bytes });
    };
    const topology = topologyOf((states) => {
      standAlone(states, 'msk-1', 5000);
      standAlone(states, 'spb-1', 7000);
    });
    // Then check reports it (before the rule, every invariant held)
    const split = checkInvariants(topology, [], []).violations.filter((v) => v.rule === 'split-brain');
    expect(split).toEqual([
      {
        rule: 'split-brain',
        subject: 'vm-msk-1-1',
        message: expect.stringMatching(/^vm-msk-1-1: split brain between msk-1 and spb-1 \(msk-1 StandAlone, spb-1 StandAlone; both changed data while apart .*drbdadm connect --discard-my-data vm-msk-1-1/),
      },
    ]);
    // And a plain disconnect (only one side has changes) is not a split brain
    const disconnected = topologyOf((states) => {
      standAlone(states, 'msk-1', 5000);
      standAlone(states, 'spb-1', 0);
    });
    expect(checkInvariants(disconnected, [], []).violations.map((v) => v.rule)).not.toContain('split-brain');
  });

  it('flags a resource whose only visible copies are not UpToDate while its other replica does not answer', () => {
    // Given spb-1 unreachable and msk-1's copy of vm-spb-1-1 Outdated (it lost quorum while spb-1 wrote)
    const states = fakeLabStates(2);
    state(states, 'msk-1').resources.find((r) => r.name === 'vm-spb-1-1')!.diskState = 'Outdated';
    const topology = buildTopology(fakeClusterSnapshot(states, ['spb-1']), 1_700_000_000_000);
    // Then it is reported, saying where the current copy may be
    const found = checkInvariants(topology, [], []).violations.filter((v) => v.subject === 'vm-spb-1-1');
    expect(found).toEqual([{ rule: 'no-uptodate', subject: 'vm-spb-1-1', message: 'vm-spb-1-1 has no UpToDate replica in sight (msk-1 Outdated); the only current copy may be on spb-1, which does not answer' }]);
  });

  it('does not judge what it cannot see, and says so', () => {
    const states = fakeLabStates(2);
    const topology = buildTopology(fakeClusterSnapshot(states, ['spb-1']), 1_700_000_000_000);
    const report = checkInvariants(topology, [], []);
    expect(report.unchecked).toEqual([expect.stringContaining('spb-1 is unreachable')]);
    expect(report.violations.map((v) => v.rule)).not.toContain('no-uptodate');
  });

  it('an outage: a VM intended running that runs nowhere, with minutes down', () => {
    const now = 1_700_000_000_000;
    // Given vm-msk-1-1 intended running on both nodes, shut off on msk-1 for 12 minutes (a crash and a reboot)
    const topology = topologyOf((states) => {
      for (const node of ['msk-1', 'spb-1']) {
        const domain = state(states, node).domains.find((d) => d.name === 'vm-msk-1-1');
        if (domain) Object.assign(domain, { intent: 'DOMAIN_INTENT_RUNNING', intentSetUnixMs: 5, intentSetBy: 'lab seed' });
      }
      const home = state(states, 'msk-1').domains.find((d) => d.name === 'vm-msk-1-1')!;
      Object.assign(home, { state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'crashed', stateChangedUnixMs: now - 12 * 60_000 });
      state(states, 'msk-1').announcements = state(states, 'msk-1').announcements.filter((a) => a.vm !== 'vm-msk-1-1');
    });
    // Then it is reported as an outage with its down time
    const report = checkInvariants(topology, [], [], now);
    expect(report.violations).toEqual([
      expect.objectContaining({ rule: 'intended-running-down', subject: 'vm-msk-1-1', severity: 'outage', sinceUnixMs: now - 12 * 60_000, message: expect.stringContaining('down 12 min') }),
    ]);
    // And not while a running workflow holds the VM (a start or a migration in progress)
    expect(checkInvariants(topology, [lease('vm/vm-msk-1-1', 'wf-1')], [runningWorkflow], now).violations).toEqual([]);
  });

  it('a VM intended stopped that runs nowhere is not an outage', () => {
    const topology = topologyOf((states) => {
      for (const node of ['msk-1', 'spb-1']) {
        const domain = state(states, node).domains.find((d) => d.name === 'vm-msk-1-1');
        if (domain) Object.assign(domain, { state: 'DOMAIN_STATE_SHUTOFF', intent: node === 'msk-1' ? 'DOMAIN_INTENT_STOPPED' : 'DOMAIN_INTENT_RUNNING', intentSetUnixMs: node === 'msk-1' ? 9 : 5 });
      }
      state(states, 'msk-1').announcements = state(states, 'msk-1').announcements.filter((a) => a.vm !== 'vm-msk-1-1');
    });
    // Newest wins: msk-1's "stopped" (9) over spb-1's older "running" (5)
    expect(topology.vms.find((vm) => vm.name === 'vm-msk-1-1')).toMatchObject({ intent: 'stopped', intentSetUnixMs: 9 });
    expect(checkInvariants(topology, [], []).violations).toEqual([]);
  });

  it('a /32 announced for a VM that runs nowhere, and a public block announced by no node', () => {
    // Given vm-msk-1-1 shut off but its /32 still announced from msk-1, and no node announcing 203.0.113.0/24
    const topology = topologyOf((states) => {
      Object.assign(state(states, 'msk-1').domains.find((d) => d.name === 'vm-msk-1-1')!, { state: 'DOMAIN_STATE_SHUTOFF' });
      for (const node of states.values()) node.announcements = node.announcements.filter((a) => a.kind !== 'ANNOUNCEMENT_KIND_BGP');
    });
    const rules = checkInvariants(topology, [], []).violations.map((v) => [v.rule, v.severity]);
    expect(rules).toEqual([
      ['route-vm-down', undefined],
      ['public-block-unannounced', 'outage'],
    ]);
  });
});
