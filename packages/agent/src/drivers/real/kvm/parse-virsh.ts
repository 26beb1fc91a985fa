import type { DomainState__Output } from '@hvctl/proto';

/** virsh output that does not have the documented shape. */
export class VirshFormatError extends Error {
  override readonly name = 'VirshFormatError';
}

const lines = (text: string): string[] => text.split(/\r?\n/);

/** `virsh list --all --name`: one name per line and a trailing empty line (docs/reference/tools.md §2.2). */
export function parseNameList(text: string): string[] {
  return lines(text)
    .map((line) => line.trim())
    .filter((line) => line !== '');
}

/** `Label:<padding>value` lines (dominfo, domjobinfo), split at the first colon and trimmed. */
export function parseLabelled(text: string): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of lines(text)) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    result.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
  }
  return result;
}

export interface DomInfo {
  /** null when the domain is inactive (`Id: -`). */
  readonly id: number | null;
  readonly name: string;
  readonly uuid: string;
  /** libvirt's state words: "running", "shut off", … */
  readonly state: string;
  readonly vcpus: number;
  readonly maxMemoryBytes: number;
  readonly usedMemoryBytes: number;
  readonly persistent: boolean;
  readonly autostart: boolean;
}

/** Parses "8388608 KiB" (dominfo) into bytes. */
function kibToBytes(value: string | undefined): number {
  const match = /^(\d+)\s*KiB$/.exec(value ?? '');
  return match ? Number(match[1]) * 1024 : 0;
}

/** `virsh dominfo DOM` (docs/reference/tools.md §2.2). */
export function parseDominfo(text: string): DomInfo {
  const fields = parseLabelled(text);
  const name = fields.get('Name');
  const state = fields.get('State');
  if (!name || !state) throw new VirshFormatError('virsh dominfo printed no Name/State');
  const id = fields.get('Id');
  return {
    id: id === undefined || id === '-' ? null : Number(id),
    name,
    uuid: fields.get('UUID') ?? '',
    state,
    vcpus: Number(fields.get('CPU(s)') ?? 0) || 0,
    maxMemoryBytes: kibToBytes(fields.get('Max memory')),
    usedMemoryBytes: kibToBytes(fields.get('Used memory')),
    persistent: fields.get('Persistent') === 'yes',
    autostart: fields.get('Autostart') === 'enable',
  };
}

/** `virsh domstate DOM --reason`: `<state> (<reason>)` plus an empty line. */
export function parseDomstate(text: string): { readonly state: string; readonly reason: string } {
  const line = parseNameList(text)[0];
  if (line === undefined) throw new VirshFormatError('virsh domstate printed nothing');
  const match = /^(.+?)\s*\((.*)\)$/.exec(line);
  return match ? { state: match[1] ?? line, reason: match[2] ?? '' } : { state: line, reason: '' };
}

const STATE_MAP: Record<string, DomainState__Output> = {
  running: 'DOMAIN_STATE_RUNNING',
  idle: 'DOMAIN_STATE_RUNNING',
  blocked: 'DOMAIN_STATE_RUNNING',
  paused: 'DOMAIN_STATE_PAUSED',
  pmsuspended: 'DOMAIN_STATE_PAUSED',
  'in shutdown': 'DOMAIN_STATE_SHUTDOWN',
  'shut off': 'DOMAIN_STATE_SHUTOFF',
  crashed: 'DOMAIN_STATE_CRASHED',
};

/** libvirt's state word → the wire enum ("no state" and unknown words → UNSPECIFIED). */
export function domainStateOf(state: string): DomainState__Output {
  return STATE_MAP[state] ?? 'DOMAIN_STATE_UNSPECIFIED';
}

export interface BlockDevice {
  readonly type?: string;
  readonly device?: string;
  readonly target: string;
  /** null when empty (`-`: a CD-ROM without media). */
  readonly source: string | null;
}

/**
 * `virsh domblklist DOM [--details]`: a table; the header says which columns there are.
 * Source is the last column, so a source with spaces stays whole.
 */
