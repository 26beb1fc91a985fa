import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { Command } from '../ui/key/commands.js';
import { fakeMigratePlan, fakeWorkflow } from '../workflows/testing/fake-workflows.js';
import { buildRowModel } from './rows.js';
import { initialUiState, uiReducer, type UiAction, type UiState, type ViewMetrics } from './ui-state.js';
import { MAX_EXECUTIONS, runningExecutions, shownExecution, workflowCommandsFor, workflowRequest, type WorkflowProblem } from './workflow.js';

const NOW = 1_700_000_000_000;
const model = buildRowModel(fakeClusterSnapshot(fakeLabStates(3, NOW)), NOW);
const view: ViewMetrics = {
  list: model,
  listHeight: 10,
  detailHeight: 8,
  detailLines: 0,
  logHeight: 3,
  logLines: 0,
  helpHeight: 10,
  helpLines: 0,
  workflowHeight: 10,
  workflowLines: 30,
};
const row = (id: string) => model.rows[model.indexOf(id)];
const PLAN = fakeMigratePlan('vm-msk-1-1', 'msk-1', 'spb-1');
const WF = fakeWorkflow(PLAN);
const REFUSED: WorkflowProblem = { code: 'FAILED_PRECONDITION', message: 'target spb-1 is cordoned', unchanged: true, nextSteps: [] };

const on = (id: string): UiState => uiReducer(initialUiState, { type: 'select', id, view });
const run = (state: UiState, ...actions: UiAction[]): UiState => actions.reduce(uiReducer, state);
const press = (command: Command, readOnly = false): UiAction => ({ type: 'command', command, view, readOnly });
const typed = (text: string): UiAction[] => [...text].map((char) => ({ type: 'confirm.type', text: char }));

/** vm-msk-1-1 selected, m pressed, its plan arrived. */
function planned(): UiState {
  const opened = run(on('vm:vm-msk-1-1'), press(Command.WorkflowMigrate));
  return run(opened, { type: 'workflow.planned', key: opened.workflow.plan!.key, coordinator: 'msk-1', plan: PLAN });
}

/** ... then run and submitted: the execution view follows wf-20261123-1a2b3c. */
function executing(): UiState {
  const state = run(planned(), press(Command.WorkflowRun));
  return run(state, { type: 'workflow.submitted', key: state.workflow.plan!.key, coordinator: 'msk-1', workflow: WF });
}

describe('which workflow a key asks for', () => {
  it('builds the spec from the selected row, and nothing where the command does not apply', () => {
    expect(workflowRequest(Command.WorkflowMigrate, row('vm:vm-msk-1-1'))?.spec).toEqual({ migrate: { vm: 'vm-msk-1-1', targetNode: '' } });
    expect(workflowRequest(Command.WorkflowDrain, row('node:msk-1'))?.spec).toEqual({ drain: { node: 'msk-1', parallel: 2, skipUnmovable: false } });
    expect(workflowRequest(Command.WorkflowUndrain, row('node:msk-1'))?.spec).toEqual({ undrain: { node: 'msk-1', returnVms: false } });
    expect(workflowRequest(Command.WorkflowUndrainReturn, row('node:msk-1'))?.spec).toEqual({ undrain: { node: 'msk-1', returnVms: true } });
    expect(workflowRequest(Command.WorkflowFailback, row('node:spb-2'))?.spec).toEqual({ failback: { node: 'spb-2' } });
    expect(workflowRequest(Command.WorkflowFailover, row('node:spb-1'))).toMatchObject({
      spec: { failover: { node: 'spb-1', site: '', force: false } },
      dangerous: true,
      target: { kind: 'node', name: 'spb-1', rowId: 'node:spb-1' },
    });
    expect(workflowRequest(Command.WorkflowFailover, row('site:spb'))?.spec).toEqual({ failover: { node: '', site: 'spb', force: false } });
    // Not applicable: migrate on a node, drain on a VM or a site, anything on the witness or the backup site
    expect(workflowRequest(Command.WorkflowMigrate, row('node:msk-1'))).toBeUndefined();
    expect(workflowRequest(Command.WorkflowDrain, row('vm:vm-msk-1-1'))).toBeUndefined();
    expect(workflowRequest(Command.WorkflowDrain, row('site:msk'))).toBeUndefined();
    expect(workflowRequest(Command.WorkflowDrain, row('node:bak-1'))).toBeUndefined();
    expect(workflowRequest(Command.WorkflowFailover, row('site:bak'))).toBeUndefined();
    expect(workflowRequest(Command.NavDown, row('vm:vm-msk-1-1'))).toBeUndefined();
  });

  it('lists what applies to each kind of row', () => {
    expect(workflowCommandsFor(row('vm:vm-msk-1-1'))).toEqual([Command.WorkflowMigrate]);
    expect(workflowCommandsFor(row('node:msk-1'))).toEqual([
      Command.WorkflowDrain,
      Command.WorkflowUndrain,
      Command.WorkflowUndrainReturn,
      Command.WorkflowFailover,
      Command.WorkflowFailback,
    ]);
    expect(workflowCommandsFor(row('site:msk'))).toEqual([Command.WorkflowFailover]);
    expect(workflowCommandsFor(row('node:bak-1'))).toEqual([]);
    expect(workflowCommandsFor(undefined)).toEqual([]);
  });
});

