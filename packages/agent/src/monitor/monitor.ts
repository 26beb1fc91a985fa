import { join } from 'node:path';
import { buildTopology, ClusterModel, HvctlError, type AgentClient, type ClusterSnapshot, type ClusterFile, type CommandRunner, type Logger } from '@hvctl/common';
import { AlertEngine } from '../alerts/engine.js';
import { HookDispatcher } from '../alerts/hooks.js';
import { evaluateRules } from '../alerts/rules.js';
import type { Alert } from '../alerts/types.js';
import { monthOf, type Month } from '../sla/compute.js';
import { buildReport, type SlaReport } from '../sla/report.js';
import type { MonitorConfig } from './config.js';
import { observe } from './observe.js';
import { AvailabilityRecorder, type Transition } from './recorder.js';
import { VmRegistry, type PublishFn } from './registry.js';

/** An event-log line (the hub's `log`), so the console's event log shows alerts. */
export type AnnounceFn = (level: 'info' | 'warn' | 'error', message: string) => void;

export interface MonitorDeps {
  readonly self: string;
  readonly cluster: ClusterFile;
  /** The agent's one connector to other agents (the one ClusterAccess uses). */
  readonly connect: (address: string) => AgentClient;
  readonly config: MonitorConfig;
  /** Directory for the availability journal and the alert state. */
  readonly dir: string;
  readonly runner: CommandRunner;
  readonly announce: AnnounceFn;
  /** Puts a change into this agent's own node state stream (the VM registry's entries). */
  readonly publish: PublishFn;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Model tuning (tests). */
  readonly staleAfterMs?: number;
  /** Longest wait for every agent to answer before observing (default 10000): agents starting together are not an outage. */
  readonly settleTimeoutMs?: number;
}

/**
 * The cluster watcher: a ClusterModel over every agent, feeding the availability recorder
 * and the alert engine on every change (throttled) and once a second, so time-based rules
 * fire without a change.
 */
export class Monitor {
  private readonly model: ClusterModel;
  private readonly recorder: AvailabilityRecorder;
  private readonly engine: AlertEngine;
  private readonly hooks: HookDispatcher;
  private readonly registry: VmRegistry;
  private readonly now: () => number;
  private timer?: NodeJS.Timeout;
  private pending?: NodeJS.Timeout;
  private lastEvaluationMs = 0;
  private running = false;
  private evaluating: Promise<void> = Promise.resolve();
  private unsubscribe?: () => void;

  constructor(private readonly deps: MonitorDeps) {
    this.now = deps.now ?? Date.now;
    this.model = new ClusterModel({
      cluster: deps.cluster,
      connect: deps.connect,
      now: this.now,
      logger: deps.logger,
      ...(deps.staleAfterMs ? { staleAfterMs: deps.staleAfterMs } : {}),
    });
    this.registry = new VmRegistry({ path: join(deps.dir, 'vms.json'), publish: deps.publish, logger: deps.logger });
    this.recorder = new AvailabilityRecorder({ dir: deps.dir, self: deps.self, now: this.now, logger: deps.logger });
    this.hooks = new HookDispatcher({
      hooks: deps.config.hooks,
      runner: deps.runner,
      attempts: deps.config.hookAttempts,
      logger: deps.logger,
      onFailure: (hook, alert, error) => deps.announce('warn', `alert hook ${hook} failed for ${alert.id} (${alert.status}): ${error.message}; the alert stays in the event log`),
    });
    this.engine = new AlertEngine({
      statePath: join(deps.dir, 'alerts.json'),
      cluster: deps.cluster.name,
      watcher: deps.self,
      resolveAfterMs: deps.config.resolveAfterSeconds * 1000,
      fireAfterMs: { 'resource-degraded': deps.config.resourceDegradedAfterSeconds * 1000 },
      now: this.now,
      logger: deps.logger,
      notify: (alert) => this.notify(alert),
    });
  }

  /**
   * Opens the journal and alert state, then watches; observing starts once every agent
   * answered, or after settleTimeoutMs (then the silent ones are reported unreachable).
   */
  async start(): Promise<void> {
    await this.recorder.open();
    await this.engine.load();
    await this.registry.load();
    this.model.start();
    this.running = true;
    void this.allReachable(this.deps.settleTimeoutMs ?? 10_000).then(() => {
      if (!this.running) return;
      this.unsubscribe = this.model.subscribe(() => this.schedule());
      this.timer = setInterval(() => this.schedule(), 1000);
      this.timer.unref();
      this.schedule();
    });
  }

