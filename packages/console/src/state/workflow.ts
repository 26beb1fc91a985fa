import type { Plan__Output, Workflow__Output, WorkflowSpec } from '@hvctl/proto';
import { Command, appliesTo, commandSpec, type TargetKind } from '../ui/key/commands.js';
import type { Row } from './rows.js';

/**
 * The workflow part of the console's UI state: the plan screen (loading, ready, refused,
 * submitting), the executions this console started (following, lost, ended, aborting) and
 * which of them is on screen. Pure like the rest of src/state: the App's effects read this
 * state to know what to fetch or submit (see ui/hooks/useWorkflowEffects.ts) and report
 * back with the actions below.
 */

export type WorkflowKindName = 'migrate' | 'drain' | 'undrain' | 'failover' | 'failback';

/** How many VMs a drain started from the console moves at once. */
export const DRAIN_PARALLEL = 2;

/** The selected row a workflow acts on. */
export interface WorkflowTarget {
  readonly kind: TargetKind;
  /** VM, node or site name: what a typed confirmation asks for. */
  readonly name: string;
  /** Row id (`node:msk-1`). */
  readonly rowId: string;
}

/** A workflow the operator asked for, before anything was planned. */
export interface WorkflowRequest {
  readonly command: Command;
  readonly kind: WorkflowKindName;
  readonly spec: WorkflowSpec;
  readonly target: WorkflowTarget;
  /** Running it needs the target's name typed (failover). */
  readonly dangerous: boolean;
  /** What was asked, for people: "migrate web-1 to its DRBD peer". */
  readonly label: string;
}

/** Why a plan, a submission or an abort did not happen, for people. */
export interface WorkflowProblem {
  /** gRPC status name (FAILED_PRECONDITION, UNAVAILABLE, ...) or CONSOLE for the console's own checks. */
  readonly code: string;
  readonly message: string;
  /** true: nothing was changed; false: the cluster may have changed (a submission that got no answer). */
  readonly unchanged: boolean;
  readonly nextSteps: readonly string[];
}

export type PlanStatus = 'loading' | 'ready' | 'refused' | 'submitting';

export interface PlanScreen {
  /** Tells this request's answers from a cancelled one's. */
  readonly key: number;
  readonly request: WorkflowRequest;
  readonly status: PlanStatus;
  readonly coordinator: string | undefined;
  readonly plan: Plan__Output | undefined;
  readonly problem: WorkflowProblem | undefined;
  /** After a cancelled or mistyped confirmation: nothing ran. */
  readonly note: string | undefined;
  /** First plan line drawn. */
  readonly scroll: number;
}

export type AbortState =
  | { readonly status: 'idle' }
  | { readonly status: 'asking' }
  | { readonly status: 'sending' }
  | { readonly status: 'failed'; readonly message: string };

/** A workflow this console submitted, as last reported by its coordinator. */
export interface Execution {
  readonly id: string;
  readonly coordinator: string;
  readonly workflow: Workflow__Output;
  /** Why the watch stream broke, while re-attaching (cleared by the next update). */
  readonly lost: string | undefined;
  /** True while the console follows it; false once it ended or the console gave up waiting. */
  readonly watching: boolean;
  readonly abort: AbortState;
}

export type WorkflowScreen = 'none' | 'plan' | 'execution';

export interface WorkflowUi {
  /** What replaces the panes: nothing, the plan screen, or the execution view. */
  readonly screen: WorkflowScreen;
  readonly plan: PlanScreen | undefined;
  /** Workflows started from this console, oldest first (the last MAX_EXECUTIONS). */
  readonly executions: readonly Execution[];
  /** Id of the execution the execution view shows. */
  readonly shown: string | undefined;
  /** Execution view: finished-step lines scrolled back from the newest; 0 follows. */
  readonly scroll: number;
  readonly nextKey: number;
}

export const MAX_EXECUTIONS = 20;

