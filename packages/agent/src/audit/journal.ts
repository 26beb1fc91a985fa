import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import {
  AUDIT_GENESIS,
  auditRecordHash,
  sealAuditRecord,
  unavailable,
  verifyAuditChain,
  type AuditHead,
  type AuditIdentity,
  type AuditRecord,
  type AuditResult,
  type AuditVerdict,
  type Logger,
} from '@hvctl/common';
import { Redactor } from './redact.js';
import { summarizedArguments } from './summaries.js';

/** The journal being written; older ones are renamed audit.000001.jsonl, audit.000002.jsonl, ... */
const CURRENT = 'audit.jsonl';
const ROTATED = /^audit\.(\d{6})\.jsonl$/;
const HEAD = 'head.json';

export interface AuditJournalOptions {
  /** `<stateDir>/audit`. */
  readonly dir: string;
  readonly node: string;
  readonly logger: Logger;
  /** Secret values (the restic password, tokens) cut out of every record. */
  readonly secrets?: readonly string[];
  /** Size after which the current file is rotated (the chain goes on in the next file). Default 64 MiB. */
  readonly maxFileBytes?: number;
  readonly now?: () => number;
}

/** What an intent record says about a call. */
export interface AuditCall {
  readonly method: string;
  readonly identity: AuditIdentity;
  readonly requestId?: string;
  readonly workflowId?: string;
  /** The request id was already served (RequestLedger): this call repeats the first one's result and does not act. */
  readonly replayed?: boolean;
}

/** How a call ended. */
export interface AuditOutcome {
  readonly result: Exclude<AuditResult, 'interrupted'>;
  readonly status?: string;
  readonly message?: string;
  readonly durationMs: number;
}

/** A snapshot of the journal, consistent with its head. */
export interface AuditSnapshot {
  /** Every line, oldest first; `seq` is 0 for a line that is not a record. */
  readonly lines: readonly { readonly seq: number; readonly time: string; readonly line: string }[];
  readonly head: AuditHead;
}

type RecordFields = Partial<AuditRecord> & { kind: AuditRecord['kind'] };

/** An append waiting for the next group commit. */
interface PendingAppend {
  readonly fields: RecordFields;
  readonly resolve: (record: AuditRecord) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The agent's tamper-evident audit journal (docs/audit.md): append-only JSON lines, each
 * fsynced before the call it records goes on, each carrying the hash of the one before,
 * and a separate head file naming the last record so that a cut tail is detected.
 *
 * Group commit: records appended while a write is in flight are written together by the
 * next one (one write, one fsync, one head update for all of them); each append still
 * resolves only once its own record and the head naming it are durable, so an intent is
 * on disk before its call acts. A failed write refuses every record of its group.
 */
export class AuditJournal {
  readonly redactor: Redactor;
  private head: AuditHead = { seq: 0, hash: AUDIT_GENESIS };
  private currentBytes = 0;
  private queue: Promise<unknown> = Promise.resolve();
  /** Appends for the next group commit, and whether that commit is already queued. */
  private pending: PendingAppend[] = [];
  private commitQueued = false;
  private readonly maxFileBytes: number;
  private readonly now: () => number;

  private constructor(private readonly options: AuditJournalOptions) {
    this.redactor = new Redactor(options.secrets);
    this.maxFileBytes = options.maxFileBytes ?? 64 * 1024 * 1024;
    this.now = options.now ?? Date.now;
  }

  /**
   * Opens (creating) the journal: cuts a torn last line left by a crash (and records that
   * it did), brings the head file up to date when the agent died between a record and its
   * head, then closes every intent that has no outcome with an `interrupted` outcome.
   */
  static async open(options: AuditJournalOptions): Promise<AuditJournal> {
    const journal = new AuditJournal(options);
    await journal.recover();
    // A broken chain does not stop the agent (its calls are still journaled), but it is said loudly.
    const verdict = await journal.verify();
    if (!verdict.ok) options.logger.error({ dir: options.dir, seq: verdict.seq, reason: verdict.reason }, 'audit journal does not verify: it was changed outside the agent');
    return journal;
  }

  /** The last record's seq and hash. */
  currentHead(): AuditHead {
    return this.head;
  }

  /**
   * Writes (fsynced) the intent of a mutating call before it acts; resolves with its seq.
   * Throws UNAVAILABLE when the journal cannot be written: the call must then not run.
   */
  async intent(call: AuditCall, request: unknown): Promise<number> {
    const record = await this.append({
      kind: 'intent',
      ...this.callFields(call),
      args: this.redactor.arguments(call.method, summarizedArguments(call.method, request) ?? request),
    });
    return record.seq;
  }

