import { invalidArgument } from '@hvctl/common';
import type { SlaRule } from './rule.js';

/**
 * A subject's observed state: `up` (a VM running, a node reachable), `down`, `maintenance`
 * (planned: the node was drained or is in maintenance), `stopped` (a VM shut down on
 * purpose; not service time).
 */
export type ObservedState = 'up' | 'down' | 'maintenance' | 'stopped';

/** One recorded change of a subject's state. */
export interface StatePoint {
  readonly atMs: number;
  readonly state: ObservedState;
}

/** A half-open time interval [startMs, endMs). */
export interface Interval {
  readonly startMs: number;
  readonly endMs: number;
}

/** A calendar month in UTC. */
export interface Month {
  readonly year: number;
  /** 1-12. */
  readonly month: number;
}

/** Minutes of a month by what happened in them (fractional; 1 ms precision). */
export interface MinuteBreakdown {
  readonly up: number;
  readonly down: number;
  readonly maintenance: number;
  readonly stopped: number;
  /** Watcher gaps while the subject was tracked. */
  readonly unknown: number;
  /** Before the subject was first seen this month (it did not exist or was not watched). */
  readonly untracked: number;
  /** After the report's time (a month still running): assumed available. */
  readonly future: number;
}

/** The SLA verdict for one subject and month. */
export interface SubjectReport {
  readonly subject: string;
  readonly site: string;
  readonly minutesInMonth: number;
  readonly minutes: MinuteBreakdown;
  /** Minutes the guarantee applies to: the month minus excluded time. */
  readonly countedMinutes: number;
  /** Minutes counted as down under the rule (down, plus maintenance/unknown when the rule says so). */
  readonly downMinutes: number;
  readonly availabilityPercent: number;
  /** Down minutes the guarantee allows over the counted minutes. */
  readonly allowedDownMinutes: number;
  /** Whole minutes below the guarantee (a started minute counts). */
  readonly minutesShort: number;
  readonly creditMinutes: number;
  /** allowedDownMinutes - downMinutes: how much more downtime fits (negative when short). */
  readonly budgetLeftMinutes: number;
}

/** A site's aggregate: the sum over the VMs attributed to it. */
export interface SiteReport {
  readonly site: string;
  readonly vms: number;
  readonly countedMinutes: number;
  readonly downMinutes: number;
  readonly maintenanceMinutes: number;
  readonly unknownMinutes: number;
  readonly availabilityPercent: number;
  readonly minutesShort: number;
  readonly creditMinutes: number;
}

const MINUTE_MS = 60_000;

/** Parses "YYYY-MM". */
export function parseMonth(text: string): Month {
  const match = /^(\d{4})-(\d{2})$/.exec(text);
  const month = Number(match?.[2]);
  if (!match || month < 1 || month > 12) {
    throw invalidArgument(`month "${text}" is not YYYY-MM`, { nextSteps: ['pass --month like 2026-11'] });
  }
  return { year: Number(match[1]), month };
}

export const formatMonth = (month: Month): string => `${month.year}-${String(month.month).padStart(2, '0')}`;

/** The UTC month containing `ms`. */
export function monthOf(ms: number): Month {
  const date = new Date(ms);
  return { year: date.getUTCFullYear(), month: date.getUTCMonth() + 1 };
}

/** [first ms, first ms of the next month) in UTC. */
export function monthBounds(month: Month): Interval {
  return { startMs: Date.UTC(month.year, month.month - 1, 1), endMs: Date.UTC(month.year, month.month, 1) };
}

/** Sorts and merges overlapping or touching intervals, dropping empty ones. */
export function mergeIntervals(intervals: readonly Interval[]): Interval[] {
  const sorted = intervals.filter((interval) => interval.endMs > interval.startMs).sort((a, b) => a.startMs - b.startMs);
  const merged: Interval[] = [];
  for (const interval of sorted) {
    const last = merged.at(-1);
    if (last && interval.startMs <= last.endMs) merged[merged.length - 1] = { startMs: last.startMs, endMs: Math.max(last.endMs, interval.endMs) };
    else merged.push({ ...interval });
  }
  return merged;
}

const contains = (intervals: readonly Interval[], atMs: number): boolean => intervals.some((interval) => atMs >= interval.startMs && atMs < interval.endMs);

export interface SubjectInput {
  readonly subject: string;
  readonly site: string;
  /** State changes in time order; points before the month set the state it starts in. */
  readonly points: readonly StatePoint[];
  /** Declared maintenance windows for this subject (may overlap; they are merged). */
  readonly maintenance?: readonly Interval[];
}

export interface ComputeOptions {
  readonly month: Month;
  /** The report's time: later minutes of the month are `future` (counted as available). */
  readonly nowMs: number;
  readonly rule: SlaRule;
  /** When the watcher was not observing (its own downtime). */
  readonly gaps: readonly Interval[];
}

