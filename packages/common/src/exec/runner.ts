import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync } from 'node:fs';
import { isAbsolute } from 'node:path';
import type { Logger } from 'pino';
import { HvctlError, type ErrorCode } from '../errors.js';
import { currentCallContext } from './call-context.js';
import { LineSplitter, LineTooLongError } from './lines.js';
import { ToolError, formatCommandLine, meaningfulStderr, truncate, type ToolFailure } from './tool-error.js';

/** Default cap on each of stdout and stderr. */
export const DEFAULT_MAX_OUTPUT_BYTES = 16 * 1024 * 1024;
/** Default time a call may take when neither the caller nor the ambient call context says. */
export const DEFAULT_TIMEOUT_MS = 30_000;
/** Time left for the reply to travel back when the budget comes from a caller's deadline. */
export const DEADLINE_MARGIN_MS = 200;
/** Longest wait between TERM and KILL. */
export const MAX_KILL_GRACE_MS = 2000;

/** Environment variables passed through to tools; everything else is dropped (no secrets leak in). */
const ENV_PASSTHROUGH = ['PATH', 'HOME', 'TMPDIR', 'XDG_RUNTIME_DIR', 'XDG_CACHE_HOME', 'XDG_CONFIG_HOME'] as const;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** What classifies a non-zero exit into a gRPC code (default INTERNAL). */
export type ExitClassifier = (exitCode: number | null, stderr: string) => ErrorCode;

interface CommonOptions {
  /** Arguments after the command. Never joined into a shell string. */
  readonly args: readonly string[];
  /** Longest this call may take, in ms. Capped by `deadlineMs` and the ambient call context. */
  readonly timeoutMs?: number;
  /** Absolute deadline (Unix ms), e.g. the gRPC call's; the call ends DEADLINE_MARGIN_MS before it. */
  readonly deadlineMs?: number;
  /** Cancels the call: the process tree gets TERM, then KILL. */
  readonly signal?: AbortSignal;
  /** Extra environment variables (LC_ALL=C and LANG=C are always set). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
  /** Strings that must never be logged or put into an error (passwords, tokens). */
  readonly redact?: readonly string[];
  /** Exit codes that count as success. Default [0]. */
  readonly okExitCodes?: readonly number[];
  /** gRPC code for a refused exit status. */
  readonly classifyExit?: ExitClassifier;
  /** Time between TERM and KILL; default a fifth of the budget, at most MAX_KILL_GRACE_MS. */
  readonly killGraceMs?: number;
}

export interface RunOptions extends CommonOptions {
  /** Data for stdin; without it stdin is /dev/null. */
  readonly stdin?: string | Buffer;
  /** Cap on each of stdout and stderr; past it the tree is killed (RESOURCE_EXHAUSTED). */
  readonly maxOutputBytes?: number;
}

export interface RunResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: number;
  readonly durationMs: number;
}

export interface StreamOptions extends CommonOptions {
  /** Called for every complete stdout line (the partial last line waits for its newline). */
  readonly onLine: (line: string) => void;
  /** Called for every complete stderr line; stderr is also kept (bounded) for the error. */
  readonly onStderrLine?: (line: string) => void;
  /** Split on a lone `\r` too (progress bars). */
  readonly carriageReturn?: boolean;
  /** Keep stdin open for `write` (drbdsetup events2 --poll). Default: stdin is /dev/null. */
  readonly keepStdinOpen?: boolean;
  /**
   * A file or block device opened read-only and given to the tool as its stdin (`restic
   * backup --stdin` fed from a volume snapshot): the tool reads it directly, no copy passes
   * through this process. Not with keepStdinOpen.
   */
  readonly stdinFile?: string;
  /** Longest line accepted, in bytes (default 1 MiB); past it the tree is killed. */
  readonly maxLineBytes?: number;
}

/** A running line-oriented follower. */
export interface StreamHandle {
  readonly pid: number | undefined;
  /** Resolves when the tool exits with an accepted status; rejects with a ToolError otherwise. */
  readonly done: Promise<RunResult>;
  /** Writes to stdin (only with keepStdinOpen). Returns false when stdin is gone. */
  write(data: string): boolean;
  /** Stops the tool (TERM, then KILL); `done` then resolves as a clean stop. */
  stop(): Promise<void>;
}

