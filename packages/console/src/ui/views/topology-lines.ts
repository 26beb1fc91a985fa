import { fit, formatAge, formatDuration, replicationSummary, rolesSummary, seg, type Line, type Segment, type Tone } from '../../state/format.js';
import type { ColumnWidths, NodeRow, Row, SiteRow, VmRow } from '../../state/rows.js';

/** A column of VM rows: shown when the pane is wide enough, in priority order. */
export interface VmColumn {
  readonly key: 'name' | 'state' | 'roles' | 'replication' | 'ip' | 'announced' | 'backup' | 'priority';
  readonly width: number;
  /** Lower comes first when columns compete for space. */
  readonly priority: number;
}

const GUTTER = 2;
const VM_INDENT = 3;
const NODE_INDENT = 2;

/**
 * Which VM columns fit in `width`, in display order. Chosen once per pane width (not per
 * row) so that every visible row lines up.
 */
export function vmColumns(widths: ColumnWidths, width: number): readonly VmColumn[] {
  const all: VmColumn[] = [
    { key: 'name', width: widths.vm, priority: 0 },
    { key: 'state', width: 8, priority: 1 },
    { key: 'roles', width: widths.roles, priority: 2 },
    { key: 'replication', width: 21, priority: 3 },
    { key: 'ip', width: widths.ip, priority: 4 },
    { key: 'announced', width: 4 + widths.node + 2, priority: 5 },
    { key: 'backup', width: 14, priority: 6 },
    { key: 'priority', width: 7, priority: 7 },
  ];
  // The alert marker and the separators: one column before each field.
  let used = GUTTER + VM_INDENT + 2;
  const chosen = new Set<VmColumn['key']>();
  // Stop at the first column that does not fit: never show a minor column without a major one.
  for (const column of [...all].sort((a, b) => a.priority - b.priority)) {
    if (column.priority > 1 && used + column.width + 1 > width) break;
    chosen.add(column.key);
    used += column.width + 1;
  }
  return all.filter((column) => chosen.has(column.key));
}

const stateTone = (state: string): Tone =>
  state === 'running' ? 'ok' : state === 'crashed' ? 'bad' : state === 'unknown' ? 'muted' : 'warn';

function vmCell(row: VmRow, column: VmColumn, nowMs: number): Segment {
  const { vm, resource } = row;
  switch (column.key) {
    case 'name':
      return seg(fit(vm.name, column.width), 'normal', row.lastKnownState === 'running');
    case 'state':
      return seg(fit(vm.migrating ? 'migrate' : row.lastKnownState, column.width), vm.migrating ? 'warn' : stateTone(row.lastKnownState));
    case 'roles': {
      if (!resource) return seg(fit('no resource', column.width), 'warn');
      return seg(fit(rolesSummary(resource), column.width), resource.primaries.length > 1 ? 'bad' : resource.primaries.length === 0 && vm.state === 'running' ? 'warn' : 'normal');
    }
    case 'replication': {
      if (!resource) return seg(fit('', column.width));
      const summary = replicationSummary(resource);
      return { ...summary, text: fit(summary.text, column.width) };
    }
    case 'ip':
      return seg(fit(vm.ip, column.width), 'normal');
    case 'announced': {
      if (vm.announcedFrom.length === 0) return seg(fit(vm.state === 'running' ? '/32 none' : '', column.width), 'warn');
      const wrong = vm.runningOn.length > 0 && vm.announcedFrom.some((node) => !vm.runningOn.includes(node));
      return seg(fit(`/32 ${vm.announcedFrom.join(',')}`, column.width), wrong || vm.announcedFrom.length > 1 ? 'bad' : 'ok');
    }
    case 'backup': {
      const backup = row.backup;
      if (!backup || !backup.lastAtMs) return seg(fit('no backup', column.width), backup?.overdue ? 'bad' : 'warn');
      const ageSeconds = (nowMs - backup.lastAtMs) / 1000;
      // Over its policy's maxAge: flagged; without a policy, a day old is worth a look.
      if (backup.overdue) return seg(fit(`bak ${formatDuration(ageSeconds)}!`, column.width), 'bad');
      return seg(fit(`bak ${formatDuration(ageSeconds)}`, column.width), !backup.policy && ageSeconds > 86_400 ? 'warn' : 'muted');
    }
    case 'priority':
      return seg(fit(`prio ${vm.priority}`, column.width), 'muted');
  }
}

function vmLine(row: VmRow, columns: readonly VmColumn[], nowMs: number): Line {
  const marker = row.alert ? seg('! ', row.alert, true) : row.vm.runningOn.length > 1 ? seg('! ', 'bad', true) : seg('  ');
  const segments: Segment[] = [seg(' '.repeat(VM_INDENT)), marker];
  columns.forEach((column, index) => {
    if (index > 0) segments.push(seg(' '));
    segments.push(vmCell(row, column, nowMs));
  });
  if (row.vm.runningOn.length > 1) segments.push(seg(` RUNNING ON ${row.vm.runningOn.join(' + ')}`, 'bad', true));
  return { segments, muted: row.stale };
}

