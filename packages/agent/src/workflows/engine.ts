import { randomBytes } from 'node:crypto';
import type { AcquireResponse__Output, Plan__Output, ReleaseResponse__Output, StepState__Output, Workflow__Output, WorkflowSpec__Output } from '@hvctl/proto';
import { HvctlError, deadline, failedPrecondition, invalidArgument, notFound, unary, type Logger } from '@hvctl/common';
import type { ClusterAccess } from './cluster-access.js';
import { COPY_INTERVAL_MS, PacedSender } from './paced-sender.js';
import type { WorkflowJournal } from './journal.js';
import type { LeaseTable } from './leases.js';
import { flattenSteps, type Program, type Stage, type Step, type StepContext, type WorkflowKind } from './types.js';

/** How long a lease lives without renewal, and how often a running workflow renews. */
export const LEASE_TTL_MS = 30_000;
const LEASE_RENEW_MS = 10_000;
const LEASE_RELEASE_RETRY_MS = 3_000;
/** Retries of a step that failed because a peer did not answer (0.5 s, 1 s, ... apart: 7.5 s in all). */
const TRANSIENT_RETRIES = 5;

export interface EngineOptions {
  readonly self: string;
  readonly cluster: ClusterAccess;
  readonly journal: WorkflowJournal;
  readonly leases: LeaseTable;
  readonly kinds: Readonly<Record<string, WorkflowKind<unknown>>>;
  readonly logger: Logger;
  /** Tells operators watching this node's event log. */
  readonly announce: (level: 'info' | 'warn' | 'error', message: string) => void;
  readonly now?: () => number;
}

interface Running {
  workflow: Workflow__Output;
  readonly controller: AbortController;
  readonly done: Promise<void>;
}

const kindOf = (spec: WorkflowSpec__Output | null): string => spec?.kind ?? '';

function newWorkflowId(now: number): string {
  const day = new Date(now).toISOString().slice(0, 10).replace(/-/g, '');
  return `wf-${day}-${randomBytes(4).toString('hex')}`;
}

function leaseKeys(plan: Plan__Output, claims: readonly string[]): string[] {
  return [...new Set([...claims, ...plan.nodes.map((node) => `node/${node}`), ...plan.resources.map((resource) => `resource/${resource}`)])];
}

/**
 * Runs workflows inside the agent (this agent is their coordinator). Each workflow:
 * plan from live state -> leases on every touched node -> steps in order (each re-reads
 * state, acts only if needed, verifies) -> on failure or abort, makeSafe -> release.
 * Every state change is journaled (fsynced) here and copied to the touched agents, so a
 * restarted coordinator resumes and another agent can adopt an orphan.
 */
export class WorkflowEngine {
  private readonly running = new Map<string, Running>();
  private readonly finished = new Map<string, Workflow__Output>();
  private readonly listeners = new Map<string, Set<(workflow: Workflow__Output) => void>>();
  private readonly now: () => number;
  private readonly copies = new PacedSender((node, workflow, done) => {
    try {
      this.options.cluster.client(node).workflows.record({ workflow }, deadline(2000), () => done());
    } catch {
      // not a member any more: nothing to copy to
      done();
    }
  }, COPY_INTERVAL_MS);

