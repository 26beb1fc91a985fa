import type { ClientReadableStream } from '@grpc/grpc-js';
import type { WatchResponse__Output } from '@hvctl/proto';
import type { AgentClient } from './client.js';
import type { ClusterFile } from './cluster-file.js';
import type { Logger } from './logger.js';
import { applyChange, viewFromSnapshot, type NodeStateView } from './node-state.js';

/** One agent as the model sees it: connection health plus its last known state. */
export interface NodeConnection {
  readonly name: string;
  readonly site: string;
  readonly address: string;
  /** True while the watch stream is live and not silent for longer than staleAfterMs. */
  readonly reachable: boolean;
  /** Last known state; kept (and shown greyed) while the node is unreachable. */
  readonly state?: NodeStateView;
  /** Agent epoch and revision of the last applied message. */
  readonly epoch: string;
  readonly revision: number;
  /** Wall-clock ms of the last message received (0 if never). */
  readonly lastMessageMs: number;
  /** Since when the node is unreachable (0 while reachable or never tried). */
  readonly unreachableSinceMs: number;
  /** Why the node is unreachable, in one line. */
  readonly error: string;
  /** True once the first connection attempt has either delivered a snapshot or failed. */
  readonly settled: boolean;
}

/** One connection event (reachable / unreachable), for the event log. */
export interface ConnectionEvent {
  readonly timeMs: number;
  readonly node: string;
  readonly level: 'info' | 'warn' | 'error';
  readonly message: string;
}

/** An immutable picture of the whole cluster, handed to subscribers. */
export interface ClusterSnapshot {
  readonly cluster: ClusterFile;
  /** In cluster-file order. */
  readonly nodes: readonly NodeConnection[];
  readonly connectionEvents: readonly ConnectionEvent[];
  /** Increases with every published snapshot. */
  readonly version: number;
}

export interface ClusterModelOptions {
  readonly cluster: ClusterFile;
  /** Opens a client for an agent address. */
  readonly connect: (address: string) => AgentClient;
  /** A node silent for this long (no delta, no heartbeat) is unreachable. Default 3000. */
  readonly staleAfterMs?: number;
  /** Reconnect backoff bounds. Defaults 200 ms doubling up to 2000 ms. */
  readonly backoffInitialMs?: number;
  readonly backoffMaxMs?: number;
  readonly now?: () => number;
  readonly logger?: Logger;
}

const CONNECTION_EVENT_LIMIT = 200;

interface Watcher {
  connection: NodeConnection;
  client: AgentClient;
  stream?: ClientReadableStream<WatchResponse__Output>;
  retryTimer?: NodeJS.Timeout;
  backoffMs: number;
}

/**
 * Owns one watch stream per agent, reconnects with backoff, and publishes immutable
 * snapshots of the whole cluster. Live data stays outside React: UI components and
 * CLI commands only subscribe.
 */
export class ClusterModel {
  private readonly watchers = new Map<string, Watcher>();
  private readonly listeners = new Set<(snapshot: ClusterSnapshot) => void>();
  private readonly staleAfterMs: number;
  private readonly backoffInitialMs: number;
  private readonly backoffMaxMs: number;
  private readonly now: () => number;
  private connectionEvents: readonly ConnectionEvent[] = [];
  private current: ClusterSnapshot;
  private emitScheduled = false;
  private staleTimer?: NodeJS.Timeout;
  private readonly staleCheckMs: number;
  private lastStaleCheckMs = 0;
  private skippedStaleCheck = false;
  private stopped = false;

  constructor(private readonly options: ClusterModelOptions) {
    this.staleAfterMs = options.staleAfterMs ?? 3000;
    this.backoffInitialMs = options.backoffInitialMs ?? 200;
    this.backoffMaxMs = options.backoffMaxMs ?? 2000;
    this.now = options.now ?? Date.now;
    this.staleCheckMs = Math.max(100, Math.floor(this.staleAfterMs / 6));
    for (const node of options.cluster.nodes) {
      this.watchers.set(node.name, {
        connection: {
          name: node.name,
          site: node.site,
          address: node.address,
          reachable: false,
          epoch: '',
          revision: 0,
          lastMessageMs: 0,
          unreachableSinceMs: 0,
          error: 'connecting',
          settled: false,
        },
        client: options.connect(node.address),
        backoffMs: this.backoffInitialMs,
      });
    }
    this.current = this.build(0);
  }

  /** Opens every watch stream. */
  start(): void {
    for (const watcher of this.watchers.values()) this.open(watcher);
    this.staleTimer = setInterval(() => this.checkStale(), this.staleCheckMs);
    this.staleTimer.unref();
  }

  /** Cancels every stream and closes every client. */
  stop(): void {
    this.stopped = true;
    if (this.staleTimer) clearInterval(this.staleTimer);
    for (const watcher of this.watchers.values()) {
      if (watcher.retryTimer) clearTimeout(watcher.retryTimer);
      watcher.stream?.cancel();
      watcher.client.close();
    }
    this.listeners.clear();
  }

  /** The latest published snapshot. */
  snapshot(): ClusterSnapshot {
    return this.current;
  }