export const initialWorkflowUi: WorkflowUi = { screen: 'none', plan: undefined, executions: [], shown: undefined, scroll: 0, nextKey: 1 };

export type WorkflowAction =
  | { readonly type: 'workflow.planned'; readonly key: number; readonly coordinator: string; readonly plan: Plan__Output }
  /** Planning or submitting failed (refusal, unreachable coordinator, unknown workflow kind). */
  | { readonly type: 'workflow.problem'; readonly key: number; readonly problem: WorkflowProblem; readonly coordinator?: string }
  | { readonly type: 'workflow.submitted'; readonly key: number; readonly coordinator: string; readonly workflow: Workflow__Output }
  | { readonly type: 'workflow.update'; readonly id: string; readonly workflow: Workflow__Output }
  | { readonly type: 'workflow.lost'; readonly id: string; readonly reason: string }
  /** follow() returned: with the final state, or with the last one seen when it gave up. */
  | { readonly type: 'workflow.followEnded'; readonly id: string; readonly workflow: Workflow__Output | undefined }
  | { readonly type: 'workflow.abortAnswer'; readonly yes: boolean }
  | { readonly type: 'workflow.abortDone'; readonly id: string; readonly error?: string };

const KINDS: Partial<Record<Command, WorkflowKindName>> = {
  [Command.WorkflowMigrate]: 'migrate',
  [Command.WorkflowDrain]: 'drain',
  [Command.WorkflowUndrain]: 'undrain',
  [Command.WorkflowUndrainReturn]: 'undrain',
  [Command.WorkflowFailover]: 'failover',
  [Command.WorkflowFailback]: 'failback',
};

/** True for the commands that open a workflow's plan screen. */
export function startsWorkflow(command: Command): boolean {
  return KINDS[command] !== undefined;
}

/** The selected row as a workflow target; the witness node and the backup site take no workflow. */
export function targetOf(row: Row | undefined): WorkflowTarget | undefined {
  if (!row) return undefined;
  switch (row.kind) {
    case 'vm':
      return { kind: 'vm', name: row.vm.name, rowId: row.id };
    case 'node':
      return row.witness ? undefined : { kind: 'node', name: row.node.name, rowId: row.id };
    case 'site':
      return row.siteKind === 'main' ? { kind: 'site', name: row.name, rowId: row.id } : undefined;
  }
}

/** The workflow commands offered for the selected row, in key-table order. */
export function workflowCommandsFor(row: Row | undefined): readonly Command[] {
  const target = targetOf(row);
  return Object.keys(KINDS)
    .map((id) => id as Command)
    .filter((command) => appliesTo(commandSpec(command), target?.kind));
}

/**
 * What `command` asks for on the selected row, or undefined when it does not apply there.
 * Pure: the coordinator is chosen later, from live topology (coordinatorFor).
 */
export function workflowRequest(command: Command, row: Row | undefined): WorkflowRequest | undefined {
  const kind = KINDS[command];
  const target = targetOf(row);
  if (!kind || !target || !appliesTo(commandSpec(command), target.kind)) return undefined;
  const dangerous = commandSpec(command).dangerous;
  const base = { command, kind, target, dangerous };
  const { name } = target;
  switch (command) {
    case Command.WorkflowMigrate:
      // An empty target: the coordinator moves the VM to the other node of its DRBD pair.
      return { ...base, spec: { migrate: { vm: name, targetNode: '' } }, label: `migrate ${name} to its DRBD peer` };
    case Command.WorkflowDrain:
      return { ...base, spec: { drain: { node: name, parallel: DRAIN_PARALLEL, skipUnmovable: false } }, label: `drain ${name} (${DRAIN_PARALLEL} VMs at once)` };
    case Command.WorkflowUndrain:
      return { ...base, spec: { undrain: { node: name, returnVms: false } }, label: `undrain ${name}` };
    case Command.WorkflowUndrainReturn:
      return { ...base, spec: { undrain: { node: name, returnVms: true } }, label: `undrain ${name} and return its VMs` };
    case Command.WorkflowFailover:
      return {
        ...base,
        spec: { failover: target.kind === 'site' ? { node: '', site: name, force: false } : { node: name, site: '', force: false } },
        label: `fail over ${target.kind} ${name}`,
      };
    case Command.WorkflowFailback:
      return { ...base, spec: { failback: { node: name } }, label: `fail back ${name}` };
    default:
      return undefined;
  }
}

