import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { lineText } from '../../state/format.js';
import { buildRowModel } from '../../state/rows.js';
import { topologyLine, vmColumns } from './topology-lines.js';

const NOW = 1_700_000_000_000;
const snapshot = fakeClusterSnapshot(fakeLabStates(3, NOW), ['spb-1']);
const model = buildRowModel({ ...snapshot, nodes: snapshot.nodes.map((n) => (n.reachable ? n : { ...n, unreachableSinceMs: NOW - 42_000 })) }, NOW);
const lineOf = (id: string, width: number) => {
  const row = model.rows[model.indexOf(id)]!;
  return topologyLine(row, model.widths, vmColumns(model.widths, width), width, NOW);
};

describe('topology lines', () => {
  it('adds VM columns by importance as the pane widens, never a minor one without a major one', () => {
    const keys = (width: number): string[] => vmColumns(model.widths, width).map((column) => column.key);
    expect(keys(40)).toEqual(['name', 'state']);
    expect(keys(80)).toEqual(['name', 'state', 'roles', 'replication', 'ip']);
    expect(keys(200)).toEqual(['name', 'state', 'roles', 'replication', 'ip', 'announced', 'backup', 'priority']);
  });

  it('shows a VM with its roles, replication, IP and /32, within the width', () => {
    const line = lineOf('vm:vm-msk-2-1', 120);
    expect(lineText(line)).toMatch(/vm-msk-2-1 running +P msk-2 \/ S spb-2 UpToDate\/Established +10\.20\.0\.13 \/32 msk-2 +bak 1h00m/);
    expect([...lineText(line)].length).toBeLessThanOrEqual(120);
  });

  it('greys an unreachable node and its VMs but keeps the UNREACHABLE marker red', () => {
    const node = lineOf('node:spb-1', 120);
    expect(lineText(node)).toMatch(/✖ spb-1 UNREACHABLE 42s +BGP/);
    expect(node.muted).toBe(true);
    expect(node.segments.find((segment) => segment.text.startsWith('UNREACHABLE'))?.tone).toBe('bad');
    expect(lineOf('vm:vm-spb-1-1', 120).muted).toBe(true);
    expect(lineOf('vm:vm-msk-1-1', 120).muted).toBeFalsy();
  });

  it('shows the witness with its backups, and a site with its down count last', () => {
    expect(lineText(lineOf('node:bak-1', 120))).toMatch(/● bak-1 witness +12 backups, newest 1h00m ago/);
    expect(lineText(lineOf('site:spb', 120))).toBe('spb  main site  2 nodes, 6 VMs  1 down');
    // A narrow pane drops the optional parts but keeps the down marker
    expect(lineText(lineOf('site:spb', 14))).toBe('spb  1 down');
  });
});
