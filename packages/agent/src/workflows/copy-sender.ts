import type { Workflow__Output } from '@hvctl/proto';

/** Sends one journal copy to one node; calls `done` when the node answered (or did not). */
export type SendCopy = (node: string, workflow: Workflow__Output, done: () => void) => void;

/** Least time between two copies of one workflow to one node. */
export const COPY_INTERVAL_MS = 250;

/**
 * Journal copies of a running workflow to the agents it touches, latest state wins: at
 * most one copy per workflow and node is in flight, copies to one node start at least
 * `intervalMs` apart, and the states that change meanwhile (a drain's lanes finish steps
 * every few ms) are folded into one next copy, the newest. A copy is the whole workflow,
 * which the receiver parses and stores: sending one per step change made a drain of 20 VMs
 * send ~800 of them, and one per answer still kept both ends busy encoding and parsing a
 * few hundred KB many times a second. The last state handed over is always sent, so every
 * node ends with the final state; a copy that adopts a workflow may be up to one interval
 * behind, which is safe because every step re-reads live state before it acts.
 */
export class CopySender {
  private readonly inFlight = new Set<string>();
  private readonly next = new Map<string, { readonly node: string; workflow: Workflow__Output }>();
  private readonly lastStart = new Map<string, number>();
  private readonly timers = new Map<string, NodeJS.Timeout>();

  constructor(
    private readonly send: SendCopy,
    private readonly intervalMs = COPY_INTERVAL_MS,
    private readonly now: () => number = () => Date.now(),
  ) {}

  /** Sends `workflow` to `node` now, or when the interval allows and the copy in flight has been answered (replacing any older waiting one). */
  copy(node: string, workflow: Workflow__Output): void {
    const key = `${workflow.id}\u0000${node}`;
    this.next.set(key, { node, workflow });
    this.pump(key);
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
    this.send(waiting.node, waiting.workflow, () => {
      this.inFlight.delete(key);
      if (this.next.has(key)) this.pump(key);
      else if (waiting.workflow.state !== 'running') this.lastStart.delete(key);
    });
  }
}