  /** Writes the outcome of the call whose intent is `intentSeq`. */
  async outcome(intentSeq: number, call: AuditCall, outcome: AuditOutcome): Promise<void> {
    await this.append({
      kind: 'outcome',
      ...this.callFields(call),
      intent_seq: intentSeq,
      result: outcome.result,
      ...(outcome.status ? { status: outcome.status } : {}),
      ...(outcome.message ? { message: this.redactor.text(outcome.message).slice(0, 2000) } : {}),
      duration_ms: Math.max(0, Math.round(outcome.durationMs)),
    });
  }

  /**
   * Records a call refused before its handler ran (for the authorisation interceptor):
   * `audit.denied(caller, '/hvctl.v1.DrbdService/Promote', 'PERMISSION_DENIED', 'viewer may not promote')`.
   * Never throws: a denial stays a denial even when the journal cannot be written (the failure is logged).
   */
  async denied(identity: AuditIdentity, method: string, status: string, message = '', requestId = ''): Promise<void> {
    try {
      await this.append({
        kind: 'denied',
        ...this.callFields({ method, identity, ...(requestId ? { requestId } : {}) }),
        status,
        ...(message ? { message: this.redactor.text(message).slice(0, 2000) } : {}),
      });
    } catch (error) {
      this.options.logger.error({ err: error, method, identity }, 'cannot journal a denied call');
    }
  }

  /** Every line with the head, consistent with each other (taken between two appends). */
  async snapshot(): Promise<AuditSnapshot> {
    const { head, rotated, current } = await this.serial(async () => ({
      head: this.head,
      rotated: await this.rotatedFiles(),
      current: await readText(join(this.options.dir, CURRENT)),
    }));
    // Rotated files never change again: they are read outside the lock.
    const texts = [...(await Promise.all(rotated.map((name) => readText(join(this.options.dir, name))))), current];
    const lines = texts.flatMap((text) => text.split('\n')).filter((line) => line !== '');
    return { head, lines: lines.map((line) => ({ line, ...seqAndTime(line) })) };
  }

  /** Verifies the whole chain against the head. */
  async verify(): Promise<AuditVerdict & { readonly head: AuditHead }> {
    const { lines, head } = await this.snapshot();
    return { ...verifyAuditChain(lines.map((entry) => entry.line), head), head };
  }

  private callFields(call: AuditCall): Partial<AuditRecord> {
    return {
      method: call.method,
      identity: { name: call.identity.name, role: call.identity.role, via: call.identity.via },
      ...(call.requestId ? { request_id: this.redactor.text(call.requestId) } : {}),
      ...(call.workflowId ? { workflow_id: call.workflowId } : {}),
      ...(call.replayed ? { replayed: true } : {}),
    };
  }

  private serial<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Queues a record for the next group commit; resolves once it and its head are durable. */
  private append(fields: RecordFields): Promise<AuditRecord> {
    return new Promise<AuditRecord>((resolve, reject) => {
      this.pending.push({ fields, resolve, reject });
      if (this.commitQueued) return;
      this.commitQueued = true;
      void this.serial(async () => {
        // From here on, new appends wait for the commit after this one.
        this.commitQueued = false;
        const group = this.pending;
        this.pending = [];
        try {
          const written = await this.appendNow(group.map((entry) => entry.fields));
          group.forEach((entry, index) => entry.resolve(written[index] as AuditRecord));
        } catch (error) {
          for (const entry of group) entry.reject(error);
        }
      });
    });
  }

