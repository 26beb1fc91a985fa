import type { Announcement__Output, Resource__Output } from '@hvctl/proto';
import type { Logger } from '@hvctl/common';
import type { RoutingDriver } from './drivers/types.js';

/** How long quorum must stay lost on every resource before the block is withdrawn: a link flap shorter than this changes nothing. */
export const QUORUM_GUARD_GRACE_MS = 2000;

export interface QuorumGuardOptions {
  /** The node's DRBD resources and announcements now (the agent's hub, fed by its drivers, sim or real). */
  readonly read: () => { readonly resources: Iterable<Resource__Output>; readonly announcements: Iterable<Announcement__Output> };
  /** The raw routing driver (not the RPC path: the guard's own withdrawals are not an operator's). */
  readonly routing: Pick<RoutingDriver, 'announce' | 'withdraw'>;
  /** Event-log line for operators (the hub's log). */
  readonly log: (level: 'info' | 'warn' | 'error', message: string) => void;
  readonly logger: Logger;
  readonly graceMs?: number;
  readonly now?: () => number;
}

/** True when the node holds replicated resources and has quorum on none of them. */
export function lostQuorumEverywhere(resources: Iterable<Resource__Output>): boolean {
  const replicated = [...resources].filter((resource) => !resource.client && resource.peers.length > 0);
  return replicated.length > 0 && replicated.every((resource) => !resource.quorum);
}

/**
 * The node's own guard of MISSION invariant 3 ("a site's public block is never announced
 * from a side that lost quorum"), like drbd-reactor's on-quorum-loss handling: when the
 * node has lost quorum on every replicated resource for `graceMs`, it withdraws its BGP
 * announcements itself, without waiting for a failover that a cut-off node may never see;
 * when quorum returns on any resource it announces again what it withdrew itself. It reads
 * only the agent's own state, so it works the same with the real drivers.
 *
 * An explicit Announce or Withdraw of one of those prefixes (a workflow's fence, an
 * operator) takes the decision over: the guard forgets it and will not announce it again.
 * The memory is the process's: after an agent restart the guard re-announces nothing
 * (a rebooted node announces the block only when a workflow or operator decides so).
 */
export class QuorumGuard {
  private readonly graceMs: number;
  private readonly now: () => number;
  /** Prefixes this guard withdrew and may announce again. */
  private readonly withdrawn = new Set<string>();
  private lostSinceMs: number | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly options: QuorumGuardOptions) {
    this.graceMs = options.graceMs ?? QUORUM_GUARD_GRACE_MS;
    this.now = options.now ?? Date.now;
  }

  /** Prefixes withdrawn by the guard and not yet announced again. */
  holding(): string[] {
    return [...this.withdrawn].sort();
  }

  /** Someone else announced or withdrew `prefix` on purpose: it is theirs to manage now. */
  forget(prefix: string): void {
    if (this.withdrawn.delete(prefix)) this.options.logger.info({ prefix }, 'quorum guard: prefix handled explicitly; not re-announcing it');
  }

  /** Re-evaluates after a state change; acts at most once at a time. */
  changed(): void {
    if (this.stopped) return;
    const lost = lostQuorumEverywhere(this.options.read().resources);
    if (!lost) {
      this.lostSinceMs = undefined;
      this.clearTimer();
      if (this.withdrawn.size) this.enqueue(() => this.restore());
      return;
    }
    if (this.lostSinceMs === undefined) this.lostSinceMs = this.now();
    const due = this.lostSinceMs + this.graceMs - this.now();
    if (due <= 0) {
      this.enqueue(() => this.withdraw());
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.changed();
      }, due);
      this.timer.unref();
    }
  }

  /** Waits for the action under way, if any (tests, shutdown). */
  async settled(): Promise<void> {
    await this.running;
  }

  stop(): void {
    this.stopped = true;
    this.clearTimer();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private enqueue(action: () => Promise<void>): void {
    this.running = this.running.then(action).catch((error: unknown) => {
      this.options.logger.error({ err: error }, 'quorum guard action failed');
      this.options.log('error', `quorum guard: ${(error as Error).message}`);
    });
  }

  private async withdraw(): Promise<void> {
    const { resources, announcements } = this.options.read();
    // Re-read: quorum may have returned while an earlier action ran.
    if (!lostQuorumEverywhere(resources)) return;
    const blocks = [...announcements].filter((announcement) => announcement.kind === 'ANNOUNCEMENT_KIND_BGP').map((announcement) => announcement.prefix);
    for (const prefix of blocks) {
      if (await this.options.routing.withdraw(prefix)) {
        this.withdrawn.add(prefix);
        this.options.log(
          'error',
          `lost quorum on every replicated resource for ${(this.graceMs / 1000).toFixed(1)} s: withdrew the public block ${prefix} (a side without quorum must not attract its traffic); it is announced again here when quorum returns`,
        );
      }
    }
  }

  private async restore(): Promise<void> {
    if (lostQuorumEverywhere(this.options.read().resources)) return;
    for (const prefix of [...this.withdrawn]) {
      this.withdrawn.delete(prefix);
      await this.options.routing.announce(prefix, 'ANNOUNCEMENT_KIND_BGP', '');
      this.options.log('info', `quorum regained: announcing the public block ${prefix} again (the quorum guard had withdrawn it)`);
    }
  }
}

/** The routing driver as RPCs see it: an explicit Announce or Withdraw hands the prefix back from the guard. */
export function routingTrackedBy<T extends Pick<RoutingDriver, 'announce' | 'withdraw'>>(routing: T, guard: QuorumGuard): T {
  return new Proxy(routing, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (property !== 'announce' && property !== 'withdraw') return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      return (prefix: string, ...rest: unknown[]): unknown => {
        guard.forget(prefix);
        return (value as (...a: unknown[]) => unknown).apply(target, [prefix, ...rest]);
      };
    },
  });
}
