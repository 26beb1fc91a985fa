import { Command, InvalidArgumentError } from 'commander';
import type { AuditRecord } from '@hvctl/common';
import { loadCluster } from './cluster.js';
import { table } from './format.js';
import { readPinnedHeads, writePinnedHeads } from './audit-heads.js';
import { EXIT_JOURNAL_BROKEN, formatVerification, mergeRecords, readNodeJournal, selectNodes, verifyNode, type ShownRecord } from './audit-journal.js';

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `--since`: a duration back from now (`30m`, `2h`, `7d`) or a date/time (`2026-11-23`, `2026-11-23T10:00:00Z`). */
export function parseSince(value: string, nowMs = Date.now()): number {
  const relative = /^(\d+)([smhd])$/.exec(value.trim());
  if (relative) return nowMs - Number(relative[1]) * (UNITS[relative[2] as string] as number);
  const absolute = Date.parse(value);
  if (Number.isNaN(absolute)) throw new InvalidArgumentError('expected a duration like 30m, 2h, 7d or a date like 2026-11-23T10:00:00Z');
  return absolute;
}

const milliseconds = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 100 || parsed > 120_000) throw new InvalidArgumentError('expected milliseconds from 100 to 120000');
  return parsed;
};

/** `/hvctl.v1.DrbdService/Promote` -> `DrbdService/Promote`. */
const shortMethod = (method: string | undefined): string => (method ?? '').replace(/^\/hvctl\.(lab\.)?v1\./, '');

function resultOf(record: ShownRecord): string {
  if (record.garbage !== undefined) return 'NOT A RECORD';
  // A repeated request_id: the agent answered with the first call's result and did not act again.
  return record.replayed && (record.kind === 'intent' || record.kind === 'outcome') ? `${kindResult(record)} (replayed)` : kindResult(record);
}

function kindResult(record: AuditRecord): string {
  switch (record.kind) {
    case 'intent':
      return 'intent';
    case 'outcome':
      return record.result === 'ok' ? `ok ${record.duration_ms ?? 0}ms` : `${record.result}${record.status && record.result === 'error' ? ` ${record.status}` : ''}`;
    case 'denied':
      return `denied ${record.status ?? ''}`.trim();
    default:
      return record.kind;
  }
}

/** The readable table: one row per record, merged across nodes by time. */
export function formatAuditTable(records: readonly ShownRecord[]): string {
  if (records.length === 0) return 'no audit records match';
  return table(
    ['TIME', 'NODE', 'SEQ', 'METHOD', 'WHO', 'REQUEST', 'RESULT', 'DETAIL'],
    records.map((record) =>
      record.garbage !== undefined
        ? ['', record.node, '', '', '', '', resultOf(record), record.garbage.slice(0, 80)]
        : [
            record.time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
            record.node,
            String(record.seq),
            shortMethod(record.method),
            record.identity ? `${record.identity.name} (${record.identity.role})` : '',
            [record.request_id, record.workflow_id && !record.request_id?.startsWith(record.workflow_id) ? record.workflow_id : ''].filter(Boolean).join(' '),
            resultOf(record),
            (record.message ?? '').slice(0, 100),
          ],
    ),
  );
}

interface AuditOptions {
  readonly node?: string;
  readonly since?: number;
  readonly method?: string;
  readonly verify?: boolean;
  readonly json?: boolean;
  readonly heads?: string;
  readonly timeout: number;
}

/** `hvctl audit`: read and verify the agents' audit journals. */
export function auditCommand(): Command {
  return new Command('audit')
    .description("Read every agent's audit journal (who ran which mutating call, when, with what result), merged by time; --verify checks each hash chain.")
    .option('--node <name>', 'read only this node')
    .option('--since <time>', 'only records since a duration ago (30m, 2h, 7d) or a date (2026-11-23T10:00:00Z)', (value: string) => parseSince(value))
    .option('--method <name>', 'only calls whose method contains this (Promote, DrbdService/, Migrate)')
    .option('--verify', "verify each journal's hash chain here, from the raw records, and ask each agent too")
    .option('--json', 'machine-readable output')
    .option('--heads <file>', 'with --verify: a file of the heads verified before (keep it off the hypervisors); each journal must still hold them, then they are updated')
    .option('--timeout <ms>', 'deadline of each agent call', milliseconds, 10_000)
    .addHelpText(
      'after',
      `
Examples:
  hvctl audit                            every journal, merged by time
  hvctl audit --node msk-1 --since 2h    one node, the last two hours
  hvctl audit --method Promote --json    every promotion, as JSON records
  hvctl audit --verify                   check that no journal was edited, cut or reordered
  hvctl audit --verify --heads /mnt/bak/audit-heads.json
                                         also check each journal still holds the heads verified last time

Exit codes: 0 ok; ${EXIT_JOURNAL_BROKEN} a journal does not verify (the node and seq are named); 1 an agent could not be read; 2 invalid input.
See docs/audit.md for the record format and what verification does and does not prove.`,
    )
    .action(async (options: AuditOptions, command: Command) => {
      const cluster = await loadCluster(command.optsWithGlobals<{ cluster?: string }>().cluster);
      const nodes = selectNodes(cluster, options.node);
      if (options.verify) {
        // Heads verified earlier (--heads): a journal rewritten whole since then no longer holds them.
        const pinned = options.heads ? await readPinnedHeads(options.heads) : {};
        const results = await Promise.all(nodes.map((node) => verifyNode(cluster, node, options.timeout, pinned[`${cluster.name}/${node}`])));
        if (options.heads) {
          const verifiedAt = new Date().toISOString();
          for (const result of results) if (result.ok && result.head) pinned[`${cluster.name}/${result.node}`] = { ...result.head, verifiedAt };
          await writePinnedHeads(options.heads, pinned);
        }
        if (options.json) console.log(JSON.stringify({ ok: results.every((result) => result.ok), nodes: results }, null, 2));
        else for (const result of results) console.log(formatVerification(result));
        if (results.some((result) => !result.ok && !result.error)) process.exitCode = EXIT_JOURNAL_BROKEN;
        else if (results.some((result) => result.error)) process.exitCode = 1;
        return;
      }
      const journals = await Promise.all(nodes.map((node) => readNodeJournal(cluster, node, options.since ? { sinceUnixMs: options.since } : {}, options.timeout)));
      const records = mergeRecords(journals, { ...(options.since ? { sinceUnixMs: options.since } : {}), ...(options.method ? { method: options.method } : {}) });
      const unreachable = journals.filter((journal) => journal.error).map((journal) => ({ node: journal.node, error: journal.error }));
      if (options.json) {
        console.log(JSON.stringify({ records, unreachable }, null, 2));
      } else {
        console.log(formatAuditTable(records));
        for (const entry of unreachable) console.error(`hvctl: ${entry.node} not read: ${entry.error}`);
      }
      if (unreachable.length) process.exitCode = 1;
    });
}