  constructor(private readonly options: EngineOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Loads the journal; resumes every workflow that was running when the agent stopped. */
  async start(): Promise<void> {
    for (const workflow of await this.options.journal.coordinated()) {
      if (workflow.state === 'running') {
        this.options.announce('warn', `resuming workflow ${workflow.id} (${workflow.plan?.title ?? kindOf(workflow.spec)}) after an agent restart`);
        await this.launch(workflow, 'resumed after coordinator restart');
      } else {
        this.finished.set(workflow.id, workflow);
      }
    }
  }

  /** Stops watching; running workflows stay journaled as running and resume on the next start. */
  stop(): void {
    for (const run of this.running.values()) run.controller.abort(new Error('agent stopping'));
    this.options.cluster.close();
  }

  private kind(spec: WorkflowSpec__Output | null): WorkflowKind<unknown> {
    const kind = this.options.kinds[kindOf(spec)];
    if (!spec || !kind) throw invalidArgument(`unknown workflow "${kindOf(spec) || '(none)'}"; known: ${Object.keys(this.options.kinds).join(', ')}`);
    return kind;
  }

  /** Plans without changing anything. */
  async plan(spec: WorkflowSpec__Output): Promise<Plan__Output> {
    const kind = this.kind(spec);
    // A workflow already working on the same subject is named before live state is read.
    this.options.leases.assertFree(kind.claims?.(spec) ?? []);
    const planned = await kind.plan(spec, this.options.cluster);
    const program = kind.program(planned.data);
    return {
      title: planned.title,
      steps: flattenSteps(program).map((step) => ({
        id: step.id,
        title: step.title,
        node: step.node,
        preconditions: [...step.preconditions],
        command: step.command,
        verify: step.verify,
        phase: step.phase,
      })),
      evidence: [...planned.evidence],
      warnings: [...planned.warnings],
      nodes: [...planned.nodes],
      resources: [...planned.resources],
      data: JSON.stringify(planned.data),
    };
  }

  /** Plans, takes the leases and starts the workflow; resolves once it runs. */
  async submit(spec: WorkflowSpec__Output, owner: string): Promise<Workflow__Output> {
    const plan = await this.plan(spec);
    const now = this.now();
    const workflow: Workflow__Output = {
      id: newWorkflowId(now),
      spec,
      plan,
      coordinator: this.options.self,
      owner,
      state: 'running',
      steps: plan.steps.map((step) => ({ id: step.id, state: 'pending', detail: '', percent: 0, startedUnixMs: 0, finishedUnixMs: 0 })),
      error: '',
      createdUnixMs: now,
      finishedUnixMs: 0,
      timings: [],
      summary: [],
    };
    await this.acquireLeases(workflow);
    await this.options.journal.append({ timeUnixMs: now, event: 'submitted', workflowId: workflow.id, who: owner, detail: plan.title, workflow });
    this.options.announce('info', `workflow ${workflow.id} started by ${owner}: ${plan.title}`);
    await this.launch(workflow, 'submitted');
    return workflow;
  }

  /** Adopts an orphan from the journal copy this agent holds. */
  async resume(id: string, owner: string): Promise<Workflow__Output> {
    if (this.running.has(id)) return (this.running.get(id) as Running).workflow;
    const copy = (await this.options.journal.copies()).find((workflow) => workflow.id === id) ?? (await this.options.journal.coordinated()).find((w) => w.id === id);
    if (!copy) throw notFound(`${this.options.self} holds no journal of workflow ${id}`, { nextSteps: ['run `hvctl workflows` to see which nodes hold it'] });
    if (copy.state !== 'running') throw failedPrecondition(`workflow ${id} already ended (${copy.state}); nothing to resume`);
    const previous = copy.coordinator;
    if (previous !== this.options.self && (await this.options.cluster.reachable(previous))) {
      throw failedPrecondition(`workflow ${id} is still coordinated by ${previous}, which answers; adopting it would run it twice`, {
        nextSteps: [`abort it on ${previous} (hvctl abort ${id}) or wait for it`],
      });
    }
    const adopted: Workflow__Output = { ...copy, coordinator: this.options.self };
    await this.acquireLeases(adopted);
    await this.options.journal.append({ timeUnixMs: this.now(), event: 'adopted', workflowId: id, who: owner, detail: `adopted from ${previous}`, workflow: adopted });
    this.options.announce('warn', `workflow ${id} adopted by ${this.options.self} from ${previous} (requested by ${owner})`);
    await this.launch(adopted, `adopted from ${previous}`);
    return adopted;
  }

  /** Aborts a running workflow; it rolls back to a safe state. */
  async abort(id: string, owner: string): Promise<Workflow__Output> {
    const run = this.running.get(id);
    if (!run) {
      const done = this.finished.get(id);
      if (done) throw failedPrecondition(`workflow ${id} already ended (${done.state})`);
      throw notFound(`${this.options.self} does not coordinate a running workflow ${id}`);
    }
    await this.options.journal.append({ timeUnixMs: this.now(), event: 'abort', workflowId: id, who: owner, detail: 'abort requested', workflow: run.workflow });
    this.options.announce('warn', `workflow ${id} abort requested by ${owner}`);
    run.controller.abort(new HvctlError('ABORTED', `aborted by ${owner}`));
    await run.done;
    return this.get(id);
  }

  get(id: string): Workflow__Output {
    const workflow = this.running.get(id)?.workflow ?? this.finished.get(id);
    if (!workflow) throw notFound(`${this.options.self} does not coordinate workflow ${id}`);
    return workflow;
  }

  /** Coordinated workflows plus journal copies of others', newest first. */
  async list(): Promise<Workflow__Output[]> {
    const own = new Map<string, Workflow__Output>([...this.finished, ...[...this.running].map(([id, run]) => [id, run.workflow] as const)]);
    for (const copy of await this.options.journal.copies()) if (!own.has(copy.id)) own.set(copy.id, copy);
    return [...own.values()].sort((a, b) => Number(b.createdUnixMs) - Number(a.createdUnixMs));
  }

  /** Calls `listener` with the workflow now and after every change; returns the unsubscribe. */
  watch(id: string, listener: (workflow: Workflow__Output) => void): () => void {
    listener(this.get(id));
    let set = this.listeners.get(id);
    if (!set) this.listeners.set(id, (set = new Set()));
    set.add(listener);
    return () => set?.delete(listener);
  }

  isRunning(id: string): boolean {
    return this.running.has(id);
  }

  /** Stores a journal copy sent by another coordinator. */
  async record(workflow: Workflow__Output): Promise<void> {
    if (workflow.coordinator === this.options.self) return;
    await this.options.journal.storeCopy(workflow);
  }

  // ---- execution ----------------------------------------------------------------------

  private async launch(workflow: Workflow__Output, reason: string): Promise<void> {
    const kind = this.kind(workflow.spec);
    const program = kind.program(JSON.parse(workflow.plan?.data || '{}') as unknown);
    const controller = new AbortController();
    const entry: Running = { workflow, controller, done: Promise.resolve() };
    this.running.set(workflow.id, entry);
    const attempt = (await this.options.journal.records(workflow.id)).filter((record) => record.event === 'submitted' || record.event === 'adopted').length + (reason.startsWith('resumed') ? 1 : 0);
    (entry as { done: Promise<void> }).done = this.execute(entry, program, attempt).catch((error: unknown) => {
      this.options.logger.error({ err: error, workflow: workflow.id }, 'workflow runner crashed');
    });
  }

  private context(entry: Running, attempt: number, stepId: string): StepContext {
    return {
      cluster: this.options.cluster,
      workflowId: entry.workflow.id,
      owner: entry.workflow.owner,
      attempt,
      signal: entry.controller.signal,
      progress: (percent, detail) => {
        this.updateStep(entry, stepId, { percent, detail });
      },
    };
  }

  private async execute(entry: Running, program: Program, attempt: number): Promise<void> {
    let renewal: Promise<void> = Promise.resolve();
    const renew = setInterval(() => {
      renewal = this.acquireLeases(entry.workflow).catch((error: unknown) =>
        this.options.logger.warn({ err: error, workflow: entry.workflow.id }, 'lease renewal failed'),
      );
    }, LEASE_RENEW_MS);
    renew.unref();
    let failure: unknown;
    try {
      for (const stage of program.stages) {
        await this.runStage(entry, stage, attempt);
      }
    } catch (error) {
      failure = error;
    } finally {
      clearInterval(renew);
      // A renewal still in flight must not re-take the leases after they are released.
      await renewal;
    }
    const workflow = entry.workflow;
    const stopping = entry.controller.signal.aborted && (entry.controller.signal.reason as Error | undefined)?.message === 'agent stopping';
    if (stopping) {
      // The agent is shutting down: the workflow stays "running" in the journal and resumes on restart.
      this.running.delete(workflow.id);
      return;
    }
    const mutated = workflow.steps.some((step) => step.state === 'done' && !this.isReadOnly(program, step.id));
    let state: string;
    const summary: string[] = [];
    let error = '';
    if (failure === undefined) {
      state = 'succeeded';
      if (program.summarize) summary.push(...(await program.summarize(this.context(entry, attempt, ''), this.phaseTimings(workflow)).catch(() => [])));
    } else {
      const aborted = entry.controller.signal.aborted;
      error = failure instanceof HvctlError ? failure.message : (failure as Error).message;
      state = aborted ? 'aborted' : mutated ? 'failed' : 'refused';
      if (mutated || aborted) {
        const notes = await program.makeSafe(this.context(entry, attempt, 'make-safe')).catch((cause: unknown) => [`make-safe failed: ${(cause as Error).message}`]);
        summary.push(...notes.map((note) => `rollback: ${note}`));
      }
    }
    const finished: Workflow__Output = {
      ...workflow,
      state,
      error,
      summary: [...workflow.summary, ...summary],
      finishedUnixMs: this.now(),
      timings: [...this.phaseTimings(workflow)].map(([phase, durationMs]) => ({ phase, durationMs })),
    };
    entry.workflow = finished;
    await this.options.journal.append({ timeUnixMs: this.now(), event: 'finished', workflowId: workflow.id, who: this.options.self, detail: `${state}${error ? `: ${error}` : ''}`, workflow: finished });
    this.replicate(finished);
    await this.releaseLeases(finished);
    this.running.delete(workflow.id);
    this.finished.set(workflow.id, finished);
    this.options.announce(state === 'succeeded' ? 'info' : 'error', `workflow ${workflow.id} ${state}${error ? `: ${error}` : ''}`);
    this.publish(entry);
  }

  private isReadOnly(program: Program, stepId: string): boolean {
    return flattenSteps(program).find((step) => step.id === stepId)?.readOnly ?? false;
  }

  private async runStage(entry: Running, stage: Stage, attempt: number): Promise<void> {
    if ('steps' in stage) {
      for (const step of stage.steps) await this.runStep(entry, step, attempt);
      return;
    }
    // Lanes side by side, at most `parallel` at once; the first failure stops new lanes.
    const queue = [...stage.lanes];
    let failure: unknown;
    const worker = async (): Promise<void> => {
      for (let lane = queue.shift(); lane && failure === undefined; lane = queue.shift()) {
        try {
          for (const step of lane) await this.runStep(entry, step, attempt);
        } catch (error) {
          failure ??= error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, Math.min(stage.parallel, stage.lanes.length)) }, worker));
    if (failure !== undefined) throw failure;
  }

