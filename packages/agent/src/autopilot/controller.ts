import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Lease__Output, ListLeasesResponse__Output, SubmitResponse__Output, WatchWorkflowResponse__Output, Workflow__Output, WorkflowSpec } from '@hvctl/proto';
import {
  AUTOPILOT_MODES,
  HvctlError,
  buildTopology,
  deadline,
  fromServiceError,
  invalidArgument,
  notFound,
  unary,
  type AutopilotMode,
  type AutopilotPolicy,
  type ClusterSnapshot,
  type Logger,
} from '@hvctl/common';
import type { Alert } from '../alerts/types.js';
import type { ClusterAccess } from '../workflows/cluster-access.js';
import { EMPTY_MEMORY, decide, type Action, type Controls, type Decision, type Memory } from './decide.js';
import { gatherEvidence } from './evidence.js';

/** One action as the controller keeps it: what decide() emitted, and what became of it. */
export interface ActionLog {
  readonly kind: Action['kind'];
  readonly subject: string;
  readonly site: string;
  readonly atMs: number;
  workflowId: string;
  coordinator: string;
  /** "submitted", "succeeded", "failed", "aborted", "interrupted" or "refused". */
  outcome: string;
  detail: string;
}

export interface Pause {
  /** Node or VM; "" for everything. */
  readonly subject: string;
  /** 0: until resumed. */
  readonly untilMs: number;
  readonly by: string;
  readonly sinceMs: number;
}

/** A decision as status and explain show it. */
export interface Recorded extends Decision {
  readonly decidedMs: number;
  /** Since when this code has held for the subject. */
  readonly sinceMs: number;
}

/** What survives a restart of the agent (autopilot.json). */
interface Persisted {
  readonly mode?: { readonly mode: AutopilotMode; readonly by: string };
  readonly pauses: readonly Pause[];
  readonly memory: Memory;
  readonly actions: readonly ActionLog[];
}

export interface AutopilotDeps {
  readonly self: string;
  readonly policy: AutopilotPolicy;
  /** The watcher's cluster model, now. */
  readonly snapshot: () => ClusterSnapshot;
  /** Reaches the coordinators (submit, watch, leases) with this agent's node identity. */
  readonly access: ClusterAccess;
  /** The workflow kinds the agents run (the registry): `start` is submitted only when it is one of them. */
  readonly kinds: readonly string[];
  readonly statePath: string;
  /** An event-log line (the hub's log: reaches the console's event log). */
  readonly announce: (level: 'info' | 'warn' | 'error', message: string) => void;
  /** Hands a notification to the alert hooks. */
  readonly alert: (alert: Alert) => void;
  readonly logger: Logger;
  readonly now?: () => number;
  /** Decision interval (default 1000 ms). */
  readonly tickMs?: number;
}

const DAY_MS = 24 * 3600_000;
const HISTORY = 20;
const FOLLOW_MS = 30 * 60_000;

/**
 * The autopilot's controller, run by the backup site's agent beside the cluster watcher:
 * every tick it gathers the evidence (evidence.ts), calls decide(), reports every change
 * of decision to the event log and the alert hooks, and submits what decide() emits to a
 * surviving coordinator with the owner `autopilot@<self>`, exactly as an operator's
 * `hvctl failover --node N` would (never with force).
 */
export class Autopilot {
  private readonly now: () => number;
  private memory: Memory = EMPTY_MEMORY;
  private mode?: { mode: AutopilotMode; by: string };
  private pauses: Pause[] = [];
  private actions: ActionLog[] = [];
  private readonly latest = new Map<string, Recorded>();
  private readonly history = new Map<string, Recorded[]>();
  private timer?: NodeJS.Timeout;
  private ticking: Promise<void> = Promise.resolve();
  private saving: Promise<void> = Promise.resolve();
  private running = false;
  private readonly following = new Set<Promise<void>>();

  constructor(private readonly deps: AutopilotDeps) {
    this.now = deps.now ?? Date.now;
  }