/** The execution the execution view shows. */
export function shownExecution(ui: WorkflowUi): Execution | undefined {
  return ui.executions.find((execution) => execution.id === ui.shown);
}

/** Executions still running on their coordinator (as last reported). */
export function runningExecutions(ui: WorkflowUi): readonly Execution[] {
  return ui.executions.filter((execution) => execution.workflow.state === 'running');
}

export const isRunning = (execution: Execution): boolean => execution.workflow.state === 'running';

/** Opens the plan screen for a request; its effect starts planning. */
export function openPlan(ui: WorkflowUi, request: WorkflowRequest): WorkflowUi {
  return {
    ...ui,
    screen: 'plan',
    plan: { key: ui.nextKey, request, status: 'loading', coordinator: undefined, plan: undefined, problem: undefined, note: undefined, scroll: 0 },
    nextKey: ui.nextKey + 1,
  };
}

/**
 * Esc: the plan screen closes (a late plan is ignored) — except while the submission is in
 * flight, where the console must learn the workflow's id to follow it; the execution view
 * detaches (the workflow goes on in its agent).
 */
export function closeScreen(ui: WorkflowUi): WorkflowUi {
  switch (ui.screen) {
    case 'none':
      return ui;
    case 'plan':
      return ui.plan?.status === 'submitting' ? ui : { ...ui, screen: 'none', plan: undefined };
    case 'execution':
      return {
        ...ui,
        screen: 'none',
        executions: ui.executions.map((execution) => (execution.abort.status === 'asking' ? { ...execution, abort: { status: 'idle' } } : execution)),
      };
  }
}

/** The plan on screen, when it can run. */
export function runnablePlan(ui: WorkflowUi): PlanScreen | undefined {
  return ui.screen === 'plan' && ui.plan?.status === 'ready' ? ui.plan : undefined;
}

/** Enter on a runnable plan (after the typed confirmation for a dangerous one): its effect submits. */
export function submitPlan(ui: WorkflowUi): WorkflowUi {
  const plan = runnablePlan(ui);
  return plan ? { ...ui, plan: { ...plan, status: 'submitting', note: undefined } } : ui;
}

/** A note on the plan screen (the confirmation was cancelled or mistyped). */
export function notePlan(ui: WorkflowUi, note: string): WorkflowUi {
  return ui.plan ? { ...ui, plan: { ...ui.plan, note } } : ui;
}

/**
 * `w`: reopens the execution view of the last workflow started here. If the console had
 * given up following it while it still ran (coordinator unreachable), it follows it again.
 */
export function showLast(ui: WorkflowUi): WorkflowUi {
  const last = ui.executions.at(-1);
  if (!last || ui.screen !== 'none') return ui;
  const shown = { ...ui, screen: 'execution' as const, shown: last.id, scroll: 0 };
  return isRunning(last) && !last.watching ? withExecution(shown, last.id, (execution) => ({ ...execution, watching: true })) : shown;
}

/** `a` on the execution view of a running workflow: asks y/N first. */
export function askAbort(ui: WorkflowUi): WorkflowUi {
  const execution = ui.screen === 'execution' ? shownExecution(ui) : undefined;
  if (!execution || !isRunning(execution) || execution.abort.status === 'asking' || execution.abort.status === 'sending') return ui;
  return withExecution(ui, execution.id, (current) => ({ ...current, abort: { status: 'asking' } }));
}

