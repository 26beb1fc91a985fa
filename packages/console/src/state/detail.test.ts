import type { ClusterSnapshot } from '@hvctl/common';
import { fakeClusterSnapshot, fakeLabStates, fakeNodeInfo } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { detailLines } from './detail.js';
import { lineText } from './format.js';
import { buildRowModel } from './rows.js';

const NOW = 1_700_000_000_000;

function detailOf(snapshot: ClusterSnapshot, id: string, width = 100): { text: string[]; muted: boolean[] } {
  const model = buildRowModel(snapshot, NOW);
  const lines = detailLines(model, model.rows[model.indexOf(id)], NOW, width);
  return { text: lines.map(lineText), muted: lines.map((line) => line.muted === true) };
}

describe('detailLines', () => {
  it('describes a node: address, agent, capabilities, flags, facts, announcements', () => {
    const { text } = detailOf(fakeClusterSnapshot(fakeLabStates(3, NOW)), 'node:msk-1');
    const all = text.join('\n');
    expect(text[0]).toMatch(/^msk-1 +node at site msk/);
    expect(all).toMatch(/address +127\.0\.0\.1:7401/);
    expect(all).toMatch(/agent +0\.1\.0/);
    expect(all).toMatch(/uptime +1m40s/);
    expect(all).toMatch(/flags +schedulable/);
    expect(all).toMatch(/drbd +sim +available +simulated/);
    expect(all).toMatch(/203\.0\.113\.0\/24 +BGP public block/);
    expect(all).toMatch(/10\.20\.0\.10\/32 +vm-msk-1-1/);
    expect(all).toMatch(/VMs +3 \(3 running\)/);
  });

  it('shows a missing capability as missing, with its detail, not as an error', () => {
    // Given msk-2 has no working BIRD
    const states = fakeLabStates(3, NOW);
    const info = fakeNodeInfo('msk-2', 'msk');
    info.capabilities = info.capabilities.map((c) => (c.area === 'routing' ? { ...c, driver: 'real', available: false, detail: 'birdc: not found' } : c));
    info.flags = { cordoned: true, cordonReason: 'disk swap', maintenance: true, changedUnixMs: NOW - 60_000 };
    states.get('msk-2')!.node = info;

    // Then
    const all = detailOf(fakeClusterSnapshot(states), 'node:msk-2').text.join('\n');
    expect(all).toMatch(/routing +real +missing +birdc: not found/);
    expect(all).toMatch(/flags +cordoned \(disk swap\) +maintenance +changed 1m00s ago/);
  });

  it('says how long an unreachable node has been gone and greys its last-known data', () => {
    // Given spb-1 unreachable for 42 s
    const snapshot = fakeClusterSnapshot(fakeLabStates(3, NOW), ['spb-1']);
    const nodes = snapshot.nodes.map((n) => (n.name === 'spb-1' ? { ...n, unreachableSinceMs: NOW - 42_000 } : n));

    // Then
    const { text, muted } = detailOf({ ...snapshot, nodes }, 'node:spb-1');
    expect(text[1]).toBe('unreachable for 42 s: connection refused');
    expect(text[2]).toBe('last known state:');
    expect(text.join('\n')).toMatch(/address +127\.0\.0\.1:7403/);
    expect(muted.slice(3).every(Boolean)).toBe(true);
    expect(muted[1]).toBe(false);
  });

  it('wraps a long connection error instead of cutting it, and says when a node never reported', () => {
    // Given spb-2 never reached, with a long gRPC error
    const snapshot = fakeClusterSnapshot(fakeLabStates(3, NOW), ['spb-2']);
    const error = 'No connection established. Last error: Error: connect ECONNREFUSED 127.0.0.1:7404 (2026-11-23T14:37:47.000Z)';
    const nodes = snapshot.nodes.map((n) => (n.name === 'spb-2' ? { ...n, state: undefined, unreachableSinceMs: NOW - 5000, error } : n));

    // Then every word of the error is on screen within 40 columns
    const { text } = detailOf({ ...snapshot, nodes }, 'node:spb-2', 40);
    expect(text.every((line) => [...line].length <= 40)).toBe(true);
    expect(text.slice(1, -1).join(' ')).toBe(`unreachable for 5 s: ${error}`);
    expect(text.at(-1)).toBe('no report since the console started');
  });

  it('describes a VM with every replica, where its /32 is announced, and its last backup', () => {
    const { text } = detailOf(fakeClusterSnapshot(fakeLabStates(3, NOW)), 'vm:vm-msk-1-2', 100);
    const all = text.join('\n');
    expect(all).toMatch(/state +running \(booted\)/);
    expect(all).toMatch(/node +msk-1/);
    expect(all).toMatch(/ip +10\.20\.0\.11/);
    expect(all).toMatch(/\/32 from +msk-1/);
    expect(all).toMatch(/priority +20/);
    expect(all).toMatch(/resource +vm-msk-1-2 +protocol C, 20\.0 GiB/);
    expect(all).toMatch(/replication +UpToDate\/Established/);
    // A table at 100 columns: one line per replica, the witness last
    expect(all).toMatch(/msk-1 +Primary +UpToDate +Connected +Established +- +0 B +yes +no/);
    expect(all).toMatch(/spb-1 +Secondary +UpToDate +Connected +Established/);
    expect(all).toMatch(/bak-1 +witness +Diskless/);
    expect(all).toMatch(/last backup +1h00m ago +\(1 snapshot,/);
  });

  it('lays replicas out in blocks on a narrow pane and shows sync progress', () => {
    // Given spb-1 resyncing vm-msk-1-1 at 42 %
    const states = fakeLabStates(3, NOW);
    const replica = states.get('spb-1')!.resources.find((r) => r.name === 'vm-msk-1-1')!;
    replica.diskState = 'Inconsistent';
    replica.peers[0] = { ...replica.peers[0]!, replicationState: 'SyncTarget', syncPercent: 42.5, outOfSyncBytes: 3 * 2 ** 30 };

    // Then
    const all = detailOf(fakeClusterSnapshot(states), 'vm:vm-msk-1-1', 60).text.join('\n');
    expect(all).toMatch(/replication +SyncTarget 42%/);
    expect(all).toMatch(/spb-1 Secondary Inconsistent/);
    expect(all).toMatch(/Connected\/SyncTarget +sync 42% +oos 3\.0 GiB/);
  });

  it('shows a Primary whose I/O DRBD suspended as frozen, in the table and in the blocks', () => {
    // Given msk-1 lost quorum for vm-msk-1-2 and DRBD suspended its I/O
    const states = fakeLabStates(3, NOW);
    Object.assign(states.get('msk-1')!.resources.find((r) => r.name === 'vm-msk-1-2')!, { quorum: false, suspended: 'quorum' });
    // Then the summary and the replica row say so, wide or narrow
    const wide = detailOf(fakeClusterSnapshot(states), 'vm:vm-msk-1-2', 100).text.join('\n');
    expect(wide).toMatch(/replication +I\/O suspended \(quorum\) on msk-1/);
    expect(wide).toMatch(/msk-1 +Primary +UpToDate .* no +no I\/O suspended \(quorum\)/);
    const narrow = detailOf(fakeClusterSnapshot(states), 'vm:vm-msk-1-2', 60).text.join('\n');
    expect(narrow).toMatch(/msk-1 Primary UpToDate I\/O suspended \(quorum\)/);
  });

  it('describes a site with its nodes and BGP announcers', () => {
    const all = detailOf(fakeClusterSnapshot(fakeLabStates(3, NOW), ['spb-2']), 'site:spb').text.join('\n');
    expect(all).toMatch(/nodes +2 +1 unreachable/);
    expect(all).toMatch(/spb-2 +UNREACHABLE/);
    expect(all).toMatch(/BGP +203\.0\.113\.0\/24 from spb-1/);
  });
});
