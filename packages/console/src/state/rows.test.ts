import { applyChange, type ClusterSnapshot, type NodeConnection } from '@hvctl/common';
import { fakeClusterSnapshot, fakeLabStates, fakeNodeInfo, fakePeer, fakeResource } from '@hvctl/common/testing';
import type { StateChange__Output } from '@hvctl/proto';
import { describe, expect, it } from 'vitest';
import { buildRowModel, createRowModelBuilder, createRowModelMemo, visibleWindow, type NodeRow, type RowModel, type VmRow } from './rows.js';
import { fakeLargeCluster } from './testing/large-cluster.js';

const NOW = 1_700_000_000_000;

describe('buildRowModel', () => {
  it('flattens site -> node -> VMs in cluster-file order with stable ids', () => {
    // Given the healthy lab with 3 VMs per hypervisor
    const model = buildRowModel(fakeClusterSnapshot(fakeLabStates(3, NOW)), NOW);

    // Then the rows are the 3 sites, 5 nodes and 12 VMs, each node followed by its VMs
    expect(model.rows).toHaveLength(3 + 5 + 12);
    expect(model.rows.slice(0, 6).map((row) => row.id)).toEqual([
      'site:msk',
      'node:msk-1',
      'vm:vm-msk-1-1',
      'vm:vm-msk-1-2',
      'vm:vm-msk-1-3',
      'node:msk-2',
    ]);
    expect(model.rows.filter((row) => row.kind === 'site').map((row) => row.id)).toEqual(['site:msk', 'site:spb', 'site:bak']);
    expect(model.indexOf('node:bak-1')).toBe(model.rows.length - 1);
    expect(model.indexOf('vm:nope')).toBe(-1);
  });

  it('marks BGP announcers and shows the bak node as witness with its backups', () => {
    // Given the lab, where msk-1 and spb-1 announce the public block and bak-1 holds one backup per VM
    const model = buildRowModel(fakeClusterSnapshot(fakeLabStates(3, NOW)), NOW);
    const node = (name: string): NodeRow => model.rows[model.indexOf(`node:${name}`)] as NodeRow;

    // Then
    expect([node('msk-1').bgp, node('msk-2').bgp, node('spb-1').bgp]).toEqual([true, false, true]);
    expect(node('bak-1')).toMatchObject({ witness: true, backups: 12, newestBackupMs: NOW - 3_600_000 });
  });

  it('keeps an unreachable node and its VMs as stale rows with their last-known state', () => {
    // Given spb-1 is unreachable
    const model = buildRowModel(fakeClusterSnapshot(fakeLabStates(3, NOW), ['spb-1']), NOW);

    // Then its row and its VMs are stale; the VMs keep the state spb-1 last reported
    const spb1 = model.rows[model.indexOf('node:spb-1')] as NodeRow;
    const vm = model.rows[model.indexOf('vm:vm-spb-1-1')] as VmRow;
    expect(spb1.stale).toBe(true);
    expect(vm).toMatchObject({ stale: true, lastKnownState: 'running', parent: 'node:spb-1' });
    expect(vm.vm.state).toBe('unknown');
    expect(model.alerts.map((alert) => alert.message)).toContain('spb-1 unreachable');
  });

  it('counts nodes the console is still connecting to apart from down nodes', () => {
    // Given the console just started: msk-1 and msk-2 have neither answered nor failed yet, spb-2 failed
    const started = fakeClusterSnapshot(fakeLabStates(3, NOW), ['spb-2']);
    const snapshot = { ...started, nodes: started.nodes.map((node) => (node.site === 'msk' ? { ...node, reachable: false, state: undefined, settled: false } : node)) };
    const model = buildRowModel(snapshot, NOW);

    // Then the msk site is connecting, not down; the spb site has one node down
    expect(model.rows[model.indexOf('site:msk')]).toMatchObject({ nodes: 2, nodesDown: 0, nodesConnecting: 2 });
    expect(model.rows[model.indexOf('site:spb')]).toMatchObject({ nodes: 2, nodesDown: 1, nodesConnecting: 0 });
    expect(model.alerts.map((alert) => `${alert.level} ${alert.message}`)).toEqual(['bad spb-2 unreachable', 'warn msk-1 connecting', 'warn msk-2 connecting']);
  });

  it('is memoized on the snapshot version', () => {
    // Given a memo and one snapshot
    const memo = createRowModelMemo(() => NOW);
    const snapshot = fakeClusterSnapshot(fakeLabStates(3, NOW), [], 7);

    // When it is asked twice, then again with a newer version
    const first = memo(snapshot);
    const again = memo({ ...snapshot });
    const newer = memo({ ...snapshot, version: 8 });

    // Then the same version reuses the model and a new version rebuilds it
    expect(again).toBe(first);
    expect(newer).not.toBe(first);
    expect(newer.version).toBe(8);
  });
});

/** The snapshot with one node changed the way ClusterModel changes it. */
function withNode(snapshot: ClusterSnapshot, name: string, update: (connection: NodeConnection) => NodeConnection): ClusterSnapshot {
  return { ...snapshot, version: snapshot.version + 1, nodes: snapshot.nodes.map((node) => (node.name === name ? update(node) : node)) };
}
const delta = (change: Partial<StateChange__Output>) => (connection: NodeConnection): NodeConnection =>
  connection.state ? { ...connection, state: applyChange(connection.state, change as StateChange__Output) } : connection;
