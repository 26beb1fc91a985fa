import { describe, expect, it } from 'vitest';
import type { PeerConnection__Output, Resource__Output } from '@hvctl/proto';
import type { ResyncEntry } from '../resync.js';
import { failbackStages } from './failback.js';
import { describeLacks, failoverKind, formatBytes, notCutOff, rpoLines, rtoLines, type FailoverData, type FailoverVm } from './failover.js';

const peer = (node: string, connectionState: string, extra: Partial<PeerConnection__Output> = {}): PeerConnection__Output => ({
  node,
  connectionState,
  peerRole: connectionState === 'Connected' ? 'Secondary' : 'Unknown',
  peerDiskState: connectionState === 'Connected' ? 'UpToDate' : 'DUnknown',
  replicationState: connectionState === 'Connected' ? 'Established' : 'Off',
  outOfSyncBytes: 0,
  syncPercent: 0,
  syncEtaSeconds: 0,
  peerClient: node.startsWith('bak'),
  connectionChangedUnixMs: 0,
  ...extra,
});

const resource = (name: string, role: string, quorum: boolean, peers: PeerConnection__Output[]): Resource__Output => ({
  name,
  role,
  diskState: 'UpToDate',
  quorum,
  suspended: 'no',
  mayPromote: false,
  promotionScore: 0,
  allowTwoPrimaries: false,
  protocol: 'C',
  sizeBytes: 1024 ** 3,
  minor: 1000,
  client: false,
  peers,
  vm: name,
});

const vm = (name: string, protocol: string, extra: Partial<FailoverVm> = {}): FailoverVm => ({
  vm: name,
  ip: '10.20.0.10',
  resource: name,
  from: 'spb-1',
  to: 'msk-1',
  priority: 10,
  protocol,
  lostLacksBytes: 0,
  survivorDisk: 'UpToDate',
  ...extra,
});

const data = (vms: FailoverVm[], lossUnixMs = 0): FailoverData => ({ lost: ['spb-1'], site: '', coordinator: 'msk-1', force: false, lossUnixMs, fence: [], vms, bgp: [] });

