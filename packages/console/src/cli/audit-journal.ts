import type { ReadJournalResponse__Output, VerifyJournalResponse__Output } from '@hvctl/proto';
import { deadline, fromServiceError, invalidArgument, unary, verifyAuditChain, type AuditHead, type AuditRecord, type ClusterFile } from '@hvctl/common';
import { contradictsPinned, type PinnedHead } from './audit-heads.js';
import { clientFor } from './workflow-client.js';

/** Exit code of `hvctl audit --verify` when a journal does not verify. */
export const EXIT_JOURNAL_BROKEN = 7;

/** One node's journal as read over the wire: raw lines (to verify here) and its head. */
export interface NodeJournal {
  readonly node: string;
  readonly lines: readonly string[];
  readonly head?: AuditHead;
  /** Set when the agent could not be read. */
  readonly error?: string;
}

/** A record with the node it came from; `garbage` holds a line that is not a record. */
export type ShownRecord = (AuditRecord & { readonly garbage?: undefined }) | { readonly node: string; readonly seq: 0; readonly time: ''; readonly garbage: string };

export interface AuditFilter {
  readonly sinceUnixMs?: number;
  /** Case-insensitive substring of the method path ("Promote", "DrbdService/"). */
  readonly method?: string;
}

/** Reads one agent's journal (every record from `fromSeq`, since a time) and its head. */
export function readNodeJournal(cluster: ClusterFile, node: string, request: { fromSeq?: number; sinceUnixMs?: number }, timeoutMs: number): Promise<NodeJournal> {
  const client = clientFor(cluster, node);
  return new Promise<NodeJournal>((resolve) => {
    const lines: string[] = [];
    let head: AuditHead | undefined;
    const stream = client.audit.readJournal({ fromSeq: request.fromSeq ?? 0, sinceUnixMs: request.sinceUnixMs ?? 0 }, deadline(timeoutMs));
    stream.on('data', (message: ReadJournalResponse__Output) => {
      if (message.record) lines.push(message.record.line);
      if (message.head) head = { seq: Number(message.head.seq), hash: message.head.hash };
    });
    stream.on('error', (error) => {
      client.close();
      resolve({ node, lines, error: fromServiceError(error, `ReadJournal on ${node}`).message });
    });
    stream.on('end', () => {
      client.close();
      resolve({ node, lines, ...(head ? { head } : {}) });
    });
  });
}

/** The nodes to read: all of the cluster, or the one named (which must be in it). */
export function selectNodes(cluster: ClusterFile, node: string | undefined): string[] {
  if (node === undefined) return cluster.nodes.map((entry) => entry.name);
  if (!cluster.nodes.some((entry) => entry.name === node)) {
    throw invalidArgument(`${node} is not in the cluster ${cluster.name}`, { nextSteps: [`pick one of: ${cluster.nodes.map((entry) => entry.name).join(', ')}`] });
  }
  return [node];
}

/** Every journal's records merged by time (then node, then seq), filtered. */
export function mergeRecords(journals: readonly NodeJournal[], filter: AuditFilter = {}): ShownRecord[] {
  const method = filter.method?.toLowerCase();
  const out: ShownRecord[] = [];
  for (const journal of journals) {
    for (const line of journal.lines) {
      let record: AuditRecord;
      try {
        record = JSON.parse(line) as AuditRecord;
      } catch {
        out.push({ node: journal.node, seq: 0, time: '', garbage: line });
        continue;
      }
      if (filter.sinceUnixMs && Date.parse(record.time) < filter.sinceUnixMs) continue;
      if (method && !(record.method ?? '').toLowerCase().includes(method)) continue;
      out.push({ ...record, node: record.node || journal.node });
    }
  }
  return out.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : a.node < b.node ? -1 : a.node > b.node ? 1 : a.seq - b.seq));
}

/** What `--verify` found for one node. */
export interface NodeVerification {
  readonly node: string;
  readonly ok: boolean;
  readonly records: number;
  readonly head?: AuditHead;
  /** Where the chain breaks (from the local check, else the agent's). */
  readonly brokenSeq?: number;
  readonly reason?: string;
  /** The agent's own verdict, for comparison. */
  readonly agent?: { readonly ok: boolean; readonly brokenSeq: number; readonly reason: string };
  /** The node could not be read or asked: not verified. */
  readonly error?: string;
}

/**
 * Verifies one node's journal here, from the raw lines it sent and its head (a
 * compromised agent cannot just answer "ok"), asks the agent for its own verdict, and
 * checks that the journal still holds the head this console verified last time (`pinned`).
 */
export async function verifyNode(cluster: ClusterFile, node: string, timeoutMs: number, pinned?: PinnedHead): Promise<NodeVerification> {
  const journal = await readNodeJournal(cluster, node, {}, timeoutMs);
  if (journal.error) return { node, ok: false, records: 0, error: journal.error };
  if (!journal.head) return { node, ok: false, records: journal.lines.length, error: 'the agent sent no journal head' };
  const local = verifyAuditChain(journal.lines, journal.head);
  const client = clientFor(cluster, node);
  let agent: NodeVerification['agent'];
  try {
    const verdict = await unary<VerifyJournalResponse__Output>(`VerifyJournal on ${node}`, (cb) => client.audit.verifyJournal({}, deadline(timeoutMs), cb));
    agent = { ok: verdict.ok, brokenSeq: Number(verdict.brokenSeq), reason: verdict.reason };
  } catch (error) {
    return { node, ok: false, records: local.records, head: journal.head, error: (error as Error).message };
  } finally {
    client.close();
  }
  if (!local.ok) return { node, ok: false, records: local.records, head: journal.head, brokenSeq: local.seq, reason: local.reason, agent };
  if (!agent.ok) return { node, ok: false, records: local.records, head: journal.head, brokenSeq: agent.brokenSeq, reason: `the agent reports: ${agent.reason}`, agent };
  const rewritten = pinned ? contradictsPinned(journal.lines, pinned) : undefined;
  if (pinned && rewritten) return { node, ok: false, records: local.records, head: journal.head, brokenSeq: pinned.seq, reason: rewritten, agent };
  return { node, ok: true, records: local.records, head: journal.head, agent };
}

/** One line per node: "msk-1  ok  42 records, head seq 42" or "msk-1  BROKEN at seq 5: ...". */
export function formatVerification(result: NodeVerification): string {
  if (result.error) return `${result.node}: NOT VERIFIED: ${result.error}`;
  if (result.ok) return `${result.node}: ok (${result.records} records, head seq ${result.head?.seq ?? 0})`;
  return `${result.node}: BROKEN at seq ${result.brokenSeq}: ${result.reason}`;
}
