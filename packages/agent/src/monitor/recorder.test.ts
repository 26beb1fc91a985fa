import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SLA_RULE } from '../sla/rule.js';
import { buildReport } from '../sla/report.js';
import type { Observation } from './observe.js';
import { ALIVE_FILE, AvailabilityRecorder, LEGACY_JOURNAL_FILE, journalFileOf, type Transition } from './recorder.js';

const vm = (state: Observation['state'], node = 'msk-1'): Observation => ({ kind: 'vm', subject: 'web-1', state, site: node.slice(0, 3), node, detail: state });
const NOV = Date.UTC(2026, 10, 1);
const DEC = Date.UTC(2026, 11, 1);
const JAN = Date.UTC(2027, 0, 1);
const NOV_FILE = journalFileOf({ year: 2026, month: 11 });
const MIN = 60_000;

describe('AvailabilityRecorder', () => {
  let dir: string;
  let clock: number;
  const recorder = (): AvailabilityRecorder => new AvailabilityRecorder({ dir, self: 'bak-1', now: () => clock, aliveEveryMs: 60_000 });
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-recorder-'));
    clock = NOV + 10 * MIN;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('appends only changes, as JSON lines on disk', async () => {
    const journal = recorder();
    await journal.open();
    await journal.observe([vm('up')]);
    clock += MIN;
    await journal.observe([vm('up')]);
    clock += MIN;
    await journal.observe([vm('down')]);
    clock += MIN;
    await journal.observe([vm('up', 'spb-1')]);
    await journal.close();
    const lines = (await readFile(join(dir, NOV_FILE), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { kind: string; state: string; node?: string });
    expect(lines.map((line) => `${line.kind} ${line.state}${line.node ? ` ${line.node}` : ''}`)).toEqual(['watcher up', 'vm up msk-1', 'vm down msk-1', 'vm up spb-1', 'watcher down']);
  });

  it('survives a clean restart: the gap between stop and the first observation is unknown', async () => {
    const first = recorder();
    await first.open();
    await first.observe([vm('up')]);
    clock += 5 * MIN;
    await first.close();
    // Given the watcher is down for 20 minutes, then needs a moment to settle
    clock += 20 * MIN;
    const second = recorder();
    await second.open();
    clock += 1000;
    await second.observe([vm('up')]);
    expect(second.gaps()).toEqual([{ startMs: NOV + 15 * MIN, endMs: NOV + 35 * MIN + 1000 }]);
    // The VM was not re-recorded: its state did not change
    expect(second.transitions().filter((record) => record.kind === 'vm')).toHaveLength(1);
    // And the SLA counts the gap as the rule says (down by default: 20 min + 1 s)
    const report = buildReport(second.transitions(), second.gaps(), { month: { year: 2026, month: 11 }, nowMs: clock, rule: DEFAULT_SLA_RULE });
    expect(report.vms[0]?.minutes.unknown).toBeCloseTo(20 + 1 / 60, 6);
    expect(report.vms[0]?.downMinutes).toBeCloseTo(20 + 1 / 60, 6);
  });

  it('after a crash, starts the gap at the last alive mark and ignores a torn last line', async () => {
    const first = recorder();
    await first.open();
    await first.observe([vm('up')]);
    // Given the watcher crashed: the alive mark says it lived 2 more minutes, the last write was torn
    await writeFile(join(dir, ALIVE_FILE), String(clock + 2 * MIN));
    await appendFile(join(dir, NOV_FILE), '{"atMs":');
    clock += 30 * MIN;
    const second = recorder();
    await second.open();
    await second.observe([vm('down')]);
    expect(second.gaps()).toEqual([{ startMs: NOV + 12 * MIN, endMs: NOV + 40 * MIN }]);
    expect(second.transitions().filter((record) => record.kind === 'vm').map((record) => record.state)).toEqual(['up', 'down']);
  });

  describe('by month', () => {
    const month = (year: number, m: number): { year: number; month: number } => ({ year, month: m });
    const report = async (journal: AvailabilityRecorder, year: number, m: number) => buildReport((await journal.month(month(year, m))).transitions, (await journal.month(month(year, m))).gaps, { month: month(year, m), nowMs: clock, rule: DEFAULT_SLA_RULE });
    const everything = async (): Promise<Transition[]> => {
      const lines: Transition[] = [];
      for (const file of [NOV_FILE, journalFileOf(month(2026, 12)), journalFileOf(month(2027, 1))]) {
        const text = await readFile(join(dir, file), 'utf8').catch(() => '');
        for (const line of text.split('\n').filter(Boolean)) {
          const record = JSON.parse(line) as Transition;
          if (!record.carried) lines.push(record);
        }
      }
      return lines;
    };

    it('keeps one file per month, each opening with the state carried over, and holds only the current month in memory', async () => {
      // Given an outage crossing into December and a watcher gap crossing into January
      const journal = recorder();
      await journal.open();
      await journal.observe([vm('up'), { kind: 'node', subject: 'msk-1', state: 'up', site: 'msk', node: 'msk-1', detail: '' }]);
      clock = DEC - 100 * MIN;
      await journal.observe([vm('down')]);
      clock = DEC + 200 * MIN;
      await journal.observe([vm('up', 'spb-1')]);
      clock = DEC + 10 * 1440 * MIN;
      await journal.observe([vm('up', 'spb-1')]);
      clock = JAN - 30 * MIN;
      await journal.close();
      clock = JAN + 45 * MIN;
      const restarted = recorder();
      await restarted.open();
      await restarted.observe([vm('up', 'spb-1')]);
      // Then December's file opens with the state carried over from November, marked as such
      const december = (await readFile(join(dir, journalFileOf(month(2026, 12))), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Transition);
      expect(december.slice(0, 3).map((record) => `${(record.atMs - NOV) / MIN} ${record.kind} ${record.state} ${record.carried ?? false}`).sort()).toEqual([
        '10 node up true',
        '10 watcher up true',
        `${(DEC - NOV) / MIN - 100} vm down true`,
      ]);
      expect(december.slice(3).every((record) => !record.carried && record.atMs >= DEC)).toBe(true);
      // And memory holds January only: its checkpoint (watcher down carried: the gap goes on) and its changes
      expect(restarted.transitions().every((record) => record.carried || record.atMs >= JAN)).toBe(true);
      expect(restarted.transitions().filter((record) => !record.carried).map((record) => record.kind)).toEqual(['watcher']);
      expect(restarted.gaps()).toEqual([{ startMs: JAN - 30 * MIN, endMs: JAN + 45 * MIN }]);
      // And every month's report equals the one computed over the whole history at once
      const all = await everything();
      const gapsAll = [{ startMs: JAN - 30 * MIN, endMs: JAN + 45 * MIN }];
      for (const [year, m] of [[2026, 11], [2026, 12], [2027, 1]] as const) {
        const whole = buildReport(all, gapsAll, { month: month(year, m), nowMs: clock, rule: DEFAULT_SLA_RULE });
        const split = await report(restarted, year, m);
        expect(split.vms, `${year}-${m}`).toEqual(whole.vms);
        expect(split.gaps).toEqual(whole.gaps);
      }
      expect((await report(restarted, 2026, 11)).vms[0]).toMatchObject({ downMinutes: 100 });
      expect((await report(restarted, 2026, 12)).vms[0]).toMatchObject({ downMinutes: 230, site: 'spb' });
      expect((await report(restarted, 2027, 1)).vms[0]?.minutes.unknown).toBeCloseTo(45, 6);
      // And a range lists real changes only (no checkpoints), across files
      const listed = await restarted.range(NOV, JAN + 1440 * MIN);
      expect(listed.flatMap((record) => (record.kind === 'vm' ? [`${record.state} ${record.node}`] : []))).toEqual(['up msk-1', 'down msk-1', 'up spb-1']);
      expect(listed.some((record) => record.carried)).toBe(false);
    });

    it('reports a month without a file (the watcher was down all of it) as unknown from the state before', async () => {
      const journal = recorder();
      await journal.open();
      await journal.observe([vm('up')]);
      await journal.close();
      // Given the watcher stays down until January
      clock = JAN + 10 * MIN;
      const restarted = recorder();
      await restarted.open();
      await restarted.observe([vm('up')]);
      // Then December has no file, and its report is all unknown (down by default)
      await expect(readFile(join(dir, journalFileOf(month(2026, 12))))).rejects.toThrow(/ENOENT/);
      const december = await report(restarted, 2026, 12);
      expect(december.vms[0]?.minutes.unknown).toBeCloseTo(31 * 1440, 6);
      expect(december.vms[0]?.downMinutes).toBeCloseTo(31 * 1440, 6);
    });

    it('splits a single-file journal of an earlier version into month files', async () => {
      // Given the old layout: every record in availability.jsonl
      const records: Transition[] = [
        { atMs: NOV + MIN, kind: 'watcher', subject: 'bak-1', state: 'up', detail: '' },
        { atMs: NOV + MIN, kind: 'vm', subject: 'web-1', state: 'up', site: 'msk', node: 'msk-1', detail: '' },
        { atMs: DEC - 10 * MIN, kind: 'vm', subject: 'web-1', state: 'down', site: 'msk', node: 'msk-1', detail: '' },
        { atMs: DEC + 20 * MIN, kind: 'vm', subject: 'web-1', state: 'up', site: 'msk', node: 'msk-1', detail: '' },
        { atMs: DEC + 30 * MIN, kind: 'watcher', subject: 'bak-1', state: 'down', detail: 'watcher stopped' },
      ];
      await writeFile(join(dir, LEGACY_JOURNAL_FILE), records.map((record) => `${JSON.stringify(record)}\n`).join(''));
      clock = DEC + 40 * MIN;
      const journal = recorder();
      await journal.open();
      // Then it was renamed, and each month is reported from its own file as before
      await expect(readFile(join(dir, LEGACY_JOURNAL_FILE))).rejects.toThrow(/ENOENT/);
      expect(await readFile(join(dir, `${LEGACY_JOURNAL_FILE}.migrated`), 'utf8')).toContain('watcher stopped');
      expect((await report(journal, 2026, 11)).vms[0]).toMatchObject({ downMinutes: 10 });
      expect((await report(journal, 2026, 12)).vms[0]?.minutes.down).toBeCloseTo(20, 6);
      expect((await report(journal, 2026, 12)).vms[0]?.minutes.unknown).toBeCloseTo(10, 6);
      expect(journal.transitions().every((record) => record.carried || record.atMs >= DEC)).toBe(true);
    });
  });
});