describe('the plan screen', () => {
  it('opens loading on m, becomes ready with the plan, and ignores an answer for a cancelled request', () => {
    // When m is pressed on a VM
    const opened = run(on('vm:vm-msk-1-1'), press(Command.WorkflowMigrate));

    // Then the plan screen is loading that request
    expect(opened.workflow.screen).toBe('plan');
    expect(opened.workflow.plan).toMatchObject({ status: 'loading', request: { kind: 'migrate', label: 'migrate vm-msk-1-1 to its DRBD peer' } });

    // And an answer for another key changes nothing; the right one shows the plan
    const key = opened.workflow.plan!.key;
    expect(run(opened, { type: 'workflow.planned', key: key + 1, coordinator: 'msk-1', plan: PLAN })).toBe(opened);
    const ready = run(opened, { type: 'workflow.planned', key, coordinator: 'msk-1', plan: PLAN });
    expect(ready.workflow.plan).toMatchObject({ status: 'ready', coordinator: 'msk-1', plan: PLAN });

    // When Esc cancels, a late answer is ignored
    const closed = run(opened, press(Command.ViewClose));
    expect(closed.workflow.screen).toBe('none');
    expect(run(closed, { type: 'workflow.planned', key, coordinator: 'msk-1', plan: PLAN })).toBe(closed);
  });

  it('does nothing for a command that does not apply, in read-only mode, or over another screen', () => {
    const onNode = on('node:msk-1');
    expect(run(onNode, press(Command.WorkflowMigrate))).toBe(onNode);
    const onVm = on('vm:vm-msk-1-1');
    expect(run(onVm, press(Command.WorkflowMigrate, true))).toBe(onVm);
    const help = run(onVm, press(Command.ViewHelp));
    expect(run(help, press(Command.WorkflowMigrate)).workflow.screen).toBe('none');
    // A second workflow key on the plan screen does not replace the plan
    const ready = planned();
    expect(run(ready, press(Command.WorkflowMigrate))).toBe(ready);
  });

  it('Enter submits a ready plan; Esc is ignored while the submission is in flight', () => {
    const submitting = run(planned(), press(Command.WorkflowRun));
    expect(submitting.workflow.plan?.status).toBe('submitting');
    expect(submitting.confirm).toBeUndefined();
    expect(run(submitting, press(Command.ViewClose)).workflow.screen).toBe('plan');
    // Enter on a loading plan does nothing
    const loading = run(on('vm:vm-msk-1-1'), press(Command.WorkflowMigrate));
    expect(run(loading, press(Command.WorkflowRun))).toBe(loading);
  });

  it('shows a refusal, and Enter cannot run it', () => {
    const opened = run(on('vm:vm-msk-1-1'), press(Command.WorkflowMigrate));
    const refused = run(opened, { type: 'workflow.problem', key: opened.workflow.plan!.key, problem: REFUSED, coordinator: 'msk-1' });
    expect(refused.workflow.plan).toMatchObject({ status: 'refused', problem: REFUSED, coordinator: 'msk-1' });
    expect(run(refused, press(Command.WorkflowRun))).toBe(refused);
    // A refused submission keeps the plan on screen with the problem
    const submitting = run(planned(), press(Command.WorkflowRun));
    const lease = run(submitting, { type: 'workflow.problem', key: submitting.workflow.plan!.key, problem: REFUSED });
    expect(lease.workflow.plan).toMatchObject({ status: 'refused', plan: PLAN, coordinator: 'msk-1' });
  });

  it('scrolls with the navigation keys and clamps on sync', () => {
    const ready = planned();
    const down = run(ready, press(Command.NavPageDown));
    expect(down.workflow.plan?.scroll).toBe(9);
    expect(run(down, press(Command.NavEnd)).workflow.plan?.scroll).toBe(20);
    expect(run(down, { type: 'sync', view: { ...view, workflowLines: 12 } }).workflow.plan?.scroll).toBe(2);
    // The topology selection did not move
    expect(down.selectedId).toBe('vm:vm-msk-1-1');
  });
});

