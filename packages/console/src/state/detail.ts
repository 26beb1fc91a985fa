import { isSuspended, type NodeConnection, type TopologyReplica, type TopologyResource, type TopologyVm } from '@hvctl/common';
import type { Domain__Output, Resource__Output } from '@hvctl/proto';
import { fit, formatAge, formatBytes, formatDuration, replicationSummary, seg, type Line, type Segment, type Tone } from './format.js';
import { type NodeRow, type Row, type RowModel, type SiteRow, type VmRow } from './rows.js';

const LABEL = 13;

const plural = (count: number, noun: string): string => `${count} ${noun}${count === 1 ? '' : 's'}`;

const text = (...segments: Segment[]): Line => ({ segments });
const field = (label: string, ...value: Segment[]): Line => text(seg(fit(label, LABEL), 'muted'), ...value);
const heading = (title: string): Line => text(seg(title, 'accent', true));

/** Greys every line: last-known data of an unreachable node. */
const muted = (lines: readonly Line[]): Line[] => lines.map((line) => ({ ...line, muted: true }));

/**
 * Lays short "chips" (`quorum yes`, `oos 0 B`) out in lines of at most `width` columns,
 * each line starting with `indent` spaces.
 */
function wrapChips(chips: readonly Segment[], width: number, indent: number): Line[] {
  const lines: Line[] = [];
  let current: Segment[] = [];
  let used = indent;
  for (const chip of chips) {
    const length = [...chip.text].length;
    if (current.length > 0 && used + 2 + length > width) {
      lines.push(text(seg(' '.repeat(indent)), ...current));
      current = [];
      used = indent;
    }
    if (current.length > 0) {
      current.push(seg('  '));
      used += 2;
    }
    current.push(chip);
    used += length;
  }
  if (current.length > 0) lines.push(text(seg(' '.repeat(indent)), ...current));
  return lines;
}

/** Word-wraps one message into lines of at most `width` columns (long words are cut). */
function wrapText(message: string, width: number, tone: Tone, bold = false): Line[] {
  const room = Math.max(10, width);
  const lines: Line[] = [];
  let current = '';
  for (const word of message.split(/\s+/).filter(Boolean)) {
    let rest = word;
    while ([...rest].length > room) {
      if (current) lines.push(text(seg(current, tone, bold)));
      lines.push(text(seg([...rest].slice(0, room).join(''), tone, bold)));
      current = '';
      rest = [...rest].slice(room).join('');
    }
    if (!current) current = rest;
    else if ([...current].length + 1 + [...rest].length <= room) current += ` ${rest}`;
    else {
      lines.push(text(seg(current, tone, bold)));
      current = rest;
    }
  }
  if (current) lines.push(text(seg(current, tone, bold)));
  return lines;
}

/** "unreachable for 42 s: connection refused", with a readable duration for long outages. */
export function unreachableText(connection: NodeConnection, nowMs: number): string {
  if (!connection.settled) return `connecting to ${connection.address}…`;
  if (connection.unreachableSinceMs === 0) return `unreachable: ${connection.error || 'no connection yet'}`;
  const seconds = Math.max(0, Math.floor((nowMs - connection.unreachableSinceMs) / 1000));
  const long = seconds >= 120 ? ` (${formatDuration(seconds)})` : '';
  return `unreachable for ${seconds} s${long}: ${connection.error || 'no reason given'}`;
}