export function parseDomblklist(text: string): BlockDevice[] {
  const rows = lines(text).filter((line) => line.trim() !== '');
  const header = rows[0]?.trim().split(/\s+/) ?? [];
  if (header.at(-1) !== 'Source' || !header.includes('Target')) throw new VirshFormatError('virsh domblklist: unexpected header');
  const columns = header.length;
  return rows
    .slice(1)
    .filter((line) => !/^-+$/.test(line.trim()))
    .map((line) => {
      const words = line.trim().split(/\s+/);
      const head = words.slice(0, columns - 1);
      const source = words.slice(columns - 1).join(' ');
      const cell = (name: string): string | undefined => head[header.indexOf(name)];
      return {
        ...(cell('Type') !== undefined ? { type: cell('Type') } : {}),
        ...(cell('Device') !== undefined ? { device: cell('Device') } : {}),
        target: cell('Target') ?? '',
        source: source === '' || source === '-' ? null : source,
      };
    });
}

/** The DRBD resource a disk source points at: `/dev/drbd/by-res/RES[/VOL]`, or a minor `/dev/drbdN`. */
export function drbdOfSource(source: string | null): { readonly resource?: string; readonly minor?: number } | undefined {
  if (!source) return undefined;
  const byRes = /^\/dev\/drbd\/by-res\/([^/]+)(?:\/\d+)?$/.exec(source);
  if (byRes) return { resource: byRes[1] as string };
  const minor = /^\/dev\/drbd(\d+)$/.exec(source);
  if (minor) return { minor: Number(minor[1]) };
  return undefined;
}

export interface JobInfo {
  /** None, Bounded, Unbounded, Completed, Failed, Cancelled. */
  readonly type: string;
  readonly operation: string;
  readonly elapsedMs: number;
  readonly dataProcessedBytes: number;
  readonly dataRemainingBytes: number;
  readonly dataTotalBytes: number;
  readonly memoryProcessedBytes: number;
  readonly memoryRemainingBytes: number;
  readonly memoryTotalBytes: number;
}

const UNITS: Record<string, number> = { B: 1, KiB: 1024, MiB: 1024 ** 2, GiB: 1024 ** 3, TiB: 1024 ** 4, PiB: 1024 ** 5 };

/** "1.623 GiB" → bytes (rounded); "1234 ms" → 1234; an unknown unit → 0. */
export function parseScaled(value: string | undefined): number {
  const match = /^([\d.]+)\s*([A-Za-z]*)/.exec(value ?? '');
  if (!match) return 0;
  const number = Number(match[1]);
  const unit = match[2] ?? '';
  if (unit === '' || unit === 'ms') return Math.round(number);
  const factor = UNITS[unit];
  return factor === undefined ? 0 : Math.round(number * factor);
}

/** `virsh domjobinfo DOM [--completed]` (docs/reference/tools.md §2.5). Sizes are human-scaled; rounding is within 0.1 %. */
export function parseDomjobinfo(text: string): JobInfo {
  const fields = parseLabelled(text);
  const type = fields.get('Job type');
  if (type === undefined) throw new VirshFormatError('virsh domjobinfo printed no "Job type"');
  return {
    type,
    operation: fields.get('Operation') ?? '',
    elapsedMs: parseScaled(fields.get('Time elapsed')),
    dataProcessedBytes: parseScaled(fields.get('Data processed')),
    dataRemainingBytes: parseScaled(fields.get('Data remaining')),
    dataTotalBytes: parseScaled(fields.get('Data total')),
    memoryProcessedBytes: parseScaled(fields.get('Memory processed')),
    memoryRemainingBytes: parseScaled(fields.get('Memory remaining')),
    memoryTotalBytes: parseScaled(fields.get('Memory total')),
  };
}

/** Progress in percent from a job: 1 - remaining/total. */
export function jobPercent(job: JobInfo): number {
  if (job.type === 'Completed') return 100;
  if (job.dataTotalBytes <= 0) return 0;
  return Math.max(0, Math.min(100, 100 * (1 - job.dataRemainingBytes / job.dataTotalBytes)));
}

