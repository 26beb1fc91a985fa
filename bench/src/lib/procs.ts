import { spawn, execFileSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { closeSync, createWriteStream, existsSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Every process the bench starts goes through here: each runs in its own process group
 * (detached), is remembered until it exits, and `cleanupAll` kills the groups and runs the
 * registered cleanups (lab down) — from a finally, and on SIGINT/SIGTERM.
 */

/** The repository root: the nearest directory above this file holding packages/ and bench/ (works from src and from .build). */
export const REPO = ((): string => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!(existsSync(join(dir, 'packages')) && existsSync(join(dir, 'bench')))) {
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the repository root above the bench');
    dir = up;
  }
  return dir;
})();
/** The compiled bench (see build.ts): children run from here on plain node. */
export const BUILD = join(REPO, 'bench', '.build');
export const HVCTL_BIN = join(REPO, 'packages', 'console', 'bin', 'hvctl.js');
export const AGENT_BIN = join(REPO, 'packages', 'agent', 'bin', 'hvctl-agent.js');

const live = new Set<ChildProcess>();
const cleanups: (() => Promise<void> | void)[] = [];

/** The environment of every child: the console must not believe it runs in CI (Ink then draws nothing). */
export function childEnv(extra: Record<string, string | undefined> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, ...extra };
  for (const key of ['CI', 'CONTINUOUS_INTEGRATION', 'BUILD_NUMBER', 'RUN_ID']) delete env[key];
  for (const [key, value] of Object.entries(extra)) if (value === undefined) delete env[key];
  return env;
}

/**
 * nice(1) level of the measured processes (consoles, CLIs, load generators, the agent under
 * test): set by the runner (`--nice`). On a machine shared with other work, a negative
 * level keeps that work from being what the figures measure.
 */
let measuredNice = 0;
export function setMeasuredNice(level: number): void {
  measuredNice = level;
}
export const measuredNiceLevel = (): number => measuredNice;

/** Wraps a command in nice(1) (which execs it in place: the pid stays the command's). */
export function niced(command: string, args: readonly string[], level: number): [string, string[]] {
  return level ? ['nice', ['-n', String(level), command, ...args]] : [command, [...args]];
}

/** Spawns in a new process group and tracks it until it exits. */
export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions & { nice?: number } = {}): ChildProcess {
  const level = options.nice ?? 0;
  const [bin, argv] = niced(command, args, level);
  const child = spawn(bin, argv, { ...options, detached: true, env: options.env ?? childEnv() });
  // A detached child starts a session, and with the kernel's autogroup scheduling
  // (/proc/sys/kernel/sched_autogroup_enabled) each session is scheduled as one group:
  // nice(1) then only ranks threads inside it. The group's own nice ranks it against the
  // other sessions (the fleet's, other users'), so set that too.
  if (level && child.pid) {
    try {
      writeFileSync(`/proc/${child.pid}/autogroup`, String(level));
    } catch {
      // no autogroup scheduling, or not allowed: nice(1) alone
    }
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
  child.once('error', () => live.delete(child));
  return child;
}

/** Runs a compiled bench child (`children/NAME.js`) with an IPC channel; stderr goes to `logFile`. */
export function spawnChild(
  name: string,
  args: readonly string[],
  options: { logFile: string; env?: Record<string, string | undefined>; nodeArgs?: readonly string[]; nice?: number },
): ChildProcess {
  const script = join(BUILD, 'src', 'children', `${name}.js`);
  const argv = [...(options.nodeArgs ?? []), script, ...args];
  const child = spawnTracked(process.execPath, argv, {
    nice: options.nice ?? measuredNice,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    env: childEnv(options.env),
  });
  const log = createWriteStream(options.logFile, { flags: 'a' });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  return child;
}

/** Kills a tracked process group (SIGKILL); quiet when it is gone already. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is gone
  }
}

/** Resolves when the child exits (at once when it has). */
export function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

/** Asks politely (a `stop` message or SIGTERM), then kills the group after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  if (child.connected) child.send({ type: 'stop' });
  else killGroup(child, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child), graceMs);
  await exited(child);
  clearTimeout(timer);
  killGroup(child);
}

/** Registers a cleanup (for example `hvctl lab down --force`) to run by cleanupAll. */
export function onCleanup(fn: () => Promise<void> | void): () => void {
  cleanups.push(fn);
  return () => {
    const index = cleanups.indexOf(fn);
    if (index >= 0) cleanups.splice(index, 1);
  };
}

/** Runs every cleanup, then kills every process group still alive. */
export async function cleanupAll(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) {
    try {
      await fn();
    } catch (error) {
      process.stderr.write(`bench cleanup: ${(error as Error).message}\n`);
    }
  }
  for (const child of [...live]) killGroup(child);
}

let cleanupInstalled = false;
/** Kills everything on SIGINT/SIGTERM (Ctrl-C during a run leaves nothing behind). */
export function installSignalCleanup(): void {
  if (cleanupInstalled) return;
  cleanupInstalled = true;
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      process.stderr.write(`\nbench: ${signal}, cleaning up\n`);
      void cleanupAll().finally(() => process.exit(130));
    });
  }
}