/**
 * The SLA arithmetic for one subject and month. Every instant of the month is exactly one
 * of: untracked (before the first point), unknown (a watcher gap), maintenance (recorded
 * as such, or a declared window while the subject was not up), stopped, down, up, or
 * future. Untracked, stopped and future time never count as down; maintenance and unknown
 * time follow the rule (`exclude` removes them from the month, `available` counts them as
 * up, `down` as down). Future minutes stay in the month, so a month in progress shows what
 * the guarantee still allows if nothing else fails.
 */
export function computeSubject(input: SubjectInput, options: ComputeOptions): SubjectReport {
  const bounds = monthBounds(options.month);
  const measuredEnd = Math.min(Math.max(options.nowMs, bounds.startMs), bounds.endMs);
  const points = [...input.points].sort((a, b) => a.atMs - b.atMs);
  const gaps = mergeIntervals(options.gaps);
  const maintenance = mergeIntervals(input.maintenance ?? []);
  const cuts = new Set<number>([bounds.startMs, measuredEnd]);
  const clip = (ms: number): void => {
    if (ms > bounds.startMs && ms < measuredEnd) cuts.add(ms);
  };
  for (const point of points) clip(point.atMs);
  for (const interval of [...gaps, ...maintenance]) {
    clip(interval.startMs);
    clip(interval.endMs);
  }
  const sortedCuts = [...cuts].sort((a, b) => a - b);
  const totals = { up: 0, down: 0, maintenance: 0, stopped: 0, unknown: 0, untracked: 0, future: (bounds.endMs - measuredEnd) / MINUTE_MS };
  let pointIndex = -1;
  for (let i = 0; i + 1 < sortedCuts.length; i += 1) {
    const start = sortedCuts[i] as number;
    const minutes = ((sortedCuts[i + 1] as number) - start) / MINUTE_MS;
    while (pointIndex + 1 < points.length && (points[pointIndex + 1] as StatePoint).atMs <= start) pointIndex += 1;
    const state = points[pointIndex]?.state;
    if (state === undefined) totals.untracked += minutes;
    else if (contains(gaps, start)) totals.unknown += minutes;
    else if (state === 'maintenance' || (state !== 'up' && contains(maintenance, start))) totals.maintenance += minutes;
    else totals[state] += minutes;
  }
  const { rule } = options;
  const minutesInMonth = (bounds.endMs - bounds.startMs) / MINUTE_MS;
  const weigh = (minutes: number, policy: SlaRule['unknown']): { excluded: number; down: number } =>
    policy === 'exclude' ? { excluded: minutes, down: 0 } : policy === 'down' ? { excluded: 0, down: minutes } : { excluded: 0, down: 0 };
  const maintenanceWeight = weigh(totals.maintenance, rule.maintenance);
  const unknownWeight = weigh(totals.unknown, rule.unknown);
  const countedMinutes = minutesInMonth - totals.untracked - totals.stopped - maintenanceWeight.excluded - unknownWeight.excluded;
  const downMinutes = totals.down + maintenanceWeight.down + unknownWeight.down;
  const allowedDownMinutes = ((100 - rule.guaranteePercent) / 100) * countedMinutes;
  // A started minute below the guarantee counts as a whole one (in the client's favour); the
  // epsilon keeps float noise (0.1 + 0.2) from adding a minute.
  const minutesShort = Math.max(0, Math.ceil(downMinutes - allowedDownMinutes - 1e-9));
  return {
    subject: input.subject,
    site: input.site,
    minutesInMonth,
    minutes: totals,
    countedMinutes,
    downMinutes,
    availabilityPercent: countedMinutes > 0 ? ((countedMinutes - downMinutes) / countedMinutes) * 100 : 100,
    allowedDownMinutes,
    minutesShort,
    creditMinutes: minutesShort * rule.creditMinutesPerMinuteShort,
    budgetLeftMinutes: allowedDownMinutes - downMinutes,
  };
}

/** Per-site sums over VM reports: availability from the summed minutes, credit as the sum of the VMs' credits. */
export function aggregateSites(reports: readonly SubjectReport[]): SiteReport[] {
  const bySite = new Map<string, SubjectReport[]>();
  for (const report of reports) bySite.set(report.site, [...(bySite.get(report.site) ?? []), report]);
  return [...bySite.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([site, list]) => {
      const sum = (pick: (report: SubjectReport) => number): number => list.reduce((total, report) => total + pick(report), 0);
      const countedMinutes = sum((report) => report.countedMinutes);
      const downMinutes = sum((report) => report.downMinutes);
      return {
        site,
        vms: list.length,
        countedMinutes,
        downMinutes,
        maintenanceMinutes: sum((report) => report.minutes.maintenance),
        unknownMinutes: sum((report) => report.minutes.unknown),
        availabilityPercent: countedMinutes > 0 ? ((countedMinutes - downMinutes) / countedMinutes) * 100 : 100,
        minutesShort: sum((report) => report.minutesShort),
        creditMinutes: sum((report) => report.creditMinutes),
      };
    });
}
