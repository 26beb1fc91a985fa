import { describe, expect, it } from 'vitest';
import { aggregateSites, computeSubject, mergeIntervals, monthBounds, parseMonth, type ComputeOptions, type StatePoint } from './compute.js';
import { DEFAULT_SLA_RULE, parseSlaRule, type SlaRule } from './rule.js';

const MIN = 60_000;
const NOV = { year: 2026, month: 11 }; // 30 days: 43,200 minutes, 99.5% allows 216
const novStart = Date.UTC(2026, 10, 1);
const decStart = Date.UTC(2026, 11, 1);
const at = (minutes: number): number => novStart + minutes * MIN;
const pts = (...list: [number, StatePoint['state']][]): StatePoint[] => list.map(([atMs, state]) => ({ atMs, state }));
const options = (overrides: Partial<ComputeOptions> = {}): ComputeOptions => ({ month: NOV, nowMs: decStart + MIN, rule: DEFAULT_SLA_RULE, gaps: [], ...overrides });
const rule = (overrides: Partial<SlaRule>): SlaRule => ({ ...DEFAULT_SLA_RULE, ...overrides });

describe('SLA arithmetic', () => {
  const cases: { name: string; points: StatePoint[]; opts?: Partial<ComputeOptions>; maintenance?: { startMs: number; endMs: number }[]; expected: Record<string, number> }[] = [
    {
      name: 'a month fully up owes nothing',
      points: pts([novStart - 10 * MIN, 'up']),
      expected: { countedMinutes: 43_200, downMinutes: 0, availabilityPercent: 100, minutesShort: 0, creditMinutes: 0 },
    },
    {
      name: 'downtime within the 216-minute allowance owes nothing',
      points: pts([novStart - MIN, 'up'], [at(1000), 'down'], [at(1216), 'up']),
      expected: { downMinutes: 216, minutesShort: 0, creditMinutes: 0, budgetLeftMinutes: 0 },
    },
    {
      name: '300 minutes down: 84 short, 168 minutes of credit',
      points: pts([novStart - MIN, 'up'], [at(1000), 'down'], [at(1300), 'up']),
      expected: { downMinutes: 300, minutesShort: 84, creditMinutes: 168, budgetLeftMinutes: -84 },
    },
    {
      name: 'a started minute short counts as a whole one',
      points: pts([novStart - MIN, 'up'], [at(10), 'down'], [at(226.5), 'up']),
      expected: { downMinutes: 216.5, minutesShort: 1, creditMinutes: 2 },
    },
    {
      name: 'an outage crossing into the month counts only from the 1st, 00:00 UTC',
      points: pts([novStart - 100 * MIN, 'down'], [at(250), 'up']),
      expected: { downMinutes: 250, minutesShort: 34, creditMinutes: 68 },
    },
    {
      name: 'an outage crossing out of the month counts only until the 1st of the next',
      points: pts([novStart - MIN, 'up'], [decStart - 230 * MIN, 'down'], [decStart + 500 * MIN, 'up']),
      opts: { nowMs: decStart + 600 * MIN },
      expected: { downMinutes: 230, minutesShort: 14, creditMinutes: 28 },
    },
    {
      name: 'overlapping maintenance windows are merged and excluded',
      // Down 100-500; windows 100-300 and 200-400 merge into 100-400: 300 maintenance, 100 down.
      points: pts([novStart - MIN, 'up'], [at(100), 'down'], [at(500), 'up']),
      maintenance: [
        { startMs: at(100), endMs: at(300) },
        { startMs: at(200), endMs: at(400) },
      ],
      expected: { downMinutes: 100, countedMinutes: 43_200 - 300, minutesShort: 0 },
    },
    {
      name: 'maintenance recorded by the watcher (a drained node) is excluded by default',
      points: pts([novStart - MIN, 'up'], [at(100), 'maintenance'], [at(700), 'up']),
      expected: { downMinutes: 0, countedMinutes: 42_600 },
    },
    {
      name: 'maintenance counted as down when the rule says so',
      points: pts([novStart - MIN, 'up'], [at(100), 'maintenance'], [at(700), 'up']),
      opts: { rule: rule({ maintenance: 'down' }) },
      expected: { downMinutes: 600, countedMinutes: 43_200, minutesShort: 384, creditMinutes: 768 },
    },
    {
      name: 'a maintenance window while the VM runs changes nothing',
      points: pts([novStart - MIN, 'up']),
      maintenance: [{ startMs: at(100), endMs: at(400) }],
      expected: { downMinutes: 0, countedMinutes: 43_200 },
    },
    {
      name: 'a watcher restart (gap) counts as down by default',
      points: pts([novStart - MIN, 'up'], [at(5000), 'up']),
      opts: { gaps: [{ startMs: at(1000), endMs: at(1250) }] },
      expected: { downMinutes: 250, minutesShort: 34, creditMinutes: 68 },
    },
    {
      name: 'a watcher gap excluded or counted as available when configured',
      points: pts([novStart - MIN, 'up']),
      opts: { gaps: [{ startMs: at(1000), endMs: at(1250) }], rule: rule({ unknown: 'exclude' }) },
      expected: { downMinutes: 0, countedMinutes: 42_950 },
    },
    {
      name: 'a watcher gap over an outage is unknown, not double counted',
      points: pts([novStart - MIN, 'up'], [at(100), 'down'], [at(400), 'up']),
      opts: { gaps: [{ startMs: at(300), endMs: at(600) }], rule: rule({ unknown: 'available' }) },
      expected: { downMinutes: 200, minutesShort: 0 },
    },
    {
      name: 'a VM created mid-month is only measured from when it was first seen',
      points: pts([at(43_200 - 1440), 'up'], [at(43_200 - 1000), 'down'], [at(43_200 - 990), 'up']),
      expected: { countedMinutes: 1440, downMinutes: 10, minutesShort: 3, creditMinutes: 6 },
    },
    {
      name: 'a VM stopped on purpose is not an outage and not service time',
      points: pts([novStart - MIN, 'up'], [at(100), 'stopped'], [at(1100), 'up']),
      expected: { downMinutes: 0, countedMinutes: 42_200 },
    },
    {
      name: 'a month in progress: future minutes count as available',
      points: pts([novStart - MIN, 'up'], [at(60), 'down'], [at(90), 'up']),
      opts: { nowMs: at(120) },
      expected: { downMinutes: 30, countedMinutes: 43_200, minutesShort: 0, budgetLeftMinutes: 186 },
    },
    {
      name: 'an outage still running is counted until now',
      points: pts([novStart - MIN, 'up'], [at(60), 'down']),
      opts: { nowMs: at(60.5) },
      expected: { downMinutes: 0.5, minutesShort: 0 },
    },
  ];

  for (const testCase of cases) {
    it(testCase.name, () => {
      const report = computeSubject({ subject: 'web-1', site: 'msk', points: testCase.points, ...(testCase.maintenance ? { maintenance: testCase.maintenance } : {}) }, options(testCase.opts));
      for (const [key, value] of Object.entries(testCase.expected)) {
        expect(report[key as keyof typeof report], key).toBeCloseTo(value, 6);
      }
      // Every minute of the month is accounted for exactly once.
      const total = Object.values(report.minutes).reduce((sum, minutes) => sum + minutes, 0);
      expect(total).toBeCloseTo(report.minutesInMonth, 6);
    });
  }

  it('knows the length of every month, leap years included', () => {
    const minutes = (text: string): number => {
      const bounds = monthBounds(parseMonth(text));
      return (bounds.endMs - bounds.startMs) / MIN;
    };
    expect([minutes('2026-02'), minutes('2028-02'), minutes('2026-12'), minutes('2026-04')]).toEqual([40_320, 41_760, 44_640, 43_200]);
    expect(() => parseMonth('2026-13')).toThrow(/YYYY-MM/);
  });

  it('merges overlapping and touching intervals', () => {
    expect(mergeIntervals([{ startMs: 5, endMs: 9 }, { startMs: 1, endMs: 3 }, { startMs: 3, endMs: 4 }, { startMs: 8, endMs: 12 }, { startMs: 20, endMs: 20 }])).toEqual([
      { startMs: 1, endMs: 4 },
      { startMs: 5, endMs: 12 },
    ]);
  });

  it('aggregates VMs per site: summed minutes and credits', () => {
    const web = computeSubject({ subject: 'web-1', site: 'msk', points: pts([novStart - MIN, 'up'], [at(0), 'down'], [at(300), 'up']) }, options());
    const db = computeSubject({ subject: 'db-1', site: 'msk', points: pts([novStart - MIN, 'up']) }, options());
    const mail = computeSubject({ subject: 'mail-1', site: 'spb', points: pts([novStart - MIN, 'up']) }, options());
    const [msk, spb] = aggregateSites([web, db, mail]);
    expect(msk).toMatchObject({ site: 'msk', vms: 2, countedMinutes: 86_400, downMinutes: 300, minutesShort: 84, creditMinutes: 168 });
    expect(msk?.availabilityPercent).toBeCloseTo((1 - 300 / 86_400) * 100, 9);
    expect(spb).toMatchObject({ site: 'spb', vms: 1, availabilityPercent: 100, creditMinutes: 0 });
  });

  it('validates a configured rule', () => {
    const fail = (message: string): never => {
      throw new Error(message);
    };
    expect(parseSlaRule({ guaranteePercent: 99.9, unknown: 'exclude' }, fail)).toEqual({ ...DEFAULT_SLA_RULE, guaranteePercent: 99.9, unknown: 'exclude' });
    expect(() => parseSlaRule({ guaranteePercent: 120 }, fail)).toThrow(/guaranteePercent/);
    expect(() => parseSlaRule({ maintenance: 'ignore' }, fail)).toThrow(/maintenance/);
  });
});