function nodeDetail(row: NodeRow, nowMs: number, width: number): Line[] {
  const { node, connection } = row;
  const state = connection.state;
  const lines: Line[] = [text(seg(node.name, 'normal', true), seg(`  ${row.witness ? 'witness node' : 'node'} at site ${node.site}`, 'muted'))];
  if (!node.reachable) {
    lines.push(...wrapText(unreachableText(connection, nowMs), width, 'bad', true));
    if (!state) return [...lines, text(seg('no report since the console started', 'muted'))];
    lines.push(text(seg('last known state:', 'muted')));
  }
  const body: Line[] = [];
  const info = state?.node;
  body.push(field('address', seg(node.address)));
  if (info) {
    body.push(field('agent', seg(info.agentVersion || '?'), seg(`  epoch ${info.agentEpoch || '?'}`, 'muted')));
    body.push(field('uptime', seg(formatDuration(info.uptimeSeconds))));
    const flags = info.flags;
    const flagText: Segment[] = [];
    if (flags?.cordoned) flagText.push(seg('cordoned', 'warn'), seg(flags.cordonReason ? ` (${flags.cordonReason})` : ''));
    if (flags?.maintenance) flagText.push(seg(flagText.length ? '  ' : ''), seg('maintenance', 'warn'));
    if (flagText.length === 0) flagText.push(seg('schedulable', 'ok'));
    if (flags?.changedUnixMs) flagText.push(seg(`  changed ${formatAge(flags.changedUnixMs, nowMs)}`, 'muted'));
    body.push(field('flags', ...flagText));
    const facts = info.facts;
    if (facts) {
      body.push(field('cpu', seg(`${facts.cpuCores} cores, ${Math.round(facts.cpuUsagePercent)}% busy`), seg(`  ${facts.cpuModel}`, 'muted')));
      const memoryPercent = facts.memoryTotalBytes ? Math.round((facts.memoryUsedBytes / facts.memoryTotalBytes) * 100) : 0;
      body.push(field('memory', seg(`${formatBytes(facts.memoryUsedBytes)} of ${formatBytes(facts.memoryTotalBytes)} (${memoryPercent}%)`)));
      body.push(field('load', seg(facts.loadAverage.map((value) => value.toFixed(2)).join(' ') || '?')));
      for (const disk of facts.disks) {
        body.push(field(disk === facts.disks[0] ? 'disks' : '', seg(`${disk.mount} ${formatBytes(disk.usedBytes)} of ${formatBytes(disk.sizeBytes)}`)));
      }
    }
    body.push(heading('capabilities'));
    if (info.capabilities.length === 0) body.push(text(seg('  none reported', 'muted')));
    for (const capability of info.capabilities) {
      body.push(
        text(
          seg(`  ${fit(capability.area, 8)} ${fit(capability.driver, 5)} `),
          capability.available ? seg(fit('available', 10), 'ok') : seg(fit('missing', 10), 'warn', true),
          seg(capability.detail, capability.available ? 'muted' : 'warn'),
        ),
      );
    }
  }
  if (state) {
    body.push(heading('neighbours'));
    if (state.neighbors.size === 0) body.push(text(seg('  none', 'muted')));
    for (const neighbor of state.neighbors.values()) {
      body.push(
        text(
          seg(`  ${fit(`${neighbor.protocol}/${neighbor.name}`, 22)} `),
          seg(fit(neighbor.state, 12), neighbor.up ? 'ok' : 'bad'),
          seg(neighbor.sinceUnixMs ? ` since ${formatAge(neighbor.sinceUnixMs, nowMs)}` : '', 'muted'),
        ),
      );
    }
    body.push(heading('announcements'));
    if (state.announcements.size === 0) body.push(text(seg('  none', 'muted')));
    const announcements = [...state.announcements.values()].sort(
      (a, b) => Number(b.kind === 'ANNOUNCEMENT_KIND_BGP') - Number(a.kind === 'ANNOUNCEMENT_KIND_BGP') || a.prefix.localeCompare(b.prefix),
    );
    for (const announcement of announcements) {
      const bgp = announcement.kind === 'ANNOUNCEMENT_KIND_BGP';
      body.push(
        text(
          seg(`  ${fit(announcement.prefix, 19)} `),
          bgp ? seg('BGP public block', 'accent', true) : seg(announcement.vm || 'vm'),
          seg(announcement.sinceUnixMs ? `  since ${formatAge(announcement.sinceUnixMs, nowMs)}` : '', 'muted'),
        ),
      );
    }
  }
  body.push(field('VMs', seg(`${row.vms} (${row.vmsRunning} running)`)));
  if (row.backups > 0 || row.witness) {
    body.push(field('backups', seg(plural(row.backups, 'snapshot')), seg(row.backups ? `, newest ${formatAge(row.newestBackupMs, nowMs)}` : '')));
  }
  return [...lines, ...(node.reachable ? body : muted(body))];
}

function rawResource(model: RowModel, name: string): Resource__Output | undefined {
  let fallback: Resource__Output | undefined;
  for (const connection of model.snapshot.nodes) {
    const resource = connection.state?.resources.get(name);
    if (!resource) continue;
    if (connection.reachable && !resource.client) return resource;
    fallback ??= resource;
  }
  return fallback;
}

function rawDomain(model: RowModel, vm: TopologyVm): Domain__Output | undefined {
  return model.snapshot.nodes.find((connection) => connection.name === vm.node)?.state?.domains.get(vm.name);
}

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');

