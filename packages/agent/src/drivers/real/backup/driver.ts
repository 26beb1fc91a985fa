import { lstat, mkdir, mkdtemp, readFile, readdir, realpath, rename, rm } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, normalize, resolve, sep } from 'node:path';
import { randomBytes } from 'node:crypto';
import type { Snapshot__Output, VerifiedSnapshot__Output, VolumeSnapshot__Output } from '@hvctl/proto';
import { HvctlError, ToolError, failedPrecondition, notFound, type CommandRunner, type Logger, type RetentionRules } from '@hvctl/common';
import { hasRules } from '../../../backups/retention.js';
import type {
  BackupDriver,
  BackupOptions,
  ChangeListener,
  DriverChange,
  ProbeResult,
  RestoreResult,
  RetentionResult,
  StateSource,
  Unsubscribe,
  VerifyResult,
  VolumeSnapshotResult,
} from '../../types.js';
import { ChangeListeners, assertSafeName, domainError, probeFailed, probeFailure, probeOk } from '../common.js';
import { imageSize } from './block-device.js';
import { imageChecksum, treeChecksum } from './checksum.js';
import { parseBackupLine, parseForget, parseResticVersion, parseSnapshots, tagValue, type ForgetGroup, type ResticFormatError, type ResticSnapshot } from './parse-restic.js';
import type { LvmVolumeSnapshots } from './volume-snapshots.js';

/** restic's retention flags (`forget --keep-*`): the cluster's rules plus a duration. */
export interface RetentionPolicy extends RetentionRules {
  /** restic duration, e.g. "30d" or "1y2m". */
  readonly keepWithin?: string;
}

/** Each rule's `forget` flag. */
const KEEP_FLAGS: readonly (readonly [keyof RetentionRules, string])[] = [
  ['keepLast', '--keep-last'],
  ['keepHourly', '--keep-hourly'],
  ['keepDaily', '--keep-daily'],
  ['keepWeekly', '--keep-weekly'],
  ['keepMonthly', '--keep-monthly'],
  ['keepYearly', '--keep-yearly'],
];

/** `--keep-*` flags for the rules that keep something (positive integers only). */
function keepFlags(policy: RetentionRules): string[] {
  const flags: string[] = [];
  for (const [key, flag] of KEEP_FLAGS) {
    const value = policy[key];
    if (typeof value === 'number' && Number.isInteger(value) && value > 0) flags.push(flag, String(value));
  }
  return flags;
}

export interface RealBackupOptions {
  readonly runner: CommandRunner;
  /** Absolute path of restic. */
  readonly restic: string;
  /** RESTIC_REPOSITORY: a local path or a backend URL (`rest:https://…`, `sftp:…`). */
  readonly repository: string;
  /** RESTIC_PASSWORD_FILE; the agent never reads it, restic does. */
  readonly passwordFile: string;
  readonly cacheDir?: string;
  /** Names of the agent's environment variables restic gets too (a backend's credentials: `AWS_ACCESS_KEY_ID`, `B2_ACCOUNT_KEY`, `RESTIC_CACERT`…). */
  readonly passEnv?: readonly string[];
  /** A file of `NAME=value` lines restic gets in its environment, read at every run (rotated keys apply at once). */
  readonly envFile?: string;
  /** This node's name: `--host` of its snapshots. */
  readonly node: string;
  /** Where a VM's data to back up is (a directory or file), e.g. `/var/lib/hvctl/backup/${vm}`. */
  readonly sourcePath: (vm: string) => string;
  /** The DRBD resource of a VM, for the snapshot's tags (defaults to the VM's name). */
  readonly resourceOf?: (vm: string) => string;
  /** Restores land in `<restoreRoot>/<target resource>` and nowhere else. */
  readonly restoreRoot: string;
  readonly retention?: RetentionPolicy;
  readonly timeoutMs?: number;
  /** Budget of a backup or restore. */
  readonly longTimeoutMs?: number;
  /** How often a local repository is re-listed for watch deltas (snapshots made by other nodes). */
  readonly pollMs?: number;
  /** LVM snapshots with guest freeze (backup.volumes); their block device is fed to `restic backup --stdin`. Without it the live source path is copied, crash-consistent. */
  readonly volumeSnapshots?: LvmVolumeSnapshots;
  readonly logger?: Logger;
}