describe('a dangerous workflow (failover)', () => {
  /** spb-1 selected, F pressed, its plan arrived. */
  function failoverPlan(): UiState {
    const opened = run(on('node:spb-1'), press(Command.WorkflowFailover));
    return run(opened, { type: 'workflow.planned', key: opened.workflow.plan!.key, coordinator: 'msk-1', plan: { ...PLAN, title: 'Fail over spb-1' } });
  }

  it('shows the plan first: F itself opens no confirmation', () => {
    const opened = run(on('node:spb-1'), press(Command.WorkflowFailover));
    expect(opened.confirm).toBeUndefined();
    expect(opened.workflow.plan?.request.dangerous).toBe(true);
  });

  it('Enter asks for the node name with nothing typed (Cancel focused); Enter without it runs nothing', () => {
    // When Enter is pressed on the plan
    const asking = run(failoverPlan(), press(Command.WorkflowRun));

    // Then the typed confirmation waits for "spb-1" and the plan did not run
    expect(asking.confirm).toEqual({ command: Command.WorkflowFailover, target: 'node:spb-1', expected: 'spb-1', typed: '' });
    expect(asking.workflow.plan?.status).toBe('ready');

    // When Enter is pressed without typing: cancelled, noted on the plan screen
    const cancelled = run(asking, { type: 'confirm.submit' });
    expect(cancelled.confirm).toBeUndefined();
    expect(cancelled.workflow.plan?.status).toBe('ready');
    expect(cancelled.workflow.plan?.note).toMatch(/Not confirmed.*nothing was run/);

    // And a wrong name cancels too; Esc says so
    expect(run(asking, ...typed('spb-2'), { type: 'confirm.submit' }).workflow.plan?.status).toBe('ready');
    expect(run(asking, press(Command.ViewClose)).workflow.plan?.note).toBe('Cancelled: nothing was run.');
  });

  it('runs once the name is typed exactly', () => {
    const confirmed = run(failoverPlan(), press(Command.WorkflowRun), ...typed('spb-1'), { type: 'confirm.submit' });
    expect(confirmed.confirm).toBeUndefined();
    expect(confirmed.workflow.plan?.status).toBe('submitting');
  });

  it('asks for the site name for a site failover', () => {
    const opened = run(on('site:spb'), press(Command.WorkflowFailover));
    const ready = run(opened, { type: 'workflow.planned', key: opened.workflow.plan!.key, coordinator: 'msk-1', plan: PLAN });
    expect(run(ready, press(Command.WorkflowRun)).confirm?.expected).toBe('spb');
  });
});