function replicaTone(replica: TopologyReplica): Tone {
  if (replica.derived) return 'muted';
  if (isSuspended(replica)) return 'bad';
  if (replica.witness) return replica.peerReachable ? 'normal' : 'warn';
  if (replica.disk !== 'UpToDate') return replica.replication.startsWith('Sync') ? 'warn' : 'bad';
  return replica.peerReachable ? 'ok' : 'warn';
}

function replicaLines(resource: TopologyResource, nodeWidth: number, width: number): Line[] {
  const lines: Line[] = [];
  const table = width >= 96;
  if (table) {
    lines.push(
      text(
        seg(
          `  ${fit('node', nodeWidth)} ${fit('role', 9)} ${fit('disk', 12)} ${fit('connection', 13)} ${fit('replication', 12)} ${fit('sync', 5)} ${fit('oos', 10)} ${fit('quorum', 6)} 2-prim`,
          'muted',
        ),
      ),
    );
  }
  for (const replica of resource.replicas) {
    const tone = replicaTone(replica);
    const role = replica.witness ? 'witness' : replica.role;
    const sync = replica.replication.startsWith('Sync') || replica.syncPercent > 0 ? `${Math.floor(replica.syncPercent)}%` : '-';
    const derived = replica.derived ? ' (seen from peers)' : '';
    const frozen = isSuspended(replica) ? seg(` I/O suspended (${replica.suspended})`, 'bad', true) : seg('');
    if (table) {
      lines.push(
        text(
          seg(`  ${fit(replica.node, nodeWidth)} `),
          seg(fit(role, 9), replica.role === 'Primary' ? 'accent' : 'normal', replica.role === 'Primary'),
          seg(` ${fit(replica.disk, 12)} ${fit(replica.connection, 13)} ${fit(replica.replication, 12)} ${fit(sync, 5)} `, tone),
          seg(`${fit(formatBytes(replica.outOfSyncBytes), 10)} `, replica.outOfSyncBytes > 0 ? 'warn' : 'normal'),
          seg(`${fit(yesNo(replica.quorum), 6)} `, replica.quorum || replica.derived ? 'normal' : 'warn'),
          seg(yesNo(replica.allowTwoPrimaries), replica.allowTwoPrimaries ? 'warn' : 'normal'),
          frozen,
          seg(derived, 'muted'),
        ),
      );
      continue;
    }
    lines.push(
      text(seg(`  ${fit(replica.node, nodeWidth)} `), seg(role, replica.role === 'Primary' ? 'accent' : 'normal', replica.role === 'Primary'), seg(` ${replica.disk}`, tone), frozen, seg(derived, 'muted')),
    );
    lines.push(
      ...wrapChips(
        [
          seg(`${replica.connection}/${replica.replication}`, tone),
          seg(`sync ${sync}`, sync === '-' ? 'normal' : 'warn'),
          seg(`oos ${formatBytes(replica.outOfSyncBytes)}`, replica.outOfSyncBytes > 0 ? 'warn' : 'normal'),
          seg(`quorum ${yesNo(replica.quorum)}`, replica.quorum || replica.derived ? 'normal' : 'warn'),
          seg(`two-primaries ${yesNo(replica.allowTwoPrimaries)}`, replica.allowTwoPrimaries ? 'warn' : 'normal'),
        ],
        width,
        4,
      ),
    );
  }
  return lines;
}

