import { mkdir, open, readFile, readdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@hvctl/common';
import { formatMonth, monthBounds, monthOf, parseMonth, type Interval, type Month, type ObservedState } from '../sla/compute.js';
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
  /** A month file's opening checkpoint: the state carried over from an earlier month, not a change. */
  readonly carried?: true;
}

/** The watcher itself stopped (`down`) or resumed observing (`up`). */
export interface WatcherTransition {
  readonly atMs: number;
  readonly kind: 'watcher';
  readonly subject: string;
  readonly state: 'up' | 'down';
  readonly detail: string;
  /** A month file's opening checkpoint (see SubjectTransition.carried). */
  readonly carried?: true;
}

/** One line of the availability journal. */
export type Transition = SubjectTransition | WatcherTransition;

/** A month of the journal: its records (opening checkpoint first) and the watcher's gaps in it. */
export interface MonthView {
  readonly transitions: readonly Transition[];
  readonly gaps: readonly Interval[];
}

/** The journal of one UTC month. */
export const journalFileOf = (month: Month): string => `availability-${formatMonth(month)}.jsonl`;
/** The single journal file of earlier versions; split into month files on open. */
export const LEGACY_JOURNAL_FILE = 'availability.jsonl';
export const ALIVE_FILE = 'availability.alive';
const MONTH_FILE = /^availability-(\d{4}-\d{2})\.jsonl$/;

const monthIndex = (month: Month): number => month.year * 12 + month.month - 1;

/** When the watcher was not observing, from its own records (an open gap ends at `nowMs`). */
export function gapsOf(records: readonly Transition[], nowMs: number): Interval[] {
  const gaps: Interval[] = [];
  let downAt: number | undefined;
  for (const record of records) {
    if (record.kind !== 'watcher') continue;
    if (record.state === 'down' && downAt === undefined) downAt = record.atMs;
    if (record.state === 'up' && downAt !== undefined) {
      gaps.push({ startMs: downAt, endMs: record.atMs });
      downAt = undefined;
    }
  }
  if (downAt !== undefined) gaps.push({ startMs: downAt, endMs: Math.max(downAt, nowMs) });
  return gaps;
}

/**
 * The last record of every subject and of the watcher, marked as carried into the next
 * month. They keep their time (before the month): the state holds from then, and a gap
 * crossing into the month is reported from its real start.
 */
function checkpoint(records: readonly Transition[]): Transition[] {
  const last = new Map<string, Transition>();
  for (const record of records) last.set(`${record.kind}/${record.kind === 'watcher' ? '' : record.subject}`, record);
  return [...last.values()].map((record) => ({ ...record, carried: true as const }));
}

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
 *
 * One file per UTC month (`availability-YYYY-MM.jsonl`), each opening with a checkpoint:
 * the last record of every subject and of the watcher before the month, marked `carried`,
 * so a month is read on its own: memory and every evaluation hold the current month only, and a past
 * month's report reads that one file.
 */
export class AvailabilityRecorder {
  private readonly alivePath: string;
  private readonly now: () => number;
  /** The current month's records, its checkpoint first. */
  private records: Transition[] = [];
  private current: Month | undefined;
  private readonly last = new Map<string, SubjectTransition>();
  private writing: Promise<void> = Promise.resolve();
  private aliveTimer?: NodeJS.Timeout;
  private resumed = false;

  constructor(private readonly options: RecorderOptions) {
    this.alivePath = join(options.dir, ALIVE_FILE);
    this.now = options.now ?? Date.now;
  }

