import type { Transition } from '../monitor/recorder.js';
import { aggregateSites, computeSubject, monthBounds, type Interval, type Month, type SiteReport, type StatePoint, type SubjectReport } from './compute.js';
import type { SlaRule } from './rule.js';
import { windowsForVm, type MaintenanceWindow, type VmLocation } from './windows.js';

export interface SlaReport {
  readonly month: Month;
  readonly nowMs: number;
  /** True when the month is over (the figures are final). */
  readonly final: boolean;
  readonly rule: SlaRule;
  readonly vms: readonly SubjectReport[];
  readonly sites: readonly SiteReport[];
  /** The watcher's own gaps that overlap the month. */
  readonly gaps: readonly Interval[];
}

export interface ReportOptions {
  readonly month: Month;
  readonly nowMs: number;
  readonly rule: SlaRule;
  /** Only this VM (empty: every VM recorded by the end of the month). */
  readonly vm?: string;
  /** Declared maintenance windows (config), accounted under `rule.maintenance`. */
  readonly windows?: readonly MaintenanceWindow[];
}

/**
 * The SLA report of a month from the availability journal: one report per VM seen by the
 * end of the month, attributed to the site of the node it last ran on in the month, and
 * per-site sums. Declared maintenance windows cover a VM as `windowsForVm` says.
 */
export function buildReport(transitions: readonly Transition[], gaps: readonly Interval[], options: ReportOptions): SlaReport {
  const bounds = monthBounds(options.month);
  const end = Math.min(bounds.endMs, options.nowMs);
  const byVm = new Map<string, { points: StatePoint[]; site: string; locations: VmLocation[] }>();
  for (const record of transitions) {
    if (record.kind !== 'vm' || record.atMs >= end) continue;
    if (options.vm && record.subject !== options.vm) continue;
    const entry = byVm.get(record.subject) ?? { points: [], site: '', locations: [] };
    entry.points.push({ atMs: record.atMs, state: record.state });
    entry.locations.push({ atMs: record.atMs, node: record.node, site: record.site });
    if (record.site) entry.site = record.site;
    byVm.set(record.subject, entry);
  }
  const monthGaps = gaps.filter((gap) => gap.endMs > bounds.startMs && gap.startMs < bounds.endMs);
  const vms = [...byVm.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([subject, entry]) =>
      computeSubject(
        { subject, site: entry.site, points: entry.points, maintenance: windowsForVm(subject, entry.locations, options.windows ?? []) },
        { month: options.month, nowMs: options.nowMs, rule: options.rule, gaps: monthGaps },
      ),
    );
  return { month: options.month, nowMs: options.nowMs, final: options.nowMs >= bounds.endMs, rule: options.rule, vms, sites: aggregateSites(vms), gaps: monthGaps };
}
