import { randomBytes } from 'node:crypto';
import type { NodeInfo__Output, NodeState__Output, StateChange__Output, WatchResponse__Output } from '@hvctl/proto';
import { applyChange, snapshotFromView, viewFromSnapshot, type NodeStateView } from '@hvctl/common';
import type { LogLine } from './drivers/types.js';

export interface EventHubOptions {
  /** How many deltas are kept for resuming watchers. Default 10,000. */
  readonly bufferSize?: number;
  /**
   * How long a delta is kept for resuming watchers. Default 10 minutes: an idle agent adds
   * a facts delta every 5 s, and 10,000 of them (14 hours) held ~7 MB of heap; a watcher
   * away for longer is sent a snapshot instead. A burst (a drain, a watcher dropped for
   * falling behind) stays resumable: it is recent.
   */
  readonly bufferMaxAgeMs?: number;
  readonly now?: () => number;
  /** The agent epoch; random when not given. */
  readonly epoch?: string;
}

/** A new random agent epoch. */
export const newEpoch = (): string => randomBytes(6).toString('hex');

/**
 * The agent's revisioned state: every driver change becomes one delta with the next
 * revision. Watchers get a snapshot, then deltas; a watcher that reconnects with the
 * same epoch gets only what it missed while those deltas are still buffered.
 */
export class EventHub {
  /** Random per process: revisions restart with it. */
  readonly epoch: string;
  private view: NodeStateView;
  private revision = 0;
  private readonly buffer: WatchResponse__Output[] = [];
  private readonly bufferSize: number;
  private readonly bufferMaxAgeMs: number;
  private readonly now: () => number;
  private readonly subscribers = new Set<(message: WatchResponse__Output) => void>();
  /** In-process observers (the quorum guard): told of every change, not counted as watchers. */
  private readonly observers = new Set<(change: StateChange__Output) => void>();

  constructor(initial: NodeState__Output, options: EventHubOptions = {}) {
    this.epoch = options.epoch ?? newEpoch();
    this.view = viewFromSnapshot(initial);
    this.bufferSize = options.bufferSize ?? 10_000;
    this.bufferMaxAgeMs = options.bufferMaxAgeMs ?? 10 * 60_000;
    this.now = options.now ?? Date.now;
  }

  /** The current state. */
  state(): NodeStateView {
    return this.view;
  }

  currentRevision(): number {
    return this.revision;
  }

  /** Applies one change, assigns it the next revision and tells every watcher. */
  apply(change: StateChange__Output): void {
    this.view = applyChange(this.view, change);
    this.revision += 1;
    const message: WatchResponse__Output = {
      epoch: this.epoch,
      revision: this.revision,
      sentUnixMs: this.now(),
      event: 'change',
      change,
    };
    this.buffer.push(message);
    // The deltas before the first one that is young enough have expired.
    const expired = this.buffer.findIndex((buffered) => message.sentUnixMs - buffered.sentUnixMs <= this.bufferMaxAgeMs);
    const drop = Math.max(expired, this.buffer.length - this.bufferSize);
    if (drop > 0) this.buffer.splice(0, drop);
    for (const subscriber of this.subscribers) subscriber(message);
    for (const observer of this.observers) observer(change);
  }

  /** Calls `observer` after every change; for the agent's own components, not for Watch streams. */
  observe(observer: (change: StateChange__Output) => void): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Records an event-log line (a delta like any other). */
  log(line: LogLine): void {
    this.apply({ change: 'log', log: { ...line, timeUnixMs: line.timeUnixMs ?? this.now() } });
  }

  /** Replaces the node info (flags, facts, capabilities) when it differs. */
  setNode(node: NodeInfo__Output): void {
    this.apply({ change: 'node', node });
  }

  snapshotMessage(): WatchResponse__Output {
    return {
      epoch: this.epoch,
      revision: this.revision,
      sentUnixMs: this.now(),
      event: 'snapshot',
      snapshot: snapshotFromView(this.view),
    };
  }

  heartbeatMessage(): WatchResponse__Output {
    return { epoch: this.epoch, revision: this.revision, sentUnixMs: this.now(), event: 'heartbeat', heartbeat: {} };
  }

  /**
   * The deltas after `revision` when the watcher's epoch is ours and they are all still
   * buffered; undefined when the watcher needs a fresh snapshot.
   */
  missedSince(epoch: string, revision: number): WatchResponse__Output[] | undefined {
    if (epoch !== this.epoch || revision > this.revision) return undefined;
    if (revision === this.revision) return [];
    const oldest = this.buffer[0]?.revision ?? this.revision + 1;
    if (revision < oldest - 1) return undefined;
    return this.buffer.slice(revision - oldest + 1);
  }

  subscribe(subscriber: (message: WatchResponse__Output) => void): () => void {
    this.subscribers.add(subscriber);
    return () => this.subscribers.delete(subscriber);
  }

  watcherCount(): number {
    return this.subscribers.size;
  }
}
