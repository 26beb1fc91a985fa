import { buildTopology } from '@hvctl/common';
import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import type { NodeState__Output } from '@hvctl/proto';
import { describe, expect, it } from 'vitest';
import { evaluateRules, type RuleSettings } from '../alerts/rules.js';
import { computeSubject } from '../sla/compute.js';
import { DEFAULT_SLA_RULE } from '../sla/rule.js';
import { observe } from './observe.js';

const NOW = 1_700_000_000_000;
const SETTINGS: RuleSettings = { nodeUnreachableAfterSeconds: 30, backupMaxAgeSeconds: 26 * 3600, slaAtRiskMinutes: 60 };
const stateOf = (states: Map<string, NodeState__Output>, node: string): NodeState__Output => states.get(node) as NodeState__Output;

/** The peers' view once msk-1's DRBD link broke `ageMs` ago. */
function peersLoseMsk1(states: Map<string, NodeState__Output>, ageMs: number): void {
  for (const node of ['spb-1', 'bak-1']) {
    for (const resource of stateOf(states, node).resources) {
      resource.peers = resource.peers.map((peer) =>
        peer.node === 'msk-1' ? { ...peer, connectionState: 'Connecting', peerRole: 'Unknown', peerDiskState: 'DUnknown', replicationState: 'Off', connectionChangedUnixMs: NOW - ageMs } : peer,
      );
    }
  }
}

const byState = (observations: ReturnType<typeof observe>, kind: 'vm' | 'node'): Record<string, string> =>
  Object.fromEntries(observations.filter((entry) => entry.kind === kind).map((entry) => [entry.subject, entry.state]));