/** `\rMigration: [ 45.12 %]` (or the older integer form) → 45.12; undefined for other text. */
export function parseMigrateProgress(line: string): number | undefined {
  const match = /Migration:\s*\[\s*([\d.]+)\s*%\]/.exec(line);
  return match ? Number(match[1]) : undefined;
}

/** One event from `virsh event --loop --all [--timestamp]`. */
export type VirshEvent =
  | { readonly kind: 'lifecycle'; readonly timeMs?: number; readonly domain: string; readonly event: string; readonly detail: string }
  | { readonly kind: 'other'; readonly timeMs?: number; readonly domain: string; readonly event: string; readonly text: string }
  /** `event loop timed out` / `events received: N`: the stream is ending. */
  | { readonly kind: 'end'; readonly text: string };

const EVENT = /^(?:(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d{4})?: )?event '([^']+)' for domain '([^']*)'(?::\s?(.*))?$/;

function eventTime(date: string | undefined, zone: string | undefined): number | undefined {
  if (!date) return undefined;
  const iso = `${date.replace(' ', 'T')}${zone ? `${zone.slice(0, 3)}:${zone.slice(3)}` : 'Z'}`;
  const value = Date.parse(iso);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Parses one stdout line of `virsh event --loop` (docs/reference/tools.md §2.6). Continuation lines
 * (tab-indented, after `job-completed`, `tunable`, `graphics`) and blank lines give
 * undefined: nothing hvctl shows depends on them.
 */
export function parseVirshEvent(line: string): VirshEvent | undefined {
  if (line.trim() === '' || line.startsWith('\t') || line.startsWith(' ')) return undefined;
  if (/^event loop timed out$/.test(line) || /^events received: \d+$/.test(line)) return { kind: 'end', text: line };
  const match = EVENT.exec(line);
  if (!match) return undefined;
  const timeMs = eventTime(match[1], match[2]);
  const event = match[3] ?? '';
  const domain = match[4] ?? '';
  const rest = match[5] ?? '';
  const time = timeMs !== undefined ? { timeMs } : {};
  if (event === 'lifecycle') {
    const space = rest.indexOf(' ');
    return { kind: 'lifecycle', ...time, domain, event: space < 0 ? rest : rest.slice(0, space), detail: space < 0 ? '' : rest.slice(space + 1) };
  }
  return { kind: 'other', ...time, domain, event, text: rest };
}

/** A VM's intent as hvctl stores it in the domain's metadata: `<intent state="running" set-ms="…" set-by="…"/>`. */
export interface MetadataIntent {
  readonly intent: 'running' | 'stopped';
  readonly setUnixMs: number;
  readonly setBy: string;
}

const XML_ESCAPES: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };
const XML_UNESCAPES: Readonly<Record<string, string>> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&apos;': "'" };

/** The element `virsh metadata --set` stores for an intent (attribute values XML-escaped). */
export function formatIntentMetadata(intent: MetadataIntent): string {
  const escape = (value: string): string => value.replace(/[&<>"']/g, (char) => XML_ESCAPES[char] ?? char);
  return `<intent state="${intent.intent}" set-ms="${Math.trunc(intent.setUnixMs)}" set-by="${escape(intent.setBy)}"/>`;
}

/**
 * `virsh metadata DOMAIN --uri URI --config` for the intent namespace: the element as
 * libvirt stored it, then empty lines. undefined when it carries no valid state.
 */
export function parseIntentMetadata(text: string): MetadataIntent | undefined {
  const element = /<intent\b([^>]*)\/?>/.exec(text)?.[1];
  if (element === undefined) return undefined;
  const attribute = (name: string): string | undefined => new RegExp(`\\b${name}="([^"]*)"`).exec(element)?.[1];
  const state = attribute('state');
  if (state !== 'running' && state !== 'stopped') return undefined;
  const setUnixMs = Number(attribute('set-ms') ?? '0');
  const setBy = (attribute('set-by') ?? '').replace(/&(amp|lt|gt|quot|apos);/g, (entity) => XML_UNESCAPES[entity] ?? entity);
  return { intent: state, setUnixMs: Number.isSafeInteger(setUnixMs) && setUnixMs >= 0 ? setUnixMs : 0, setBy };
}