const TAG = 'hvctl';
const SCHEME = /^(sftp|rest|s3|b2|azure|gs|swift|rclone):/;

/**
 * restic 0.17 and newer exit 10 when the repository does not exist, 11 when it is locked,
 * 12 for a wrong password; 0.14 exits 1 for nearly everything (docs/reference/tools.md §4.8), and then
 * the text decides. 0.14 says "unable to open config file … Is there a repository at the
 * following location?" also when the server cannot be reached (`dial tcp …: connection
 * refused`, `no such host`), so the network's words are read before that question.
 */
function classifyRestic(code: number | null, stderr: string): HvctlError['code'] {
  if (code === 10) return 'FAILED_PRECONDITION';
  if (code === 12 || /wrong password or no key found/.test(stderr)) return 'PERMISSION_DENIED';
  if (code === 11 || /repository is already locked/.test(stderr)) return 'ABORTED';
  if (/dial tcp|connection refused|no such host|i\/o timeout|network is unreachable|TLS handshake|x509: |context deadline exceeded/.test(stderr)) return 'UNAVAILABLE';
  if (/unable to open config file|Is there a repository at the following location/.test(stderr)) return 'FAILED_PRECONDITION';
  if (/no matching ID found|invalid id/.test(stderr)) return 'NOT_FOUND';
  return 'INTERNAL';
}

async function sizeOf(path: string): Promise<number> {
  const info = await lstat(path);
  if (!info.isDirectory()) return info.isFile() ? info.size : 0;
  let total = 0;
  for (const entry of await readdir(path)) total += await sizeOf(join(path, entry));
  return total;
}

/** Where a restore lands: a direct child of the (real) restore root. */
interface RestoreTarget {
  readonly root: string;
  readonly path: string;
  /** A plain directory is there already (empty, or replaced because overwrite was asked). */
  readonly exists: boolean;
}

/** Variables the driver sets itself: never taken from `backup.env` or `backup.envFile`. */
const OWN_ENV = new Set(['RESTIC_REPOSITORY', 'RESTIC_REPOSITORY_FILE', 'RESTIC_PASSWORD', 'RESTIC_PASSWORD_FILE', 'RESTIC_PASSWORD_COMMAND', 'RESTIC_CACHE_DIR', 'PATH', 'HOME', 'LC_ALL', 'LANG']);
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/** Why `name` cannot be passed to restic, or undefined. */
export function badEnvName(name: string): string | undefined {
  if (!ENV_NAME.test(name)) return `"${name.slice(0, 40)}" is not an environment variable name`;
  if (OWN_ENV.has(name)) return `${name} is set by the agent itself (backup.repository, backup.passwordFile, backup.cacheDir)`;
  return undefined;
}

