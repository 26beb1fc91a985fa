import type { StateChange__Output } from '@hvctl/proto';
import { describe, expect, it } from 'vitest';
import type { ClusterSnapshot, NodeConnection } from './cluster-model.js';
import { parseBackupsSection } from './backup-policy.js';
import { applyChange } from './node-state.js';
import { fakeClusterSnapshot, fakeLabStates, fakeNodeInfo, fakePeer, fakeResource } from './testing/fixtures.js';
import { createTopologyMemo } from './topology-memo.js';
import { buildTopology } from './topology.js';

const NOW = 1_700_000_000_000;

/** The snapshot with one node's connection replaced (state changes through applyChange, like ClusterModel). */
function withNode(snapshot: ClusterSnapshot, name: string, update: (connection: NodeConnection) => NodeConnection): ClusterSnapshot {
  return { ...snapshot, version: snapshot.version + 1, nodes: snapshot.nodes.map((node) => (node.name === name ? update(node) : node)) };
}
const change = (name: string, delta: Partial<StateChange__Output>) => (connection: NodeConnection): NodeConnection => ({
  ...connection,
  ...(connection.state ? { state: applyChange(connection.state, delta as StateChange__Output) } : {}),
  revision: connection.revision + 1,
});

describe('createTopologyMemo', () => {
  it('equals buildTopology over a stream of node, log, reachability and replica changes', () => {
    // Given a memo fed the lab's snapshots as a ClusterModel would publish them
    const memo = createTopologyMemo();
    const s0 = fakeClusterSnapshot(fakeLabStates(3, NOW));
    const s1 = withNode(s0, 'msk-1', change('msk-1', { change: 'node', node: fakeNodeInfo('msk-1', 'msk', { flags: { cordoned: true, cordonReason: 'bench', maintenance: false, changedUnixMs: 0 } }) }));
    const s2 = withNode(s1, 'msk-2', change('msk-2', { change: 'log', log: { timeUnixMs: NOW, level: 'info', area: 'node', message: 'hello', node: 'msk-2' } as never }));
    const s3 = withNode(s2, 'spb-1', (connection) => ({ ...connection, reachable: false, unreachableSinceMs: NOW - 5000, error: 'connection refused' }));
    const s4 = withNode(s3, 'spb-1', (connection) => ({ ...connection, reachable: true, unreachableSinceMs: 0, error: '' }));
    // msk-2 loses its replication link of vm-msk-2-1 60 s before NOW
    const broken = fakeResource('vm-msk-2-1', { role: 'Primary', peers: [fakePeer('spb-2', { connectionState: 'Connecting', replicationState: 'Off', connectionChangedUnixMs: NOW - 60_000 })] });
    const s5 = withNode(s4, 'msk-2', change('msk-2', { change: 'resource', resource: broken }));
    const s6 = withNode(s5, 'msk-1', change('msk-1', { change: 'node', node: fakeNodeInfo('msk-1', 'msk') }));
    const stream: [ClusterSnapshot, number][] = [
      [s0, NOW],
      [s1, NOW + 100],
      [s2, NOW + 200],
      [s3, NOW + 300],
      [s4, NOW + 400],
      [s5, NOW + 500],
      [s6, NOW + 30_500],
    ];

    // When each is built by the memo, Then the result is the same as a full build
    for (const [snapshot, now] of stream) expect(memo(snapshot, now)).toEqual(buildTopology(snapshot, now));
  });

  it('reuses the merged VMs, resources and backups when only node records changed', () => {
    // Given a topology built once
    const memo = createTopologyMemo();
    const s0 = fakeClusterSnapshot(fakeLabStates(3, NOW));
    const first = memo(s0, NOW);

    // When msk-1 is cordoned (a node delta) and a log line arrives
    const s1 = withNode(s0, 'msk-1', change('msk-1', { change: 'node', node: fakeNodeInfo('msk-1', 'msk', { flags: { cordoned: true, cordonReason: '', maintenance: false, changedUnixMs: 0 } }) }));
    const second = memo(s1, NOW + 1000);

    // Then the node shows cordoned and the merged lists are the same objects
    expect(second.nodes.find((node) => node.name === 'msk-1')?.cordoned).toBe(true);
    expect(second.vms).toBe(first.vms);
    expect(second.resources).toBe(first.resources);
    expect(second.announcements).toBe(first.announcements);
    expect(second.backups).toBe(first.backups);
  });

  it('refreshes a broken link RPO with the clock, keeping the other resources', () => {
    // Given vm-msk-1-1's link broken 60 s ago
    const memo = createTopologyMemo();
    const broken = fakeResource('vm-msk-1-1', { role: 'Primary', peers: [fakePeer('spb-1', { connectionState: 'Connecting', replicationState: 'Off', connectionChangedUnixMs: NOW - 60_000 })] });
    const s0 = withNode(fakeClusterSnapshot(fakeLabStates(3, NOW)), 'msk-1', change('msk-1', { change: 'resource', resource: broken }));
    const first = memo(s0, NOW);

    // When only a node record changes, 30 s later
    const s1 = withNode(s0, 'msk-2', change('msk-2', { change: 'node', node: fakeNodeInfo('msk-2', 'msk') }));
    const second = memo(s1, NOW + 30_000);

    // Then that resource's RPO is 90 s and every other resource is the same object
    const index = second.resources.findIndex((resource) => resource.name === 'vm-msk-1-1');
    expect(first.resources[index]?.rpo.seconds).toBe(60);
    expect(second.resources[index]?.rpo.seconds).toBe(90);
    expect(second.resources.filter((resource, i) => resource !== first.resources[i]).map((resource) => resource.name)).toEqual(['vm-msk-1-1']);
  });

  it('turns a backup overdue as the clock passes its policy maximum age', () => {
    // Given a policy allowing backups up to 2 h old, and every VM's newest backup 1 h old
    const memo = createTopologyMemo();
    const plain = fakeClusterSnapshot(fakeLabStates(1, NOW));
    const backups = parseBackupsSection({ policies: [{ name: 'all', vms: ['*'], schedule: '0 * * * *', retention: { keepLast: 3 }, maxAge: '2h' }] });
    const s0 = { ...plain, cluster: { ...plain.cluster, backups } };
    const s1 = withNode(s0, 'msk-1', change('msk-1', { change: 'node', node: fakeNodeInfo('msk-1', 'msk') }));
    expect(memo(s0, NOW).backups.some((backup) => backup.overdue)).toBe(false);

    // When only a node record changes, 1 h 1 min later
    const later = NOW + 3_660_000;
    const topology = memo(s1, later);

    // Then every backup is overdue, as a full build says
    expect(topology.backups.every((backup) => backup.overdue)).toBe(true);
    expect(topology).toEqual(buildTopology(s1, later));
  });
});
