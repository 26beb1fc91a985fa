import type { Interval } from './compute.js';

/**
 * A planned maintenance window declared in the watcher's config (`monitor.sla.maintenanceWindows`):
 * the VMs it covers are in maintenance, not down, while they are not up inside it. Exactly
 * one selector says which: `vms` by name, `nodes` (the VMs while they are on those nodes),
 * or `site` (the VMs while they are on that site's nodes).
 */
export interface MaintenanceWindow {
  readonly startMs: number;
  readonly endMs: number;
  readonly vms?: readonly string[];
  readonly nodes?: readonly string[];
  readonly site?: string;
  readonly reason: string;
}

/** Where a VM was from `atMs` on, as the availability journal recorded it. */
export interface VmLocation {
  readonly atMs: number;
  readonly node: string;
  readonly site: string;
}

/** An instant with an explicit zone (`Z` or `+03:00`): a window means the same time on every watcher. */
const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Validates `maintenanceWindows` (a list); `fail` throws naming the entry. */
export function parseMaintenanceWindows(raw: unknown, fail: (message: string) => never): MaintenanceWindow[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) fail('sla.maintenanceWindows must be a list of {from, to, vms|nodes|site, reason}');
  return raw.map((entry: unknown, index: number): MaintenanceWindow => {
    const where = `sla.maintenanceWindows[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail(`${where} must be a mapping {from, to, vms|nodes|site, reason}`);
    const doc = entry as Record<string, unknown>;
    for (const key of Object.keys(doc)) if (!['from', 'to', 'vms', 'nodes', 'site', 'reason'].includes(key)) fail(`${where}.${key} is not a setting (known: from, to, vms, nodes, site, reason)`);
    const instant = (key: 'from' | 'to'): number => {
      const value = doc[key];
      // YAML 1.1 loaders turn timestamps into Dates; they carry the zone already.
      if (value instanceof Date && Number.isFinite(value.getTime())) return value.getTime();
      if (typeof value !== 'string' || !INSTANT.test(value) || !Number.isFinite(Date.parse(value))) fail(`${where}.${key} must be a time with its zone, like 2026-11-20T02:00:00Z`);
      return Date.parse(value);
    };
    const startMs = instant('from');
    const endMs = instant('to');
    if (endMs <= startMs) fail(`${where}: to must be after from`);
    const names = (key: 'vms' | 'nodes'): string[] | undefined => {
      const value = doc[key];
      if (value === undefined) return undefined;
      if (!Array.isArray(value) || value.length === 0 || !value.every((name) => typeof name === 'string' && NAME.test(name))) fail(`${where}.${key} must be a non-empty list of names`);
      return value as string[];
    };
    const vms = names('vms');
    const nodes = names('nodes');
    const site = doc['site'];
    if (site !== undefined && (typeof site !== 'string' || !NAME.test(site))) fail(`${where}.site must be a site name`);
    if ([vms, nodes, site].filter((selector) => selector !== undefined).length !== 1) fail(`${where} needs exactly one of vms, nodes or site`);
    const reason = doc['reason'] ?? '';
    if (typeof reason !== 'string' || reason.length > 200) fail(`${where}.reason must be text (at most 200 characters)`);
    return { startMs, endMs, reason, ...(vms ? { vms } : {}), ...(nodes ? { nodes } : {}), ...(typeof site === 'string' ? { site } : {}) };
  });
}

/**
 * The parts of the declared windows that cover one VM: a `vms` window whole; a `nodes` or
 * `site` window only while the VM was recorded on a matching node (a VM migrated away
 * before a node's window is not covered by it).
 */
export function windowsForVm(vm: string, locations: readonly VmLocation[], windows: readonly MaintenanceWindow[]): Interval[] {
  const sorted = [...locations].sort((a, b) => a.atMs - b.atMs);
  const covered: Interval[] = [];
  for (const window of windows) {
    if (window.vms) {
      if (window.vms.includes(vm)) covered.push({ startMs: window.startMs, endMs: window.endMs });
      continue;
    }
    const matches = (location: VmLocation): boolean => (window.nodes ? window.nodes.includes(location.node) : location.site === window.site);
    sorted.forEach((location, index) => {
      if (!matches(location)) return;
      const until = sorted[index + 1]?.atMs ?? Number.POSITIVE_INFINITY;
      const startMs = Math.max(window.startMs, location.atMs);
      const endMs = Math.min(window.endMs, until);
      if (endMs > startMs) covered.push({ startMs, endMs });
    });
  }
  return covered;
}
