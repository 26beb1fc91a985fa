import { HvctlError, buildTopology } from '@hvctl/common';
import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { abortWorkflow, planWorkflow, problemFrom, submitWorkflow, watchWorkflow, type RunnerDeps } from './runner.js';
import { fakeMigratePlan, fakeWorkflow, fakeWorkflowAgent, type FakeWorkflowAgent } from './testing/fake-workflows.js';

const NOW = 1_700_000_000_000;
const topology = (unreachable: string[] = []) => buildTopology(fakeClusterSnapshot(fakeLabStates(3, NOW), unreachable), NOW);
const deps = (agent: FakeWorkflowAgent, nodes = ['msk-1', 'msk-2', 'spb-1', 'spb-2']): RunnerDeps => ({
  client: (node) => (nodes.includes(node) ? agent.client : undefined),
  owner: 'tester@console',
});
const PLAN = fakeMigratePlan('vm-msk-1-1', 'msk-1', 'spb-1');
const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('problemFrom', () => {
  it('keeps the message without the RPC name, and says nothing changed when planning or refused', () => {
    expect(problemFrom(new HvctlError('FAILED_PRECONDITION', 'Plan: spb-1 is cordoned', { nextSteps: ['uncordon it'] }), 'plan')).toEqual({
      code: 'FAILED_PRECONDITION',
      message: 'spb-1 is cordoned',
      unchanged: true,
      nextSteps: ['uncordon it'],
    });
    expect(problemFrom(new HvctlError('FAILED_PRECONDITION', 'Submit: lease node/msk-1 held by wf-2'), 'submit').unchanged).toBe(true);
  });

  it('does not claim nothing changed when a submission got no clear answer', () => {
    const problem = problemFrom(new HvctlError('DEADLINE_EXCEEDED', 'Submit: deadline exceeded'), 'submit');
    expect(problem.unchanged).toBe(false);
    expect(problem.nextSteps.join(' ')).toContain('hvctl workflows');
    expect(problemFrom(new Error('boom'), 'plan')).toMatchObject({ code: 'INTERNAL', message: 'boom', unchanged: true });
  });
});

describe('planWorkflow', () => {
  it('asks the node the VM runs on for a migration plan', async () => {
    const agent = fakeWorkflowAgent();
    const result = await planWorkflow(deps(agent), topology(), { migrate: { vm: 'vm-msk-1-1', targetNode: '' } });
    expect(result).toEqual({ ok: true, coordinator: 'msk-1', plan: PLAN });
    expect(agent.calls.plan).toHaveLength(1);
  });

  it('asks a survivor on the other site to plan the failover of a lost node', async () => {
    const agent = fakeWorkflowAgent();
    const result = await planWorkflow(deps(agent), topology(['spb-1']), { failover: { node: 'spb-1', site: '', force: false } });
    expect(result.ok && result.coordinator).toBe('msk-1');
  });

  it('reports a refusal, an unreachable coordinator and a missing connection without asking anyone else', async () => {
    const refusing = fakeWorkflowAgent({ plan: () => ({ code: 'FAILED_PRECONDITION', details: 'target spb-1 is cordoned' }) });
    expect(await planWorkflow(deps(refusing), topology(), { migrate: { vm: 'vm-msk-1-1', targetNode: '' } })).toEqual({
      ok: false,
      coordinator: 'msk-1',
      problem: { code: 'FAILED_PRECONDITION', message: 'target spb-1 is cordoned', unchanged: true, nextSteps: [] },
    });

    const agent = fakeWorkflowAgent();
    const down = await planWorkflow(deps(agent), topology(['msk-1']), { migrate: { vm: 'vm-msk-1-1', targetNode: '' } });
    expect(down).toMatchObject({ ok: false, coordinator: 'msk-1', problem: { code: 'UNAVAILABLE', message: expect.stringMatching(/^the coordinator msk-1 is unreachable/) } });
    expect(!down.ok && down.problem.nextSteps[0]).toContain('failover of msk-1');
    expect(agent.calls.plan).toEqual([]);

    const none = await planWorkflow(deps(agent, []), topology(), { drain: { node: 'msk-2', parallel: 2, skipUnmovable: false } });
    expect(none).toMatchObject({ ok: false, problem: { code: 'UNAVAILABLE', message: 'the console has no connection to msk-2' } });
  });
});

describe('submitting, following and aborting', () => {
  it('submits with the console owner', async () => {
    const agent = fakeWorkflowAgent();
    const result = await submitWorkflow(deps(agent), 'msk-1', { migrate: { vm: 'vm-msk-1-1', targetNode: '' } });
    expect(result.ok && result.workflow.id).toBe('wf-20261123-1a2b3c');
    expect(agent.calls.submit[0]?.owner).toBe('tester@console');
  });

  it('follows a workflow to its end', async () => {
    // Given a watch on a running workflow
    const agent = fakeWorkflowAgent();
    const seen: string[] = [];
    let final: string | undefined;
    watchWorkflow(deps(agent), 'msk-1', 'wf-1', {
      onUpdate: (workflow) => seen.push(workflow.state),
      onLost: (reason) => seen.push(`lost: ${reason}`),
      onEnd: (workflow) => (final = workflow?.state),
    });
    await turn();
    const stream = agent.streams[0]!;

    // When the coordinator reports progress, then the end
    stream.push(fakeWorkflow(PLAN));
    stream.push(fakeWorkflow(PLAN, { state: 'succeeded' }));
    stream.end();
    await turn();

    // Then every report was passed on and the final state ends the watch
    expect(seen).toEqual(['running', 'succeeded']);
    expect(final).toBe('succeeded');
  });

  it('stops: cancels the stream and passes nothing on afterwards', async () => {
    const agent = fakeWorkflowAgent();
    const seen: string[] = [];
    const stop = watchWorkflow(deps(agent), 'msk-1', 'wf-1', { onUpdate: (workflow) => seen.push(workflow.state), onLost: (reason) => seen.push(reason), onEnd: () => seen.push('end') });
    await turn();
    stop();
    expect(agent.streams[0]?.cancelled).toBe(true);
    agent.streams[0]!.push(fakeWorkflow(PLAN));
    agent.streams[0]!.emit('error', Object.assign(new Error('cancelled'), { code: 1, details: 'Cancelled on client' }));
    await turn();
    expect(seen).toEqual([]);
  });

  it('ends at once when the console has no connection to the coordinator', () => {
    const events: string[] = [];
    watchWorkflow(deps(fakeWorkflowAgent(), []), 'msk-1', 'wf-1', { onUpdate: () => events.push('update'), onLost: (reason) => events.push(reason), onEnd: () => events.push('end') });
    expect(events).toEqual(['the console has no connection to msk-1', 'end']);
  });

  it('aborts through the coordinator and reports an error without the RPC name', async () => {
    const agent = fakeWorkflowAgent({ abort: (id) => fakeWorkflow(PLAN, { id, state: 'aborted' }) });
    expect(await abortWorkflow(deps(agent), 'msk-1', 'wf-1')).toBeUndefined();
    expect(agent.calls.abort).toEqual(['wf-1']);
    expect(await abortWorkflow(deps(fakeWorkflowAgent()), 'msk-1', 'wf-9')).toBe('no workflow wf-9');
  });
});