  private allReachable(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        unsubscribe();
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      const unsubscribe = this.model.subscribe((snapshot) => {
        if (snapshot.nodes.every((node) => node.reachable)) done();
      });
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    if (this.pending) clearTimeout(this.pending);
    this.unsubscribe?.();
    this.model.stop();
    this.hooks.stop();
    await this.evaluating;
    await this.recorder.close();
    await this.engine.flushed();
  }

  /** The SLA report of a month (default: the current one), from the journal. */
  async report(month: Month = monthOf(this.now()), vm?: string): Promise<SlaReport> {
    const view = await this.recorder.month(month);
    return buildReport(view.transitions, view.gaps, { month, nowMs: this.now(), rule: this.deps.config.sla, windows: this.deps.config.maintenanceWindows, ...(vm ? { vm } : {}) });
  }

  /** Journal records in [fromMs, toMs). */
  transitions(fromMs: number, toMs: number): Promise<Transition[]> {
    return this.recorder.range(fromMs, toMs);
  }

  /**
   * Removes a VM from the registry (it was deleted); false when it was not known. Refused
   * while a reachable node still defines it: it would be learned again at once.
   */
  forgetVm(name: string): Promise<boolean> {
    const definedOn = this.model
      .snapshot()
      .nodes.filter((node) => node.reachable && node.state?.domains.has(name))
      .map((node) => node.name);
    if (definedOn.length) {
      throw new HvctlError('FAILED_PRECONDITION', `${name} is still defined on ${definedOn.join(', ')}; the registry keeps every VM a node defines, so nothing was forgotten`, {
        nextSteps: [`undefine it there first (virsh undefine ${name}), or keep it`],
      });
    }
    return this.registry.forget(name);
  }

  firing(): Alert[] {
    return this.engine.firing();
  }

  /** The watcher's view of the cluster now (the autopilot decides on it). */
  snapshot(): ClusterSnapshot {
    return this.model.snapshot();
  }

  /** Hands a notification raised outside the rules (the autopilot's decisions) to the alert hooks. */
  deliver(alert: Alert): void {
    this.hooks.deliver(alert);
  }

  /** Resolves once pending evaluations, journal writes and hook deliveries are done (tests). */
  async idle(): Promise<void> {
    await this.evaluating;
    await this.engine.flushed();
    await this.hooks.idle();
  }

  private schedule(): void {
    if (!this.running || this.pending) return;
    const wait = Math.max(0, this.lastEvaluationMs + this.deps.config.evaluateEveryMs - this.now());
    this.pending = setTimeout(() => {
      this.pending = undefined;
      this.lastEvaluationMs = this.now();
      this.evaluating = this.evaluating.then(() => this.evaluate()).catch((error: unknown) => this.deps.logger.error({ err: error }, 'monitor evaluation failed'));
    }, wait);
    this.pending.unref();
  }

  private async evaluate(): Promise<void> {
    if (!this.running) return;
    const snapshot = this.model.snapshot();
    const nowMs = this.now();
    await this.registry.observe(snapshot, nowMs);
    const topology = buildTopology(snapshot, nowMs, { rpoTargetSeconds: this.deps.config.rpoTargetSeconds });
    await this.recorder.observe(observe(snapshot, topology));
    const sla = (await this.report(monthOf(nowMs))).vms;
    const { config } = this.deps;
    this.engine.evaluate(
      evaluateRules(
        { topology, nowMs, sla },
        { nodeUnreachableAfterSeconds: config.nodeUnreachableAfterSeconds, backupMaxAgeSeconds: config.backupMaxAgeSeconds, slaAtRiskMinutes: config.slaAtRiskMinutes },
      ),
    );
  }

  private notify(alert: Alert): void {
    const level = alert.status === 'resolved' ? 'info' : alert.severity === 'critical' ? 'error' : 'warn';
    this.deps.announce(level, `${alert.status === 'firing' ? `ALERT ${alert.severity}` : 'RESOLVED'} ${alert.id}: ${alert.summary}`);
    this.hooks.deliver(alert);
  }
}