  private async runStep(entry: Running, step: Step, attempt: number): Promise<void> {
    const current = entry.workflow.steps.find((candidate) => candidate.id === step.id);
    if (current?.state === 'done') return;
    if (entry.controller.signal.aborted) throw entry.controller.signal.reason ?? new HvctlError('ABORTED', 'aborted');
    await this.setStep(entry, step.id, { state: 'running', detail: '', percent: 0, startedUnixMs: this.now(), finishedUnixMs: 0 }, 'step');
    try {
      let detail = '';
      // A peer that does not answer for a moment (links coming up after a restart) is retried:
      // steps re-read state and act only if needed, so running one again is safe.
      for (let retry = 0; ; retry += 1) {
        try {
          detail = await step.run(this.context(entry, attempt * 100 + retry, step.id));
          break;
        } catch (error) {
          const transient = error instanceof HvctlError && (error.code === 'UNAVAILABLE' || error.code === 'DEADLINE_EXCEEDED');
          if (!transient || retry >= TRANSIENT_RETRIES || entry.controller.signal.aborted) throw error;
          this.updateStep(entry, step.id, { detail: `retrying: ${error.message.split('\n')[0]}` });
          await new Promise((resolve) => setTimeout(resolve, 500 * (retry + 1)));
        }
      }
      await this.setStep(entry, step.id, { state: 'done', detail, percent: 100, finishedUnixMs: this.now() }, 'step');
    } catch (error) {
      const message = error instanceof HvctlError ? error.message : (error as Error).message;
      await this.setStep(entry, step.id, { state: 'failed', detail: message, finishedUnixMs: this.now() }, 'step');
      throw error;
    }
  }