  /** Calls `listener` on every published snapshot; returns the unsubscribe function. */
  subscribe(listener: (snapshot: ClusterSnapshot) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The client of one agent (for actions), or undefined for a non-member. */
  client(node: string): AgentClient | undefined {
    return this.watchers.get(node)?.client;
  }

  /**
   * Resolves once every node has delivered its first snapshot or failed once, or after
   * `timeoutMs`, whichever comes first.
   */
  whenSettled(timeoutMs: number): Promise<ClusterSnapshot> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
        resolve(this.current);
      };
      const check = (snapshot: ClusterSnapshot): void => {
        if (snapshot.nodes.every((node) => node.settled)) done();
      };
      const timer = setTimeout(done, timeoutMs);
      const unsubscribe = this.subscribe(check);
      check(this.current);
    });
  }

  private open(watcher: Watcher): void {
    if (this.stopped) return;
    const { epoch, revision } = watcher.connection;
    const stream = watcher.client.events.watch({ resumeEpoch: epoch, resumeRevision: revision });
    watcher.stream = stream;
    stream.on('data', (message: WatchResponse__Output) => {
      if (watcher.stream === stream) this.onMessage(watcher, message);
    });
    stream.on('error', (error: Error & { details?: string }) => {
      if (watcher.stream === stream) this.onLost(watcher, error.details || error.message);
    });
    stream.on('end', () => {
      if (watcher.stream === stream) this.onLost(watcher, 'watch stream ended');
    });
  }

  private onMessage(watcher: Watcher, message: WatchResponse__Output): void {
    const previous = watcher.connection;
    let state = previous.state;
    if (message.event === 'snapshot' && message.snapshot) {
      state = viewFromSnapshot(message.snapshot);
    } else if (message.event === 'change' && message.change && state && message.epoch === previous.epoch) {
      state = applyChange(state, message.change);
    }
    const becameReachable = !previous.reachable;
    watcher.backoffMs = this.backoffInitialMs;
    watcher.connection = {
      ...previous,
      reachable: true,
      ...(state ? { state } : {}),
      epoch: message.epoch,
      revision: Number(message.revision),
      lastMessageMs: this.now(),
      unreachableSinceMs: 0,
      error: '',
      settled: previous.settled || state !== undefined,
    };
    if (becameReachable) {
      this.pushEvent(watcher.connection.name, 'info', previous.lastMessageMs === 0 ? 'connected' : 'reachable again');
    }
    if (message.event !== 'heartbeat' || becameReachable) this.scheduleEmit();
  }

  private onLost(watcher: Watcher, reason: string): void {
    const previous = watcher.connection;
    watcher.stream = undefined;
    if (previous.reachable || !previous.settled) {
      watcher.connection = {
        ...previous,
        reachable: false,
        unreachableSinceMs: previous.reachable || previous.unreachableSinceMs === 0 ? this.now() : previous.unreachableSinceMs,
        error: reason,
        settled: true,
      };
      if (previous.reachable || !previous.settled) this.pushEvent(previous.name, 'error', `unreachable: ${reason}`);
      this.scheduleEmit();
    }
    if (this.stopped) return;
    const delay = watcher.backoffMs;
    watcher.backoffMs = Math.min(this.backoffMaxMs, watcher.backoffMs * 2);
    watcher.retryTimer = setTimeout(() => this.open(watcher), delay);
    watcher.retryTimer.unref();
  }

  private checkStale(): void {
    const now = this.now();
    // A check that runs late means this process's event loop was stalled (a long render, a
    // busy machine): messages that arrived meanwhile are still queued behind this timer, so
    // "no message processed for N s" says nothing about the agents. Judge at the next check,
    // once they were processed; never skip two checks in a row, so a loop that is always
    // late still finds silent agents.
    const late = this.lastStaleCheckMs > 0 && now - this.lastStaleCheckMs > 2 * this.staleCheckMs;
    this.lastStaleCheckMs = now;
    if (late && !this.skippedStaleCheck) {
      this.skippedStaleCheck = true;
      return;
    }
    this.skippedStaleCheck = false;
    for (const watcher of this.watchers.values()) {
      const { reachable, lastMessageMs } = watcher.connection;
      if (reachable && now - lastMessageMs > this.staleAfterMs) {
        const stream = watcher.stream;
        this.onLost(watcher, `no message for ${Math.round((now - lastMessageMs) / 1000)} s`);
        stream?.cancel();
      }
    }
  }

  private pushEvent(node: string, level: ConnectionEvent['level'], message: string): void {
    this.connectionEvents = [...this.connectionEvents.slice(-(CONNECTION_EVENT_LIMIT - 1)), { timeMs: this.now(), node, level, message }];
  }

  private scheduleEmit(): void {
    if (this.emitScheduled || this.stopped) return;
    this.emitScheduled = true;
    setImmediate(() => {
      this.emitScheduled = false;
      if (this.stopped) return;
      this.current = this.build(this.current.version + 1);
      for (const listener of this.listeners) listener(this.current);
    });
  }

  private build(version: number): ClusterSnapshot {
    return {
      cluster: this.options.cluster,
      nodes: this.options.cluster.nodes.map((node) => (this.watchers.get(node.name) as Watcher).connection),
      connectionEvents: this.connectionEvents,
      version,
    };
  }
}