  async start(): Promise<void> {
    await this.load();
    this.running = true;
    this.timer = setInterval(() => this.schedule(), this.deps.tickMs ?? 1000);
    this.timer.unref();
    const mode = this.effectiveMode();
    this.deps.announce('info', `autopilot ${mode}${this.mode ? ` (set by ${this.mode.by})` : ''}: grace ${this.deps.policy.graceSeconds} s, at most ${this.deps.policy.maxFailoversPerSitePerHour} failovers per site per hour${this.pauses.length ? `; ${this.describePauses()}` : ''}`);
  }

  async stop(): Promise<void> {
    this.running = false;
    if (this.timer) clearInterval(this.timer);
    await this.ticking;
    await this.saving;
  }

  /** Resolves once the current tick, its submissions and the state file are done (tests). */
  async idle(): Promise<void> {
    await this.ticking;
    await Promise.all(this.following);
    await this.saving;
  }

  effectiveMode(): AutopilotMode {
    return this.mode?.mode ?? this.deps.policy.mode;
  }

  status(): {
    policy: AutopilotPolicy;
    mode: AutopilotMode;
    modeSetBy: string;
    pauses: readonly Pause[];
    decisions: readonly Recorded[];
    actions: readonly ActionLog[];
    canSubmit: readonly string[];
    watching: readonly string[];
  } {
    this.expirePauses();
    const snapshot = this.deps.snapshot();
    const main = new Set(snapshot.cluster.sites.filter((site) => site.kind === 'main').map((site) => site.name));
    return {
      policy: this.deps.policy,
      mode: this.effectiveMode(),
      modeSetBy: this.mode?.by ?? 'cluster file',
      pauses: this.pauses,
      decisions: [...this.latest.values()],
      actions: [...this.actions].reverse(),
      canSubmit: this.canSubmit(),
      watching: snapshot.cluster.nodes.filter((node) => main.has(node.site)).map((node) => node.name),
    };
  }

  explain(subject: string): { decision: Recorded; history: readonly Recorded[]; actions: readonly ActionLog[]; pause?: Pause } {
    const decision = this.latest.get(subject);
    if (!decision) {
      throw notFound(`the autopilot has no decision about "${subject}"`, {
        nextSteps: ['name a main-site node or a VM intended running (hvctl autopilot status lists what it watches)'],
      });
    }
    this.expirePauses();
    const pause = this.pauses.find((entry) => entry.subject === subject) ?? this.pauses.find((entry) => entry.subject === '');
    return { decision, history: this.history.get(subject) ?? [], actions: this.actions.filter((action) => action.subject === subject), ...(pause ? { pause } : {}) };
  }

  async pause(subject: string, forSeconds: number, by: string): Promise<readonly Pause[]> {
    const nowMs = this.now();
    this.pauses = [...this.pauses.filter((entry) => entry.subject !== subject), { subject, untilMs: forSeconds ? nowMs + forSeconds * 1000 : 0, by, sinceMs: nowMs }];
    this.deps.announce('warn', `autopilot paused${subject ? ` for ${subject}` : ''} ${forSeconds ? `for ${forSeconds} s` : 'until resumed'} by ${by}`);
    await this.save();
    return this.pauses;
  }

  async resume(subject: string, by: string): Promise<readonly Pause[]> {
    const before = this.pauses.length;
    this.pauses = subject ? this.pauses.filter((entry) => entry.subject !== subject) : [];
    if (subject && before === this.pauses.length) throw notFound(`the autopilot is not paused for "${subject}"; nothing was changed`, { nextSteps: ['hvctl autopilot status shows the pauses in force'] });
    this.deps.announce('info', `autopilot resumed${subject ? ` for ${subject}` : ''} by ${by}`);
    await this.save();
    return this.pauses;
  }

