import { isSuspended, type TopologyReplica, type TopologyResource } from '@hvctl/common';

/**
 * How a piece of text should look, independent of the terminal library: the UI maps
 * tones to colours (see ui/components/Line.tsx), tests compare plain text.
 */
export type Tone = 'normal' | 'ok' | 'warn' | 'bad' | 'muted' | 'accent' | 'info';

/** A run of text with one look. */
export interface Segment {
  readonly text: string;
  readonly tone?: Tone;
  readonly bold?: boolean;
}

/** One line of a pane; `muted` greys the whole line (last-known data of an unreachable node). */
export interface Line {
  readonly segments: readonly Segment[];
  readonly muted?: boolean;
}

export const seg = (text: string, tone: Tone = 'normal', bold = false): Segment => (bold ? { text, tone, bold } : { text, tone });

export const lineText = (line: Line): string => line.segments.map((segment) => segment.text).join('');

/** Compact duration: 42s, 5m12s, 3h04m, 12d03h. */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86_400)}d${String(Math.floor((s % 86_400) / 3600)).padStart(2, '0')}h`;
}

/** "3h04m ago" for a Unix-ms timestamp; "never" for 0. */
export function formatAge(atMs: number, nowMs: number): string {
  if (!atMs) return 'never';
  return `${formatDuration((nowMs - atMs) / 1000)} ago`;
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** Binary units, one decimal above KiB: 0 B, 512 B, 1.5 GiB. */
export function formatBytes(bytes: number): string {
  let value = Math.max(0, bytes);
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${value} ${UNITS[0]}` : `${value.toFixed(1)} ${UNITS[unit]}`;
}

