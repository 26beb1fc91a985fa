import { appendFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_SLA_RULE } from '../sla/rule.js';
import { buildReport } from '../sla/report.js';
import type { Observation } from './observe.js';
import { ALIVE_FILE, AvailabilityRecorder, JOURNAL_FILE } from './recorder.js';

const vm = (state: Observation['state'], node = 'msk-1'): Observation => ({ kind: 'vm', subject: 'web-1', state, site: node.slice(0, 3), node, detail: state });
const NOV = Date.UTC(2026, 10, 1);
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
    const lines = (await readFile(join(dir, JOURNAL_FILE), 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as { kind: string; state: string; node?: string });
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
    await appendFile(join(dir, JOURNAL_FILE), '{"atMs":');
    clock += 30 * MIN;
    const second = recorder();
    await second.open();
    await second.observe([vm('down')]);
    expect(second.gaps()).toEqual([{ startMs: NOV + 12 * MIN, endMs: NOV + 40 * MIN }]);
    expect(second.transitions().filter((record) => record.kind === 'vm').map((record) => record.state)).toEqual(['up', 'down']);
  });
});
