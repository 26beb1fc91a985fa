import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { buildRowModel, createRowModelMemo, visibleWindow, type NodeRow, type VmRow } from './rows.js';
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