/** Wall-clock time of day, HH:MM:SS (local time). */
export function formatClock(atMs: number): string {
  const date = new Date(atMs);
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

/** One-letter DRBD role: P(rimary), S(econdary), ? (unknown), W (diskless witness). */
export function roleLetter(replica: TopologyReplica): string {
  if (replica.witness) return 'W';
  if (replica.role === 'Primary') return 'P';
  if (replica.role === 'Secondary') return 'S';
  return '?';
}

/** Diskful replicas first (the witness last), as topology already sorts them. */
export const diskful = (resource: TopologyResource): readonly TopologyReplica[] => resource.replicas.filter((replica) => !replica.witness);

/** "P msk-1 / S spb-1": the role of every diskful replica. */
export function rolesSummary(resource: TopologyResource): string {
  return diskful(resource)
    .map((replica) => `${roleLetter(replica)} ${replica.node}`)
    .join(' / ');
}

const isSyncing = (replica: TopologyReplica): boolean => replica.replication.startsWith('Sync') || replica.replication.startsWith('PausedSync');

/**
 * The disk/replication state of a resource in one phrase, and how it looks:
 * `UpToDate/Established` (ok), `SyncTarget 42%` (warn), `Outdated/Off` (bad).
 */
export function replicationSummary(resource: TopologyResource): Segment {
  const base = replicationState(resource);
  const marker = rpoMarker(resource);
  if (!marker) return base;
  return { ...base, text: `${base.text} ${marker.text}`, tone: marker.tone === 'bad' ? 'bad' : base.tone };
}

/** "RPO 42s" on a resource with data at risk (bad over the target), undefined when in sync. */
export function rpoMarker(resource: TopologyResource): Segment | undefined {
  const { rpo } = resource;
  if (rpo.reason === 'in-sync' || (rpo.seconds === 0 && !rpo.overTarget)) return undefined;
  return seg(`RPO ${rpo.seconds === null ? '?' : formatDuration(rpo.seconds)}`, rpo.overTarget ? 'bad' : 'warn');
}

function replicationState(resource: TopologyResource): Segment {
  const replicas = diskful(resource);
  const syncing = replicas.filter(isSyncing);
  if (syncing.length > 0) {
    const target = syncing.find((replica) => replica.replication.endsWith('SyncTarget')) ?? syncing[0];
    const percent = Math.max(...syncing.map((replica) => replica.syncPercent));
    return seg(`${target?.replication ?? 'Sync'} ${Math.floor(percent)}%`, 'warn');
  }
  if (replicas.length === 0) return seg('no diskful replica', 'bad');
  // A frozen Primary looks healthy otherwise (UpToDate, Established toward the witness): say it first.
  const frozen = replicas.find((replica) => replica.role === 'Primary' && isSuspended(replica));
  if (frozen) return seg(`I/O suspended (${frozen.suspended}) on ${frozen.node}`, 'bad');
  // Replicas the console heard from first; derived ones (unreachable node) only say "unknown".
  const own = replicas.filter((replica) => !replica.derived);
  const anyUpToDate = replicas.some((replica) => replica.disk === 'UpToDate');
  const badDisk = own.find((replica) => replica.disk !== 'UpToDate');
  if (badDisk) return seg(`${badDisk.disk}/${badDisk.replication}`, anyUpToDate ? 'warn' : 'bad');
  const disconnected = own.find((replica) => replica.connection !== 'Connected');
  if (disconnected) return seg(`UpToDate/${disconnected.connection}`, 'warn');
  const unknown = replicas.find((replica) => replica.disk !== 'UpToDate');
  if (unknown) return seg(`UpToDate/peer ${unknown.disk}`, anyUpToDate ? 'warn' : 'bad');
  const reference = own.find((replica) => replica.role === 'Primary') ?? own[0] ?? replicas[0];
  return seg(`UpToDate/${reference?.replication ?? 'Off'}`, resource.degraded ? 'warn' : 'ok');
}

/** Pads or cuts text to exactly `width` columns (cut text ends with an ellipsis). */
export function fit(text: string, width: number): string {
  if (width <= 0) return '';
  const chars = [...text];
  if (chars.length <= width) return text + ' '.repeat(width - chars.length);
  return width === 1 ? '…' : chars.slice(0, width - 1).join('') + '…';
}

/** Cuts text to at most `width` columns, without padding. */
export function clip(text: string, width: number): string {
  const chars = [...text];
  if (chars.length <= width) return text;
  if (width <= 0) return '';
  return width === 1 ? '…' : chars.slice(0, width - 1).join('') + '…';
}

/** Cuts a line's segments so that the whole line is at most `width` columns. */
export function clipLine(line: Line, width: number): Line {
  let left = width;
  const segments: Segment[] = [];
  for (const segment of line.segments) {
    if (left <= 0) break;
    const length = [...segment.text].length;
    if (length <= left) {
      segments.push(segment);
      left -= length;
    } else {
      segments.push({ ...segment, text: clip(segment.text, left) });
      left = 0;
    }
  }
  return { ...line, segments };
}

/**
 * Word-wraps text into lines of at most `width` columns; words longer than a line are cut
 * across lines, so nothing is lost (an exact command must be shown whole).
 */
export function wrapText(text: string, width: number): string[] {
  if (width <= 0) return [];
  const lines: string[] = [];
  let current = '';
  for (const word of text.split(/\s+/).filter((entry) => entry !== '')) {
    let rest = [...word];
    const candidate = current ? `${current} ${word}` : word;
    if ([...candidate].length <= width) {
      current = candidate;
      continue;
    }
    if (current) lines.push(current);
    current = '';
    while (rest.length > width) {
      lines.push(rest.slice(0, width).join(''));
      rest = rest.slice(width);
    }
    current = rest.join('');
  }
  if (current || lines.length === 0) lines.push(current);
  return lines;
}

/** Seconds with one decimal: 0.4s, 12.3s; minutes from 100 s on: 2m05s. */
export function formatSeconds(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  return seconds < 100 ? `${seconds.toFixed(1)}s` : formatDuration(seconds);
}

/**
 * Word-wraps a run of segments (each keeping its look) under a prefix: the first line
 * starts with `prefix`, the others are indented as wide. Words longer than a line are cut
 * across lines. No line is wider than `width`.
 */
export function wrapSegments(prefix: readonly Segment[], body: readonly Segment[], width: number): Line[] {
  const indent = prefix.reduce((sum, segment) => sum + [...segment.text].length, 0);
  const lines: Line[] = [];
  let current: Segment[] = [...prefix];
  let used = indent;
  const next = (): void => {
    lines.push({ segments: current });
    current = [seg(' '.repeat(indent))];
    used = indent;
  };
  for (const segment of body) {
    for (const token of segment.text.match(/\s*\S+/g) ?? []) {
      let chars = [...token];
      if (used + chars.length > width && used > indent) {
        next();
        chars = [...token.trimStart()];
      }
      while (used + chars.length > width && width > used) {
        const room = width - used;
        current.push({ ...segment, text: chars.slice(0, room).join('') });
        chars = chars.slice(room);
        next();
      }
      current.push({ ...segment, text: chars.join('') });
      used += chars.length;
    }
  }
  lines.push({ segments: current });
  return lines;
}
