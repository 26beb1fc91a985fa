import { cleanup } from 'ink-testing-library';
import type { ReactElement } from 'react';
import { afterEach, describe, expect, it } from 'vitest';
import { fakeMigratePlan, fakeStep, fakeWorkflow, fakeWorkflowAgent, type FakeWorkflowAgent } from '../workflows/testing/fake-workflows.js';
import { App } from './App.js';
import type { ClusterSource } from './hooks/useClusterSnapshot.js';
import { NOW, expectFits, fakeSource, lab, renderAt } from './testing/harness.js';

const ENTER = '\r';
const ESC = '\u001B';

const app = (source: ClusterSource, readOnly = false): ReactElement => <App source={source} now={() => NOW} readOnly={readOnly} owner="tester@console" />;

/** The lab whose every node answers with the same fake coordinator. */
function labWith(agent: FakeWorkflowAgent, unreachable: string[] = []): ClusterSource {
  const clients = Object.fromEntries(['msk-1', 'msk-2', 'spb-1', 'spb-2', 'bak-1'].map((node) => [node, agent.client]));
  return fakeSource(lab(unreachable), clients);
}

const PLAN = fakeMigratePlan('vm-msk-1-1', 'msk-1', 'spb-1');
const at = (ms: number): number => NOW + ms;

afterEach(() => {
  cleanup();
});

