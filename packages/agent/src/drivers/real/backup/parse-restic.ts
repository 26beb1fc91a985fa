/** Parsers for restic's `--json` output (0.14 verified; newer fields optional; docs/reference/tools.md §4). */

export class ResticFormatError extends Error {
  override readonly name = 'ResticFormatError';
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const num = (value: unknown): number => (typeof value === 'number' && Number.isFinite(value) ? value : 0);
const str = (value: unknown): string => (typeof value === 'string' ? value : '');
const strings = (value: unknown): string[] => (Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : []);

/** One line of `restic backup --json`. */
export type BackupMessage =
  | {
      readonly type: 'status';
      /** 0–1 (a fraction, not a percentage). */
      readonly percentDone: number;
      readonly totalFiles: number;
      readonly filesDone: number;
      readonly totalBytes: number;
      readonly bytesDone: number;
      readonly secondsElapsed: number;
      readonly secondsRemaining: number;
      readonly errorCount: number;
    }
  | {
      readonly type: 'summary';
      /** 8-hex short id in 0.14, may be the full id in newer versions. */
      readonly snapshotId: string;
      readonly filesNew: number;
      readonly filesChanged: number;
      readonly filesUnmodified: number;
      readonly dataAdded: number;
      readonly totalFilesProcessed: number;
      readonly totalBytesProcessed: number;
      readonly totalDurationSeconds: number;
      readonly dryRun: boolean;
    }
  | { readonly type: 'error'; readonly item: string; readonly during: string; readonly message: string }
  | { readonly type: 'exit_error'; readonly code: number; readonly message: string }
  /** verbose_status, 0.14's `scan_finished` status, and anything newer. */
  | { readonly type: 'other'; readonly messageType: string };

/**
 * Parses one line of `restic backup --json` (stdout, or an error line from stderr).
 * Returns undefined for text lines (`… does not exist, skipping`, `Warning: …`).
 */
export function parseBackupLine(line: string): BackupMessage | undefined {
  const trimmed = line.trim();
  if (!trimmed.startsWith('{')) return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(trimmed);
  } catch {
    return undefined;
  }
  if (!isObject(raw)) return undefined;
  const type = str(raw['message_type']);
  if (type === 'status' && raw['action'] === undefined) {
    return {
      type: 'status',
      percentDone: num(raw['percent_done']),
      totalFiles: num(raw['total_files']),
      filesDone: num(raw['files_done']),
      totalBytes: num(raw['total_bytes']),
      bytesDone: num(raw['bytes_done']),
      secondsElapsed: num(raw['seconds_elapsed']),
      secondsRemaining: num(raw['seconds_remaining']),
      errorCount: num(raw['error_count']),
    };
  }
  if (type === 'summary') {
    const id = str(raw['snapshot_id']);
    if (!/^[0-9a-f]{8,64}$/.test(id) && raw['dry_run'] !== true) throw new ResticFormatError('restic backup summary without a snapshot_id');
    return {
      type: 'summary',
      snapshotId: id,
      filesNew: num(raw['files_new']),
      filesChanged: num(raw['files_changed']),
      filesUnmodified: num(raw['files_unmodified']),
      dataAdded: num(raw['data_added']),
      totalFilesProcessed: num(raw['total_files_processed']),
      totalBytesProcessed: num(raw['total_bytes_processed']),
      totalDurationSeconds: num(raw['total_duration']),
      dryRun: raw['dry_run'] === true,
    };
  }
  if (type === 'error') {
    // 0.14 serialises a Go error: often {}, sometimes {Op,Path,Err}; newer versions have message.
    const error = isObject(raw['error']) ? raw['error'] : {};
    const message = str(error['message']) || (error['Op'] ? `${str(error['Op'])} ${str(error['Path'])}: errno ${num(error['Err'])}` : '');
    return { type: 'error', item: str(raw['item']), during: str(raw['during']), message };
  }
  if (type === 'exit_error') return { type: 'exit_error', code: num(raw['code']), message: str(raw['message']) };
  return { type: 'other', messageType: type || 'unknown' };
}

export interface ResticSnapshot {
  readonly id: string;
  readonly shortId: string;
  readonly timeUnixMs: number;
  readonly hostname: string;
  readonly paths: readonly string[];
  readonly tags: readonly string[];
  readonly tree: string;
  readonly parent?: string;
  /** Newer versions: the backup's statistics. */
  readonly totalBytesProcessed?: number;
}

function snapshot(raw: Json): ResticSnapshot {
  const id = str(raw['id']);
  if (!/^[0-9a-f]{64}$/.test(id)) throw new ResticFormatError('restic snapshot without a 64-hex id');
  const summary = isObject(raw['summary']) ? raw['summary'] : undefined;
  const parent = str(raw['parent']);
  return {
    id,
    shortId: str(raw['short_id']) || id.slice(0, 8),
    timeUnixMs: Date.parse(str(raw['time'])) || 0,
    hostname: str(raw['hostname']),
    paths: strings(raw['paths']),
    tags: strings(raw['tags']),
    tree: str(raw['tree']),
    ...(parent ? { parent } : {}),
    ...(summary && typeof summary['total_bytes_processed'] === 'number' ? { totalBytesProcessed: summary['total_bytes_processed'] } : {}),
  };
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ResticFormatError(`restic ${what} printed invalid JSON: ${(error as Error).message}`);
  }
}

/** `restic snapshots --json`: an array, or with `--group-by` an array of `{group_key, snapshots}`. */
export function parseSnapshots(text: string): ResticSnapshot[] {
  const raw = parseJson(text, 'snapshots --json');
  if (!Array.isArray(raw)) throw new ResticFormatError('restic snapshots --json did not print an array');
  return raw.filter(isObject).flatMap((entry) => (Array.isArray(entry['snapshots']) && entry['group_key'] !== undefined ? entry['snapshots'].filter(isObject).map(snapshot) : [snapshot(entry)]));
}

export interface ForgetGroup {
  readonly host: string;
  readonly paths: readonly string[];
  readonly tags: readonly string[];
  /** Ids of the kept snapshots. */
  readonly keep: readonly string[];
  /** Ids of the removed snapshots. */
  readonly remove: readonly string[];
}

/** `restic forget --json …`: one entry per group (host,paths by default); `remove` may be null. */
export function parseForget(text: string): ForgetGroup[] {
  if (text.trim() === '') return [];
  const raw = parseJson(text, 'forget --json');
  if (!Array.isArray(raw)) throw new ResticFormatError('restic forget --json did not print an array');
  const ids = (value: unknown): string[] => (Array.isArray(value) ? value.filter(isObject).map((entry) => str(entry['id'])).filter(Boolean) : []);
  return raw.filter(isObject).map((group) => ({
    host: str(group['host']),
    paths: strings(group['paths']),
    tags: strings(group['tags']),
    keep: ids(group['keep']),
    remove: ids(group['remove']),
  }));
}

/** `restic version` (plain text in 0.14): `restic 0.14.0 compiled with go1.19.8 on linux/amd64`. */
export function parseResticVersion(text: string): string | undefined {
  return /^restic ([\w.-]+)/m.exec(text)?.[1];
}

/** The `key=value` tags hvctl puts on its snapshots. */
export function tagValue(tags: readonly string[], key: string): string {
  const prefix = `${key}=`;
  return tags.find((tag) => tag.startsWith(prefix))?.slice(prefix.length) ?? '';
}
