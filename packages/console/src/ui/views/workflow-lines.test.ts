import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { lineText, type Line } from '../../state/format.js';
import { buildRowModel } from '../../state/rows.js';
import { initialWorkflowUi, openPlan, workflowReducer, workflowRequest, type Execution, type PlanScreen, type WorkflowUi } from '../../state/workflow.js';
import { fakeMigratePlan, fakeStep, fakeWorkflow } from '../../workflows/testing/fake-workflows.js';
import { Command } from '../key/commands.js';
import { footerLine } from './footer-line.js';
import { executionLines, finishedSteps, planBar, planLines, progressBar, summaryLines } from './workflow-lines.js';

const NOW = 1_700_000_000_000;
const model = buildRowModel(fakeClusterSnapshot(fakeLabStates(3, NOW)), NOW);
const row = (id: string) => model.rows[model.indexOf(id)];
const PLAN = fakeMigratePlan('web-1', 'msk-1', 'spb-1');
const text = (lines: readonly Line[]): string => lines.map(lineText).join('\n');
const widest = (lines: readonly Line[]): number => Math.max(...lines.map((line) => [...lineText(line)].length));

function screen(overrides: Partial<PlanScreen> = {}): PlanScreen {
  const request = workflowRequest(Command.WorkflowMigrate, row('vm:vm-msk-1-1'))!;
  return { key: 1, request, status: 'ready', coordinator: 'msk-1', plan: PLAN, problem: undefined, note: undefined, scroll: 0, ...overrides };
}

function execution(overrides: Partial<Execution> = {}): Execution {
  return { id: 'wf-1', coordinator: 'msk-1', workflow: fakeWorkflow(PLAN), lost: undefined, watching: true, abort: { status: 'idle' }, ...overrides };
}

describe('plan lines', () => {
  it('show the title, coordinator, leases and every step with where and the exact command', () => {
    const out = text(planLines(screen(), 100, '*'));
    expect(out).toContain('Live-migrate web-1 from msk-1 to spb-1');
    expect(out).toContain('coordinator msk-1 · 5 steps · leases node/msk-1 node/spb-1 resource/web-1');
    expect(out).toMatch(/1 check +check web-1 can move from msk-1 to spb-1\n +msk-1 \$ drbdadm status web-1; virsh domstate web-1/);
    expect(out).toContain('spb-1 $ drbdadm primary web-1');
    // Preconditions and checks only where there is room for them
    expect(out).not.toContain('verifies:');
    expect(text(planLines(screen(), 140, '*'))).toContain('verifies: nothing');
  });

  it('wrap a long command instead of cutting it, and never exceed the width', () => {
    const long = { ...PLAN, steps: [fakeStep('x', { command: `virsh migrate --live ${'--flag '.repeat(20)}web-1`, title: 'a very long step title '.repeat(5) })] };
    const lines = planLines(screen({ plan: long }), 80, '*');
    expect(widest(lines)).toBeLessThanOrEqual(80);
    expect(text(lines).replace(/\s+/g, ' ')).toContain(`virsh migrate --live ${'--flag '.repeat(20)}web-1`);
  });

  it('show the evidence and warnings of a failover', () => {
    const plan = {
      ...PLAN,
      evidence: [
        { source: 'witness bak-1', fact: 'lost spb-1', supportsLoss: true },
        { source: 'spb-2', fact: 'still sees spb-1', supportsLoss: false },
      ],
      warnings: ['db-1 has 12 MiB out of sync: up to 12 MiB of writes are lost'],
    };
    const failover = { ...screen({ plan }), request: workflowRequest(Command.WorkflowFailover, row('node:spb-1'))! };
    const out = text(planLines(failover, 100, '*'));
    expect(out).toContain('Evidence  (+ supports the loss, - speaks against it)');
    expect(out).toContain('+ witness bak-1: lost spb-1');
    expect(out).toContain('- spb-2: still sees spb-1');
    expect(out).toContain('! db-1 has 12 MiB out of sync');
    // Another workflow's evidence (a failback's record of the failover) is only listed
    expect(text(planLines(screen({ plan }), 100, '*'))).toContain('· spb-2: still sees spb-1');
  });

  it('show a spinner while planning, and a refusal with what was left unchanged', () => {
    expect(text(planLines(screen({ status: 'loading', plan: undefined }), 80, '⠋'))).toContain('⠋ Planning: migrate vm-msk-1-1 to its DRBD peer…');
    const refused = text(
      planLines(screen({ status: 'refused', plan: undefined, problem: { code: 'FAILED_PRECONDITION', message: 'spb-1 is cordoned', unchanged: true, nextSteps: ['uncordon spb-1'] } }), 80, '*'),
    );
    expect(refused).toContain('✗ Refused (coordinator msk-1)');
    expect(refused).toContain('spb-1 is cordoned');
    expect(refused).toContain('Nothing was changed.');
    expect(refused).toContain('Next: uncordon spb-1');
    const unknown = text(planLines(screen({ status: 'refused', plan: undefined, problem: { code: 'DEADLINE_EXCEEDED', message: 'no answer', unchanged: false, nextSteps: [] } }), 80, '*'));
    expect(unknown).toContain('The cluster may have changed');
  });

  it('have a button bar saying what Enter and Esc do', () => {
    expect(lineText(planBar(screen(), '*', '1-10/20'))).toBe('[ Enter Run ]  [ Esc Cancel ]  ↑↓ PgUp PgDn scroll  1-10/20');
    const failover = { ...screen(), request: workflowRequest(Command.WorkflowFailover, row('node:spb-1'))!, note: 'Cancelled: nothing was run.' };
    expect(lineText(planBar(failover, '*', ''))).toBe('Cancelled: nothing was run.  [ Enter Run… type spb-1 ]  [ Esc Cancel ]  ↑↓ PgUp PgDn scroll');
    expect(lineText(planBar(screen({ status: 'submitting' }), '⠋', ''))).toBe('⠋ submitting to msk-1…');
  });
});