/** Waits for one IPC message of `type` from `child`; rejects on exit or after `timeoutMs`. */
export function nextMessage<T extends { type: string }>(child: ChildProcess, type: T['type'], timeoutMs: number, logFile?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const onMessage = (message: { type?: string; error?: string }): void => {
      if (message?.type === type) {
        done();
        resolve(message as T);
      } else if (message?.type === 'error') {
        done();
        reject(new Error(`child failed: ${message.error ?? 'unknown error'}`));
      }
    };
    const onExit = (code: number | null, signal: string | null): void => {
      done();
      reject(new Error(`child exited (${signal ?? code}) before "${type}"${logFile ? `; last output:\n${tail(logFile)}` : ''}`));
    };
    const timer = setTimeout(() => {
      done();
      reject(new Error(`no "${type}" from the child within ${timeoutMs} ms${logFile ? `; last output:\n${tail(logFile)}` : ''}`));
    }, timeoutMs);
    const done = (): void => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
    };
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

export function tail(path: string, lines = 8): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Date.now() at spawn and at exit. */
  readonly startMs: number;
  readonly endMs: number;
  readonly wallMs: number;
}

/** Runs the real `hvctl` CLI (node packages/console/bin/hvctl.js ARGS) to completion. */
export function runHvctl(
  args: readonly string[],
  options: {
    timeoutMs?: number;
    env?: Record<string, string | undefined>;
    onLine?: (line: string, atMs: number) => void;
    /**
     * Send stdout to this file instead of a pipe (read back into `stdout`). `hvctl` exits
     * right after writing, so a pipe receives only what fit in the pipe buffer when the
     * output is large (see docs/benchmarks.md, findings); a file gets everything.
     */
    stdoutFile?: string;
  } = {},
): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const startMs = Date.now();
    const started = performance.now();
    const fd = options.stdoutFile ? openSync(options.stdoutFile, 'w') : undefined;
    const child = spawnTracked(process.execPath, [HVCTL_BIN, ...args], { stdio: ['ignore', fd ?? 'pipe', 'pipe'], env: childEnv(options.env), nice: measuredNice });
    if (fd !== undefined) closeSync(fd);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out.push(chunk);
      if (!options.onLine) return;
      const at = Date.now();
      partial += chunk.toString('utf8');
      let newline = partial.indexOf('\n');
      while (newline >= 0) {
        options.onLine(partial.slice(0, newline), at);
        partial = partial.slice(newline + 1);
        newline = partial.indexOf('\n');
      }
    });
    child.stderr?.on('data', (chunk: Buffer) => err.push(chunk));
    const timer = setTimeout(() => {
      killGroup(child);
      reject(new Error(`hvctl ${args.join(' ')} did not finish within ${options.timeoutMs} ms`));
    }, options.timeoutMs ?? 60_000);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      const wallMs = performance.now() - started;
      const stdout = options.stdoutFile ? readFileSync(options.stdoutFile, 'utf8') : Buffer.concat(out).toString('utf8');
      resolve({ code, stdout, stderr: Buffer.concat(err).toString('utf8'), startMs, endMs: startMs + wallMs, wallMs });
    });
  });
}

/** Throws with the CLI's stderr unless it exited 0. */
export function check(run: CliRun, what: string): CliRun {
  if (run.code !== 0) throw new Error(`${what} exited ${run.code}: ${run.stderr.trim().split('\n').slice(-3).join(' / ') || run.stdout.slice(-300)}`);
  return run;
}

// ---- /proc readings ---------------------------------------------------------------------

let clockTicks: number | undefined;
/** Kernel clock ticks per second (utime/stime unit). */
export function clkTck(): number {
  if (clockTicks === undefined) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/** Resident set size of `pid` in MB (10^6 bytes, VmRSS), or NaN when it is gone. */
export function rssMB(pid: number): number {
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? (Number(match[1]) * 1024) / 1e6 : Number.NaN;
  } catch {
    return Number.NaN;
  }
}

/** CPU seconds (user + system) used by `pid` so far. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / clkTck();
  } catch {
    return Number.NaN;
  }
}

/** Busy and total jiffies of the whole machine (/proc/stat), for "how loaded was it". */
export function machineCpu(): { busy: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  const values = line.trim().split(/\s+/).slice(1).map(Number);
  const total = values.reduce((sum, value) => sum + value, 0);
  const idle = (values[3] ?? 0) + (values[4] ?? 0);
  return { busy: total - idle, total };
}

/** Machine CPU use between two readings, in % of all cores. */
export const machineBusyPercent = (from: { busy: number; total: number }, to: { busy: number; total: number }): number =>
  to.total > from.total ? (100 * (to.busy - from.busy)) / (to.total - from.total) : Number.NaN;

/** Samples the RSS of some pids every `everyMs`; `stop()` returns the peak per pid. */
export function sampleRss(pids: () => readonly number[], everyMs = 250): { stop(): Map<number, number>; peakOf(pid: number): number } {
  const peaks = new Map<number, number>();
  const take = (): void => {
    for (const pid of pids()) {
      const rss = rssMB(pid);
      if (Number.isFinite(rss)) peaks.set(pid, Math.max(peaks.get(pid) ?? 0, rss));
    }
  };
  take();
  const timer = setInterval(take, everyMs);
  return {
    stop: () => {
      clearInterval(timer);
      take();
      return peaks;
    },
    peakOf: (pid) => peaks.get(pid) ?? Number.NaN,
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export const here = (url: string): string => dirname(fileURLToPath(url));
