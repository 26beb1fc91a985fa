import { describe, expect, it } from 'vitest';
import { aggregateSites, computeSubject, mergeIntervals, monthBounds, parseMonth, type ComputeOptions, type StatePoint } from './compute.js';
import type { Transition } from '../monitor/recorder.js';
import { buildReport } from './report.js';
import { DEFAULT_SLA_RULE, parseSlaRule, type SlaRule } from './rule.js';
import { parseMaintenanceWindows } from './windows.js';

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

describe('declared maintenance windows (monitor.sla.maintenanceWindows)', () => {
  const fail = (message: string): never => {
    throw new Error(message);
  };
  const iso = (ms: number): string => new Date(ms).toISOString();
  /** A VM's journal: [minute, state, node, site]. */
  const journal = (vm: string, ...list: [number, StatePoint['state'], string, string][]): Transition[] =>
    list.map(([minute, state, node, site]) => ({ atMs: at(minute), kind: 'vm', subject: vm, state, node, site, detail: '' }));
  const window = (from: number, to: number, selector: Record<string, unknown>): Record<string, unknown> => ({ from: iso(at(from)), to: iso(at(to)), reason: 'kernel update', ...selector });

  const cases: { name: string; transitions: Transition[]; windows: Record<string, unknown>[]; rule?: Partial<SlaRule>; expected: Record<string, number> }[] = [
    {
      name: 'a window naming the VM turns its outage inside the window into excluded maintenance',
      // Down 100-500, window 100-400: 300 maintenance (excluded), 100 down.
      transitions: journal('web-1', [-1, 'up', 'msk-1', 'msk'], [100, 'down', 'msk-1', 'msk'], [500, 'up', 'msk-1', 'msk']),
      windows: [window(100, 400, { vms: ['web-1'] })],
      expected: { downMinutes: 100, countedMinutes: 43_200 - 300, maintenance: 300, minutesShort: 0 },
    },
    {
      name: "a node's window covers the VM while it is on that node",
      transitions: journal('web-1', [-1, 'up', 'msk-1', 'msk'], [100, 'down', 'msk-1', 'msk'], [500, 'up', 'msk-1', 'msk']),
      windows: [window(0, 1000, { nodes: ['msk-1'] })],
      expected: { downMinutes: 0, maintenance: 400 },
    },
    {
      name: "a node's window does not cover a VM that moved away from the node before it",
      // web-1 moved to spb-1 at 50; the msk-1 window 0-1000 covers only 0-50 of it (it was up then).
      transitions: journal('web-1', [-1, 'up', 'msk-1', 'msk'], [50, 'up', 'spb-1', 'spb'], [100, 'down', 'spb-1', 'spb'], [500, 'up', 'spb-1', 'spb']),
      windows: [window(0, 1000, { nodes: ['msk-1'] })],
      expected: { downMinutes: 400, maintenance: 0, minutesShort: 184 },
    },
    {
      name: "a site's window covers the VMs on that site's nodes",
      transitions: journal('web-1', [-1, 'up', 'spb-2', 'spb'], [100, 'down', 'spb-2', 'spb'], [300, 'up', 'spb-2', 'spb']),
      windows: [window(150, 250, { site: 'spb' }), window(0, 1000, { site: 'msk' })],
      expected: { downMinutes: 100, maintenance: 100 },
    },
    {
      name: 'overlapping declared windows and recorded maintenance are counted once',
      // Recorded maintenance 100-200 (a drain), then down 200-600; windows 150-400 and 300-500 merge into 150-500.
      transitions: journal('web-1', [-1, 'up', 'msk-1', 'msk'], [100, 'maintenance', 'msk-1', 'msk'], [200, 'down', 'msk-1', 'msk'], [600, 'up', 'msk-1', 'msk']),
      windows: [window(150, 400, { vms: ['web-1'] }), window(300, 500, { nodes: ['msk-1'] })],
      expected: { maintenance: 400, downMinutes: 100, countedMinutes: 43_200 - 400 },
    },
    {
      name: 'a window crossing into the next month is clipped to this one',
      transitions: journal('web-1', [-1, 'up', 'msk-1', 'msk'], [43_200 - 60, 'down', 'msk-1', 'msk'], [43_200 + 120, 'up', 'msk-1', 'msk']),
      windows: [window(43_200 - 30, 43_200 + 200, { vms: ['web-1'] })],
      expected: { maintenance: 30, downMinutes: 30 },
    },
    {
      name: "with maintenance: down a declared window's outage is still down",
      transitions: journal('web-1', [-1, 'up', 'msk-1', 'msk'], [100, 'down', 'msk-1', 'msk'], [500, 'up', 'msk-1', 'msk']),
      windows: [window(100, 400, { vms: ['web-1'] })],
      rule: { maintenance: 'down' },
      expected: { maintenance: 300, downMinutes: 400, countedMinutes: 43_200, minutesShort: 184, creditMinutes: 368 },
    },
    {
      name: 'with maintenance: available a declared window counts as up',
      transitions: journal('web-1', [-1, 'up', 'msk-1', 'msk'], [100, 'down', 'msk-1', 'msk'], [500, 'up', 'msk-1', 'msk']),
      windows: [window(100, 400, { vms: ['web-1'] })],
      rule: { maintenance: 'available' },
      expected: { maintenance: 300, downMinutes: 100, countedMinutes: 43_200 },
    },
  ];

  for (const testCase of cases) {
    it(testCase.name, () => {
      const windows = parseMaintenanceWindows(testCase.windows, fail);
      const report = buildReport(testCase.transitions, [], { month: NOV, nowMs: decStart + 1000 * MIN, rule: rule(testCase.rule ?? {}), windows });
      const vm = report.vms[0];
      expect(vm?.subject).toBe('web-1');
      for (const [key, value] of Object.entries(testCase.expected)) {
        const actual = key === 'maintenance' ? vm?.minutes.maintenance : vm?.[key as keyof NonNullable<typeof vm>];
        expect(actual, key).toBeCloseTo(value, 6);
      }
      const total = Object.values(vm?.minutes ?? {}).reduce((sum, minutes) => sum + minutes, 0);
      expect(total).toBeCloseTo(vm?.minutesInMonth ?? 0, 6);
    });
  }

  it('validates declared windows, naming the entry', () => {
    expect(parseMaintenanceWindows(undefined, fail)).toEqual([]);
    expect(parseMaintenanceWindows([{ from: new Date(at(0)), to: '2026-11-01T04:00:00+03:00', nodes: ['msk-1'] }], fail)).toEqual([
      { startMs: at(0), endMs: at(60), nodes: ['msk-1'], reason: '' },
    ]);
    const bad = (entry: unknown): (() => unknown) => () => parseMaintenanceWindows([entry], fail);
    expect(bad({ from: '2026-11-20T02:00:00', to: '2026-11-20T04:00:00Z', vms: ['a'] })).toThrow(/maintenanceWindows\[0\]\.from must be a time with its zone/);
    expect(bad({ from: '2026-11-20T04:00:00Z', to: '2026-11-20T02:00:00Z', vms: ['a'] })).toThrow(/to must be after from/);
    expect(bad({ from: '2026-11-20T02:00:00Z', to: '2026-11-20T04:00:00Z' })).toThrow(/exactly one of vms, nodes or site/);
    expect(bad({ from: '2026-11-20T02:00:00Z', to: '2026-11-20T04:00:00Z', vms: ['a'], site: 'msk' })).toThrow(/exactly one of vms, nodes or site/);
    expect(bad({ from: '2026-11-20T02:00:00Z', to: '2026-11-20T04:00:00Z', nodes: [] })).toThrow(/nodes must be a non-empty list/);
    expect(bad({ from: '2026-11-20T02:00:00Z', to: '2026-11-20T04:00:00Z', site: 'msk', node: 'msk-1' })).toThrow(/\.node is not a setting/);
    expect(() => parseMaintenanceWindows({ from: 'x' }, fail)).toThrow(/must be a list/);
  });
});