describe('the execution view', () => {
  it('opens on submission, follows updates, and detaches on Esc while the workflow runs', () => {
    // Given a submitted workflow
    const state = executing();
    expect(state.workflow).toMatchObject({ screen: 'execution', shown: WF.id, plan: undefined });
    expect(shownExecution(state.workflow)).toMatchObject({ id: WF.id, coordinator: 'msk-1', watching: true, abort: { status: 'idle' } });

    // When an update arrives
    const update = fakeWorkflow(PLAN, {}, { preflight: { state: 'done' } });
    const updated = run(state, { type: 'workflow.update', id: WF.id, workflow: update });
    expect(shownExecution(updated.workflow)?.workflow).toBe(update);

    // When Esc is pressed: the topology is back, the workflow is still followed and listed as running
    const detached = run(updated, press(Command.ViewClose));
    expect(detached.workflow.screen).toBe('none');
    expect(runningExecutions(detached.workflow).map((execution) => execution.id)).toEqual([WF.id]);
    expect(detached.workflow.executions[0]?.watching).toBe(true);

    // And w reopens it
    expect(run(detached, press(Command.WorkflowShow)).workflow).toMatchObject({ screen: 'execution', shown: WF.id });
  });

  it('marks a lost coordinator until the next update, and follows again on w after giving up', () => {
    const lost = run(executing(), { type: 'workflow.lost', id: WF.id, reason: 'UNAVAILABLE' });
    expect(shownExecution(lost.workflow)?.lost).toBe('UNAVAILABLE');
    expect(shownExecution(run(lost, { type: 'workflow.update', id: WF.id, workflow: WF }).workflow)?.lost).toBeUndefined();

    // follow() gave up while it still ran
    const gaveUp = run(lost, { type: 'workflow.followEnded', id: WF.id, workflow: WF }, press(Command.ViewClose));
    expect(gaveUp.workflow.executions[0]).toMatchObject({ watching: false, lost: 'UNAVAILABLE' });
    expect(run(gaveUp, press(Command.WorkflowShow)).workflow.executions[0]?.watching).toBe(true);
  });

  it('keeps the final state: a late running report does not bring it back', () => {
    const done = fakeWorkflow(PLAN, { state: 'succeeded' });
    const ended = run(executing(), { type: 'workflow.followEnded', id: WF.id, workflow: done });
    expect(shownExecution(ended.workflow)).toMatchObject({ watching: false, lost: undefined, workflow: done });
    expect(shownExecution(run(ended, { type: 'workflow.update', id: WF.id, workflow: WF }).workflow)?.workflow.state).toBe('succeeded');
    expect(runningExecutions(ended.workflow)).toEqual([]);
  });

  it('asks y/N before aborting, and reports a failed abort', () => {
    const asking = run(executing(), press(Command.WorkflowAbort));
    expect(shownExecution(asking.workflow)?.abort).toEqual({ status: 'asking' });
    // Navigation, help and Esc wait for the answer
    expect(run(asking, press(Command.NavUp), press(Command.ViewHelp), press(Command.ViewClose))).toEqual(asking);

    expect(shownExecution(run(asking, { type: 'workflow.abortAnswer', yes: false }).workflow)?.abort).toEqual({ status: 'idle' });
    const sending = run(asking, { type: 'workflow.abortAnswer', yes: true });
    expect(shownExecution(sending.workflow)?.abort).toEqual({ status: 'sending' });
    expect(run(sending, press(Command.WorkflowAbort))).toBe(sending);
    const failed = run(sending, { type: 'workflow.abortDone', id: WF.id, error: 'no such workflow' });
    expect(shownExecution(failed.workflow)?.abort).toEqual({ status: 'failed', message: 'no such workflow' });
    // An ended workflow cannot be aborted
    const ended = run(executing(), { type: 'workflow.update', id: WF.id, workflow: { ...WF, state: 'succeeded' } });
    expect(run(ended, press(Command.WorkflowAbort))).toBe(ended);
  });

  it('scrolls the finished steps back from the newest and follows them again at 0', () => {
    const state = executing();
    const back = run(state, press(Command.NavUp), press(Command.NavUp));
    expect(back.workflow.scroll).toBe(2);
    expect(run(back, press(Command.NavDown)).workflow.scroll).toBe(1);
    expect(run(back, press(Command.NavHome)).workflow.scroll).toBe(20);
    expect(run(back, press(Command.NavEnd)).workflow.scroll).toBe(0);
  });

  it('remembers at most the last MAX_EXECUTIONS workflows', () => {
    // Given more submissions than it keeps (detached: no plan screen of theirs is open)
    let one = initialUiState;
    for (let i = 0; i <= MAX_EXECUTIONS; i += 1) {
      one = run(one, { type: 'workflow.submitted', key: -1, coordinator: 'msk-1', workflow: { ...WF, id: `wf-${i}` } });
    }
    expect(one.workflow.executions).toHaveLength(MAX_EXECUTIONS);
    expect(one.workflow.executions[0]?.id).toBe('wf-1');
    expect(one.workflow.screen).toBe('none');
  });
});
