import { describe, expect, it } from 'vitest';
import { AUDIT_GENESIS, auditRecordHash, canonicalJson, sealAuditRecord, verifyAuditChain, type AuditRecord } from './audit-chain.js';

/** A chain of `count` records as the agent writes them (intent/outcome pairs). */
function chain(count: number): AuditRecord[] {
  const records: AuditRecord[] = [];
  let prev = AUDIT_GENESIS;
  for (let seq = 1; seq <= count; seq += 1) {
    const record = sealAuditRecord({
      seq,
      time: new Date(Date.UTC(2026, 0, 1, 0, 0, seq)).toISOString(),
      node: 'msk-1',
      kind: seq % 2 ? 'intent' : 'outcome',
      method: '/hvctl.v1.NodeService/Cordon',
      identity: { name: 'alice', role: 'operator', via: 'certificate' },
      request_id: `req-${Math.ceil(seq / 2)}`,
      ...(seq % 2 ? { args: { reason: 'kernel update' } } : { intent_seq: seq - 1, result: 'ok' as const, duration_ms: 3 }),
      prev,
    });
    records.push(record);
    prev = record.hash;
  }
  return records;
}

const lines = (records: readonly AuditRecord[]): string[] => records.map((record) => JSON.stringify(record));
const headOf = (records: readonly AuditRecord[]): { seq: number; hash: string } => ({ seq: records.at(-1)?.seq ?? 0, hash: records.at(-1)?.hash ?? AUDIT_GENESIS });

describe('canonicalJson', () => {
  it('sorts keys at every level and drops undefined fields', () => {
    // Given two objects with the same content in different key order
    const a = { b: 1, a: { d: [1, { y: 2, x: 1 }], c: 'x' }, skip: undefined };
    const b = { a: { c: 'x', d: [1, { x: 1, y: 2 }] }, b: 1 };
    // Then they have the same canonical form
    expect(canonicalJson(a)).toBe(canonicalJson(b));
    expect(canonicalJson(a)).toBe('{"a":{"c":"x","d":[1,{"x":1,"y":2}]},"b":1}');
  });
});

describe('the audit hash chain', () => {
  it('links each record to the one before it and verifies a clean journal with its head', () => {
    // Given a journal of 6 records
    const records = chain(6);
    // Then the first starts at the genesis, each names the hash of the one before
    expect(records[0]?.prev).toBe(AUDIT_GENESIS);
    for (let index = 1; index < records.length; index += 1) expect(records[index]?.prev).toBe(records[index - 1]?.hash);
    // And the whole chain verifies, against its head too, whatever the key order in the file
    const reordered = records.map((record) => JSON.stringify(Object.fromEntries(Object.entries(record).reverse())));
    expect(verifyAuditChain(reordered, headOf(records))).toEqual({ ok: true, records: 6, last: headOf(records) });
    // An empty journal with an empty head is fine too
    expect(verifyAuditChain([], { seq: 0, hash: AUDIT_GENESIS })).toMatchObject({ ok: true, records: 0 });
  });

  it('detects an edited field (seq 3 of 6)', () => {
    const records = chain(6);
    const text = lines(records);
    // When a field of seq 3 is changed in place
    text[2] = JSON.stringify({ ...records[2], identity: { name: 'mallory', role: 'operator', via: 'certificate' } });
    // Then verification names seq 3 as edited
    expect(verifyAuditChain(text, headOf(records))).toMatchObject({ ok: false, seq: 3, line: 2, reason: expect.stringContaining('edited') });
  });

  it('detects an edited record whose hash was recomputed: the next record no longer follows it', () => {
    const records = chain(6);
    const text = lines(records);
    // When seq 3 is changed and resealed with a matching hash
    const { hash: _old, ...rest } = { ...records[2]!, args: { reason: 'nothing to see' } };
    text[2] = JSON.stringify({ ...rest, hash: auditRecordHash(rest) });
    // Then seq 4 breaks: its prev names the original seq 3
    expect(verifyAuditChain(text, headOf(records))).toMatchObject({ ok: false, seq: 4, reason: expect.stringContaining('prev hash differs') });
  });

  it('detects a deleted line', () => {
    const records = chain(6);
    // When seq 4 is removed
    const text = lines(records.filter((record) => record.seq !== 4));
    // Then seq 4 is reported missing
    expect(verifyAuditChain(text, headOf(records))).toMatchObject({ ok: false, seq: 4, reason: expect.stringContaining('missing') });
  });

  it('detects two swapped lines', () => {
    const records = chain(6);
    const text = lines(records);
    // When seq 2 and seq 3 trade places
    [text[1], text[2]] = [text[2]!, text[1]!];
    // Then the place of seq 2 holds another record
    expect(verifyAuditChain(text, headOf(records))).toMatchObject({ ok: false, seq: 2, line: 1 });
  });

  it('detects a truncated tail against the head', () => {
    const records = chain(6);
    // When the last two records are cut off (the rest is a valid chain on its own)
    const text = lines(records.slice(0, 4));
    expect(verifyAuditChain(text)).toMatchObject({ ok: true });
    // Then the head, which names seq 6, no longer matches
    expect(verifyAuditChain(text, headOf(records))).toMatchObject({ ok: false, seq: 5, line: -1, reason: expect.stringContaining('truncated') });
  });

  it('detects garbage appended after the last record', () => {
    const records = chain(6);
    // When a line that is not a record is appended
    const text = [...lines(records), 'rm -rf / # oops'];
    // Then verification stops at it
    expect(verifyAuditChain(text, headOf(records))).toMatchObject({ ok: false, seq: 7, line: 6, reason: expect.stringContaining('not a JSON record') });
  });

  it('detects a well-formed record appended behind the head (written outside the agent)', () => {
    const records = chain(7);
    // When the journal holds seq 7 but the head still names seq 6
    expect(verifyAuditChain(lines(records), headOf(records.slice(0, 6)))).toMatchObject({ ok: false, seq: 7, reason: expect.stringContaining('after the head') });
  });

  it('detects a tail replaced by another valid record of the same seq', () => {
    const records = chain(6);
    // When the last record is replaced by another one sealed with the same prev
    const forged = sealAuditRecord({ ...records[5]!, result: 'error', message: 'never happened' });
    const text = [...lines(records.slice(0, 5)), JSON.stringify(forged)];
    // Then the chain holds but the head names another record
    expect(verifyAuditChain(text, headOf(records))).toMatchObject({ ok: false, seq: 6, reason: expect.stringContaining('not the one the head file names') });
  });
});
