import { buildTopology } from '@hvctl/common';
import { fakeClusterSnapshot, fakeDomain, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { findAlerts } from './alerts.js';

const NOW = 1_700_000_000_000;
const alertsOf = (states = fakeLabStates(3, NOW), unreachable: string[] = []) => findAlerts(buildTopology(fakeClusterSnapshot(states, unreachable), NOW));

describe('findAlerts', () => {
  it('finds nothing in a healthy lab', () => {
    expect(alertsOf()).toEqual([]);
  });

  it('reports an unreachable node', () => {
    expect(alertsOf(undefined, ['spb-2'])).toEqual([{ level: 'bad', target: 'node:spb-2', message: 'spb-2 unreachable' }]);
  });

  it('only warns about a node still connecting, after the bad alerts', () => {
    // Given msk-1 has not answered yet and spb-2 is known to be down
    const topology = buildTopology(fakeClusterSnapshot(fakeLabStates(3, NOW), ['msk-1', 'spb-2']), NOW);

    // Then msk-1 is a warning and spb-2 stays bad
    expect(findAlerts(topology, new Set(['msk-1']))).toEqual([
      { level: 'bad', target: 'node:spb-2', message: 'spb-2 unreachable' },
      { level: 'warn', target: 'node:msk-1', message: 'msk-1 connecting' },
    ]);
  });

  it('reports a Primary whose I/O DRBD suspended (lost quorum) as bad: its VM is frozen', () => {
    // Given msk-1 lost quorum for vm-msk-1-1 and DRBD suspended its I/O
    const states = fakeLabStates(3, NOW);
    Object.assign(states.get('msk-1')!.resources.find((r) => r.name === 'vm-msk-1-1')!, { quorum: false, suspended: 'quorum' });
    // Then
    expect(alertsOf(states)).toContainEqual({ level: 'bad', target: 'vm:vm-msk-1-1', message: 'vm-msk-1-1 I/O suspended on msk-1 (quorum): vm-msk-1-1 is frozen' });
  });

  it('reports a resource with two Primaries outside a migration as bad', () => {
    // Given spb-1 also promoted vm-msk-1-1's resource
    const states = fakeLabStates(3, NOW);
    const replica = states.get('spb-1')!.resources.find((r) => r.name === 'vm-msk-1-1')!;
    replica.role = 'Primary';

    // Then
    expect(alertsOf(states)).toContainEqual({ level: 'bad', target: 'vm:vm-msk-1-1', message: 'vm-msk-1-1 Primary on msk-1 and spb-1' });
  });

  it('only warns about two Primaries inside a live migration that allowed them', () => {
    // Given vm-msk-1-1 migrating, both replicas Primary with allow-two-primaries
    const states = fakeLabStates(3, NOW);
    for (const node of ['msk-1', 'spb-1']) {
      const replica = states.get(node)!.resources.find((r) => r.name === 'vm-msk-1-1')!;
      Object.assign(replica, { role: 'Primary', allowTwoPrimaries: true });
    }
    states.get('msk-1')!.domains.find((d) => d.name === 'vm-msk-1-1')!.migrating = true;

    // Then
    expect(alertsOf(states)).toEqual([{ level: 'warn', target: 'vm:vm-msk-1-1', message: 'vm-msk-1-1 Primary on msk-1 and spb-1 (live migration)' }]);
  });

  it('reports a VM running on two nodes and a /32 announced from where it does not run', () => {
    // Given vm-msk-2-1 also running on spb-2, and vm-msk-2-2's /32 also announced from spb-2
    const states = fakeLabStates(3, NOW);
    states.get('spb-2')!.domains.push(fakeDomain('vm-msk-2-1', { ip: '10.20.0.13' }));
    states.get('spb-2')!.announcements.push({ prefix: '10.20.0.14/32', kind: 'ANNOUNCEMENT_KIND_VM', node: 'spb-2', vm: 'vm-msk-2-2', sinceUnixMs: NOW });

    // Then
    const messages = alertsOf(states).map((alert) => alert.message);
    expect(messages).toContain('vm-msk-2-1 running on msk-2 and spb-2');
    expect(messages).toContain('vm-msk-2-2 /32 announced from spb-2 but runs on msk-2');
  });

  it('reports a VM intended running that runs nowhere, with how long it has been down', () => {
    // Given vm-msk-1-1 intended running, shut off on msk-1 for 7 minutes, its /32 still announced there
    const states = fakeLabStates(3, NOW);
    for (const domain of [...states.values()].flatMap((s) => s.domains.filter((d) => d.name === 'vm-msk-1-1'))) {
      Object.assign(domain, { intent: 'DOMAIN_INTENT_RUNNING', intentSetUnixMs: 1, state: 'DOMAIN_STATE_SHUTOFF', stateChangedUnixMs: NOW - 7 * 60_000 });
    }

    // Then both are bad alerts on the VM
    const alerts = findAlerts(buildTopology(fakeClusterSnapshot(states), NOW), undefined, NOW);
    expect(alerts).toEqual([
      { level: 'bad', target: 'vm:vm-msk-1-1', message: 'vm-msk-1-1 intended running, down 7 min (hvctl start vm-msk-1-1)' },
      { level: 'bad', target: 'vm:vm-msk-1-1', message: 'vm-msk-1-1 /32 announced from msk-1 but runs nowhere' },
    ]);
  });

  it('a VM intended stopped raises nothing; the public block announced by no node does', () => {
    const states = fakeLabStates(3, NOW);
    for (const domain of [...states.values()].flatMap((s) => s.domains.filter((d) => d.name === 'vm-msk-1-1'))) {
      Object.assign(domain, { intent: 'DOMAIN_INTENT_STOPPED', intentSetUnixMs: 1, state: 'DOMAIN_STATE_SHUTOFF' });
    }
    states.get('msk-1')!.announcements = states.get('msk-1')!.announcements.filter((a) => a.vm !== 'vm-msk-1-1');
    expect(alertsOf(states)).toEqual([]);

    for (const state of states.values()) state.announcements = state.announcements.filter((a) => a.kind !== 'ANNOUNCEMENT_KIND_BGP');
    expect(alertsOf(states)).toEqual([{ level: 'bad', target: 'cluster', message: 'public block 203.0.113.0/24 announced by no node' }]);
  });
});