  async setMode(mode: string, by: string): Promise<{ mode: AutopilotMode; by: string }> {
    if (mode && !AUTOPILOT_MODES.includes(mode as AutopilotMode)) throw invalidArgument(`mode "${mode.slice(0, 20)}" is not one of ${AUTOPILOT_MODES.join(', ')}; nothing was changed`);
    this.mode = mode ? { mode: mode as AutopilotMode, by } : undefined;
    this.deps.announce('warn', `autopilot mode ${this.effectiveMode()} (${mode ? `set by ${by}` : `the cluster file's, restored by ${by}`})`);
    await this.save();
    return { mode: this.effectiveMode(), by: this.mode?.by ?? 'cluster file' };
  }

  private canSubmit(): string[] {
    return ['failover', ...(this.deps.kinds.includes('start') ? ['start'] : [])];
  }

  private describePauses(): string {
    return this.pauses.map((entry) => `paused${entry.subject ? ` for ${entry.subject}` : ''} ${entry.untilMs ? `until ${new Date(entry.untilMs).toISOString()}` : 'until resumed'}`).join('; ');
  }

  private expirePauses(): void {
    const nowMs = this.now();
    const ended = this.pauses.filter((entry) => entry.untilMs && entry.untilMs <= nowMs);
    if (!ended.length) return;
    this.pauses = this.pauses.filter((entry) => !ended.includes(entry));
    for (const entry of ended) this.deps.announce('info', `autopilot pause${entry.subject ? ` for ${entry.subject}` : ''} (set by ${entry.by}) ended`);
    void this.save();
  }

  private controls(): Controls {
    this.expirePauses();
    const until = (entry: Pause): number => entry.untilMs || Infinity;
    const global = this.pauses.find((entry) => entry.subject === '');
    return { pausedUntilMs: global ? until(global) : 0, pausedNodes: Object.fromEntries(this.pauses.filter((entry) => entry.subject).map((entry) => [entry.subject, until(entry)])) };
  }

  private schedule(): void {
    if (!this.running) return;
    // One tick at a time: a slow lease read delays the next tick instead of overlapping it.
    this.ticking = this.ticking.then(() => this.tick()).catch((error: unknown) => this.deps.logger.error({ err: error }, 'autopilot tick failed'));
  }

  /** One round: gather, decide, report, act. Public for tests that drive time themselves. */
  async tick(): Promise<void> {
    if (!this.running) return;
    const nowMs = this.now();
    const policy = { ...this.deps.policy, mode: this.effectiveMode() };
    if (policy.mode === 'off') {
      this.latest.clear();
      return;
    }
    const snapshot = this.deps.snapshot();
    const topology = buildTopology(snapshot, nowMs);
    // Leases are read only when a node is not answering or a VM runs nowhere: the only times a guard needs them.
    const troubled = snapshot.nodes.some((node) => !node.reachable) || topology.vms.some((vm) => vm.runningOn.length === 0);
    const leases = troubled ? await this.leases(snapshot) : [];
    const evidence = gatherEvidence(snapshot, topology, this.deps.self, leases, nowMs);
    const result = decide(this.memory, evidence, policy, this.controls(), { start: this.deps.kinds.includes('start') });
    const changedMemory = JSON.stringify(result.memory) !== JSON.stringify(this.memory);
    this.memory = result.memory;
    this.record(result.decisions, nowMs);
    for (const action of result.actions) await this.act(action, nowMs);
    if (changedMemory || result.actions.length) await this.save();
  }

  /** Leases held on every reachable agent (a dead node's leases are read from the copies its partners hold). */
  private async leases(snapshot: ClusterSnapshot): Promise<Lease__Output[]> {
    const reachable = snapshot.nodes.filter((node) => node.reachable).map((node) => node.name);
    const lists = await Promise.all(
      reachable.map((node) =>
        unary<ListLeasesResponse__Output>(`ListLeases on ${node}`, (cb) => this.deps.access.client(node).leases.listLeases({}, deadline(2000), cb))
          .then((response) => response.leases)
          .catch(() => []),
      ),
    );
    return lists.flat();
  }

  /** Keeps the latest decision per subject; a change of situation goes to the event log and the alert hooks. */
  private record(decisions: readonly Decision[], nowMs: number): void {
    const seen = new Set<string>();
    for (const decision of decisions) {
      seen.add(decision.subject);
      const previous = this.latest.get(decision.subject);
      const changed = previous?.code !== decision.code || previous.outcome !== decision.outcome;
      const recorded: Recorded = { ...decision, decidedMs: nowMs, sinceMs: changed ? nowMs : (previous?.sinceMs ?? nowMs) };
      this.latest.set(decision.subject, recorded);
      if (!changed) continue;
      const history = [...(this.history.get(decision.subject) ?? []), recorded].slice(-HISTORY);
      this.history.set(decision.subject, history);
      // Nodes that simply answer are not news, unless they come back from something.
      if (!previous && decision.code === 'healthy') continue;
      this.report(decision, previous, nowMs);
    }
    // A VM that runs again drops out of the decisions: its last one stays for explain, marked resolved.
    for (const [subject, previous] of this.latest) {
      if (seen.has(subject) || previous.kind !== 'vm' || previous.code === 'running') continue;
      const resolved: Recorded = { ...previous, outcome: 'none', code: 'running', summary: `${subject} runs again`, countdownMs: 0, decidedMs: nowMs, sinceMs: nowMs };
      this.latest.set(subject, resolved);
      this.history.set(subject, [...(this.history.get(subject) ?? []), resolved].slice(-HISTORY));
      this.report(resolved, previous, nowMs);
    }
  }

  private report(decision: Decision, previous: Recorded | undefined, nowMs: number): void {
    const level = decision.outcome === 'act' || decision.outcome === 'limit' ? 'error' : decision.outcome === 'none' ? 'info' : 'warn';
    this.deps.announce(level, `autopilot: ${decision.summary}`);
    const resolved = decision.outcome === 'none';
    if (resolved && (!previous || previous.outcome === 'none')) return;
    this.deps.alert({
      id: `autopilot/${decision.subject}`,
      rule: 'autopilot',
      subject: decision.subject,
      severity: decision.outcome === 'act' || decision.outcome === 'limit' ? 'critical' : 'warning',
      summary: decision.summary,
      status: resolved ? 'resolved' : 'firing',
      startsAtUnixMs: previous?.sinceMs ?? nowMs,
      endsAtUnixMs: resolved ? nowMs : 0,
      cluster: this.deps.snapshot().cluster.name,
      watcher: this.deps.self,
    });
  }

  /** Submits the failover to a reachable partner of the lost node (the coordinator an operator's `hvctl failover` would pick first). */
  private async act(action: Action, nowMs: number): Promise<void> {
    const subject = action.kind === 'failover' ? action.node : action.vm;
    const log: ActionLog = { kind: action.kind, subject, site: action.kind === 'failover' ? action.site : '', atMs: nowMs, workflowId: '', coordinator: '', outcome: 'refused', detail: '' };
    this.actions = [...this.actions.filter((entry) => nowMs - entry.atMs < DAY_MS), log];
    const snapshot = this.deps.snapshot();
    const reachable = new Set(snapshot.nodes.filter((node) => node.reachable).map((node) => node.name));
    const candidates = (action.kind === 'failover' ? action.partners : action.on).filter((node) => reachable.has(node));
    const spec: WorkflowSpec = action.kind === 'failover' ? { failover: { node: action.node, site: '', force: false } } : { start: { vm: action.vm } };
    const owner = `autopilot@${this.deps.self}`;
    for (const coordinator of candidates) {
      try {
        const response = await unary<SubmitResponse__Output>(`Submit ${action.kind} of ${subject} to ${coordinator}`, (cb) =>
          this.deps.access.client(coordinator).workflows.submit({ requestId: `autopilot-${action.kind}-${subject}-${nowMs}`.slice(0, 128), spec, owner }, deadline(30_000), cb),
        );
        const workflow = response.workflow;
        if (!workflow) throw new HvctlError('INTERNAL', `${coordinator} returned no workflow`);
        Object.assign(log, { workflowId: workflow.id, coordinator, outcome: 'submitted', detail: workflow.plan?.title ?? '' });
        this.deps.announce('warn', `autopilot: ${action.kind} of ${subject} submitted to ${coordinator} as ${workflow.id} (owner ${owner})`);
        this.alertAction(log, 'firing', `${action.kind} of ${subject} submitted to ${coordinator} as ${workflow.id} (owner ${owner})`);
        this.follow(log);
        return;
      } catch (error) {
        const failure = error instanceof HvctlError ? error : fromServiceError(error, `submit to ${coordinator}`);
        Object.assign(log, { coordinator, detail: failure.message });
        // A coordinator that cannot be reached: try the next one. Any other answer is the workflow's verdict.
        if (failure.code !== 'UNAVAILABLE' && failure.code !== 'DEADLINE_EXCEEDED') break;
      }
    }
    if (!candidates.length) log.detail = `no partner of ${subject} answers to coordinate it`;
    this.deps.announce('error', `autopilot: ${action.kind} of ${subject} not started: ${log.detail}; it is not retried automatically — an operator decides`);
    this.alertAction(log, 'firing', `${action.kind} of ${subject} not started: ${log.detail}`);
  }

  /** The alert of one action (`autopilot-action/<subject>`): firing (critical) from its submission until it succeeds. */
  private alertAction(log: ActionLog, status: Alert['status'], summary: string): void {
    this.deps.alert({
      id: `autopilot-action/${log.subject}`,
      rule: 'autopilot',
      subject: log.subject,
      severity: status === 'firing' ? 'critical' : 'warning',
      summary,
      status,
      startsAtUnixMs: log.atMs,
      endsAtUnixMs: status === 'resolved' ? this.now() : 0,
      cluster: this.deps.snapshot().cluster.name,
      watcher: this.deps.self,
    });
  }

  /** Follows a submitted workflow to its end, in the background; reports the outcome. */
  private follow(log: ActionLog): void {
    const done = new Promise<Workflow__Output>((resolve, reject) => {
      let last: Workflow__Output | undefined;
      const stream = this.deps.access.client(log.coordinator).workflows.watchWorkflow({ id: log.workflowId }, { deadline: new Date(Date.now() + FOLLOW_MS) });
      stream.on('data', (message: WatchWorkflowResponse__Output) => {
        if (message.workflow) last = message.workflow;
      });
      stream.on('error', (error) => reject(fromServiceError(error, `watch ${log.workflowId}`)));
      stream.on('end', () => (last && last.state !== 'running' ? resolve(last) : reject(new Error(`the watch of ${log.workflowId} ended while it was running`))));
    })
      .then((workflow) => {
        log.outcome = workflow.state;
        log.detail = workflow.state === 'succeeded' ? (workflow.summary[0] ?? '') : workflow.error;
        const ok = workflow.state === 'succeeded';
        this.deps.announce(ok ? 'info' : 'error', `autopilot: ${log.kind} of ${log.subject} (${log.workflowId} on ${log.coordinator}) ${workflow.state}${log.detail ? `: ${log.detail}` : ''}`);
        this.alertAction(log, ok ? 'resolved' : 'firing', `${log.kind} of ${log.subject} ${workflow.state}${log.detail ? `: ${log.detail}` : ''}`);
      })
      .catch((error: unknown) => {
        log.detail = `lost track of it: ${(error as Error).message} (hvctl workflows shows it)`;
        this.deps.logger.warn({ err: error, workflow: log.workflowId }, 'autopilot lost track of its workflow');
      })
      .then(() => this.save());
    this.following.add(done);
    void done.finally(() => this.following.delete(done));
  }

  private async load(): Promise<void> {
    let raw: string;
    try {
      raw = await readFile(this.deps.statePath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const persisted = JSON.parse(raw) as Persisted;
    this.mode = persisted.mode;
    this.pauses = [...persisted.pauses];
    // Loss clocks start again: while this agent was down nobody watched, so no grace period has been observed.
    const nodes = Object.fromEntries(Object.entries(persisted.memory.nodes).map(([name, node]) => [name, { ...node, agreeSinceMs: 0, healthySinceMs: 0 }]));
    this.memory = { ...EMPTY_MEMORY, ...persisted.memory, nodes };
    this.actions = [...persisted.actions];
  }

  /** Writes the state file (atomically: temp file then rename), one write at a time. */
  private save(): Promise<void> {
    const persisted: Persisted = { ...(this.mode ? { mode: this.mode } : {}), pauses: this.pauses, memory: this.memory, actions: this.actions };
    const text = JSON.stringify(persisted);
    this.saving = this.saving
      .then(async () => {
        await mkdir(dirname(this.deps.statePath), { recursive: true });
        const temporary = `${this.deps.statePath}.tmp`;
        await writeFile(temporary, text);
        await rename(temporary, this.deps.statePath);
      })
      .catch((error: unknown) => this.deps.logger.error({ err: error }, 'cannot write the autopilot state'));
    return this.saving;
  }
}