describe('execution lines', () => {
  const progress = fakeWorkflow(PLAN, {}, {
    preflight: { state: 'done', detail: 'ready', startedUnixMs: NOW, finishedUnixMs: NOW + 100 },
    'promote-target': { state: 'running', detail: 'promoting', percent: 50 },
    migrate: { state: 'running', detail: 'copying', percent: 25 },
  });

  it('show a running step without progress by its last message only', () => {
    const quiet = fakeWorkflow(PLAN, {}, { preflight: { state: 'running', detail: 'reading state' }, migrate: { state: 'running' } });
    const out = text(executionLines(execution({ workflow: quiet }), 80, 15, 0, NOW, '*').lines);
    expect(out).toMatch(/\* check web-1 can move from msk-1 to spb-1\n {2}reading state\n\* live-migrate web-1 from msk-1 to spb-1\n {2}… 3 more steps/);
    expect(out).not.toContain('0%');
  });

  it('list finished steps, then every running step with a spinner and progress, then the keys, in exactly the height', () => {
    const { lines, scrollCount } = executionLines(execution({ workflow: progress }), 80, 15, 0, NOW + 5000, '⠋');
    const out = text(lines);
    expect(lines).toHaveLength(15);
    expect(scrollCount).toBe(1);
    expect(out).toMatch(/✓ check web-1 can move from msk-1 to spb-1 — ready +0\.1s\n⠋ promote web-1 on spb-1\n.* 50% +promoting\n⠋ live-migrate web-1/);
    expect(out).toContain('… 2 more steps to go');
    expect(out).toContain('by tester@console on msk-1 · 5.0s');
    expect(lineText(lines.at(-1)!)).toContain('a abort  Esc detach (it goes on in msk-1)');
    expect(widest(lines)).toBeLessThanOrEqual(80);
  });

  it('keep the newest finished steps when they do not fit, and scroll back', () => {
    const many = { ...PLAN, steps: Array.from({ length: 30 }, (_, i) => fakeStep(`s${i}`, { title: `step ${i}` })) };
    const workflow = fakeWorkflow(many, {}, Object.fromEntries(many.steps.map((step, i) => [step.id, { state: 'done', finishedUnixMs: NOW + i }])));
    const ended = execution({ workflow: { ...workflow, state: 'succeeded', summary: Array.from({ length: 12 }, (_, i) => `summary line ${i}`) } });
    const { lines, scrollHeight, scrollCount } = executionLines(ended, 80, 12, 0, NOW, '*');
    // The newest lines show: the end of the summary (it scrolls with the finished steps once the workflow ended)
    expect(text(lines)).toContain('summary line 11');
    expect(text(lines)).not.toContain('✓ step 29');
    expect(lines).toHaveLength(12);
    expect(scrollHeight).toBe(10);
    expect(scrollCount).toBe(30 + 1 + 12);
    // Scrolled back, the first steps show
    expect(text(executionLines(ended, 80, 12, scrollCount - scrollHeight, NOW, '*').lines)).toMatch(/✓ step 0\n/);
  });

  it('order finished steps as they finished (parallel lanes), and mark failures and skips', () => {
    const workflow = fakeWorkflow(PLAN, {}, {
      preflight: { state: 'done', finishedUnixMs: NOW + 300 },
      'promote-target': { state: 'failed', detail: 'boom', finishedUnixMs: NOW + 100 },
      migrate: { state: 'skipped' },
    });
    expect(finishedSteps(workflow).map((step) => step.id)).toEqual(['promote-target', 'preflight', 'migrate']);
    const out = text(executionLines(execution({ workflow }), 80, 15, 0, NOW, '*').lines);
    expect(out).toContain('✗ promote web-1 on spb-1 — boom');
    expect(out).toContain('- live-migrate web-1 from msk-1 to spb-1 (skipped)');
  });

  it('end with the summary: state, duration, error, time per phase, summary lines', () => {
    const workflow = fakeWorkflow(PLAN, {
      state: 'succeeded',
      finishedUnixMs: NOW + 61_000,
      timings: [
        { phase: 'fence', durationMs: 1200 },
        { phase: 'promote', durationMs: 800 },
      ],
      summary: ['RTO 61.0s of the 15 min budget', 'RPO risked: 0 B out of sync at the moment of loss'],
    });
    const out = text(summaryLines(workflow, 80));
    expect(out).toContain('✔ SUCCEEDED in 61.0s · 0/5 steps done');
    expect(out).toContain('time per phase: fence 1.2s · promote 0.8s');
    expect(out).toContain('RPO risked: 0 B out of sync');
    expect(text(summaryLines({ ...workflow, state: 'failed', error: 'promote failed' }, 80))).toMatch(/✖ FAILED.*\n +promote failed/);
  });

  it('say when the coordinator is lost, and ask y/N for an abort', () => {
    const lost = text(executionLines(execution({ lost: 'UNAVAILABLE' }), 80, 15, 0, NOW, '*').lines);
    expect(lost).toContain('lost the coordinator msk-1 (UNAVAILABLE); re-attaching');
    const asking = executionLines(execution({ abort: { status: 'asking' } }), 80, 15, 0, NOW, '*').lines;
    expect(lineText(asking.at(-1)!)).toContain('Abort wf-1? It stops and rolls back to a safe state. y abort');
  });

  it('draws a progress bar', () => {
    expect(progressBar(50, 10).map((segment) => segment.text).join('')).toBe('█████░░░░░  50%');
    expect(progressBar(150, 4).map((segment) => segment.text).join('')).toBe('████ 100%');
  });
});