/** Adds optional segments (in priority order) while they fit in `room` columns. */
function fitOptional(optional: readonly { readonly priority: number; readonly segment: Segment }[], room: number): Segment[] {
  const chosen = new Set<number>();
  let left = room;
  const order = optional.map((entry, index) => ({ ...entry, index })).sort((a, b) => a.priority - b.priority);
  for (const entry of order) {
    const length = [...entry.segment.text].length;
    if (length <= left) {
      chosen.add(entry.index);
      left -= length;
    }
  }
  return optional.filter((_, index) => chosen.has(index)).map((entry) => entry.segment);
}

function nodeLine(row: NodeRow, widths: ColumnWidths, width: number, nowMs: number): Line {
  const { node, connection } = row;
  const down = !node.reachable;
  const fixed: Segment[] = [
    seg(' '.repeat(NODE_INDENT)),
    down ? seg('✖ ', 'bad', true) : seg('● ', 'ok'),
    seg(fit(node.name, widths.node), 'normal', true),
    seg(' '),
  ];
  const optional: { priority: number; segment: Segment }[] = [];
  if (down) {
    const status = !connection.settled
      ? 'CONNECTING'
      : connection.unreachableSinceMs
        ? `UNREACHABLE ${formatDuration((nowMs - connection.unreachableSinceMs) / 1000)}`
        : 'UNREACHABLE';
    fixed.push(seg(status, connection.settled ? 'bad' : 'warn', true));
  } else {
    fixed.push(seg(row.witness ? 'witness' : 'up', row.witness ? 'accent' : 'ok'));
  }
  if (node.cordoned) optional.push({ priority: 1, segment: seg('  cordoned', 'warn', true) });
  if (node.maintenance) optional.push({ priority: 1, segment: seg('  maintenance', 'warn', true) });
  if (row.bgp) optional.push({ priority: 2, segment: seg('  BGP', 'accent', true) });
  if (row.witness) {
    optional.push({ priority: 3, segment: seg(`  ${row.backups} backups`) });
    if (row.backups > 0) optional.push({ priority: 4, segment: seg(`, newest ${formatAge(row.newestBackupMs, nowMs)}`) });
  } else {
    optional.push({ priority: 3, segment: seg(`  ${row.vmsRunning}/${row.vms} VMs running`, row.vmsRunning < row.vms ? 'warn' : 'normal') });
  }
  if (connection.state) optional.push({ priority: 5, segment: seg(`  load ${node.load.toFixed(2)}`, 'muted') });
  if (node.missingCapabilities.length > 0) {
    optional.push({ priority: 6, segment: seg(`  missing: ${node.missingCapabilities.map((entry) => entry.split(':')[0]).join(',')}`, 'warn') });
  }
  if (down && connection.error) optional.push({ priority: 7, segment: seg(`  ${connection.error}`, 'muted') });
  if (down && connection.state) optional.push({ priority: 8, segment: seg('  (last known)', 'muted') });
  const used = GUTTER + fixed.reduce((sum, segment) => sum + [...segment.text].length, 0);
  // The UNREACHABLE marker stays red: `muted` keeps 'bad' segments.
  return { segments: [...fixed, ...fitOptional(optional, width - used)], muted: down };
}

function siteLine(row: SiteRow, width: number): Line {
  const kind = row.siteKind === 'backup' ? 'backup site, witness' : 'main site';
  const fixed: Segment[] = [seg(row.name, 'accent', true)];
  const optional = [
    { priority: 1, segment: seg(`  ${kind}`, 'muted') },
    { priority: 2, segment: seg(`  ${row.nodes} node${row.nodes === 1 ? '' : 's'}`, 'muted') },
    { priority: 3, segment: seg(row.siteKind === 'backup' && row.vms === 0 ? '' : `, ${row.vms} VMs`, 'muted') },
  ];
  const down: Segment[] = [];
  if (row.nodesDown > 0) down.push(seg(row.nodesDown === row.nodes ? '  SITE DOWN' : `  ${row.nodesDown} down`, 'bad', true));
  if (row.nodesConnecting > 0) down.push(seg(`  ${row.nodesConnecting} connecting`, 'warn'));
  const used = GUTTER + [...fixed, ...down].reduce((sum, segment) => sum + [...segment.text].length, 0);
  return { segments: [...fixed, ...fitOptional(optional, width - used), ...down] };
}

/** The text of one topology row for a pane `width` columns wide (gutter included). */
export function topologyLine(row: Row, widths: ColumnWidths, columns: readonly VmColumn[], width: number, nowMs: number): Line {
  switch (row.kind) {
    case 'site':
      return siteLine(row, width);
    case 'node':
      return nodeLine(row, widths, width, nowMs);
    case 'vm':
      return vmLine(row, columns, nowMs);
  }
}