describe('the failover summary', () => {
  it('times each phase in run order against the 15-minute RTO, and the outage since the loss', () => {
    // Given the phase timings the engine measured (in any order) and a loss 30 s before the end
    const timings = new Map([
      ['start', 1100],
      ['detect', 20],
      ['verify', 100],
      ['fence', 300],
      ['route', 200],
      ['promote', 500],
    ]);
    // Then one line lists them in run order, with the total against the budget
    expect(rtoLines(data([], 1_000_000), timings, 1_030_000)).toEqual([
      'RTO: 2.2 s of 900 s budget, within (detect 0.0 s, fence 0.3 s, promote 0.5 s, start 1.1 s, route 0.2 s, verify 0.1 s)',
      'Outage since the survivors lost spb-1 at 00:16:40Z: 30.0 s of 900 s (including the time to decide)',
    ]);
    // And a run over budget says so
    expect(rtoLines(data([]), new Map([['start', 901_000]]), 0)).toEqual(['RTO: 901.0 s of 900 s budget, OVER (start 901.0 s)']);
  });

  it('reports zero acknowledged writes at risk for protocol C, unknown for A and B, and what the lost node lacks', () => {
    const lines = rpoLines(data([vm('vm-a', 'C', { lostLacksBytes: 0 }), vm('vm-b', 'A', { lostLacksBytes: 5 * 1024 ** 2 }), vm('vm-c', 'C', { survivorDisk: 'Outdated', survivorLacks: { fromUnixMs: 0, untilUnixMs: 0 } })]), new Map([['vm-a', 12 * 1024 ** 2]]));
    expect(lines).toEqual([
      'RPO vm-a (protocol C): 0 acknowledged writes at risk (protocol C acknowledges a write only once both disks have it), within the 60 s RPO; spb-1 lacked 0 B at planning, 12.0 MiB now (failback resyncs it).',
      "RPO vm-b (protocol A): writes spb-1 acknowledged but had not yet replicated are UNKNOWN (protocol A acknowledges before the peer's disk has them), so the 60 s RPO cannot be confirmed; spb-1 lacked 5.0 MiB at planning (failback resyncs it).",
      "RPO vm-c (protocol C): msk-1's copy was Outdated and was forced: an unknown amount that spb-1 wrote without msk-1 is LOST (the 60 s RPO cannot be confirmed); spb-1 lacked 0 B at planning (failback resyncs it).",
    ]);
    expect([formatBytes(512), formatBytes(1536), formatBytes(3 * 1024 ** 3)]).toEqual(['512 B', '1.5 KiB', '3.0 GiB']);
  });

  it('states what a forced Outdated survivor lacks: the bytes the witness knew and the window, against the RPO', () => {
    // Given msk-1's copy was Outdated: spb-1 wrote 5.5 MiB without it for 10 s (within the RPO), or for 90 s (over it)
    const lacks = (seconds: number) => ({ bytes: 5.5 * 1024 ** 2, fromUnixMs: 1_000_000, untilUnixMs: 1_000_000 + seconds * 1000 });
    const [within, over] = rpoLines(data([vm('vm-a', 'C', { survivorDisk: 'Outdated', survivorLacks: lacks(10) }), vm('vm-b', 'C', { survivorDisk: 'Inconsistent', survivorLacks: lacks(90) })]), new Map());
    // Then the line names the survivor's loss, not "0 acknowledged writes"
    expect(within).toBe("RPO vm-a (protocol C): msk-1's copy was Outdated and was forced: 5.5 MiB that spb-1 wrote without msk-1 are LOST (10.0 s of writes, within the 60 s RPO); spb-1 lacked 0 B at planning (failback resyncs it).");
    expect(over).toMatch(/msk-1's copy was Inconsistent and was forced: 5\.5 MiB .* are LOST \(90\.0 s of writes, OVER the 60 s RPO\)/);
    // And the plan's refusal reads the same facts
    expect(describeLacks(lacks(10), 'msk-1', 'spb-1', 'bak-1')).toBe('spb-1 went on writing without it from 00:16:40Z until the witness lost spb-1 at 00:16:50Z (10.0 s); the witness bak-1 last knew msk-1 lacked 5.5 MiB');
    expect(describeLacks({ fromUnixMs: 0, untilUnixMs: 0 }, 'msk-1', 'spb-1', 'bak-1')).toBe(
      'spb-1 may have written without it; how much msk-1 lacks is not known (spb-1 does not answer and the witness holds no figure)',
    );
  });
});

describe('telling a lost node from a working one', () => {
  it('counts a node that answers as lost only when it has neither quorum nor a link outside the lost side', () => {
    // A cut node: its peers on the other sites are unreachable, it has no quorum
    expect(notCutOff('msk-1', [resource('vm-a', 'Primary', false, [peer('spb-1', 'Connecting'), peer('bak-1', 'Connecting')])], ['msk-1', 'msk-2'])).toBeUndefined();
    // Still connected to a survivor: not lost
    expect(notCutOff('msk-1', [resource('vm-a', 'Primary', true, [peer('spb-1', 'Connected'), peer('bak-1', 'Connected')])], ['msk-1'])).toBe(
      'msk-1 answers and is still connected (vm-a to spb-1, vm-a to bak-1)',
    );
    // Cut off but still quorate (no witness rule): it may be writing
    expect(notCutOff('msk-1', [resource('vm-a', 'Primary', true, [peer('spb-1', 'Connecting')])], ['msk-1'])).toBe('msk-1 answers and still has quorum for vm-a (it may be writing)');
    // Links only to other lost nodes do not count; nothing replicated is no evidence
    expect(notCutOff('msk-1', [resource('vm-x', 'Primary', true, [peer('msk-2', 'Connected')])], ['msk-1', 'msk-2'])).toBe(
      'msk-1 answers and holds no replicated resource whose loss the cluster could see',
    );
  });
});

describe('the failover program', () => {
  it('is rebuilt from its journaled data alone, in plan order', () => {
    const planned = data([vm('vm-b', 'C', { priority: 5, ip: '10.20.0.11' }), vm('vm-a', 'C')]);
    const withFence: FailoverData = { ...planned, fence: [{ node: 'spb-1', answers: false, vms: [], prefixes: ['10.20.0.11/32', '10.20.0.10/32'], bgpAnnounced: [] }] };
    const program = failoverKind.program(JSON.parse(JSON.stringify(withFence)) as FailoverData);
    const steps = 'steps' in program.stages[0]! ? program.stages[0].steps : [];
    expect(steps.map((step) => `${step.phase}: ${step.id}`)).toEqual([
      'detect: detect',
      'fence: fence-spb-1',
      'promote: promote-vm-b',
      'promote: promote-vm-a',
      'start: start-vm-b',
      'start: start-vm-a',
      'route: route-vm-b',
      'route: route-vm-a',
      'route: intent-vm-b',
      'route: intent-vm-a',
      'verify: verify',
    ]);
    // And a node outside the lost set that announces the public block without quorum is unannounced in the fence phase
    const quorumless = failoverKind.program({ ...withFence, quorumless: [{ node: 'spb-2', prefixes: ['203.0.113.0/24'] }] });
    const fenceSteps = ('steps' in quorumless.stages[0]! ? quorumless.stages[0].steps : []).filter((step) => step.phase === 'fence');
    expect(fenceSteps.map((step) => `${step.id}: ${step.title}`)).toEqual([
      'fence-spb-1: fence spb-1: withdraw its announcements if it can still be reached (best effort)',
      'unannounce-spb-2: withdraw 203.0.113.0/24 from spb-2: it lost quorum on every resource',
    ]);
    expect(steps.find((step) => step.id === 'fence-spb-1')?.command).toBe(
      'birdc configure  # on spb-1: remove 10.20.0.11/32, 10.20.0.10/32  # spb-1 does not answer; DRBD quorum (survivor + witness) keeps it from being promoted',
    );
  });
});

describe('the failback program', () => {
  const entry = (resource: string): ResyncEntry => ({ resource, peer: 'msk-1', class: 'resync', role: 'Secondary', peerRole: 'Primary', reason: `${resource}: SyncTarget 10%`, fix: [], etaSeconds: 30 });

  it('waits for every resync side by side, then moves the VMs home', () => {
    const [waits, moves] = failbackStages({
      node: 'spb-1',
      failover: 'wf-1',
      resync: [entry('vm-a'), entry('vm-b'), entry('vm-c')],
      moves: [{ vm: 'vm-a', ip: '10.20.0.10', resource: 'vm-a', from: 'msk-1', to: 'spb-1', memoryBytes: 1024 ** 3 }],
      bgp: [],
    });
    expect(waits && 'lanes' in waits ? { lanes: waits.lanes.map((lane) => lane.map((step) => step.title)), parallel: waits.parallel } : waits).toEqual({
      lanes: ['vm-a', 'vm-b', 'vm-c'].map((vm) => [`resync ${vm} on spb-1 from msk-1 (SyncTarget) until UpToDate`]),
      parallel: 3,
    });
    expect(moves && 'lanes' in moves ? moves.lanes.length : 0).toBe(1);
  });
});