/** True while the execution view waits for the y/N answer of an abort. */
export function abortAsked(ui: WorkflowUi): boolean {
  return ui.screen === 'execution' && shownExecution(ui)?.abort.status === 'asking';
}

function withExecution(ui: WorkflowUi, id: string, change: (execution: Execution) => Execution): WorkflowUi {
  let changed = false;
  const executions = ui.executions.map((execution) => {
    if (execution.id !== id) return execution;
    const next = change(execution);
    changed ||= next !== execution;
    return next;
  });
  return changed ? { ...ui, executions } : ui;
}

/** A newer report replaces an older one; a report never moves a workflow back to running. */
function newer(current: Workflow__Output, next: Workflow__Output): Workflow__Output {
  return current.state !== 'running' && next.state === 'running' ? current : next;
}

function addExecution(ui: WorkflowUi, coordinator: string, workflow: Workflow__Output): WorkflowUi {
  if (ui.executions.some((execution) => execution.id === workflow.id)) return ui;
  const execution: Execution = { id: workflow.id, coordinator, workflow, lost: undefined, watching: true, abort: { status: 'idle' } };
  return { ...ui, executions: [...ui.executions, execution].slice(-MAX_EXECUTIONS) };
}

/** Applies what planning, submitting, following and aborting reported. */
export function workflowReducer(ui: WorkflowUi, action: WorkflowAction): WorkflowUi {
  switch (action.type) {
    case 'workflow.planned': {
      const plan = ui.plan;
      if (!plan || plan.key !== action.key || plan.status !== 'loading') return ui;
      return { ...ui, plan: { ...plan, status: 'ready', coordinator: action.coordinator, plan: action.plan } };
    }
    case 'workflow.problem': {
      const plan = ui.plan;
      if (!plan || plan.key !== action.key || (plan.status !== 'loading' && plan.status !== 'submitting')) return ui;
      return { ...ui, plan: { ...plan, status: 'refused', problem: action.problem, coordinator: action.coordinator ?? plan.coordinator, note: undefined } };
    }
    case 'workflow.submitted': {
      const added = addExecution(ui, action.coordinator, action.workflow);
      const plan = ui.plan;
      if (!plan || plan.key !== action.key) return added;
      return { ...added, screen: 'execution', plan: undefined, shown: action.workflow.id, scroll: 0 };
    }
    case 'workflow.update':
      return withExecution(ui, action.id, (execution) => ({ ...execution, workflow: newer(execution.workflow, action.workflow), lost: undefined }));
    case 'workflow.lost':
      return withExecution(ui, action.id, (execution) => ({ ...execution, lost: action.reason }));
    case 'workflow.followEnded':
      return withExecution(ui, action.id, (execution) => ({
        ...execution,
        workflow: action.workflow ? newer(execution.workflow, action.workflow) : execution.workflow,
        watching: false,
        // Still running when follow gave up: the coordinator stayed unreachable.
        lost: action.workflow?.state === 'running' || !action.workflow ? (execution.lost ?? 'the coordinator did not answer') : undefined,
      }));
    case 'workflow.abortAnswer': {
      const execution = shownExecution(ui);
      if (!execution || execution.abort.status !== 'asking') return ui;
      return withExecution(ui, execution.id, (current) => ({ ...current, abort: action.yes && isRunning(current) ? { status: 'sending' } : { status: 'idle' } }));
    }
    case 'workflow.abortDone':
      return withExecution(ui, action.id, (execution) =>
        execution.abort.status === 'sending' ? { ...execution, abort: action.error ? { status: 'failed', message: action.error } : { status: 'idle' } } : execution,
      );
  }
}

/** A workflow's step title from its plan (the step id when the plan does not name it). */
export function stepTitle(workflow: Workflow__Output, stepId: string): string {
  return workflow.plan?.steps.find((step) => step.id === stepId)?.title ?? stepId;
}
