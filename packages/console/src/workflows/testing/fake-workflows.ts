import { status } from '@grpc/grpc-js';
import type { AgentClient } from '@hvctl/common';
import type { PlanStep__Output, Plan__Output, StepState__Output, Workflow__Output, WorkflowSpec } from '@hvctl/proto';
import { EventEmitter } from 'node:events';

/**
 * A fake of the workflow half of an AgentClient for console tests: plan, submit,
 * watchWorkflow (streams the test pushes into) and abort, answering asynchronously like
 * gRPC. Everything else of the AgentClient is absent.
 */

/** A watch stream the test drives: push() a workflow, end() it, or fail() it. */
export class FakeWorkflowStream extends EventEmitter {
  cancelled = false;
  constructor(readonly id: string) {
    super();
  }
  cancel(): void {
    this.cancelled = true;
  }
  push(workflow: Workflow__Output): void {
    this.emit('data', { workflow });
  }
  end(): void {
    this.emit('end');
  }
}

/** A gRPC error as the client library reports it (code + details). */
export interface FakeRpcError {
  readonly code: keyof typeof status;
  readonly details: string;
}

type Answer<T> = T | FakeRpcError;

export interface FakeWorkflowAgentOptions {
  /** The plan for a spec, or an error (FAILED_PRECONDITION, INVALID_ARGUMENT "unknown workflow"). */
  readonly plan?: (spec: WorkflowSpec) => Answer<Plan__Output>;
  /** The workflow as started; default: fakeWorkflow(plan of the spec), all steps pending. */
  readonly submit?: (spec: WorkflowSpec, owner: string) => Answer<Workflow__Output>;
  readonly abort?: (id: string) => Answer<Workflow__Output>;
}

export interface FakeWorkflowAgent {
  /** Hand this to the console as the coordinator's client. */
  readonly client: AgentClient;
  readonly calls: { plan: WorkflowSpec[]; submit: { spec: WorkflowSpec; owner: string }[]; abort: string[]; watch: string[] };
  /** Watch streams opened, oldest first. */
  readonly streams: FakeWorkflowStream[];
}

const isError = <T>(answer: Answer<T>): answer is FakeRpcError => typeof answer === 'object' && answer !== null && 'code' in answer && 'details' in answer && typeof answer.code === 'string';

function reply<T>(answer: Answer<T>, wrap: (value: T) => unknown, callback: (error: unknown, value?: unknown) => void): void {
  setImmediate(() => {
    if (isError(answer)) callback(Object.assign(new Error(`${status[answer.code]} ${answer.code}: ${answer.details}`), { code: status[answer.code], details: answer.details }));
    else callback(null, wrap(answer));
  });
}

/** A step of a plan with sensible defaults. */
export function fakeStep(id: string, overrides: Partial<PlanStep__Output> = {}): PlanStep__Output {
  return { id, title: id, node: 'msk-1', preconditions: [], command: `true # ${id}`, verify: 'nothing', phase: 'run', ...overrides };
}

/** The plan of a live migration of `vm` from `from` to `to`, with the steps the agent plans. */
export function fakeMigratePlan(vm: string, from: string, to: string): Plan__Output {
  const resource = vm;
  return {
    title: `Live-migrate ${vm} from ${from} to ${to}`,
    steps: [
      fakeStep('preflight', { title: `check ${vm} can move from ${from} to ${to}`, node: from, phase: 'check', command: `drbdadm status ${resource}; virsh domstate ${vm}` }),
      fakeStep('promote-target', { title: `promote ${resource} on ${to}`, node: to, phase: 'prepare', command: `drbdadm primary ${resource}` }),
      fakeStep('migrate', { title: `live-migrate ${vm} from ${from} to ${to}`, node: from, phase: 'migrate', command: `virsh migrate --live --persistent ${vm} qemu+tls://${to}/system` }),
      fakeStep('demote-source', { title: `demote ${resource} on ${from}`, node: from, phase: 'cleanup', command: `drbdadm secondary ${resource}` }),
      fakeStep('verify', { title: `verify ${vm} runs only on ${to}`, node: to, phase: 'verify', command: `virsh domstate ${vm}; drbdadm role ${resource}` }),
    ],
    evidence: [],
    warnings: [],
    nodes: [from, to],
    resources: [resource],
    data: '{}',
  };
}

/** A workflow for a plan: every step pending unless `steps` says otherwise. */
export function fakeWorkflow(plan: Plan__Output, overrides: Partial<Workflow__Output> = {}, steps: Record<string, Partial<StepState__Output>> = {}): Workflow__Output {
  return {
    id: 'wf-20261123-1a2b3c',
    spec: null,
    plan,
    coordinator: 'msk-1',
    owner: 'tester@console',
    state: 'running',
    steps: plan.steps.map((step) => ({ id: step.id, state: 'pending', detail: '', percent: 0, startedUnixMs: 0, finishedUnixMs: 0, ...steps[step.id] })),
    error: '',
    createdUnixMs: 1_700_000_000_000,
    finishedUnixMs: 0,
    timings: [],
    summary: [],
    ...overrides,
  };
}

/** Builds the fake; `client` goes where an AgentClient is expected (only `workflows` works). */
export function fakeWorkflowAgent(options: FakeWorkflowAgentOptions = {}): FakeWorkflowAgent {
  const calls: FakeWorkflowAgent['calls'] = { plan: [], submit: [], abort: [], watch: [] };
  const streams: FakeWorkflowStream[] = [];
  const planFor = options.plan ?? ((spec: WorkflowSpec) => fakeMigratePlan(spec.migrate?.vm ?? 'vm', 'msk-1', 'spb-1'));
  const workflows = {
    plan: (request: { spec: WorkflowSpec }, _options: unknown, callback: (error: unknown, value?: unknown) => void) => {
      calls.plan.push(request.spec);
      reply(planFor(request.spec), (plan) => ({ plan }), callback);
    },
    submit: (request: { spec: WorkflowSpec; owner: string }, _options: unknown, callback: (error: unknown, value?: unknown) => void) => {
      calls.submit.push({ spec: request.spec, owner: request.owner });
      const planned = planFor(request.spec);
      const answer = options.submit ? options.submit(request.spec, request.owner) : isError(planned) ? planned : fakeWorkflow(planned);
      reply(answer, (workflow) => ({ workflow }), callback);
    },
    abort: (request: { id: string }, _options: unknown, callback: (error: unknown, value?: unknown) => void) => {
      calls.abort.push(request.id);
      reply(options.abort ? options.abort(request.id) : { code: 'NOT_FOUND', details: `no workflow ${request.id}` }, (workflow) => ({ workflow }), callback);
    },
    watchWorkflow: (request: { id: string }) => {
      calls.watch.push(request.id);
      const stream = new FakeWorkflowStream(request.id);
      streams.push(stream);
      return stream;
    },
  };
  // Only `workflows` is used by the console's workflow code; the rest of the client is absent.
  const client = { address: 'fake', workflows, close: () => undefined } as unknown as AgentClient;
  return { client, calls, streams };
}