describe('workflows in the console', () => {
  it('m on a VM shows its migration plan with every step and the command it maps to', async () => {
    // Given the lab and vm-msk-1-1 selected (site msk, msk-1, then its first VM)
    const agent = fakeWorkflowAgent();
    const { press, frame, until } = await renderAt(app(labWith(agent)), 120, 40);
    await press('j', 'j');
    await until(/m migrate/);

    // When m is pressed
    await press('m');
    const text = await until('[ Enter Run ]');

    // Then msk-1 (where the VM runs) was asked for the plan, and it is shown with its steps and commands
    expect(agent.calls.plan).toEqual([{ migrate: { vm: 'vm-msk-1-1', targetNode: '' } }]);
    expect(text).toContain('Plan migrate vm-msk-1-1 to its DRBD peer');
    expect(text).toContain('Live-migrate vm-msk-1-1 from msk-1 to spb-1');
    expect(text).toContain('coordinator msk-1');
    for (const step of PLAN.steps) {
      expect(text).toContain(step.title);
      expect(text).toContain(`${step.node} $ ${step.command}`);
    }
    expect(text).toMatch(/check +check vm-msk-1-1 can move/);
    expect(text).toContain('[ Enter Run ]');
    expect(text).toContain('[ Esc Cancel ]');
    expect(text).not.toContain('─ Topology');

    // And Esc goes back to the topology without submitting anything
    await press(ESC);
    await until('─ Topology');
    expect(agent.calls.submit).toEqual([]);
    expect(frame()).not.toContain('workflow wf-');
  });

  it('Enter runs the plan: finished steps, the running step with its progress, then the summary', async () => {
    // Given the plan of vm-msk-1-1 on screen
    const agent = fakeWorkflowAgent();
    const { press, until } = await renderAt(app(labWith(agent)), 120, 40);
    await press('j', 'j', 'm');
    await until('[ Enter Run ]');

    // When Enter is pressed
    await press(ENTER);
    const started = await until('a abort');
    await until(() => agent.streams.length > 0);

    // Then it was submitted to msk-1 by this console's owner, and the execution view follows it
    expect(agent.calls.submit).toEqual([{ spec: { migrate: { vm: 'vm-msk-1-1', targetNode: '' } }, owner: 'tester@console' }]);
    expect(agent.calls.watch).toEqual(['wf-20261123-1a2b3c']);
    expect(started).toContain('Workflow wf-20261123-1a2b3c on msk-1 · running');

    // When the coordinator reports two steps done and the migration at 40 %
    const stream = agent.streams[0]!;
    stream.push(
      fakeWorkflow(PLAN, {}, {
        preflight: { state: 'done', detail: 'ready', startedUnixMs: at(0), finishedUnixMs: at(100) },
        'promote-target': { state: 'done', detail: 'Primary on spb-1', startedUnixMs: at(100), finishedUnixMs: at(300) },
        migrate: { state: 'running', detail: 'copying memory', percent: 40, startedUnixMs: at(300) },
      }),
    );

    // Then the finished steps are listed with ✓ and the running one with its progress
    let text = await until('copying memory');
    expect(text).toMatch(/✓ check vm-msk-1-1 can move from msk-1 to spb-1 — ready +0\.1s/);
    expect(text).toMatch(/✓ promote vm-msk-1-1 on spb-1 — Primary on spb-1/);
    expect(text).toMatch(/live-migrate vm-msk-1-1 from msk-1 to spb-1\n.*█+░+ +40% +copying memory/);
    expect(text).toContain('2 more steps to go');

    // When it succeeds and the stream ends
    stream.push(
      fakeWorkflow(
        PLAN,
        { state: 'succeeded', finishedUnixMs: at(4200), timings: [{ phase: 'check', durationMs: 100 }, { phase: 'migrate', durationMs: 3500 }], summary: ['vm-msk-1-1 runs on spb-1'] },
        Object.fromEntries(PLAN.steps.map((step, i) => [step.id, { state: 'done', detail: 'ok', startedUnixMs: at(i * 100), finishedUnixMs: at(i * 100 + 50) }])),
      ),
    );
    stream.end();

    // Then every step is ✓ and the summary shows the state, duration, timings and summary lines
    text = await until('SUCCEEDED');
    for (const step of PLAN.steps) expect(text).toContain(`✓ ${step.title}`);
    expect(text).toContain('✔ SUCCEEDED in 4.2s · 5/5 steps done');
    expect(text).toContain('time per phase: check 0.1s · migrate 3.5s');
    expect(text).toContain('vm-msk-1-1 runs on spb-1');
    expect(text).toContain('Esc close');

    // And after Esc the footer remembers it
    await press(ESC);
    await until(/workflow wf-20261123-1a2b3c succeeded \(w shows it\)/);
  });

  it('shows a refusal with its message and that nothing was changed', async () => {
    // Given a coordinator that refuses (target cordoned)
    const agent = fakeWorkflowAgent({
      plan: () => ({ code: 'FAILED_PRECONDITION', details: 'vm-msk-1-1 cannot move from msk-1 to spb-1: target spb-1 is cordoned' }),
    });
    const { press, until } = await renderAt(app(labWith(agent)), 120, 40);

    // When m is pressed on vm-msk-1-1
    await press('j', 'j', 'm');
    const text = await until('Nothing was changed.');

    // Then the refusal and its message are shown; Enter does not submit
    expect(text).toContain('✗ Refused (coordinator msk-1)');
    expect(text).toContain('vm-msk-1-1 cannot move from msk-1 to spb-1: target spb-1 is cordoned');
    expect(text).toContain('Nothing was changed.');
    expect(text).toContain('[ Esc Close ]');
    await press(ENTER);
    expect(agent.calls.submit).toEqual([]);
  });

  it('shows "unknown workflow" from an agent without the kind like any other refusal', async () => {
    const agent = fakeWorkflowAgent({ plan: () => ({ code: 'INVALID_ARGUMENT', details: 'unknown workflow' }) });
    const { press, until } = await renderAt(app(labWith(agent)), 80, 24);
    // msk-1 is the second row: D drains it
    await press('j', 'D');
    const text = await until('Nothing was changed.');
    expect(agent.calls.plan).toEqual([{ drain: { node: 'msk-1', parallel: 2, skipUnmovable: false } }]);
    expect(text).toContain('Refused: invalid request (coordinator msk-1)');
    expect(text).toContain('unknown workflow');
    expect(text).toContain('Nothing was changed.');
  });

  it('F on a node needs its name typed, with Cancel focused: Enter without typing cancels', async () => {
    // Given spb-1 lost, and a failover plan with evidence (coordinated by a survivor)
    const failover = {
      ...PLAN,
      title: 'Fail over spb-1: recover 3 VMs on msk-1',
      evidence: [
        { source: 'console', fact: 'spb-1 unreachable for 42 s', supportsLoss: true },
        { source: 'witness bak-1', fact: 'bak-1 lost its connection to spb-1', supportsLoss: true },
      ],
      steps: [fakeStep('fence', { title: 'withdraw spb-1 announcements', node: 'msk-1', phase: 'fence', command: 'birdc disable spb1_bgp' })],
    };
    const agent = fakeWorkflowAgent({ plan: () => failover });
    const { press, frame, until } = await renderAt(app(labWith(agent, ['spb-1'])), 80, 24);

    // When F is pressed on spb-1 (site msk, msk-1 + 3, msk-2 + 3, site spb, spb-1)
    await press(...Array<string>(10).fill('j'));
    await press('F');
    let text = await until('Enter Run');

    // Then the plan shows the evidence and asks for the name before running
    expect(agent.calls.plan).toEqual([{ failover: { node: 'spb-1', site: '', force: false } }]);
    expect(text).toContain('Evidence');
    expect(text).toContain('+ witness bak-1: bak-1 lost its connection to spb-1');
    expect(text).toContain('[ Enter Run… type spb-1 ]');

    // When Enter is pressed: the typed confirmation opens with Cancel focused
    await press(ENTER);
    text = await until('Type spb-1');
    expect(text).toContain('Run: fail over node spb-1');
    expect(text).toContain('Type spb-1 and press Enter');
    expect(text).toContain('[ Cancel ]');

    // And Enter without typing cancels: nothing is submitted, the plan says so
    await press(ENTER);
    text = await until('Not confirmed');
    expect(agent.calls.submit).toEqual([]);
    expect(text).toContain('Not confirmed');
    expect(text).toContain('nothing was run');
    expectFits(frame(), 80, 24);

    // When the name is typed after a second Enter, it runs
    await press(ENTER);
    await until('Type spb-1');
    await press('s', 'p', 'b', '-', '1');
    await until('> spb-1');
    await press(ENTER);
    await until('Workflow wf-20261123-1a2b3c');
    expect(agent.calls.submit).toEqual([{ spec: { failover: { node: 'spb-1', site: '', force: false } }, owner: 'tester@console' }]);
  });

  it('Esc during execution detaches; the footer shows the running workflow and w reopens it', async () => {
    // Given a migration running
    const agent = fakeWorkflowAgent();
    const { press, until } = await renderAt(app(labWith(agent)), 80, 24);
    await press('j', 'j', 'm');
    await until('[ Enter Run ]');
    await press(ENTER);
    await until('Workflow wf-20261123-1a2b3c');
    await until(() => agent.streams.length > 0);

    // When Esc is pressed
    await press(ESC);
    const text = await until('─ Topology');

    // Then the topology is back, the footer says which workflow still runs, and the stream is kept
    expect(text).toContain('─ Topology');
    expect(text).toMatch(/● workflow wf-20261123-1a2b3c running \(w shows it\)/);
    expect(agent.streams[0]?.cancelled).toBe(false);
    expectFits(text, 80, 24);

    // And w reopens the execution view, which keeps following
    agent.streams[0]!.push(fakeWorkflow(PLAN, {}, { preflight: { state: 'done', detail: 'ready' } }));
    await press('w');
    expect(await until('✓ check vm-msk-1-1 can move')).toContain('Workflow wf-20261123-1a2b3c');
  });

  it('a asks y/N and aborts through the coordinator', async () => {
    const agent = fakeWorkflowAgent({ abort: (id) => fakeWorkflow(PLAN, { id, state: 'aborted', error: 'aborted by tester@console' }) });
    const { press, until } = await renderAt(app(labWith(agent)), 120, 40);
    await press('j', 'j', 'm');
    await until('[ Enter Run ]');
    await press(ENTER);
    await until('a abort');
    await until(() => agent.streams.length > 0);

    // n keeps it running
    await press('a');
    await until('Abort wf-20261123-1a2b3c?');
    await press('n');
    await until('a abort');
    expect(agent.calls.abort).toEqual([]);

    // y aborts: the coordinator is asked, and its report of the abort ends the view
    await press('a');
    await until('Abort wf-20261123-1a2b3c?');
    await press('y');
    await until(() => agent.calls.abort.length > 0);
    expect(agent.calls.abort).toEqual(['wf-20261123-1a2b3c']);
    agent.streams[0]!.push(fakeWorkflow(PLAN, { state: 'aborted', error: 'aborted by tester@console' }));
    agent.streams[0]!.end();
    expect(await until('ABORTED')).toContain('aborted by tester@console');
  });

  it('help says which workflows apply to the selection, at 80 columns too', async () => {
    const { press, until } = await renderAt(app(labWith(fakeWorkflowAgent())), 80, 24);
    // msk-1 selected; the Workflows section is near the end of the help (G, then a page up)
    await press('j', '?', 'G', '\u001B[5~');
    const text = await until('Workflows  for the selection: node msk-1');
    expect(text).toContain('Workflows  for the selection: node msk-1');
    expect(text).toMatch(/m +Live-migrate the selected VM[^]*\(select a VM\)/);
    expectFits(text, 80, 24);
    // The footer hints at the same keys on the topology
    await press('?');
    await until('D drain  U undrain  R undrain+return  F failover  B failback');
  });

  it('offers no workflow in read-only mode', async () => {
    const agent = fakeWorkflowAgent();
    const { press, until } = await renderAt(app(labWith(agent), true), 120, 40);
    await press('j', 'j', 'm', 'F', '?');
    const text = await until('Help');
    expect(agent.calls.plan).toEqual([]);
    expect(text).not.toContain('workflow.migrate');
    expect(text).not.toMatch(/m migrate/);
  });

  it('fits 80x24 on the plan screen and the execution view', async () => {
    const agent = fakeWorkflowAgent();
    const { press, until } = await renderAt(app(labWith(agent)), 80, 24);
    await press('j', 'j', 'm');
    expectFits(await until('[ Enter Run ]'), 80, 24);
    await press(ENTER);
    await until(() => agent.streams.length > 0);
    agent.streams[0]!.push(
      fakeWorkflow(PLAN, {}, { preflight: { state: 'done', detail: 'ready '.repeat(30) }, migrate: { state: 'running', percent: 70, detail: 'copying memory '.repeat(10) } }),
    );
    expectFits(await until('70%'), 80, 24);
  });

  it('scrolls a plan longer than the screen', async () => {
    // Given a drain of msk-1 with 30 steps
    const steps = Array.from({ length: 30 }, (_, i) => fakeStep(`move-${i}`, { title: `move VM ${i} to spb-1`, phase: 'migrate', command: `virsh migrate --live vm-${i} qemu+tls://spb-1/system` }));
    const agent = fakeWorkflowAgent({ plan: () => ({ ...PLAN, title: 'Drain msk-1', steps }) });
    const { press, until } = await renderAt(app(labWith(agent)), 80, 24);
    await press('j', 'D');
    const first = await until('[ Enter Run ]');

    // Then the first lines show with the position, and G jumps to the last step
    expect(first).toMatch(/1-\d+\/\d+/);
    expect(first).toContain('move VM 0 to spb-1');
    expect(first).not.toContain('move VM 29 to spb-1');
    await press('G');
    const end = await until('move VM 29 to spb-1');
    expect(end).toContain('move VM 29 to spb-1');
    expectFits(end, 80, 24);
  });
});