/** Runs tools. Injected into every driver; tests pass fakes or point it at fake scripts. */
export interface CommandRunner {
  run(command: string, options: RunOptions): Promise<RunResult>;
  stream(command: string, options: StreamOptions): StreamHandle;
}

export interface ProcessRunnerOptions {
  readonly logger?: Logger;
  /** Applied when the call gives no timeout. */
  readonly defaultTimeoutMs?: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

function redactAll(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret !== '') out = out.split(secret).join('[redacted]');
  return out;
}

/** Opens a tool's stdin file read-only, or says which file could not be read and that nothing ran. */
function openStdinFile(command: string, path: string): number {
  try {
    return openSync(path, 'r');
  } catch (error) {
    throw new HvctlError('FAILED_PRECONDITION', `cannot read ${path} to feed ${command} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); ${command} was not started`, {
      nextSteps: [`check that ${path} exists and is readable by the agent`],
    });
  }
}

/** Process state from /proc/PID/stat ("R", "S", "Z", ...) and process group, or undefined. */
function procStat(pid: string): { state: string; pgrp: number } | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid pgrp ...": comm may contain spaces and parentheses.
    const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
    return { state: fields[0] ?? '', pgrp: Number(fields[2]) };
  } catch {
    return undefined;
  }
}

/** Is the process alive (not gone, and not a zombie waiting for a parent that never reaps it)? */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = procStat(String(pid));
  return stat === undefined ? process.platform !== 'linux' : stat.state !== 'Z' && stat.state !== 'X';
}

/**
 * Is any process of the group `pgid` still alive? Zombies do not count: where PID 1
 * does not reap orphans (some containers and micro-VMs), killed grandchildren stay
 * zombies forever and would still answer to kill(-pgid, 0).
 */
export function groupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (process.platform !== 'linux') return true;
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return true;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = procStat(entry);
    if (stat && stat.pgrp === pgid && stat.state !== 'Z' && stat.state !== 'X') return true;
  }
  return false;
}

function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Terminates a whole process group: TERM, then KILL after `graceMs` if anything is left.
 * Resolves once the group is gone (or after the KILL, which cannot be ignored).
 */
export async function killProcessGroup(pgid: number, graceMs: number): Promise<void> {
  if (!groupAlive(pgid)) return;
  signalGroup(pgid, 'SIGTERM');
  const until = Date.now() + graceMs;
  while (Date.now() < until) {
    await sleep(Math.min(20, Math.max(1, until - Date.now())));
    if (!groupAlive(pgid)) return;
  }
  signalGroup(pgid, 'SIGKILL');
  // KILL is delivered at once; the kernel reaps the members shortly after.
  for (let i = 0; i < 50 && groupAlive(pgid); i += 1) await sleep(10);
}

interface Budget {
  /** ms until the call must have returned, or undefined for no limit. */
  readonly totalMs: number | undefined;
  readonly signal: AbortSignal | undefined;
  /** Where the deadline came from, for the error message. */
  readonly source: string;
}

function budgetOf(options: CommonOptions, defaultTimeoutMs: number | undefined, now: number): Budget {
  const ambient = currentCallContext();
  const candidates: { ms: number; source: string }[] = [];
  const timeout = options.timeoutMs ?? defaultTimeoutMs;
  if (timeout !== undefined) candidates.push({ ms: timeout, source: `its ${timeout} ms timeout` });
  if (options.deadlineMs !== undefined) candidates.push({ ms: options.deadlineMs - now - DEADLINE_MARGIN_MS, source: "the caller's deadline" });
  if (ambient.deadlineMs !== undefined) candidates.push({ ms: ambient.deadlineMs - now - DEADLINE_MARGIN_MS, source: "the caller's deadline" });
  const tightest = candidates.reduce<{ ms: number; source: string } | undefined>((best, c) => (best === undefined || c.ms < best.ms ? c : best), undefined);
  const signals = [options.signal, ambient.signal].filter((s): s is AbortSignal => s !== undefined);
  return {
    totalMs: tightest?.ms,
    source: tightest?.source ?? '',
    signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0],
  };
}

function buildEnv(extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const key of ENV_PASSTHROUGH) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  env['PATH'] ??= DEFAULT_PATH;
  return { ...env, ...extra, LC_ALL: 'C', LANG: 'C' };
}

