import type { ClusterSnapshot } from '@hvctl/common';

/** What the pacer reads snapshots from (ClusterModel, or a test's fake source). */
export interface SnapshotSource {
  snapshot(): ClusterSnapshot;
  subscribe(listener: (snapshot: ClusterSnapshot) => void): () => void;
}

/** The snapshots the console draws: the source's, adopted at most once per interval. */
export interface PacedSnapshots {
  /** The adopted snapshot (not necessarily the source's newest). */
  snapshot(): ClusterSnapshot;
  /** Calls `listener` after each adoption; the source is watched while anyone listens. */
  subscribe(listener: () => void): () => void;
}

/**
 * Minimum time between two snapshots the console adopts (and so between two rebuilds of
 * the row model and two React renders caused by the cluster). A 200-changes-per-second
 * stream publishes dozens of snapshots a second; drawing each one kept the event loop busy
 * with renders while gRPC messages and key presses waited (docs/benchmarks.md).
 */
export const ADOPT_INTERVAL_MS = 100;

/**
 * The interval also stretches to this many times what the last adoption cost (rebuild and
 * render, up to the next turn of the event loop), so that drawing takes at most about a
 * third of the console's time even when one redraw is slow (a 4,000-VM cluster starting up).
 */
export const ADOPT_COST_FACTOR = 2;

/**
 * While the cluster is still connecting (not every agent has answered or failed once), the
 * console adopts at most one snapshot per this interval, and the first complete one at once:
 * the frames in between are partial anyway, and a console redrawing a 4,000-VM cluster for
 * every agent that answers slows down the decoding of the agents still to come.
 */
export const STARTUP_INTERVAL_MS = 500;

export interface PaceOptions {
  readonly intervalMs?: number;
  readonly costFactor?: number;
  readonly startupIntervalMs?: number;
  /** True once a snapshot is complete (every agent answered or failed once); default always. */
  readonly settled?: (snapshot: ClusterSnapshot) => boolean;
  /** Monotonic clock in ms; tests pass a fake one. */
  readonly now?: () => number;
  readonly setTimer?: (callback: () => void, ms: number) => unknown;
  readonly clearTimer?: (timer: unknown) => void;
  /** Runs `callback` once the work an adoption triggered is done (default setImmediate). */
  readonly afterWork?: (callback: () => void) => void;
}

/**
 * Paces a snapshot source: a snapshot published after a quiet interval is adopted at once
 * (a lone change shows without delay); snapshots published sooner wait for the end of the
 * interval, and only the newest of them is adopted (trailing edge, nothing is lost: every
 * snapshot is the whole cluster). The interval is `intervalMs`, or `costFactor` times what
 * the previous adoption cost when that is longer, or `startupIntervalMs` until the first
 * settled snapshot, which is adopted at once. The source itself, and everything else that
 * subscribes to it, still sees every snapshot at once.
 */
export function paceSnapshots(source: SnapshotSource, options: PaceOptions = {}): PacedSnapshots {
  const intervalMs = options.intervalMs ?? ADOPT_INTERVAL_MS;
  const now = options.now ?? (() => performance.now());
  const setTimer = options.setTimer ?? ((callback: () => void, ms: number) => setTimeout(callback, ms));
  const clearTimer = options.clearTimer ?? ((timer: unknown) => clearTimeout(timer as NodeJS.Timeout));
  const costFactor = options.costFactor ?? ADOPT_COST_FACTOR;
  const startupIntervalMs = options.startupIntervalMs ?? STARTUP_INTERVAL_MS;
  const settled = options.settled ?? (() => true);
  const afterWork = options.afterWork ?? ((callback: () => void) => void setImmediate(callback));
  const listeners = new Set<() => void>();
  let adopted = source.snapshot();
  let adoptedAt = Number.NEGATIVE_INFINITY;
  let gapMs = intervalMs;
  let timer: unknown;
  let unsubscribeSource: (() => void) | undefined;

  const adopt = (): void => {
    timer = undefined;
    const started = now();
    adoptedAt = started;
    const newest = source.snapshot();
    if (newest === adopted) return;
    adopted = newest;
    for (const listener of listeners) listener();
    // React renders the adoption in a microtask; what it cost shows at the next turn.
    afterWork(() => {
      gapMs = Math.max(intervalMs, costFactor * (now() - started));
    });
  };
  const onPublish = (): void => {
    const newest = source.snapshot();
    const complete = settled(newest);
    if (complete && !settled(adopted)) {
      // The first complete picture of the cluster: draw it now.
      if (timer !== undefined) clearTimer(timer);
      adopt();
      return;
    }
    if (timer !== undefined) return;
    const wait = adoptedAt + (complete ? gapMs : Math.max(gapMs, startupIntervalMs)) - now();
    if (wait <= 0) adopt();
    else timer = setTimer(adopt, wait);
  };

  return {
    snapshot: () => adopted,
    subscribe: (listener) => {
      listeners.add(listener);
      if (!unsubscribeSource) {
        unsubscribeSource = source.subscribe(onPublish);
        // Published between the first read and now: adopt it like any other.
        if (source.snapshot() !== adopted) onPublish();
      }
      return () => {
        listeners.delete(listener);
        if (listeners.size > 0 || !unsubscribeSource) return;
        unsubscribeSource();
        unsubscribeSource = undefined;
        if (timer !== undefined) clearTimer(timer);
        timer = undefined;
      };
    },
  };
}