describe('the footer line', () => {
  it('offers the workflows that apply to the selection, then help and quit', () => {
    const base = { workflow: initialWorkflowUi, readOnly: false, onTopology: true };
    expect(lineText(footerLine({ ...base, row: row('vm:vm-msk-1-1') }, 200)).trim()).toBe('m migrate  ? help  q quit');
    expect(lineText(footerLine({ ...base, row: row('node:msk-1') }, 200)).trim()).toBe('D drain  U undrain  R undrain+return  F failover  B failback  ? help  q quit');
    expect(lineText(footerLine({ ...base, row: row('site:spb') }, 200)).trim()).toBe('F failover  ? help  q quit');
    expect(lineText(footerLine({ ...base, row: row('node:bak-1') }, 200)).trim()).toBe('? help  q quit');
    expect(lineText(footerLine({ ...base, row: row('node:msk-1'), readOnly: true }, 200)).trim()).toBe('? help  q quit');
  });

  it('hints only what the identity may run: an operator no failover or failback, a viewer nothing', () => {
    const base = { workflow: initialWorkflowUi, readOnly: false, onTopology: true };
    expect(lineText(footerLine({ ...base, row: row('node:msk-1'), role: 'operator' }, 200)).trim()).toBe('D drain  U undrain  R undrain+return  ? help  q quit');
    expect(lineText(footerLine({ ...base, row: row('node:msk-1'), role: 'viewer' }, 200)).trim()).toBe('? help  q quit');
    expect(lineText(footerLine({ ...base, row: row('site:spb'), role: 'admin' }, 200)).trim()).toBe('F failover  ? help  q quit');
  });

  it('shows the running workflow first, and cuts at the width', () => {
    const request = workflowRequest(Command.WorkflowMigrate, row('vm:vm-msk-1-1'))!;
    const opened = openPlan(initialWorkflowUi, request);
    const running: WorkflowUi = { ...workflowReducer(opened, { type: 'workflow.submitted', key: 1, coordinator: 'msk-1', workflow: fakeWorkflow(PLAN) }), screen: 'none' };
    const line = footerLine({ row: row('vm:vm-msk-1-1'), workflow: running, readOnly: false, onTopology: true }, 80);
    expect(lineText(line)).toMatch(/^● workflow wf-20261123-1a2b3c running \(w shows it\) +m migrate/);
    expect([...lineText(line)].length).toBeLessThanOrEqual(80);
    const ended = workflowReducer(running, { type: 'workflow.update', id: 'wf-20261123-1a2b3c', workflow: fakeWorkflow(PLAN, { state: 'failed' }) });
    expect(lineText(footerLine({ row: undefined, workflow: ended, readOnly: false, onTopology: true }, 80))).toMatch(/^workflow wf-20261123-1a2b3c failed \(w shows it\)/);
  });
});