interface Execution {
  readonly child: ChildProcess;
  readonly done: Promise<RunResult>;
  /** Ends the call early with this failure (kills the tree first). */
  fail(failure: ToolFailure, detail?: string): void;
  /** Stops the tool without it counting as a failure. */
  stop(): Promise<void>;
}

/**
 * The one process runner: argv arrays and absolute
 * paths only, never a shell; `LC_ALL=C`; a budget per call from its timeout, its deadline
 * and the ambient gRPC call context; on timeout, cancel or runaway output the whole
 * process group (spawned detached) gets TERM, then KILL; stdout and stderr bounded and
 * read separately; typed ToolErrors; argv debug-logged with secrets redacted.
 *
 * Limit: a descendant that calls setsid() itself leaves the group and is not reached.
 */
export class ProcessRunner implements CommandRunner {
  private readonly logger: Logger | undefined;
  private readonly defaultTimeoutMs: number | undefined;

  constructor(options: ProcessRunnerOptions = {}) {
    this.logger = options.logger;
    this.defaultTimeoutMs = options.defaultTimeoutMs ?? DEFAULT_TIMEOUT_MS;
  }

  run(command: string, options: RunOptions): Promise<RunResult> {
    const maxBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    let stdoutBytes = 0;
    let stderrBytes = 0;
    let execution: Execution | undefined;
    try {
      execution = this.execute(command, options, this.defaultTimeoutMs, {
        stdin: options.stdin === undefined ? 'ignore' : 'pipe',
        onStdout: (chunk) => {
          stdoutBytes += chunk.length;
          if (stdoutBytes > maxBytes) return execution?.fail('output-limit', `stdout grew past ${maxBytes} bytes`);
          stdout.push(chunk);
        },
        onStderr: (chunk) => {
          stderrBytes += chunk.length;
          if (stderrBytes > maxBytes) return execution?.fail('output-limit', `stderr grew past ${maxBytes} bytes`);
          stderr.push(chunk);
        },
        stdout: () => Buffer.concat(stdout).toString('utf8'),
        stderr: () => Buffer.concat(stderr).toString('utf8'),
      });
    } catch (error) {
      return Promise.reject(error);
    }
    if (options.stdin !== undefined && execution.child.stdin) {
      execution.child.stdin.on('error', () => undefined);
      execution.child.stdin.end(options.stdin);
    }
    return execution.done;
  }

  stream(command: string, options: StreamOptions): StreamHandle {
    const maxLine = options.maxLineBytes ?? 1024 * 1024;
    const out = new LineSplitter({ carriageReturn: options.carriageReturn ?? false, maxLineChars: maxLine });
    const err = new LineSplitter({ carriageReturn: options.carriageReturn ?? false, maxLineChars: maxLine });
    // stderr is kept for the error, but only its head: a follower runs for days.
    let stderrKept = '';
    const keep = (line: string): void => {
      if (stderrKept.length < 64 * 1024) stderrKept += `${line}\n`;
    };
    const feed = (splitter: LineSplitter, chunk: Buffer, deliver: (line: string) => void): void => {
      let lines: string[];
      try {
        lines = splitter.push(chunk);
      } catch (error) {
        if (error instanceof LineTooLongError) return execution.fail('output-limit', error.message);
        throw error;
      }
      for (const line of lines) deliver(line);
    };
    const deliverOut = (line: string): void => {
      try {
        options.onLine(line);
      } catch (error) {
        this.logger?.error({ err: error, command }, 'stream line handler failed');
      }
    };
    const deliverErr = (line: string): void => {
      keep(line);
      try {
        options.onStderrLine?.(line);
      } catch (error) {
        this.logger?.error({ err: error, command }, 'stream stderr handler failed');
      }
    };
    if (options.stdinFile !== undefined && options.keepStdinOpen) throw new HvctlError('INTERNAL', `${command}: stdinFile and keepStdinOpen exclude each other`);
    const stdinFd = options.stdinFile === undefined ? undefined : openStdinFile(command, options.stdinFile);
    // Streams have no default timeout: a follower runs until stopped.
    let execution: Execution;
    try {
      execution = this.execute(command, options, undefined, {
        stdin: stdinFd ?? (options.keepStdinOpen ? 'pipe' : 'ignore'),
        onStdout: (chunk) => feed(out, chunk, deliverOut),
        onStderr: (chunk) => feed(err, chunk, deliverErr),
        onClose: () => {
          for (const line of out.end()) deliverOut(line);
          for (const line of err.end()) deliverErr(line);
        },
        stdout: () => '',
        stderr: () => stderrKept,
      });
    } finally {
      // The child holds its own copy of the descriptor.
      if (stdinFd !== undefined) closeSync(stdinFd);
    }
    const child = execution.child;
    child.stdin?.on('error', () => undefined);
    return {
      pid: child.pid,
      done: execution.done,
      write: (data) => {
        if (!child.stdin || child.stdin.destroyed || child.stdin.writableEnded) return false;
        child.stdin.write(data);
        return true;
      },
      stop: () => execution.stop(),
    };
  }