describe('observe and alert rules', () => {
  it('sees a healthy cluster as up, with nothing to alert', () => {
    const snapshot = fakeClusterSnapshot(fakeLabStates(1, NOW));
    const topology = buildTopology(snapshot, NOW);
    expect(new Set(Object.values(byState(observe(snapshot, topology), 'vm')))).toEqual(new Set(['up']));
    expect(evaluateRules({ topology, nowMs: NOW, sla: [] }, SETTINGS)).toEqual([]);
  });

  it('counts the VMs of a dead node as down and raises node, degraded and RPO alerts', () => {
    // Given msk-1 unreachable for 45 s and its peers' links to it broken for as long
    const states = fakeLabStates(1, NOW);
    peersLoseMsk1(states, 45_000);
    const snapshot = fakeClusterSnapshot(states, ['msk-1'], 1, NOW - 45_000);
    const topology = buildTopology(snapshot, NOW);
    const observations = observe(snapshot, topology);
    expect(byState(observations, 'node')).toMatchObject({ 'msk-1': 'down', 'spb-1': 'up' });
    expect(byState(observations, 'vm')).toEqual({ 'vm-msk-1-1': 'down', 'vm-msk-2-1': 'up', 'vm-spb-1-1': 'up', 'vm-spb-2-1': 'up' });
    const conditions = evaluateRules({ topology, nowMs: NOW, sla: [] }, SETTINGS).map((condition) => `${condition.severity} ${condition.rule}/${condition.subject}`);
    // spb-1's own VM keeps running, but its secondary on msk-1 is lost too: both resources degrade
    expect(conditions.sort()).toEqual([
      'critical node-unreachable/msk-1',
      'warning resource-degraded/vm-msk-1-1',
      'warning resource-degraded/vm-spb-1-1',
    ]);
    // Past the 60 s RPO target the broken resources turn critical
    const later = buildTopology(snapshot, NOW + 20_000);
    expect(evaluateRules({ topology: later, nowMs: NOW + 20_000, sla: [] }, SETTINGS).filter((condition) => condition.rule === 'rpo-over-target').map((condition) => condition.subject).sort()).toEqual([
      'vm-msk-1-1',
      'vm-spb-1-1',
    ]);
  });

  it('keeps a VM up when only the watcher lost its host but the DRBD peer still sees it Primary', () => {
    const snapshot = fakeClusterSnapshot(fakeLabStates(1, NOW), ['msk-1'], 1, NOW - 45_000);
    const observations = observe(snapshot, buildTopology(snapshot, NOW));
    expect(byState(observations, 'vm')['vm-msk-1-1']).toBe('up');
    expect(byState(observations, 'node')['msk-1']).toBe('down');
  });

  it('tells a deliberate stop and a drain from an outage', () => {
    const states = fakeLabStates(1, NOW);
    const domain = (node: string) => stateOf(states, node).domains[0] as NonNullable<NodeState__Output['domains'][number]>;
    Object.assign(domain('msk-1'), { state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'shutdown' });
    Object.assign(domain('msk-2'), { state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'crashed' });
    Object.assign(domain('spb-1'), { state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'destroyed' });
    stateOf(states, 'spb-1').node = { ...(stateOf(states, 'spb-1').node as NonNullable<NodeState__Output['node']>), flags: { cordoned: true, cordonReason: 'drain', maintenance: false, changedUnixMs: NOW } };
    const snapshot = fakeClusterSnapshot(states);
    expect(byState(observe(snapshot, buildTopology(snapshot, NOW)), 'vm')).toEqual({ 'vm-msk-1-1': 'stopped', 'vm-msk-2-1': 'down', 'vm-spb-1-1': 'maintenance', 'vm-spb-2-1': 'up' });
  });

  it('warns about missing or old backups only while a backup node is reachable', () => {
    const states = fakeLabStates(1, NOW);
    stateOf(states, 'bak-1').snapshots = stateOf(states, 'bak-1').snapshots.filter((snapshot) => snapshot.vm !== 'vm-msk-1-1');
    const later = NOW + 26 * 3600 * 1000;
    const rules = (now: number, unreachable: string[] = []): string[] =>
      evaluateRules({ topology: buildTopology(fakeClusterSnapshot(states, unreachable), now), nowMs: now, sla: [] }, SETTINGS)
        .filter((condition) => condition.rule === 'backup-too-old')
        .map((condition) => condition.summary);
    expect(rules(NOW)).toEqual(['vm-msk-1-1 has no backup']);
    expect(rules(later)).toHaveLength(4);
    expect(rules(NOW, ['msk-1', 'msk-2', 'spb-1', 'spb-2', 'bak-1'])).toEqual([]);
  });

  it('warns that the SLA is at risk only for a VM that was down, and says when it is already short', () => {
    // Given three VMs first seen 10 days before the end of November (72 minutes allowed each)
    const start = Date.UTC(2026, 10, 21);
    const now = start + 2 * 3600_000;
    const report = (subject: string, downMinutes: number) =>
      computeSubject(
        { subject, site: 'msk', points: [{ atMs: start, state: 'up' }, ...(downMinutes ? [{ atMs: start + 60_000, state: 'down' as const }, { atMs: start + (1 + downMinutes) * 60_000, state: 'up' as const }] : [])] },
        { month: { year: 2026, month: 11 }, nowMs: now, rule: DEFAULT_SLA_RULE, gaps: [] },
      );
    const topology = buildTopology(fakeClusterSnapshot(fakeLabStates(0, now)), now);
    const summaries = evaluateRules({ topology, nowMs: now, sla: [report('quiet', 0), report('blip', 5), report('bad', 20), report('short', 80)] }, SETTINGS)
      .filter((condition) => condition.rule === 'sla-at-risk')
      .map((condition) => condition.summary);
    // Then the quiet VM is not at risk despite its short allowance; blip (67 left) is not under the 60-minute margin
    expect(summaries).toEqual([
      'bad falls below the guarantee after 52.0 more minutes down this month',
      'short is 8 min below the guarantee this month (99.444%, credit 16 min)',
    ]);
  });
});