  /** Progress updates: published to watchers, not journaled. */
  private updateStep(entry: Running, id: string, change: Partial<StepState__Output>): void {
    entry.workflow = { ...entry.workflow, steps: entry.workflow.steps.map((step) => (step.id === id ? { ...step, ...change } : step)) };
    this.publish(entry);
  }

  /** State changes: journaled (fsynced), copied to touched agents, published. */
  private async setStep(entry: Running, id: string, change: Partial<StepState__Output>, event: string): Promise<void> {
    this.updateStep(entry, id, change);
    const step = entry.workflow.steps.find((candidate) => candidate.id === id);
    await this.options.journal.append({
      timeUnixMs: this.now(),
      event,
      workflowId: entry.workflow.id,
      who: this.options.self,
      detail: `${id}: ${step?.state}${step?.detail ? ` (${step.detail})` : ''}`,
      ...(step ? { step } : { workflow: entry.workflow }),
    });
    this.replicate(entry.workflow);
  }

  private publish(entry: Running): void {
    for (const listener of this.listeners.get(entry.workflow.id) ?? []) listener(entry.workflow);
  }

  /** Sends the journal copy to every touched agent (best effort, latest state wins; a lost node just misses it). */
  private replicate(workflow: Workflow__Output): void {
    for (const node of workflow.plan?.nodes ?? []) {
      if (node !== this.options.self) this.copies.offer(node, workflow);
    }
  }

