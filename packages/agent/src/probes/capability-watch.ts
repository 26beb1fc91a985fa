import { AsyncLocalStorage } from 'node:async_hooks';
import type { Logger } from '@hvctl/common';
import type { Capability__Output } from '@hvctl/proto';
import type { Area } from '../drivers/types.js';
import { capabilityTransitions, describeTransition, type CapabilityTransition } from './transitions.js';

/** How often the drivers are probed again by default. */
export const DEFAULT_PROBE_INTERVAL_MS = 30_000;
/** A failed driver call asks for a probe at most this often. */
const DEFAULT_SUSPECT_GAP_MS = 1_000;

/** What the watch probes: NodeInfoSource. */
export interface ProbeTarget {
  /** Runs every driver's probe and keeps the result; returns it. */
  probe(): Promise<Capability__Output[]>;
  /** The capabilities of the last probe. */
  currentCapabilities(): readonly Capability__Output[];
}

export interface CapabilityWatchOptions {
  readonly target: ProbeTarget;
  readonly intervalMs?: number;
  /** The least time between two probes a failed driver call asks for. */
  readonly suspectGapMs?: number;
  readonly logger?: Logger;
  /** Called after a probe round that changed something (publish node info, update health). */
  readonly onChange: (transitions: readonly CapabilityTransition[]) => void;
}

/**
 * Keeps the driver probes current while the agent runs: probes again every interval and
 * soon after a driver call failed because its tool is missing or unreachable, so a tool
 * installed (or a BIRD started) later shows up, and one that breaks stops being
 * reported as available. Probe rounds never overlap; a round that changed something
 * calls onChange once and logs each transition.
 */
export class CapabilityWatch {
  private readonly intervalMs: number;
  private readonly suspectGapMs: number;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<readonly CapabilityTransition[]> | undefined;
  private again = false;
  private lastRoundMs = 0;
  private stopped = true;
  /**
   * Runs a function in the async context the watch was built in (agent start): a probe
   * asked for by a failed call must not inherit that call's deadline and cancellation.
   */
  private readonly detached = AsyncLocalStorage.snapshot();

  constructor(private readonly options: CapabilityWatchOptions) {
    this.intervalMs = options.intervalMs ?? DEFAULT_PROBE_INTERVAL_MS;
    this.suspectGapMs = options.suspectGapMs ?? DEFAULT_SUSPECT_GAP_MS;
  }

  /** Starts the periodic probes (the first one an interval from now). */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(this.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * A call to `area`'s driver failed in a way that means its tool is missing or
   * unreachable. Probes soon when the area is still reported available; otherwise the
   * failure is what the capability already says.
   */
  suspect(area: Area): void {
    if (this.stopped) return;
    const current = this.options.target.currentCapabilities().find((capability) => capability.area === area);
    if (current && !current.available) return;
    const wait = Math.max(0, this.lastRoundMs + this.suspectGapMs - Date.now());
    this.options.logger?.debug({ area, inMs: wait }, 'driver call failed as unavailable; probing again');
    this.detached(() => this.schedule(wait));
  }

  /**
   * `area`'s driver reached its tool again (libvirtd's event stream reconnected): probes at
   * once when the area is reported unavailable, instead of at the next interval.
   */
  recovered(area: Area): void {
    if (this.stopped) return;
    const current = this.options.target.currentCapabilities().find((capability) => capability.area === area);
    if (!current || current.available) return;
    this.options.logger?.debug({ area }, 'driver reached its tool again; probing now');
    this.detached(() => this.schedule(0));
  }

  /** Probes now (joining a round already running) and returns what changed. */
  probeNow(): Promise<readonly CapabilityTransition[]> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = this.round().finally(() => {
      this.running = undefined;
      this.lastRoundMs = Date.now();
      if (this.again) {
        this.again = false;
        void this.probeNow();
      }
    });
    return this.running;
  }

  private schedule(delayMs: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.probeNow().finally(() => {
        if (!this.timer) this.schedule(this.intervalMs);
      });
    }, delayMs);
    this.timer.unref();
  }

  private async round(): Promise<readonly CapabilityTransition[]> {
    const before = this.options.target.currentCapabilities();
    let after: Capability__Output[];
    try {
      after = await this.options.target.probe();
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'driver probe round failed; capabilities unchanged');
      return [];
    }
    const transitions = capabilityTransitions(before, after);
    if (transitions.length === 0) return transitions;
    for (const transition of transitions) {
      const fields = { area: transition.area, available: transition.available, detail: transition.detail };
      if (transition.available) this.options.logger?.info(fields, describeTransition(transition));
      else this.options.logger?.warn(fields, describeTransition(transition));
    }
    if (!this.stopped) this.options.onChange(transitions);
    return transitions;
  }
}