function vmDetail(model: RowModel, row: VmRow, nowMs: number, width: number): Line[] {
  const { vm, resource, backup } = row;
  const lines: Line[] = [text(seg(vm.name, 'normal', true), seg('  VM', 'muted'))];
  const host = model.snapshot.nodes.find((connection) => connection.name === vm.node);
  if (row.stale && host && !host.reachable) {
    lines.push(...wrapText(`${vm.node} ${unreachableText(host, nowMs)}`, width, 'bad', true));
    lines.push(text(seg(host.state ? 'last known state:' : `no report from ${vm.node} yet; shown as its peers see it:`, 'muted')));
  }
  for (const alert of model.alerts) {
    if (alert.target === row.id) lines.push(text(seg(`! ${alert.message}`, alert.level, true)));
  }
  const domain = rawDomain(model, vm);
  const body: Line[] = [];
  const state = row.lastKnownState;
  const stateTone: Tone = state === 'running' ? 'ok' : state === 'crashed' ? 'bad' : state === 'unknown' ? 'muted' : 'warn';
  body.push(
    field(
      'state',
      seg(state, stateTone, true),
      seg(row.stale ? ' (last known)' : '', 'muted'),
      seg(domain?.stateReason ? ` (${domain.stateReason})` : '', 'muted'),
      seg(domain?.stateChangedUnixMs ? `  since ${formatAge(domain.stateChangedUnixMs, nowMs)}` : '', 'muted'),
      seg(vm.migrating ? '  migrating' : '', 'warn', true),
    ),
  );
  body.push(field('node', seg(vm.node), seg(vm.runningOn.length > 1 ? `  running on ${vm.runningOn.join(' and ')}!` : '', 'bad', true)));
  body.push(field('ip', seg(vm.ip || '-')));
  const live = new Set(model.topology.nodes.filter((node) => node.reachable).map((node) => node.name));
  if (vm.announcedFrom.length === 0) {
    body.push(field('/32 from', seg(state === 'running' ? 'not announced' : 'not announced (VM not running)', state === 'running' ? 'warn' : 'muted')));
  } else {
    body.push(
      field(
        '/32 from',
        ...vm.announcedFrom.map((node, i) =>
          seg(`${i ? ', ' : ''}${node}${live.has(node) ? '' : ' (last known)'}`, vm.runningOn.length === 0 || vm.runningOn.includes(node) ? 'ok' : 'bad'),
        ),
      ),
    );
  }
  body.push(field('priority', seg(String(vm.priority))));
  if (domain) body.push(field('size', seg(`${domain.vcpus} vCPU, ${formatBytes(domain.memoryBytes)} RAM`)));
  if (resource) {
    const raw = rawResource(model, resource.name);
    const summary = replicationSummary(resource);
    body.push(field('resource', seg(resource.name), seg(raw ? `  protocol ${raw.protocol}, ${formatBytes(raw.sizeBytes)}` : '', 'muted')));
    body.push(field('replication', summary, seg(resource.degraded ? '  degraded' : '', 'warn')));
    body.push(...replicaLines(resource, model.widths.node, width));
  } else {
    body.push(field('resource', seg(vm.resource ? `${vm.resource} (not reported by any node)` : 'none', 'warn')));
  }
  body.push(
    field(
      'last backup',
      backup
        ? seg(`${formatAge(backup.lastAtMs, nowMs)}  (${plural(backup.snapshots, 'snapshot')}, newest ${formatBytes(backup.lastSizeBytes)})`)
        : seg('never', 'warn'),
    ),
  );
  return [...lines, ...(row.stale ? muted(body) : body)];
}

function siteDetail(model: RowModel, row: SiteRow): Line[] {
  const lines: Line[] = [text(seg(row.name, 'normal', true), seg(`  ${row.siteKind === 'backup' ? 'backup / witness site' : 'main site'}`, 'muted'))];
  lines.push(
    field(
      'nodes',
      seg(`${row.nodes}`),
      seg(row.nodesDown ? `  ${row.nodesDown} unreachable` : '', 'bad', true),
      seg(row.nodesConnecting ? `  ${row.nodesConnecting} connecting` : '', 'warn'),
    ),
  );
  const siteNodes = model.topology.nodes.filter((entry) => entry.site === row.name);
  for (const node of siteNodes) {
    const status = node.reachable ? seg('up', 'ok') : model.connecting.has(node.name) ? seg('connecting', 'warn') : seg('UNREACHABLE', 'bad', true);
    lines.push(text(seg(`  ${fit(node.name, model.widths.node)} `), status));
  }
  lines.push(field('VMs', seg(String(row.vms))));
  const names = new Set(siteNodes.map((node) => node.name));
  const bgp = model.topology.announcements.filter((a) => a.kind === 'bgp' && names.has(a.node));
  lines.push(field('BGP', seg(bgp.length ? bgp.map((a) => `${a.prefix} from ${a.node}`).join(', ') : 'not announced from this site', bgp.length ? 'accent' : 'muted')));
  return lines;
}

/**
 * The detail pane's lines for the selected row. Pure: `nowMs` is passed in, `width` only
 * chooses between a replica table and a narrower block layout.
 */
export function detailLines(model: RowModel, row: Row | undefined, nowMs: number, width: number): readonly Line[] {
  if (!row) return [text(seg('nothing selected', 'muted'))];
  switch (row.kind) {
    case 'site':
      return siteDetail(model, row);
    case 'node':
      return nodeDetail(row, nowMs, width);
    case 'vm':
      return vmDetail(model, row, nowMs, width);
  }
}
