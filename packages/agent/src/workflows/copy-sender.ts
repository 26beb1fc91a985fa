import type { Workflow__Output } from '@hvctl/proto';

/** Sends one journal copy to one node; calls `done` when the node answered (or did not). */
export type SendCopy = (node: string, workflow: Workflow__Output, done: () => void) => void;

/**
 * Journal copies of a running workflow to the agents it touches, latest state wins: at
 * most one copy per workflow and node is in flight, and the states that change while it
 * is (a drain's lanes finish steps every few ms) are folded into one next copy, the
 * newest. A copy is the whole workflow, which the receiver audits and stores: sending one
 * per step change made a drain of 20 VMs send ~800 of them. The last state handed over is
 * always sent, so every node ends with the final state.
 */
export class CopySender {
  private readonly inFlight = new Set<string>();
  private readonly next = new Map<string, Workflow__Output>();

  constructor(private readonly send: SendCopy) {}

  /** Sends `workflow` to `node` now, or after the copy in flight (replacing any older waiting one). */
  copy(node: string, workflow: Workflow__Output): void {
    const key = `${workflow.id}\u0000${node}`;
    if (this.inFlight.has(key)) {
      this.next.set(key, workflow);
      return;
    }
    this.start(key, node, workflow);
  }

  private start(key: string, node: string, workflow: Workflow__Output): void {
    this.inFlight.add(key);
    this.send(node, workflow, () => {
      this.inFlight.delete(key);
      const waiting = this.next.get(key);
      if (!waiting) return;
      this.next.delete(key);
      this.start(key, node, waiting);
    });
  }
}