/** Everything a row model shows, without its index function. */
const shown = (model: RowModel) => ({
  rows: model.rows,
  alerts: model.alerts,
  events: model.events,
  widths: model.widths,
  topology: model.topology,
  index: model.rows.map((row) => model.indexOf(row.id)),
});

describe('createRowModelBuilder', () => {
  it('builds the same model as buildRowModel over a stream of changes', () => {
    // Given a builder fed a stream: a cordon, a lost node, a broken replication link, two primaries, the node back
    const build = createRowModelBuilder();
    const s0 = fakeClusterSnapshot(fakeLabStates(3, NOW));
    const s1 = withNode(s0, 'msk-1', delta({ change: 'node', node: fakeNodeInfo('msk-1', 'msk', { flags: { cordoned: true, cordonReason: '', maintenance: false, changedUnixMs: 0 } }) }));
    const s2 = withNode(s1, 'spb-2', (connection) => ({ ...connection, reachable: false, unreachableSinceMs: NOW - 3000, error: 'connection refused' }));
    const broken = fakeResource('vm-msk-2-1', { role: 'Primary', peers: [fakePeer('spb-2', { connectionState: 'Connecting', replicationState: 'Off', connectionChangedUnixMs: NOW - 60_000 })] });
    const s3 = withNode(s2, 'msk-2', delta({ change: 'resource', resource: broken }));
    const twoPrimaries = fakeResource('vm-msk-1-2', { role: 'Primary', peers: [fakePeer('msk-1', { peerRole: 'Primary' })] });
    const s4 = withNode(s3, 'spb-1', delta({ change: 'resource', resource: twoPrimaries }));
    const s5 = withNode(s4, 'spb-2', (connection) => ({ ...connection, reachable: true, unreachableSinceMs: 0, error: '' }));
    const s6 = withNode(s5, 'msk-2', delta({ change: 'node', node: fakeNodeInfo('msk-2', 'msk') }));

    // When each snapshot is built incrementally, Then it shows what a fresh build shows
    [s0, s1, s2, s3, s4, s5, s6].forEach((snapshot, i) => {
      const now = NOW + i * 10_000;
      expect(shown(build(snapshot, now))).toEqual(shown(buildRowModel(snapshot, now)));
    });
  });

  it('reuses the VM rows of every node whose VMs did not change', () => {
    // Given a model of the 4,000-VM cluster
    const build = createRowModelBuilder();
    const s0 = fakeLargeCluster({ nowMs: NOW });
    const first = build(s0, NOW);

    // When one node is cordoned
    const second = build(withNode(s0, 'msk-7', delta({ change: 'node', node: fakeNodeInfo('msk-7', 'msk', { flags: { cordoned: true, cordonReason: '', maintenance: false, changedUnixMs: 0 } }) })), NOW + 100);

    // Then its node row says so and every VM row is the same object as before
    expect((second.rows[second.indexOf('node:msk-7')] as NodeRow).node.cordoned).toBe(true);
    const vmRows = (model: RowModel) => model.rows.filter((row) => row.kind === 'vm');
    expect(vmRows(second).every((row, i) => row === vmRows(first)[i])).toBe(true);
  });
});

describe('visibleWindow', () => {
  it('keeps the top while the selection is visible and moves it as little as possible otherwise', () => {
    expect(visibleWindow(100, 5, 10, 0)).toEqual({ start: 0, end: 10 });
    expect(visibleWindow(100, 10, 10, 0)).toEqual({ start: 1, end: 11 });
    expect(visibleWindow(100, 3, 10, 20)).toEqual({ start: 3, end: 13 });
    expect(visibleWindow(100, 99, 10, 0)).toEqual({ start: 90, end: 100 });
  });

  it('clamps a stale top after the list shrank, and handles tiny lists and panes', () => {
    expect(visibleWindow(5, 2, 10, 40)).toEqual({ start: 0, end: 5 });
    expect(visibleWindow(0, -1, 10, 3)).toEqual({ start: 0, end: 0 });
    expect(visibleWindow(50, 20, 0, 0)).toEqual({ start: 0, end: 0 });
  });
});

describe('a 4,000-VM cluster', () => {
  it('produces every row once and a window of exactly the pane height around the selection', () => {
    // Given 100 hypervisors with 40 VMs each, plus the witness
    const model = buildRowModel(fakeLargeCluster({ nodesPerSite: 50, vmsPerNode: 40, nowMs: NOW }), NOW);

    // Then there are 3 sites + 101 nodes + 4,000 VMs, each id once
    expect(model.rows).toHaveLength(3 + 101 + 4000);
    expect(new Set(model.rows.map((row) => row.id)).size).toBe(model.rows.length);

    // When the selection is on a VM deep in spb and the pane shows 30 rows
    const selected = model.indexOf('vm:vm-spb-37-12');
    const window = visibleWindow(model.rows.length, selected, 30, 0);

    // Then exactly 30 rows are drawn and the last of them is the selection
    expect(window.end - window.start).toBe(30);
    expect(window.end - 1).toBe(selected);
    expect(model.rows[window.end - 1]?.id).toBe('vm:vm-spb-37-12');
    expect((model.rows[selected] as VmRow).parent).toBe('node:spb-37');
  });
});