  /** Reads the latest month (splitting a legacy journal first), records the gap since the last run, starts the alive mark. */
  async open(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    const months = await this.monthFiles();
    const latest = months.at(-1);
    if (latest) {
      this.current = latest;
      for (const record of await this.readMonth(latest)) this.remember(record);
      await this.endTornLine(latest);
    } else {
      await this.migrateLegacy();
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
    const out = new Map<string, string[]>();
    // A new month gets its file (and checkpoint) even when nothing changes.
    if (this.current && monthIndex(monthOf(atMs)) > monthIndex(this.current)) this.roll(monthOf(atMs), out);
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
    for (const record of batch) this.place(record, out);
    if (out.size > 0) await this.flush(out);
  }

  /** A clean stop: records the start of the gap and stops the alive mark. */
  async close(): Promise<void> {
    if (this.aliveTimer) clearInterval(this.aliveTimer);
    await this.append([{ atMs: this.now(), kind: 'watcher', subject: this.options.self, state: 'down', detail: 'watcher stopped' }]);
  }

  /** The current month's transitions, its opening checkpoint first. */
  transitions(): readonly Transition[] {
    return this.records;
  }

  /** When the watcher was not observing in the current month (an open gap ends now). */
  gaps(): Interval[] {
    return gapsOf(this.records, this.now());
  }

  /**
   * One month's records and gaps: the current month from memory, a past one from its file,
   * a month without a file (the watcher was down all of it) as the state carried from the
   * latest month before it.
   */
  async month(month: Month): Promise<MonthView> {
    const nowMs = this.now();
    if (this.current && monthIndex(month) === monthIndex(this.current)) return { transitions: this.records, gaps: this.gaps() };
    if (this.current && monthIndex(month) > monthIndex(this.current)) {
      const carried = checkpoint(this.records);
      return { transitions: carried, gaps: gapsOf(carried, nowMs) };
    }
    await this.writing;
    const months = await this.monthFiles();
    if (months.some((candidate) => monthIndex(candidate) === monthIndex(month))) {
      const records = await this.readMonth(month);
      return { transitions: records, gaps: gapsOf(records, nowMs) };
    }
    const before = months.filter((candidate) => monthIndex(candidate) < monthIndex(month)).at(-1);
    const carried = before ? checkpoint(await this.readMonth(before)) : [];
    return { transitions: carried, gaps: gapsOf(carried, nowMs) };
  }

  /** Recorded changes in [fromMs, toMs), oldest first, reading only the month files that overlap it (checkpoints left out). */
  async range(fromMs: number, toMs: number): Promise<Transition[]> {
    await this.writing;
    const months = (await this.monthFiles()).filter((month) => {
      const bounds = monthBounds(month);
      return bounds.endMs > fromMs && bounds.startMs < toMs;
    });
    const found: Transition[] = [];
    for (const month of months) {
      const records = this.current && monthIndex(month) === monthIndex(this.current) ? this.records : await this.readMonth(month);
      for (const record of records) if (!record.carried && record.atMs >= fromMs && record.atMs < toMs) found.push(record);
    }
    return found;
  }

  private remember(record: Transition): void {
    this.records.push(record);
    if (record.kind !== 'watcher') this.last.set(`${record.kind}/${record.subject}`, record);
  }

  /** Starts `month` in memory: its checkpoint becomes the first lines of its file. */
  private roll(month: Month, out: Map<string, string[]>): void {
    const carried = checkpoint(this.records);
    this.records = [];
    this.current = month;
    for (const record of carried) this.remember(record);
    out.set(journalFileOf(month), [...(out.get(journalFileOf(month)) ?? []), ...carried.map((record) => JSON.stringify(record))]);
  }

  /** Puts a record into the current month (rolling to a later one first); a late record (clock step back) stays in the current month. */
  private place(record: Transition, out: Map<string, string[]>): void {
    const month = monthOf(record.atMs);
    if (!this.current) this.current = month;
    else if (monthIndex(month) > monthIndex(this.current)) this.roll(month, out);
    this.remember(record);
    const file = journalFileOf(this.current);
    out.set(file, [...(out.get(file) ?? []), JSON.stringify(record)]);
  }

  private append(batch: readonly Transition[]): Promise<void> {
    const out = new Map<string, string[]>();
    for (const record of batch) this.place(record, out);
    return this.flush(out);
  }

  /** Appends lines to their month files, fsynced, one batch after another. */
  private flush(out: Map<string, string[]>): Promise<void> {
    const write = async (): Promise<void> => {
      for (const [file, lines] of out) {
        const handle = await open(join(this.options.dir, file), 'a');
        try {
          await handle.write(lines.map((line) => `${line}\n`).join(''));
          await handle.datasync();
        } finally {
          await handle.close();
        }
      }
    };
    this.writing = this.writing.then(write, write);
    return this.writing;
  }

  /** The months that have a journal file, oldest first. */
  private async monthFiles(): Promise<Month[]> {
    const names = await readdir(this.options.dir).catch(() => [] as string[]);
    return names
      .map((name) => MONTH_FILE.exec(name)?.[1])
      .filter((text): text is string => text !== undefined)
      .sort()
      .map((text) => parseMonth(text));
  }

  private async readMonth(month: Month): Promise<Transition[]> {
    return this.parse(join(this.options.dir, journalFileOf(month)));
  }

  private async parse(path: string): Promise<Transition[]> {
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    const records: Transition[] = [];
    for (const line of text.split('\n')) {
      if (!line.trim()) continue;
      try {
        records.push(JSON.parse(line) as Transition);
      } catch {
        // A torn last line from a crash mid-write: everything before it is intact.
        this.options.logger?.warn({ path }, 'skipping an unreadable availability journal line');
      }
    }
    return records;
  }

  /** After a torn last line, the next append starts on a line of its own. */
  private async endTornLine(month: Month): Promise<void> {
    const path = join(this.options.dir, journalFileOf(month));
    const text = await readFile(path, 'utf8').catch(() => '');
    if (text !== '' && !text.endsWith('\n')) await writeFile(path, '\n', { flag: 'a' });
  }

  /** Splits the single journal of earlier versions into month files, then renames it `.migrated`. */
  private async migrateLegacy(): Promise<void> {
    const legacy = join(this.options.dir, LEGACY_JOURNAL_FILE);
    const records = await this.parse(legacy);
    if (records.length === 0) return;
    const out = new Map<string, string[]>();
    for (const record of records.sort((a, b) => a.atMs - b.atMs)) this.place(record, out);
    await this.flush(out);
    await rename(legacy, `${legacy}.migrated`);
    this.options.logger?.info({ months: out.size }, 'split the availability journal into month files');
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