  private phaseTimings(workflow: Workflow__Output): Map<string, number> {
    const phases = new Map<string, { start: number; end: number }>();
    for (const state of workflow.steps) {
      const phase = workflow.plan?.steps.find((step) => step.id === state.id)?.phase ?? 'other';
      if (!state.startedUnixMs) continue;
      const start = Number(state.startedUnixMs);
      const end = Number(state.finishedUnixMs || this.now());
      const span = phases.get(phase);
      phases.set(phase, { start: Math.min(span?.start ?? start, start), end: Math.max(span?.end ?? end, end) });
    }
    return new Map([...phases].map(([phase, span]) => [phase, span.end - span.start]));
  }

  // ---- leases -------------------------------------------------------------------------

  /** Takes (or renews) the workflow's leases on every touched node that answers; the coordinator must grant. */
  private async acquireLeases(workflow: Workflow__Output): Promise<void> {
    const plan = workflow.plan;
    if (!plan) return;
    const keys = leaseKeys(plan, workflow.spec ? (this.kind(workflow.spec).claims?.(workflow.spec) ?? []) : []);
    const request = { keys, workflowId: workflow.id, owner: workflow.owner, coordinator: this.options.self, ttlMs: LEASE_TTL_MS };
    await this.options.leases.acquire(request);
    const granted: string[] = [];
    try {
      for (const node of plan.nodes) {
        if (node === this.options.self) continue;
        const client = this.options.cluster.client(node);
        try {
          await unary<AcquireResponse__Output>(`Acquire leases on ${node}`, (cb) => client.leases.acquire(request, deadline(2000), cb));
          granted.push(node);
        } catch (error) {
          // An unreachable node (a failover's lost side) cannot hold a lease; its loss is the workflow's
          // premise. Any other answer (held, refused, invalid) stops the workflow before it acts.
          const unreachable = error instanceof HvctlError && (error.code === 'UNAVAILABLE' || error.code === 'DEADLINE_EXCEEDED');
          if (!unreachable) throw error;
        }
      }
    } catch (error) {
      if (workflow.steps.every((step) => step.state === 'pending')) {
        await this.options.leases.release(workflow.id);
        for (const node of granted) {
          const client = this.options.cluster.client(node);
          client.leases.release({ workflowId: workflow.id }, deadline(2000), () => undefined);
        }
      }
      throw error;
    }
  }

  private async releaseLeases(workflow: Workflow__Output): Promise<void> {
    await this.options.leases.release(workflow.id);
    const nodes = (workflow.plan?.nodes ?? []).filter((node) => node !== this.options.self);
    await Promise.all(nodes.map((node) => this.releaseRemote(workflow.id, node, Date.now() + LEASE_TTL_MS)));
  }

  /**
   * Releases a finished workflow's leases on another agent. An agent that does not answer
   * (it may be rebooting) is asked again every few seconds until the leases would have
   * expired anyway, so a node that comes back soon is not blocked by a finished workflow.
   */
  private async releaseRemote(workflowId: string, node: string, untilMs: number): Promise<void> {
    try {
      const client = this.options.cluster.client(node);
      await unary<ReleaseResponse__Output>(`Release leases on ${node}`, (cb) => client.leases.release({ workflowId }, deadline(2000), cb));
    } catch {
      if (Date.now() + LEASE_RELEASE_RETRY_MS >= untilMs) return;
      const retry = setTimeout(() => void this.releaseRemote(workflowId, node, untilMs), LEASE_RELEASE_RETRY_MS);
      retry.unref();
    }
  }
}
