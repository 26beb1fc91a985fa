import type { Workflow__Output } from '@hvctl/proto';

/** Sends one state of a workflow to one destination; calls `done` when it is delivered (or cannot be). */
export type SendState = (destination: string, workflow: Workflow__Output, done: () => void) => void;

/** Least time between two journal copies of one workflow to one node. */
export const COPY_INTERVAL_MS = 250;
/** Least time between two updates of one workflow on one WatchWorkflow stream. */
export const WATCH_INTERVAL_MS = 100;

/**
 * States of a running workflow sent to a destination (a touched agent's journal copy, a
 * watcher's stream), latest state wins: at most one state per workflow and destination is
 * in flight, two start at least `intervalMs` apart, and the states that change meanwhile (a
 * drain's lanes finish steps every few ms) are folded into one next state, the newest. A
 * state is the whole workflow, which the receiver parses: sending one per step change made
 * a drain of 20 VMs send ~800 journal copies and ~700 updates to each watcher, encoded and
 * parsed while the lanes' steps waited for the same two cores. The last state handed over
 * is always sent, so every destination ends with the final state; one in between may be
 * skipped (a step seen done without having been seen running), and a copy that adopts a
 * workflow may be up to one interval behind, which is safe because every step re-reads
 * live state before it acts.
 */
export class PacedSender {
  private readonly inFlight = new Set<string>();
  private readonly next = new Map<string, { readonly destination: string; workflow: Workflow__Output }>();
  private readonly lastStart = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly send: SendState,
    private readonly intervalMs: number,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Sends `workflow` to `destination` now, or when the interval allows and the state in flight was delivered (replacing any older waiting one). */
  offer(destination: string, workflow: Workflow__Output): void {
    const key = `${workflow.id}\u0000${destination}`;
    this.next.set(key, { destination, workflow });
    this.pump(key);
  }

  /** Drops every waiting state and timer (the destination went away). */
  stop(): void {
    for (const timer of this.timers.values()) clearTimeout(timer);
    this.timers.clear();
    this.next.clear();
  }

  private pump(key: string): void {
    const waiting = this.next.get(key);
    if (!waiting || this.inFlight.has(key) || this.timers.has(key)) return;
    const wait = (this.lastStart.get(key) ?? -Infinity) + this.intervalMs - this.now();
    if (wait > 0) {
      this.timers.set(
        key,
        setTimeout(() => {
          this.timers.delete(key);
          this.pump(key);
        }, wait),
      );
      return;
    }
    this.next.delete(key);
    this.inFlight.add(key);
    this.lastStart.set(key, this.now());
    this.send(waiting.destination, waiting.workflow, () => {
      this.inFlight.delete(key);
      if (this.next.has(key)) this.pump(key);
      else if (waiting.workflow.state !== 'running') this.lastStart.delete(key);
    });
  }
}
