import { describe, expect, it } from 'vitest';
import { AUDIT_GENESIS, sealAuditRecord, type AuditRecord } from '@hvctl/common';
import { formatAuditTable, parseSince } from './audit-command.js';
import { contradictsPinned } from './audit-heads.js';
import { mergeRecords, type NodeJournal } from './audit-journal.js';

function journal(node: string, entries: readonly { time: string; method: string; kind?: AuditRecord['kind'] }[]): NodeJournal {
  let prev = AUDIT_GENESIS;
  const lines = entries.map((entry, index) => {
    const record = sealAuditRecord({ seq: index + 1, time: entry.time, node, kind: entry.kind ?? 'intent', method: entry.method, identity: { name: 'alice', role: 'operator', via: 'certificate' }, request_id: `r-${node}-${index + 1}`, prev });
    prev = record.hash;
    return JSON.stringify(record);
  });
  return { node, lines };
}

describe('hvctl audit', () => {
  it('parses --since as a duration back from now or as a date', () => {
    const now = Date.UTC(2026, 10, 23, 12, 0, 0);
    expect(parseSince('30m', now)).toBe(now - 30 * 60_000);
    expect(parseSince('2h', now)).toBe(now - 2 * 3_600_000);
    expect(parseSince('7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseSince('2026-11-23T10:00:00Z', now)).toBe(Date.UTC(2026, 10, 23, 10, 0, 0));
    expect(() => parseSince('yesterday', now)).toThrow(/duration like 30m/);
  });

  it('merges every node by time, filters by time and method, and keeps lines that are not records', () => {
    // Given two nodes' journals with interleaved times, and garbage in one
    const msk = journal('msk-1', [
      { time: '2026-11-23T10:00:01.000Z', method: '/hvctl.v1.NodeService/Cordon' },
      { time: '2026-11-23T10:00:04.000Z', method: '/hvctl.v1.DrbdService/Promote' },
    ]);
    const spb = journal('spb-1', [
      { time: '2026-11-23T10:00:02.000Z', method: '/hvctl.v1.DrbdService/Promote' },
      { time: '2026-11-23T10:00:03.000Z', method: '/hvctl.v1.KvmService/Migrate' },
    ]);
    const withGarbage: NodeJournal = { ...spb, lines: [...spb.lines, 'not json'] };
    // Then merging orders by time across nodes
    const merged = mergeRecords([msk, withGarbage]);
    expect(merged.map((record) => (record.garbage !== undefined ? 'garbage' : `${record.node}:${record.seq}`))).toEqual(['garbage', 'msk-1:1', 'spb-1:1', 'spb-1:2', 'msk-1:2']);
    // And --method and --since narrow it
    const promotes = mergeRecords([msk, spb], { method: 'promote', sinceUnixMs: Date.parse('2026-11-23T10:00:03Z') });
    expect(promotes.map((record) => `${record.node}:${record.seq}`)).toEqual(['msk-1:2']);
    // And the table shows the short method, who and the request
    const text = formatAuditTable(promotes);
    expect(text.split('\n')[1]).toMatch(/^2026-11-23 10:00:04Z\s+msk-1\s+2\s+DrbdService\/Promote\s+alice \(operator\)\s+r-msk-1-2\s+intent$/);
    expect(formatAuditTable([])).toBe('no audit records match');
  });

  it('shows the repeats of a request id as replayed', () => {
    const record = (seq: number, kind: AuditRecord['kind'], replayed: boolean): AuditRecord =>
      sealAuditRecord({ seq, time: `2026-11-23T10:00:0${seq}.000Z`, node: 'msk-1', kind, method: '/hvctl.v1.NodeService/Cordon', identity: { name: 'alice', role: 'operator', via: 'certificate' }, request_id: 'r-1', ...(kind === 'outcome' ? { result: 'ok', duration_ms: 3 } : {}), ...(replayed ? { replayed: true } : {}), prev: AUDIT_GENESIS });
    const rows = formatAuditTable([record(1, 'intent', false), record(2, 'outcome', false), record(3, 'intent', true), record(4, 'outcome', true)]).split('\n').slice(1);
    expect(rows.map((row) => /(intent|ok 3ms)( \(replayed\))?\s*$/.exec(row)?.[0].trim())).toEqual(['intent', 'ok 3ms', 'intent (replayed)', 'ok 3ms (replayed)']);
  });

  it('notices a journal rewritten whole since its head was pinned', () => {
    // Given a journal whose seq 2 was verified (pinned) earlier
    const original = journal('msk-1', [
      { time: '2026-11-23T10:00:01.000Z', method: '/hvctl.v1.NodeService/Cordon' },
      { time: '2026-11-23T10:00:02.000Z', method: '/hvctl.v1.NodeService/Uncordon' },
      { time: '2026-11-23T10:00:03.000Z', method: '/hvctl.v1.NodeService/Cordon' },
    ]);
    const second = JSON.parse(original.lines[1]!) as AuditRecord;
    const pinned = { seq: 2, hash: second.hash, verifiedAt: '2026-11-23T11:00:00Z' };
    // Then the same journal, grown, still holds it
    expect(contradictsPinned(original.lines, pinned)).toBeUndefined();
    // But a consistent rewrite (every hash recomputed) does not
    const rewritten = journal('msk-1', [
      { time: '2026-11-23T10:00:01.000Z', method: '/hvctl.v1.NodeService/Cordon' },
      { time: '2026-11-23T10:00:02.000Z', method: '/hvctl.v1.DrbdService/Promote' },
      { time: '2026-11-23T10:00:03.000Z', method: '/hvctl.v1.NodeService/Cordon' },
    ]);
    expect(contradictsPinned(rewritten.lines, pinned)).toMatch(/^rewritten: seq 2 had hash/);
    // Nor does one cut before it
    expect(contradictsPinned(original.lines.slice(0, 1), pinned)).toMatch(/no longer holds seq 2/);
  });
});