  /** Appends records in one write and one fsync, then the head; the caller holds the queue. */
  private async appendNow(group: readonly RecordFields[]): Promise<AuditRecord[]> {
    const { dir, node } = this.options;
    const time = new Date(this.now()).toISOString();
    const records: AuditRecord[] = [];
    let prev = this.head;
    for (const fields of group) {
      const record = sealAuditRecord({ ...fields, seq: prev.seq + 1, time, node, prev: prev.hash });
      records.push(record);
      prev = { seq: record.seq, hash: record.hash };
    }
    const text = records.map((record) => `${JSON.stringify(record)}\n`).join('');
    const path = join(dir, CURRENT);
    try {
      const handle = await open(path, 'a', 0o600);
      try {
        await handle.write(text);
        await handle.datasync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      // A half-written line would break the chain for good: cut the file back.
      await truncate(path, this.currentBytes).catch(() => undefined);
      throw this.notWritable(error);
    }
    this.head = prev;
    this.currentBytes += Buffer.byteLength(text);
    try {
      await this.writeHead();
    } catch (error) {
      throw this.notWritable(error);
    }
    if (this.currentBytes >= this.maxFileBytes) await this.rotate();
    return records;
  }

  private notWritable(error: unknown): Error {
    this.options.logger.error({ err: error, dir: this.options.dir }, 'audit journal not writable');
    return unavailable(`audit journal not writable (${(error as Error).message}): the call was refused and nothing was changed`, {
      nextSteps: [`check free space and permissions of ${this.options.dir} on ${this.options.node}, then retry`],
    });
  }

  private async writeHead(): Promise<void> {
    const path = join(this.options.dir, HEAD);
    const temporary = `${path}.tmp`;
    const handle = await open(temporary, 'w', 0o600);
    try {
      await handle.write(`${JSON.stringify({ seq: this.head.seq, hash: this.head.hash })}\n`);
      await handle.datasync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  }

  private async rotate(): Promise<void> {
    const rotated = await this.rotatedFiles();
    const last = rotated.at(-1)?.match(ROTATED)?.[1];
    const next = String((last ? Number(last) : 0) + 1).padStart(6, '0');
    await rename(join(this.options.dir, CURRENT), join(this.options.dir, `audit.${next}.jsonl`));
    this.currentBytes = 0;
  }

  private async rotatedFiles(): Promise<string[]> {
    return (await readdir(this.options.dir)).filter((name) => ROTATED.test(name)).sort();
  }

  private async recover(): Promise<void> {
    const { dir, logger } = this.options;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const currentPath = join(dir, CURRENT);
    let current = await readText(currentPath);
    let torn: string | undefined;
    if (current !== '' && !current.endsWith('\n')) {
      const keep = current.lastIndexOf('\n') + 1;
      torn = current.slice(keep);
      await truncate(currentPath, Buffer.byteLength(current.slice(0, keep)));
      current = current.slice(0, keep);
    }
    this.currentBytes = (await stat(currentPath).catch(() => undefined))?.size ?? 0;

    const rotated = await Promise.all((await this.rotatedFiles()).map((name) => readText(join(dir, name))));
    const records = [...rotated, current]
      .flatMap((text) => text.split('\n'))
      .filter((line) => line !== '')
      .map((line) => parseRecord(line))
      .filter((record): record is AuditRecord => record !== undefined);
    const last = records.at(-1);
    const stored = await readHead(join(dir, HEAD));
    const notes: string[] = [];
    if (stored) {
      this.head = stored;
      // The agent died between a record and its head: the record chains on, take it.
      if (last && last.seq === stored.seq + 1 && last.prev === stored.hash && auditRecordHash(last) === last.hash) this.head = { seq: last.seq, hash: last.hash };
    } else if (last) {
      this.head = { seq: last.seq, hash: last.hash };
      notes.push(`the head file was missing and was rebuilt from the last record (seq ${last.seq}): a cut tail before this point cannot be detected`);
    }
    if (torn !== undefined) {
      const digest = createHash('sha256').update(torn).digest('hex');
      notes.push(`a torn last line (${Buffer.byteLength(torn)} bytes, sha256 ${digest}) was cut: the agent stopped during a write`);
    }
    for (const note of notes) {
      logger.warn({ dir }, `audit journal: ${note}`);
      await this.appendNow([{ kind: 'recovery', message: note }]);
    }
    if (this.head.seq !== 0 && (!stored || stored.seq !== this.head.seq)) await this.writeHead();

    const open = new Map<number, AuditRecord>();
    for (const record of records) {
      if (record.kind === 'intent') open.set(record.seq, record);
      else if (record.kind === 'outcome' && record.intent_seq !== undefined) open.delete(record.intent_seq);
    }
    for (const intent of open.values()) {
      await this.appendNow([{
        kind: 'outcome',
        ...(intent.method ? { method: intent.method } : {}),
        ...(intent.identity ? { identity: intent.identity } : {}),
        ...(intent.request_id ? { request_id: intent.request_id } : {}),
        ...(intent.workflow_id ? { workflow_id: intent.workflow_id } : {}),
        intent_seq: intent.seq,
        result: 'interrupted',
        message: 'the agent stopped before this call finished: read back the state it touched',
        duration_ms: Math.max(0, this.now() - Date.parse(intent.time)),
      }]);
    }
    if (open.size) logger.warn({ count: open.size }, 'audit journal: calls interrupted by the last stop were marked interrupted');
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw error;
  }
}

async function readHead(path: string): Promise<AuditHead | undefined> {
  const text = await readText(path);
  if (!text) return undefined;
  try {
    const head = JSON.parse(text) as AuditHead;
    return typeof head.seq === 'number' && typeof head.hash === 'string' ? { seq: head.seq, hash: head.hash } : undefined;
  } catch {
    return undefined;
  }
}

function parseRecord(line: string): AuditRecord | undefined {
  try {
    const record = JSON.parse(line) as AuditRecord;
    return typeof record === 'object' && record !== null && typeof record.seq === 'number' ? record : undefined;
  } catch {
    return undefined;
  }
}

function seqAndTime(line: string): { seq: number; time: string } {
  const record = parseRecord(line);
  return { seq: record?.seq ?? 0, time: typeof record?.time === 'string' ? record.time : '' };
}