/** `NAME=value` lines (blank lines and `#` comments skipped; one pair of surrounding quotes removed); errors name the line, never a value. */
export function parseEnvFile(text: string, path: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [index, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const at = line.indexOf('=');
    const name = at > 0 ? line.slice(0, at).replace(/^export\s+/, '') : '';
    const bad = at > 0 ? badEnvName(name) : 'it is not NAME=value';
    if (bad) throw failedPrecondition(`backup.envFile ${path}, line ${index + 1}: ${bad}; restic was not run`);
    env[name] = line.slice(at + 1).replace(/^(["'])(.*)\1$/, '$2');
  }
  return env;
}

/** Credentials inside a repository URL (`rest:https://user:pass@host/`), for redaction. */
function secretsOf(repository: string): string[] {
  const userinfo = /:\/\/([^/@]+)@/.exec(repository)?.[1];
  return userinfo ? [userinfo] : [];
}

/**
 * Backups with restic: the repository and password file come from config and reach
 * restic only through its environment (never argv, never a log line, never a reply);
 * `backup --json` progress feeds the CreateBackup stream; restores go into a directory
 * under restoreRoot that cannot be escaped.
 */
export class RealBackupDriver implements BackupDriver, StateSource {
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly longTimeoutMs: number;
  private readonly env: Record<string, string>;
  private readonly redact: string[];
  private readonly listeners = new ChangeListeners({ start: () => this.startPolling(), stop: () => this.stop() });
  private known: Map<string, string> | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RealBackupOptions) {
    this.runner = options.runner;
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.longTimeoutMs = options.longTimeoutMs ?? 6 * 3600_000;
    this.env = {
      RESTIC_REPOSITORY: options.repository,
      RESTIC_PASSWORD_FILE: options.passwordFile,
      ...(options.cacheDir ? { RESTIC_CACHE_DIR: options.cacheDir } : {}),
    };
    this.redact = secretsOf(options.repository);
  }

  /**
   * restic's environment: the repository settings, the variables `backup.env` names (from the
   * agent's own environment) and `backup.envFile`'s; every passed value is redacted from
   * what the runner logs and reports.
   */
  private async toolEnv(): Promise<{ env: Record<string, string>; redact: string[] }> {
    const passed: Record<string, string> = {};
    for (const name of this.options.passEnv ?? []) {
      const value = process.env[name];
      if (value !== undefined) passed[name] = value;
    }
    if (this.options.envFile) {
      let text: string;
      try {
        text = await readFile(this.options.envFile, 'utf8');
      } catch (error) {
        throw failedPrecondition(`backup.envFile ${this.options.envFile} cannot be read (${(error as NodeJS.ErrnoException).code ?? 'error'}); restic was not run`);
      }
      Object.assign(passed, parseEnvFile(text, this.options.envFile));
    }
    // Values shorter than 4 characters ("1", "us") would redact ordinary words, and are no secrets.
    const secrets = Object.values(passed).filter((value) => value.length >= 4);
    return { env: { ...passed, ...this.env }, redact: [...this.redact, ...secrets] };
  }

  private async restic(args: readonly string[], timeoutMs = this.timeoutMs, okExitCodes: readonly number[] = [0]): Promise<string> {
    try {
      const { env, redact } = await this.toolEnv();
      const result = await this.runner.run(this.options.restic, { args, env, redact, timeoutMs, classifyExit: classifyRestic, okExitCodes });
      return result.stdout;
    } catch (error) {
      throw this.explain(error, args[0] ?? '');
    }
  }

  private explain(error: unknown, command: string): unknown {
    return domainError(error, (tool) => {
      const said = tool.stderr.split('\n').find((line) => line.startsWith('Fatal: ')) ?? (tool.firstStderrLine || tool.message);
      if (tool.code === 'PERMISSION_DENIED') return new HvctlError('PERMISSION_DENIED', `restic ${command}: the backup repository refused the password (${said})`, { nextSteps: [`check the password file ${this.options.passwordFile}`] });
      if (tool.code === 'FAILED_PRECONDITION') return failedPrecondition(`restic ${command}: no backup repository there (${said})`, { nextSteps: ['create it with `restic init` (see docs/install.md)'] });
      if (tool.code === 'ABORTED') return new HvctlError('ABORTED', `restic ${command}: the repository is locked by another restic (${said})`, { nextSteps: ['wait for the other run, or remove a stale lock with `restic unlock`'] });
      if (tool.code === 'UNAVAILABLE') {
        return new HvctlError('UNAVAILABLE', `restic ${command}: the backup repository is unreachable (${said})`, {
          nextSteps: ['check that the repository server runs and this node reaches it (address, firewall, DNS, its TLS certificate); do not run `restic init`: the repository may well exist'],
        });
      }
      return undefined;
    });
  }

  /** Is the repository on this node (a local path), so this node holds its snapshots? */
  get repositoryIsLocal(): boolean {
    return !SCHEME.test(this.options.repository);
  }

  async probe(): Promise<ProbeResult> {
    let version: string | undefined;
    try {
      version = parseResticVersion((await this.runner.run(this.options.restic, { args: ['version'], timeoutMs: 5000 })).stdout);
    } catch (error) {
      return probeFailure('restic', error, 'install restic (apt install restic)');
    }
    try {
      await this.restic(['cat', 'config'], 15_000);
    } catch (error) {
      return probeFailed(`restic ${version ?? '?'}: ${(error as Error).message}`);
    }
    return probeOk(`restic ${version ?? '?'}, repository reachable`);
  }

  async listSnapshots(vm: string): Promise<Snapshot__Output[]> {
    const tags = vm === '' ? TAG : `${TAG},vm=${assertSafeName(vm, 'vm')}`;
    return this.snapshots(['--tag', tags]);
  }

  async localSnapshots(): Promise<Snapshot__Output[]> {
    return this.repositoryIsLocal ? this.snapshots(['--tag', TAG]) : [];
  }

  async createBackup(vm: string, options: BackupOptions): Promise<Snapshot__Output> {
    const name = assertSafeName(vm, 'vm');
    const startedMs = Date.now();
    let consistency = 'crash';
    // The volume snapshot's block device, read by restic from stdin; without LVM, the live path.
    let device: string | undefined;
    if (options.volumeSnapshotId && !(this.options.volumeSnapshots === undefined && options.volumeSnapshotId === `live-${name}`)) {
      const held = (await this.listVolumeSnapshots()).find((snapshot) => snapshot.id === options.volumeSnapshotId && snapshot.vm === name);
      if (!held) throw notFound(`volume snapshot ${options.volumeSnapshotId} of ${name} does not exist on ${this.options.node}; nothing was uploaded`, { nextSteps: ['run the backup again: it takes a new snapshot'] });
      consistency = held.consistency;
      device = await this.options.volumeSnapshots?.devicePath(held.id);
    }
    const source = device ?? this.options.sourcePath(name);
    let total: number;
    try {
      total = device ? await imageSize(device) : await sizeOf(source);
    } catch (error) {
      const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'does not exist' : `cannot be read (${(error as Error).message})`;
      throw failedPrecondition(`nothing to back up for ${name}: ${source} ${why} on ${this.options.node}; nothing was uploaded`, {
        nextSteps: [device ? 'check the snapshot with `lvs`, then run the backup again' : 'back up on the node where the VM runs, after its volume snapshot is mounted or exported there'],
      });
    }
    const resource = this.options.resourceOf?.(name) ?? name;
    // The data as uploaded: exact when the source is a snapshot, as of this moment for a live path.
    const checksum = device ? await imageChecksum(device, total, options.signal) : await treeChecksum(source);
    const report = (phase: string, percent: number, done: number, bytesTotal: number): void => options.onProgress({ phase, percent, bytesDone: done, bytesTotal });
    report('snapshot', 0, 0, total);
    let summaryId: string | undefined;
    const errors: string[] = [];
    const onLine = (line: string): void => {
      let message;
      try {
        message = parseBackupLine(line);
      } catch (error) {
        errors.push((error as ResticFormatError).message);
        return;
      }
      if (message?.type === 'status') report('upload', Math.min(100, message.percentDone * 100), message.bytesDone, message.totalBytes || total);
      else if (message?.type === 'summary') summaryId = message.snapshotId;
      else if (message?.type === 'error') errors.push(`${message.during} ${message.item}${message.message ? `: ${message.message}` : ''}`);
    };
    const tags = ['--tag', `${TAG},vm=${name},resource=${resource},consistency=${consistency},size=${total},checksum=${checksum}`];
    // A snapshot device is stored as one file, `<vm>.img`, restored as a regular file.
    const args = device
      ? ['backup', '--json', '--host', this.options.node, ...tags, '--stdin', '--stdin-filename', `${name}.img`]
      : ['backup', '--json', '--host', this.options.node, ...tags, '--', source];
    const { env, redact } = await this.toolEnv();
    const handle = this.runner.stream(this.options.restic, {
      args,
      ...(device ? { stdinFile: device } : {}),
      env,
      redact,
      timeoutMs: this.longTimeoutMs,
      classifyExit: classifyRestic,
      // 3: finished, but some source data could not be read (a snapshot was still made).
      okExitCodes: [0, 3],
      onLine,
      onStderrLine: onLine,
    });
    const onAbort = (): void => void handle.stop();
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const result = await handle.done;
      if (options.signal?.aborted) throw new HvctlError('ABORTED', `backup of ${name} cancelled; no snapshot was stored`);
      if (!summaryId) throw new HvctlError('INTERNAL', `restic backup of ${name} ended without a summary (exit ${result.exitCode})`);
      if (result.exitCode === 3) this.options.logger?.warn({ vm: name, errors }, 'backup stored, but some source data could not be read');
    } catch (error) {
      if (options.signal?.aborted || (error instanceof ToolError && (error.failure === 'timeout' || error.failure === 'aborted'))) {
        // A killed restic leaves its lock behind (docs/reference/tools.md §4.5).
        await this.restic(['unlock'], 15_000).catch(() => undefined);
      }
      if (error instanceof HvctlError && !(error instanceof ToolError)) throw error;
      throw this.explain(error, 'backup');
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      report('release', 100, total, total);
    }
    // 0.14 reports the short id; resolve the full snapshot.
    const [stored] = await this.snapshots([summaryId]);
    if (!stored) throw new HvctlError('INTERNAL', `restic reported snapshot ${summaryId} for ${name}, but it is not in the repository`);
    return { ...stored, durationMs: Date.now() - startedMs };
  }

  async snapshotVolume(vm: string, owner: string): Promise<VolumeSnapshotResult> {
    const name = assertSafeName(vm, 'vm');
    if (this.options.volumeSnapshots) return this.options.volumeSnapshots.snapshot(name, owner);
    // No LVM configured: the source path is copied as it is (documented in docs/backups.md).
    const snapshot: VolumeSnapshot__Output = { id: `live-${name}`, vm: name, resource: this.options.resourceOf?.(name) ?? name, node: this.options.node, createdUnixMs: Date.now(), consistency: 'crash', checksum: '', owner };
    return { snapshot, freezeDetail: `no volume snapshots configured (backup.volumes): ${this.options.sourcePath(name)} is copied live, crash-consistent` };
  }

  async releaseVolumeSnapshots(vm: string): Promise<string[]> {
    const name = assertSafeName(vm, 'vm');
    return this.options.volumeSnapshots ? this.options.volumeSnapshots.release(name) : [];
  }

  async listVolumeSnapshots(): Promise<VolumeSnapshot__Output[]> {
    if (this.options.volumeSnapshots) return this.options.volumeSnapshots.list();
    return [];
  }

  /**
   * restic forget for one VM's snapshots, grouped together whichever node made them
   * (`--group-by ''`: a VM that moved between its DRBD nodes keeps one history).
   */
  async applyRetention(vm: string, policy: RetentionRules, options: { readonly dryRun: boolean; readonly prune: boolean }): Promise<RetentionResult> {
    const name = assertSafeName(vm, 'vm');
    if (!hasRules(policy)) throw failedPrecondition('the retention policy has no rule; refusing to forget anything');
    const flags = keepFlags(policy);
    const groups = parseForget(
      await this.restic(['forget', '--json', '--group-by', '', '--tag', `${TAG},vm=${name}`, ...flags, ...(options.dryRun ? ['--dry-run'] : [])], this.longTimeoutMs),
    );
    if (options.prune && !options.dryRun && groups.some((group) => group.remove.length)) await this.restic(['prune'], this.longTimeoutMs);
    return { kept: groups.flatMap((group) => group.keep), forgotten: groups.flatMap((group) => group.remove) };
  }

  /**
   * restic check, then a test restore of `sample` snapshots (the newest of each VM first)
   * into a scratch directory under restoreRoot, each compared with its recorded checksum.
   */
  async verify(sample: number): Promise<VerifyResult> {
    const check = await this.check();
    const newest: ResticSnapshot[] = [];
    const older: ResticSnapshot[] = [];
    const seen = new Set<string>();
    const all = (await this.rawSnapshots(['--tag', TAG])).sort((a, b) => b.timeUnixMs - a.timeUnixMs);
    for (const snapshot of all) {
      const vm = tagValue(snapshot.tags, 'vm');
      (seen.has(vm) ? older : newest).push(snapshot);
      seen.add(vm);
    }
    const samples: VerifiedSnapshot__Output[] = [];
    for (const snapshot of [...newest, ...older].slice(0, Math.max(1, sample))) {
      const view = this.view(snapshot);
      const scratch = `verify-${randomBytes(6).toString('hex')}`;
      try {
        const target = await this.restoreTarget(scratch, false);
        await this.restoreFresh(snapshot.id, target);
        const restored = await treeChecksum(snapshot.paths.length === 1 ? join(target.path, snapshot.paths[0] as string) : target.path);
        const ok = view.checksum !== '' && restored === view.checksum;
        samples.push({ snapshot: view, restoredChecksum: restored, ok, detail: ok ? '' : view.checksum ? 'restored data differs from the recorded checksum' : 'no checksum recorded' });
      } catch (error) {
        samples.push({ snapshot: view, restoredChecksum: '', ok: false, detail: (error as Error).message });
      } finally {
        await rm(join(this.options.restoreRoot, scratch), { recursive: true, force: true });
      }
    }
    return { ok: check.ok && samples.every((entry) => entry.ok), checkMessage: check.message, samples };
  }

  async restore(snapshotId: string, targetResource: string, overwrite: boolean): Promise<RestoreResult> {
    if (!/^[0-9a-f]{8,64}$/.test(snapshotId)) throw new HvctlError('INVALID_ARGUMENT', `"${snapshotId.slice(0, 70)}" is not a snapshot id`);
    const target = await this.restoreTarget(assertSafeName(targetResource, 'target_resource'), overwrite);
    const matches = await this.rawSnapshots([snapshotId]);
    if (matches.length === 0) throw notFound(`no snapshot matches id "${snapshotId}"`);
    if (matches.length > 1) throw failedPrecondition(`snapshot id "${snapshotId}" is ambiguous; give more digits`);
    const snapshot = matches[0] as ResticSnapshot;
    for (const path of snapshot.paths) {
      if (!isAbsolute(path) || normalize(path) !== path || path.split('/').includes('..')) {
        throw failedPrecondition(`snapshot ${snapshot.shortId} holds the path "${path}", which could land outside ${target}; refusing to restore it`);
      }
    }
    await this.restoreFresh(snapshot.id, target);
    // restic restores the absolute source path under the target; the data is there.
    const data = snapshot.paths.length === 1 ? join(target.path, snapshot.paths[0] as string) : target.path;
    return { snapshot: this.view(snapshot), targetResource, bytesRestored: await sizeOf(target.path), checksum: await treeChecksum(data) };
  }

  /**
   * restic writes through symlinks already in its target (restoring a snapshot with a
   * directory `d/` over one holding a symlink `d -> /elsewhere` writes into /elsewhere), so
   * every restore goes into a new, empty directory beside the target, which then replaces it.
   */
  private async restoreFresh(snapshotId: string, target: RestoreTarget): Promise<void> {
    const staging = await mkdtemp(join(target.root, `.restoring-${basename(target.path)}-`));
    try {
      await this.restic(['restore', `--target=${staging}`, '--', snapshotId], this.longTimeoutMs);
    } catch (error) {
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    if (!target.exists) {
      await rename(staging, target.path);
      return;
    }
    const replaced = join(target.root, `.replaced-${basename(target.path)}-${Date.now()}`);
    await rename(target.path, replaced);
    try {
      await rename(staging, target.path);
    } catch (error) {
      await rename(replaced, target.path);
      await rm(staging, { recursive: true, force: true });
      throw error;
    }
    // rm does not follow symlinks: the old tree goes, whatever it pointed to stays.
    await rm(replaced, { recursive: true, force: true });
  }

  /** `forget --json` with the configured retention (per host and paths); `prune` runs separately. */
  async forget(options: { readonly dryRun?: boolean; readonly prune?: boolean; readonly policy?: RetentionPolicy } = {}): Promise<ForgetGroup[]> {
    const policy = options.policy ?? this.options.retention ?? {};
    const flags = keepFlags(policy);
    if (policy.keepWithin && /^(\d+[ymdh])+$/.test(policy.keepWithin)) flags.push('--keep-within', policy.keepWithin);
    if (flags.length === 0) throw failedPrecondition('no retention policy configured (backup.retention); refusing to forget everything');
    const groups = parseForget(await this.restic(['forget', '--json', '--tag', TAG, ...flags, ...(options.dryRun ? ['--dry-run'] : [])], this.longTimeoutMs));
    // Prune has no JSON output: never mixed into forget's (docs/reference/tools.md §4.5).
    if (options.prune && !options.dryRun) await this.restic(['prune'], this.longTimeoutMs);
    return groups;
  }

  /** `restic check [--read-data-subset]`: true when "no errors were found". */
  async check(readDataSubset?: string): Promise<{ readonly ok: boolean; readonly message: string }> {
    const args = ['check', ...(readDataSubset && /^(\d+\/\d+|\d+(\.\d+)?%)$/.test(readDataSubset) ? [`--read-data-subset=${readDataSubset}`] : [])];
    try {
      const out = await this.restic(args, this.longTimeoutMs);
      return { ok: /no errors were found/.test(out), message: out.trim().split('\n').at(-1) ?? '' };
    } catch (error) {
      if (error instanceof ToolError) return { ok: false, message: error.stderr.split('\n').filter(Boolean).slice(-2).join(' / ') || error.message };
      if (error instanceof HvctlError) return { ok: false, message: error.message };
      throw error;
    }
  }

  /**
   * Snapshot deltas of a repository held on this node: other nodes' backups land in it
   * without this agent running them, so it is re-listed every pollMs. A remote
   * repository reports nothing here (its node does).
   */
  watch(listener: ChangeListener): Unsubscribe {
    return this.listeners.add(listener);
  }

  /** Starts the poll that turns re-listing into watch deltas (once). */
  private startPolling(): void {
    if (this.timer || !this.repositoryIsLocal) return;
    this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? 60_000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Re-lists the local repository and reports new and removed snapshots. */
  async poll(): Promise<void> {
    let snapshots: Snapshot__Output[];
    try {
      snapshots = await this.localSnapshots();
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'listing the local restic repository failed');
      return;
    }
    const next = new Map(snapshots.map((snapshot) => [snapshot.id, JSON.stringify(snapshot)]));
    const previous = this.known;
    this.known = next;
    if (!previous) return;
    for (const snapshot of snapshots) if (previous.get(snapshot.id) !== next.get(snapshot.id)) this.emit({ change: 'snapshot', snapshot });
    for (const id of previous.keys()) if (!next.has(id)) this.emit({ change: 'snapshotRemoved', snapshotRemoved: id });
  }

  private emit(change: DriverChange): void {
    this.listeners.emit(change);
  }

  // ---- internals ------------------------------------------------------------------------

  private async rawSnapshots(filter: readonly string[]): Promise<ResticSnapshot[]> {
    const out = await this.restic(['snapshots', '--json', ...filter]);
    try {
      return parseSnapshots(out);
    } catch (error) {
      throw new HvctlError('INTERNAL', `restic snapshots --json: ${(error as Error).message}`);
    }
  }

  private async snapshots(filter: readonly string[]): Promise<Snapshot__Output[]> {
    return (await this.rawSnapshots(filter)).map((snapshot) => this.view(snapshot)).sort((a, b) => Number(b.timeUnixMs) - Number(a.timeUnixMs));
  }

  private view(snapshot: ResticSnapshot): Snapshot__Output {
    return {
      id: snapshot.id,
      shortId: snapshot.shortId,
      vm: tagValue(snapshot.tags, 'vm'),
      resource: tagValue(snapshot.tags, 'resource'),
      sourceNode: snapshot.hostname,
      timeUnixMs: snapshot.timeUnixMs,
      sizeBytes: snapshot.totalBytesProcessed ?? (Number(tagValue(snapshot.tags, 'size')) || 0),
      consistency: tagValue(snapshot.tags, 'consistency') || 'crash',
      checksum: tagValue(snapshot.tags, 'checksum'),
      durationMs: 0,
    };
  }

  /** `<restoreRoot>/<resource>`, checked to stay inside restoreRoot and not to be a symlink; not created here. */
  private async restoreTarget(resource: string, overwrite: boolean): Promise<RestoreTarget> {
    await mkdir(this.options.restoreRoot, { recursive: true, mode: 0o700 });
    const root = await realpath(this.options.restoreRoot);
    const target = resolve(root, resource);
    if (!target.startsWith(root + sep) || target === root || dirname(target) !== root) throw failedPrecondition(`restore target "${resource}" is outside ${root}`);
    let existing;
    try {
      existing = await lstat(target);
    } catch {
      existing = undefined;
    }
    if (!existing) return { root, path: target, exists: false };
    if (existing.isSymbolicLink() || !existing.isDirectory()) throw failedPrecondition(`restore target ${target} exists and is not a plain directory; refusing to write through it`);
    if ((await readdir(target)).length > 0 && !overwrite) {
      throw failedPrecondition(`restore target ${target} is not empty; restoring over it needs overwrite`, { nextSteps: ['restore under a new name, or pass overwrite after checking nothing uses it'] });
    }
    return { root, path: target, exists: true };
  }
}