  private execute(
    command: string,
    options: CommonOptions,
    defaultTimeoutMs: number | undefined,
    io: {
      /** 'pipe', 'ignore', or an open file descriptor the child reads. */
      readonly stdin: 'pipe' | 'ignore' | number;
      readonly onStdout: (chunk: Buffer) => void;
      readonly onStderr: (chunk: Buffer) => void;
      readonly onClose?: () => void;
      readonly stdout: () => string;
      readonly stderr: () => string;
    },
  ): Execution {
    if (!isAbsolute(command)) {
      throw new HvctlError('INTERNAL', `refusing to run "${command}": tools are run by absolute path only`, {
        nextSteps: ['set the tool path in agent.yaml (tools:) to an absolute path'],
      });
    }
    const secrets = options.redact ?? [];
    const shownArgs = options.args.map((arg) => redactAll(arg, secrets));
    const commandLine = formatCommandLine(command, shownArgs);
    const started = Date.now();
    const budget = budgetOf(options, defaultTimeoutMs, started);
    const graceMs = options.killGraceMs ?? Math.max(20, Math.min(MAX_KILL_GRACE_MS, Math.floor((budget.totalMs ?? 10_000) / 5)));
    const okCodes = options.okExitCodes ?? [0];

    const makeError = (failure: ToolFailure, exitCode: number | null, signal: string | null, detail: string): ToolError => {
      const stderr = redactAll(io.stderr(), secrets);
      const said = meaningfulStderr(stderr);
      const tail = said ? `: ${truncate(said.split('\n').slice(0, 3).join(' / '), 500)}` : '';
      const codes: Record<ToolFailure, ErrorCode> = {
        missing: 'UNAVAILABLE',
        timeout: 'DEADLINE_EXCEEDED',
        aborted: 'ABORTED',
        'output-limit': 'RESOURCE_EXHAUSTED',
        exit: options.classifyExit?.(exitCode, stderr) ?? 'INTERNAL',
        'bad-output': 'INTERNAL',
      };
      const message: Record<ToolFailure, string> = {
        missing: `${command} is not installed or not executable (${detail})`,
        timeout: `${commandLine} did not finish within ${detail}; it was killed`,
        aborted: `${commandLine} was cancelled by the caller; it was killed`,
        'output-limit': `${commandLine} printed too much (${detail}); it was killed`,
        exit: `${commandLine} ${detail}${tail}`,
        'bad-output': `${commandLine}: ${detail}`,
      };
      return new ToolError({
        failure,
        code: codes[failure],
        message: message[failure],
        command,
        args: shownArgs,
        exitCode,
        signal,
        stderr,
        ...(failure === 'missing' ? { details: { nextSteps: [`install the package that provides ${command}, or fix its path in agent.yaml`] } } : {}),
      });
    };

    if (budget.totalMs !== undefined && budget.totalMs <= 0) {
      throw makeError('timeout', null, null, `${budget.source} (no time was left to start it)`);
    }
    if (budget.signal?.aborted) throw makeError('aborted', null, null, '');

    this.logger?.debug({ cmd: command, args: shownArgs, timeoutMs: budget.totalMs }, 'exec');
    const child = spawn(command, [...options.args], {
      detached: true,
      stdio: [io.stdin, 'pipe', 'pipe'],
      env: buildEnv(options.env),
      ...(options.cwd ? { cwd: options.cwd } : {}),
      windowsHide: true,
    });
    const pgid = child.pid;

    let settled = false;
    let stopping = false;
    let failure: { kind: ToolFailure; detail: string } | undefined;
    let killing: Promise<void> | undefined;
    const timers: NodeJS.Timeout[] = [];
    let resolveDone!: (result: RunResult) => void;
    let rejectDone!: (error: unknown) => void;
    const done = new Promise<RunResult>((resolve, reject) => {
      resolveDone = resolve;
      rejectDone = reject;
    });

    const cleanup = (): void => {
      for (const timer of timers) clearTimeout(timer);
      budget.signal?.removeEventListener('abort', onAbort);
    };
    const killTree = (grace: number): Promise<void> => {
      killing ??= pgid === undefined ? Promise.resolve() : killProcessGroup(pgid, grace);
      return killing;
    };
    const finish = (exitCode: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      cleanup();
      const durationMs = Date.now() - started;
      io.onClose?.();
      this.logger?.debug({ cmd: command, exitCode, signal, durationMs, failure: failure?.kind }, 'exec done');
      if (failure) return rejectDone(makeError(failure.kind, exitCode, signal, failure.detail));
      if (stopping) return resolveDone({ stdout: io.stdout(), stderr: io.stderr(), exitCode: exitCode ?? -1, durationMs });
      if (exitCode !== null && okCodes.includes(exitCode)) return resolveDone({ stdout: io.stdout(), stderr: io.stderr(), exitCode, durationMs });
      const how = exitCode !== null ? `exited with status ${exitCode}` : `was killed by ${signal ?? 'a signal'}`;
      rejectDone(makeError('exit', exitCode, signal, how));
    };
    const end = (kind: ToolFailure | 'stop', detail: string, grace: number): Promise<void> => {
      if (settled) return Promise.resolve();
      if (kind === 'stop') stopping = true;
      else failure ??= { kind, detail };
      return killTree(grace).then(() => {
        // The leader is dead; its pipes may still be held by a process that escaped the group.
        const fallback = setTimeout(() => {
          child.stdout?.destroy();
          child.stderr?.destroy();
          finish(child.exitCode, child.signalCode);
        }, 500);
        fallback.unref();
        timers.push(fallback);
      });
    };
    const onAbort = (): void => void end('aborted', '', graceMs);

    if (budget.totalMs !== undefined) {
      const total = budget.totalMs;
      // TERM early enough that the KILL (if needed) still lands inside the budget.
      timers.push(setTimeout(() => void end('timeout', budget.source, Math.max(10, Math.min(graceMs, total / 5))), Math.max(1, total - Math.min(graceMs, total / 5))));
    }
    budget.signal?.addEventListener('abort', onAbort, { once: true });

    child.stdout?.on('data', io.onStdout);
    child.stderr?.on('data', io.onStderr);
    child.on('error', (error: NodeJS.ErrnoException) => {
      if (settled) return;
      if (error.code === 'ENOENT' || error.code === 'EACCES' || error.code === 'ENOTDIR') {
        failure ??= { kind: 'missing', detail: error.code === 'ENOENT' ? 'no such file' : error.code === 'EACCES' ? 'permission denied' : error.code };
        finish(null, null);
        return;
      }
      failure ??= { kind: 'exit', detail: `could not be started: ${error.message}` };
      finish(null, null);
    });
    child.on('close', (code, signal) => {
      // Reap what the tool left behind in its group (forked helpers): nothing outlives the call.
      if (pgid !== undefined && groupAlive(pgid)) {
        void killTree(Math.min(graceMs, 100)).then(() => finish(code, signal));
        return;
      }
      finish(code, signal);
    });
    child.on('exit', () => {
      // Children that inherited stdout keep 'close' from firing; they die with the group.
      if (pgid !== undefined && groupAlive(pgid) && !settled) {
        const timer = setTimeout(() => {
          if (!settled && pgid !== undefined && groupAlive(pgid)) void killTree(Math.min(graceMs, 100));
        }, 50);
        timer.unref();
        timers.push(timer);
      }
    });

    return {
      child,
      done,
      fail: (kind, detail = '') => void end(kind, detail, 0),
      stop: async () => {
        await end('stop', '', graceMs);
        await done.catch(() => undefined);
      },
    };
  }
}
