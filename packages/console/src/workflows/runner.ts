import { EventEmitter } from 'node:events';
import { userInfo } from 'node:os';
import { HvctlError, deadline, unary, type AgentClient, type Topology } from '@hvctl/common';
import type { AbortResponse__Output, Plan__Output, Workflow__Output, WorkflowSpec } from '@hvctl/proto';
import { coordinatorFor } from '../cli/coordinator.js';
import { follow, planOn, submitOn } from '../cli/workflow-client.js';
import type { WorkflowProblem } from '../state/workflow.js';

/**
 * The console's side of a workflow, outside React: choose the coordinator, plan, submit,
 * follow and abort, reusing the CLI's helpers (coordinatorFor, planOn, submitOn, follow).
 * Every function reports failures as a WorkflowProblem instead of throwing, so the UI can
 * show "what happened, what was left unchanged, what to do next".
 */

/** What the runner needs from the console. */
export interface RunnerDeps {
  /** The agent client of a node (the ClusterModel's pooled client; never closed here). */
  readonly client: (node: string) => AgentClient | undefined;
  /** Who submits (journaled by the agents): `user@console`. */
  readonly owner: string;
}

export type PlanResult =
  | { readonly ok: true; readonly coordinator: string; readonly plan: Plan__Output }
  | { readonly ok: false; readonly coordinator?: string; readonly problem: WorkflowProblem };

export type SubmitResult = { readonly ok: true; readonly workflow: Workflow__Output } | { readonly ok: false; readonly problem: WorkflowProblem };

/** `alice@console`; `operator@console` where the OS cannot name the user. */
export function consoleOwner(): string {
  try {
    return `${userInfo().username}@console`;
  } catch {
    return 'operator@console';
  }
}

/** Statuses after which a submission certainly did not start anything. */
const NOT_STARTED = new Set(['INVALID_ARGUMENT', 'FAILED_PRECONDITION', 'NOT_FOUND', 'ALREADY_EXISTS', 'PERMISSION_DENIED', 'UNAUTHENTICATED', 'UNIMPLEMENTED', 'RESOURCE_EXHAUSTED']);

/**
 * An error from planning or submitting, for people. Planning never changes anything; a
 * submission that got no clear answer (timeout, lost connection) may have started.
 */
export function problemFrom(error: unknown, stage: 'plan' | 'submit'): WorkflowProblem {
  const hvctl = error instanceof HvctlError ? error : undefined;
  const code = hvctl?.code ?? 'INTERNAL';
  // unary() prefixes the RPC name ("Plan: ..."): the screen already says what was asked.
  const message = (error instanceof Error ? error.message : String(error)).replace(/^(Plan|Submit): /, '');
  const unchanged = stage === 'plan' || NOT_STARTED.has(code);
  const nextSteps = [...(hvctl?.details.nextSteps ?? [])];
  if (!unchanged) nextSteps.push('the workflow may have started: check `hvctl workflows` before trying again');
  return { code, message, unchanged, nextSteps };
}

function clientOf(deps: RunnerDeps, node: string): AgentClient {
  const client = deps.client(node);
  if (!client) throw new HvctlError('UNAVAILABLE', `the console has no connection to ${node}`);
  return client;
}

/** Chooses the coordinator from live topology and asks it for the plan. Changes nothing. */
export async function planWorkflow(deps: RunnerDeps, topology: Topology, spec: WorkflowSpec): Promise<PlanResult> {
  let coordinator: string | undefined;
  try {
    coordinator = coordinatorFor(spec, topology);
    const node = topology.nodes.find((candidate) => candidate.name === coordinator);
    if (node && !node.reachable) {
      const nextSteps = spec.migrate ? [`a VM whose node is lost is recovered by a failover of ${coordinator} (F on the node)`] : [];
      const since = node.unreachableForSeconds > 0 ? ` (no answer for ${node.unreachableForSeconds} s)` : '';
      throw new HvctlError('UNAVAILABLE', `the coordinator ${coordinator} is unreachable${since}`, { nextSteps });
    }
    return { ok: true, coordinator, plan: await planOn(clientOf(deps, coordinator), spec) };
  } catch (error) {
    return { ok: false, ...(coordinator ? { coordinator } : {}), problem: problemFrom(error, 'plan') };
  }
}

/** Submits on the coordinator; the agent plans again on live state and starts it. */
export async function submitWorkflow(deps: RunnerDeps, coordinator: string, spec: WorkflowSpec): Promise<SubmitResult> {
  try {
    return { ok: true, workflow: await submitOn(clientOf(deps, coordinator), spec, deps.owner) };
  } catch (error) {
    return { ok: false, problem: problemFrom(error, 'submit') };
  }
}

/** Asks the coordinator to abort; resolves with an error message, or undefined once accepted. */
export async function abortWorkflow(deps: RunnerDeps, coordinator: string, id: string): Promise<string | undefined> {
  try {
    const client = clientOf(deps, coordinator);
    await unary<AbortResponse__Output>('Abort', (cb) => client.workflows.abort({ id, owner: deps.owner }, deadline(120_000), cb));
    return undefined;
  } catch (error) {
    return (error instanceof Error ? error.message : String(error)).replace(/^Abort: /, '');
  }
}

export interface WatchHandlers {
  readonly onUpdate: (workflow: Workflow__Output) => void;
  readonly onLost: (reason: string) => void;
  /** follow() returned: the final state, or the last one seen when it gave up waiting. */
  readonly onEnd: (workflow: Workflow__Output | undefined) => void;
}

interface Cancellable {
  cancel(): void;
  on(event: string, listener: () => void): unknown;
}

/**
 * Follows a workflow with the CLI's follow() (which re-attaches when the coordinator
 * restarts) until it ends. Returns a stop function for when the console goes away: it
 * cancels the watch stream and silences every later callback. Stopping never affects
 * the workflow, which runs in its coordinator.
 */
export function watchWorkflow(deps: RunnerDeps, coordinator: string, id: string, handlers: WatchHandlers, giveUpMs?: number): () => void {
  let stopped = false;
  const open = new Set<Cancellable>();
  let client: AgentClient;
  try {
    client = clientOf(deps, coordinator);
  } catch (error) {
    handlers.onLost((error as Error).message);
    handlers.onEnd(undefined);
    return () => undefined;
  }
  // follow() only opens watch streams; after stop() it gets one that never speaks, so it
  // waits quietly instead of re-attaching.
  const workflows: AgentClient['workflows'] = Object.create(client.workflows, {
    watchWorkflow: {
      value: (request: { id: string }) => {
        if (stopped) return Object.assign(new EventEmitter(), { cancel: () => undefined });
        const stream = client.workflows.watchWorkflow(request);
        open.add(stream);
        const forget = (): void => void open.delete(stream);
        stream.on('end', forget);
        stream.on('error', forget);
        return stream;
      },
    },
  });
  const watched: AgentClient = { ...client, workflows };
  void follow(
    watched,
    id,
    (workflow) => {
      if (!stopped) handlers.onUpdate(workflow);
    },
    (reason) => {
      if (!stopped) handlers.onLost(reason);
    },
    giveUpMs,
  ).then(
    (final) => {
      if (!stopped) handlers.onEnd(final);
    },
    (error: unknown) => {
      if (stopped) return;
      handlers.onLost(error instanceof Error ? error.message : String(error));
      handlers.onEnd(undefined);
    },
  );
  return () => {
    stopped = true;
    for (const stream of open) stream.cancel();
    open.clear();
  };
}
