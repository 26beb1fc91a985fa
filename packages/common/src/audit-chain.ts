import { createHash } from 'node:crypto';

/**
 * The audit journal's records and their hash chain, shared by the agent (which writes
 * and verifies its own journal) and the CLI (which verifies the raw lines it read, so a
 * compromised agent cannot simply answer "ok"). Format: docs/audit.md.
 */

/** `prev` of the very first record of a journal. */
export const AUDIT_GENESIS = '0'.repeat(64);

/** Who made the call, as the agent established it (see the agent's security/caller.ts). */
export interface AuditIdentity {
  readonly name: string;
  readonly role: string;
  readonly via: string;
}

/**
 * - `intent`: written and fsynced before a mutating call acts.
 * - `outcome`: after it (`result` ok, error, cancelled or interrupted).
 * - `denied`: a call refused before it reached its handler (authorisation).
 * - `recovery`: the agent repaired the journal's tail at start (a torn last line).
 */
export type AuditKind = 'intent' | 'outcome' | 'denied' | 'recovery';

export type AuditResult = 'ok' | 'error' | 'cancelled' | 'interrupted';

/** One line of the journal. Optional fields are absent, never null. */
export interface AuditRecord {
  readonly seq: number;
  /** ISO 8601, UTC. */
  readonly time: string;
  readonly node: string;
  readonly kind: AuditKind;
  /** Full gRPC method path, `/hvctl.v1.DrbdService/Promote`. */
  readonly method?: string;
  readonly identity?: AuditIdentity;
  readonly request_id?: string;
  readonly workflow_id?: string;
  /** True when the agent had already served this request_id: the call returned the first call's result and did not act again. */
  readonly replayed?: boolean;
  /** The request, secrets redacted (intent only). */
  readonly args?: unknown;
  /** The intent this outcome closes. */
  readonly intent_seq?: number;
  readonly result?: AuditResult;
  /** gRPC status name of an error outcome or a denial (`FAILED_PRECONDITION`). */
  readonly status?: string;
  readonly message?: string;
  readonly duration_ms?: number;
  /** `hash` of the previous record (AUDIT_GENESIS for the first). */
  readonly prev: string;
  /** sha256 (hex) of the canonical record without `hash`. */
  readonly hash: string;
}

/** The last record as the agent's separate head file remembers it: a shorter journal no longer matches. */
export interface AuditHead {
  readonly seq: number;
  readonly hash: string;
}

/** JSON with object keys sorted at every level: the same record always gives the same bytes. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((item) => canonicalJson(item === undefined ? null : item)).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

/** The hash a record must carry: sha256 over its canonical form without `hash` (`prev` included, which chains it). */
export function auditRecordHash(record: Omit<AuditRecord, 'hash'> & { hash?: string }): string {
  const { hash: _ignored, ...rest } = record;
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** Completes a record with its hash. */
export function sealAuditRecord(record: Omit<AuditRecord, 'hash'>): AuditRecord {
  return { ...record, hash: auditRecordHash(record) };
}

export type AuditVerdict =
  | { readonly ok: true; readonly records: number; readonly last: AuditHead }
  | {
      readonly ok: false;
      readonly records: number;
      /** The seq where the chain breaks (the seq that was expected at that place). */
      readonly seq: number;
      /** 0-based index of the offending line among those verified, -1 when the break is at the end (head). */
      readonly line: number;
      readonly reason: string;
    };

/**
 * Verifies raw journal lines (every file, oldest first, empty lines ignored) from the
 * genesis, and against `head` when given. Detects an edited record (hash), a deleted or
 * reordered one (seq and prev), appended garbage (not a record, or records past the head)
 * and a truncated tail (the head names a later or different last record).
 */
export function verifyAuditChain(lines: readonly string[], head?: AuditHead): AuditVerdict {
  let expectedSeq = 1;
  let prev = AUDIT_GENESIS;
  let records = 0;
  const broken = (line: number, reason: string): AuditVerdict => ({ ok: false, records, seq: expectedSeq, line, reason });
  for (const [index, text] of lines.entries()) {
    if (text.trim() === '') continue;
    let record: AuditRecord;
    try {
      record = JSON.parse(text) as AuditRecord;
    } catch {
      return broken(index, `line ${index + 1} is not a JSON record (garbage appended or a line damaged): ${JSON.stringify(text.slice(0, 60))}`);
    }
    if (typeof record !== 'object' || record === null || typeof record.seq !== 'number' || typeof record.hash !== 'string' || typeof record.prev !== 'string') {
      return broken(index, `line ${index + 1} is not an audit record (no seq, prev or hash)`);
    }
    if (record.seq > expectedSeq) return broken(index, `records are missing: expected seq ${expectedSeq}, found ${record.seq} (lines deleted or reordered)`);
    if (record.seq < expectedSeq) return broken(index, `seq ${record.seq} appears where seq ${expectedSeq} was expected (lines reordered or duplicated)`);
    if (record.prev !== prev) return broken(index, `seq ${record.seq} does not follow the record before it (prev hash differs: a record before it was changed, removed or reordered)`);
    if (auditRecordHash(record) !== record.hash) return broken(index, `seq ${record.seq} was edited: its content does not match its hash`);
    prev = record.hash;
    expectedSeq += 1;
    records += 1;
  }
  const lastSeq = expectedSeq - 1;
  if (head) {
    if (head.seq > lastSeq) {
      return { ok: false, records, seq: lastSeq + 1, line: -1, reason: `truncated: the head file names seq ${head.seq} but the journal ends at seq ${lastSeq}` };
    }
    if (head.seq < lastSeq) {
      return { ok: false, records, seq: head.seq + 1, line: -1, reason: `records after the head: the head file names seq ${head.seq} but the journal goes on to seq ${lastSeq} (appended outside the agent)` };
    }
    if (head.hash !== prev) {
      return { ok: false, records, seq: lastSeq, line: -1, reason: `the last record (seq ${lastSeq}) is not the one the head file names (tail replaced)` };
    }
  }
  return { ok: true, records, last: { seq: lastSeq, hash: prev } };
}
