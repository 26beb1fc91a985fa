import { mkdir, open, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@hvctl/common';
import type { Interval, ObservedState } from '../sla/compute.js';
import type { Observation } from './observe.js';

/** A node's or VM's state from `atMs` on. */
export interface SubjectTransition {
  readonly atMs: number;
  readonly kind: 'node' | 'vm';
  readonly subject: string;
  readonly state: ObservedState;
  readonly site: string;
  readonly node: string;
  readonly detail: string;
}

/** The watcher itself stopped (`down`) or resumed observing (`up`). */
export interface WatcherTransition {
  readonly atMs: number;
  readonly kind: 'watcher';
  readonly subject: string;
  readonly state: 'up' | 'down';
  readonly detail: string;
}

/** One line of the availability journal. */
export type Transition = SubjectTransition | WatcherTransition;

export const JOURNAL_FILE = 'availability.jsonl';
export const ALIVE_FILE = 'availability.alive';

export interface RecorderOptions {
  /** Directory of the journal and the alive mark (created if missing). */
  readonly dir: string;
  /** This watcher's node name (the subject of its own records). */
  readonly self: string;
  /** How often the alive mark is rewritten: the resolution of a crash's gap. Default 5000. */
  readonly aliveEveryMs?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

/**
 * The availability journal: state transitions of every node and VM as the watcher sees
 * them, appended as fsynced JSON lines so they survive restarts. The watcher's own
 * downtime is a gap: a clean stop appends `watcher down`; after a crash, the next start
 * appends `watcher down` at the last alive mark (rewritten every few seconds). `watcher
 * up` is appended with the first observation after a start, once the cluster model has
 * settled, so the time spent connecting is part of the gap too.
 */
export class AvailabilityRecorder {
  private readonly journalPath: string;
  private readonly alivePath: string;
  private readonly now: () => number;
  private readonly records: Transition[] = [];
  private readonly last = new Map<string, SubjectTransition>();
  private writing: Promise<void> = Promise.resolve();
  private aliveTimer?: NodeJS.Timeout;
  private resumed = false;

  constructor(private readonly options: RecorderOptions) {
    this.journalPath = join(options.dir, JOURNAL_FILE);
    this.alivePath = join(options.dir, ALIVE_FILE);
    this.now = options.now ?? Date.now;
  }

  /** Reads the journal, records the gap since the last run, starts the alive mark. */
  async open(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    let text = '';
    try {
      text = await readFile(this.journalPath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        this.remember(JSON.parse(line) as Transition);
      } catch {
        // A torn last line from a crash mid-write: everything before it is intact.
        this.options.logger?.warn({ path: this.journalPath }, 'skipping an unreadable availability journal line');
      }
    }
    const lastRecord = this.records.at(-1);
    if (lastRecord && !(lastRecord.kind === 'watcher' && lastRecord.state === 'down')) {
      const alive = Number((await readFile(this.alivePath, 'utf8').catch(() => '0')).trim()) || 0;
      const downAt = Math.min(this.now(), Math.max(alive, lastRecord.atMs));
      await this.append([{ atMs: downAt, kind: 'watcher', subject: this.options.self, state: 'down', detail: 'watcher stopped without a clean shutdown (last alive mark)' }]);
    }
    await this.markAlive();
    this.aliveTimer = setInterval(() => void this.markAlive(), this.options.aliveEveryMs ?? 5000);
    this.aliveTimer.unref();
  }

  /** Appends a transition for every observation that differs from the subject's last record. */
  async observe(observations: readonly Observation[]): Promise<void> {
    const atMs = this.now();
    const batch: Transition[] = [];
    if (!this.resumed) {
      this.resumed = true;
      batch.push({ atMs, kind: 'watcher', subject: this.options.self, state: 'up', detail: 'watcher observing' });
    }
    for (const observation of observations) {
      const previous = this.last.get(`${observation.kind}/${observation.subject}`);
      if (previous && previous.state === observation.state && previous.site === observation.site && previous.node === observation.node) continue;
      batch.push({ atMs, ...observation });
    }
    if (batch.length > 0) await this.append(batch);
  }

  /** A clean stop: records the start of the gap and stops the alive mark. */
  async close(): Promise<void> {
    if (this.aliveTimer) clearInterval(this.aliveTimer);
    await this.append([{ atMs: this.now(), kind: 'watcher', subject: this.options.self, state: 'down', detail: 'watcher stopped' }]);
  }

  /** Every transition, oldest first. */
  transitions(): readonly Transition[] {
    return this.records;
  }

  /** When the watcher was not observing, from its own records (an open gap ends now). */
  gaps(): Interval[] {
    const gaps: Interval[] = [];
    let downAt: number | undefined;
    for (const record of this.records) {
      if (record.kind !== 'watcher') continue;
      if (record.state === 'down' && downAt === undefined) downAt = record.atMs;
      if (record.state === 'up' && downAt !== undefined) {
        gaps.push({ startMs: downAt, endMs: record.atMs });
        downAt = undefined;
      }
    }
    if (downAt !== undefined) gaps.push({ startMs: downAt, endMs: this.now() });
    return gaps;
  }

  private remember(record: Transition): void {
    this.records.push(record);
    if (record.kind !== 'watcher') this.last.set(`${record.kind}/${record.subject}`, record);
  }

  private append(batch: readonly Transition[]): Promise<void> {
    for (const record of batch) this.remember(record);
    const text = batch.map((record) => `${JSON.stringify(record)}\n`).join('');
    const write = async (): Promise<void> => {
      const handle = await open(this.journalPath, 'a');
      try {
        await handle.write(text);
        await handle.datasync();
      } finally {
        await handle.close();
      }
    };
    this.writing = this.writing.then(write, write);
    return this.writing;
  }

  private async markAlive(): Promise<void> {
    const temp = `${this.alivePath}.tmp`;
    try {
      await writeFile(temp, String(this.now()));
      await rename(temp, this.alivePath);
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'cannot write the watcher alive mark');
    }
  }
}
