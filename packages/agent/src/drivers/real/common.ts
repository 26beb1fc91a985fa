import type { HvctlError, Logger, StreamHandle } from '@hvctl/common';
import { ToolError, invalidArgument } from '@hvctl/common';
import type { ChangeListener, DriverChange, ProbeResult, Unsubscribe } from '../types.js';

/** Names that reach a tool's argv: the service layer validates them, the drivers check again. */
const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

export function assertSafeName(name: string, what = 'name'): string {
  if (!SAFE_NAME.test(name) || name.includes('..')) throw invalidArgument(`${what} "${name.slice(0, 64)}" is not a valid name`);
  return name;
}

/** A probe result for a real driver. */
export const probeOk = (detail: string): ProbeResult => ({ available: true, driver: 'real', detail });
export const probeFailed = (detail: string): ProbeResult => ({ available: false, driver: 'real', detail });

/** What a probe says when the tool itself failed to run. */
export function probeFailure(tool: string, error: unknown, fix: string): ProbeResult {
  if (error instanceof ToolError && error.failure === 'missing') return probeFailed(`${tool} not found at ${error.command}: ${fix}`);
  if (error instanceof ToolError) return probeFailed(`${tool} does not work: ${error.message}`);
  return probeFailed(`${tool} probe failed: ${(error as Error).message}`);
}

export interface FollowerOptions {
  readonly name: string;
  readonly logger?: Logger;
  /** Starts the tool; the follower restarts it whenever its `done` settles. */
  readonly start: () => StreamHandle;
  /** Called when a run ends (cleanly or not), before the restart delay, with how long it ran. */
  readonly onEnd?: (error: unknown, ranMs: number) => void;
  readonly minDelayMs?: number;
  readonly maxDelayMs?: number;
}

/**
 * Keeps a line-oriented follower (`drbdsetup events2`, `virsh event --loop`) running:
 * when it exits (module reloaded, libvirtd restarted, crash) it is started again after a
 * back-off that grows to maxDelayMs and resets once a run has lasted a minute.
 */
export class Follower {
  private handle: StreamHandle | undefined;
  private stopped = true;
  private timer: NodeJS.Timeout | undefined;
  private delayMs: number;
  /** How many times the tool was (re)started. */
  starts = 0;

  constructor(private readonly options: FollowerOptions) {
    this.delayMs = options.minDelayMs ?? 500;
  }

  get running(): boolean {
    return !this.stopped;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.launch();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const handle = this.handle;
    this.handle = undefined;
    await handle?.stop();
  }

  /**
   * Ends the running tool and starts it again at once, without back-off: its output missed
   * events, and a new run begins with a full state dump. Nothing to do while a restart is due.
   */
  async restart(): Promise<void> {
    if (this.stopped || this.timer) return;
    const handle = this.handle;
    this.handle = undefined;
    await handle?.stop();
    if (!this.stopped && !this.handle && !this.timer) this.launch();
  }

  /** Writes to the running tool's stdin (events2 --poll). */
  write(data: string): boolean {
    return this.handle?.write(data) ?? false;
  }

  private launch(): void {
    if (this.stopped) return;
    const startedAt = Date.now();
    let handle: StreamHandle;
    try {
      handle = this.options.start();
    } catch (error) {
      this.ended(error, startedAt);
      return;
    }
    this.handle = handle;
    this.starts += 1;
    handle.done.then(
      () => this.ended(undefined, startedAt, handle),
      (error: unknown) => this.ended(error, startedAt, handle),
    );
  }

  private ended(error: unknown, startedAt: number, handle?: StreamHandle): void {
    if (handle && this.handle !== handle) return;
    this.handle = undefined;
    if (this.stopped) return;
    this.options.onEnd?.(error, Date.now() - startedAt);
    if (Date.now() - startedAt > 60_000) this.delayMs = this.options.minDelayMs ?? 500;
    const delay = this.delayMs;
    this.delayMs = Math.min(this.options.maxDelayMs ?? 30_000, this.delayMs * 2);
    this.options.logger?.warn({ follower: this.options.name, err: error, restartInMs: delay }, 'follower ended; restarting');
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.launch();
    }, delay);
    this.timer.unref();
  }
}

/** Serialises async operations (one announce/withdraw at a time). */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn, fn);
    this.tail = result.catch(() => undefined);
    return result;
  }
}

/** Rewraps an error for the operator, keeping the tool's error as the cause. */
export function domainError(error: unknown, make: (tool: ToolError) => HvctlError | undefined): unknown {
  if (!(error instanceof ToolError)) return error;
  const mapped = make(error);
  if (!mapped) return error;
  Object.defineProperty(mapped, 'cause', { value: error, enumerable: false });
  return mapped;
}

/**
 * The watchers of one real driver: the first one to subscribe starts the driver's source
 * (a follower or a poll timer; `start` must be idempotent), the last one to leave stops it.
 */
export class ChangeListeners {
  private readonly listeners = new Set<ChangeListener>();

  constructor(private readonly hooks: { readonly start: () => void; readonly stop: () => void }) {}

  get size(): number {
    return this.listeners.size;
  }

  add(listener: ChangeListener): Unsubscribe {
    this.listeners.add(listener);
    this.hooks.start();
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0) this.hooks.stop();
    };
  }

  emit(change: DriverChange): void {
    for (const listener of this.listeners) listener(change);
  }
}
