import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  AutopilotServiceExplainResponse__Output,
  AutopilotServiceGetStatusResponse__Output,
  ListDomainsResponse__Output,
  ListWorkflowsResponse__Output,
  AutopilotServicePauseResponse__Output,
  AutopilotServiceSetModeResponse__Output,
  Workflow__Output,
} from '@hvctl/proto';
import { deadline, unary, type AutopilotPolicy } from '@hvctl/common';
import { sleep, waitFor } from '@hvctl/common/testing';
import { buildSeeds, Lab, type LabNodeSpec } from '../testing/harness.js';

/**
 * The autopilot end to end: three real agents on loopback (spb-1 a child process killed
 * with SIGKILL), bak-1 the witness running the watcher and the autopilot. Nobody calls a
 * workflow: the test only kills a node and reads what happened.
 */

const POLICY: AutopilotPolicy = { mode: 'act', graceSeconds: 2, maxFailoversPerSitePerHour: 2, restartWindowMinutes: 10, holdDownSeconds: 10 };

async function startLab(policy: AutopilotPolicy): Promise<Lab> {
  const seeds = buildSeeds(
    ['msk-1', 'spb-1', 'bak-1'],
    [
      { name: 'vm-a', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
      { name: 'vm-b', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
      { name: 'vm-c', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
    ],
    'bak-1',
  );
  const nodes: LabNodeSpec[] = [
    { name: 'msk-1', site: 'msk' },
    { name: 'spb-1', site: 'spb', child: true },
    { name: 'bak-1', site: 'bak', siteKind: 'backup' },
  ];
  const lab = await Lab.start({ nodes, seeds, clusterFile: true, monitorOn: 'bak-1', autopilot: policy });
  await lab.waitAllConnected(10_000);
  return lab;
}

function reads(lab: Lab) {
  const status = (): Promise<AutopilotServiceGetStatusResponse__Output> => unary('GetStatus', (cb) => lab.client('bak-1').autopilot.getStatus({}, deadline(5000), cb));
  const explain = (subject: string): Promise<AutopilotServiceExplainResponse__Output> => unary('Explain', (cb) => lab.client('bak-1').autopilot.explain({ subject }, deadline(5000), cb));
  const workflows = async (node: string): Promise<Workflow__Output[]> =>
    (await unary<ListWorkflowsResponse__Output>('ListWorkflows', (cb) => lab.client(node).workflows.listWorkflows({}, deadline(5000), cb))).workflows;
  const runningOn = async (node: string): Promise<string[]> =>
    (await unary<ListDomainsResponse__Output>('ListDomains', (cb) => lab.client(node).kvm.listDomains({}, deadline(5000), cb))).domains
      .filter((domain) => domain.state === 'DOMAIN_STATE_RUNNING')
      .map((domain) => domain.name)
      .sort();
  /** Waits until the autopilot has judged spb-1 healthy once (its watcher settled). */
  const watching = (): Promise<unknown> =>
    waitFor('the autopilot to watch spb-1', async () => (await status()).decisions.some((decision) => decision.subject === 'spb-1' && decision.code === 'healthy'), { timeoutMs: 20_000 });
  return { status, explain, workflows, runningOn, watching };
}

describe('autopilot in act mode', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab(POLICY);
  }, 60_000);
  afterAll(async () => {
    await lab?.close();
  });

  it('fails over a killed node on its own: its VMs run on the partner, the workflow is the autopilot\'s', async () => {
    const h = reads(lab);
    // Given the autopilot watching, in act mode, and vm-a, vm-b running on spb-1
    await h.watching();
    expect((await h.status()).mode).toBe('act');
    expect(await h.runningOn('msk-1')).toEqual(['vm-c']);
    // When spb-1 is killed (SIGKILL: agent and simulated host gone) — and nothing else
    await lab.kill('spb-1');
    // Then its VMs end up running on msk-1
    await waitFor('vm-a and vm-b to run on msk-1', async () => (await h.runningOn('msk-1')).join(',') === 'vm-a,vm-b,vm-c', { timeoutMs: 60_000, intervalMs: 500 });
    // And the failover that did it was submitted by the autopilot, not an operator, and succeeded
    const failover = await waitFor(
      'the failover workflow to end',
      async () => (await h.workflows('msk-1')).find((workflow) => workflow.spec?.failover?.node === 'spb-1' && workflow.state !== 'running'),
      { timeoutMs: 30_000 },
    );
    expect(failover.owner).toBe('autopilot@bak-1');
    expect(failover.state).toBe('succeeded');
    expect(failover.spec?.failover?.force).toBe(false);
    // And explain shows the evidence and the decision to act
    // (the autopilot follows the workflow on its own watch stream: it may learn the end a moment after msk-1's list shows it)
    const explained = await waitFor('the autopilot to record the outcome', async () => {
      const answer = await h.explain('spb-1');
      return answer.actions[0]?.outcome === 'succeeded' ? answer : undefined;
    }, { timeoutMs: 15_000 });
    expect(explained.history.some((decision) => decision.outcome === 'act' && /spb-1 lost \d+ s: witness lost it \(.*\), partner msk-1 lost it, msk-1 has quorum; failing over spb-1 now/.test(decision.summary))).toBe(true);
    expect(explained.decision?.evidence).toEqual(expect.arrayContaining([expect.stringMatching(/^witness bak-1 DRBD: vm-a \w+/), expect.stringMatching(/^partner msk-1 DRBD:/)]));
    expect(explained.actions).toEqual([expect.objectContaining({ kind: 'failover', subject: 'spb-1', coordinator: 'msk-1', outcome: 'succeeded', workflowId: failover.id })]);
    // And it does not act again on the node it failed over
    await sleep(3000);
    expect((await h.workflows('msk-1')).filter((workflow) => workflow.spec?.failover)).toHaveLength(1);
  }, 120_000);
});

describe('autopilot in observe mode', () => {
  let lab: Lab;
  beforeAll(async () => {
    lab = await startLab({ ...POLICY, mode: 'observe' });
  }, 60_000);
  afterAll(async () => {
    await lab?.close();
  });

  it('does nothing when a node dies, and explain says what it would do', async () => {
    const h = reads(lab);
    await h.watching();
    // When spb-1 is killed
    await lab.kill('spb-1');
    // Then the autopilot says it would fail it over
    const explained = await waitFor('the autopilot to decide on spb-1', async () => {
      const answer = await h.explain('spb-1');
      return answer.decision?.outcome === 'observe' ? answer : undefined;
    }, { timeoutMs: 30_000 });
    expect(explained.decision?.summary).toMatch(/spb-1 lost \d+ s: .*; would fail over spb-1 now \(mode observe: nothing done\)/);
    expect(explained.mode).toBe('observe');
    // And nothing was done: no workflow, vm-a and vm-b not started on msk-1
    await sleep(2000);
    expect(await h.workflows('msk-1')).toEqual([]);
    expect(await h.runningOn('msk-1')).toEqual(['vm-c']);
    expect((await h.status()).actions).toEqual([]);
    // And SetMode by an operator is what would change that (recorded with who set it)
    const mode = await unary<AutopilotServiceSetModeResponse__Output>('SetMode', (cb) => lab.client('bak-1').autopilot.setMode({ mode: 'off' }, deadline(5000), cb));
    expect(mode.mode).toBe('off');
  }, 120_000);

  it('keeps its pauses and mode across a restart of the backup-site agent', async () => {
    const h = reads(lab);
    // Given msk-1 paused for 2 hours and the mode set to act by an operator
    const paused = await unary<AutopilotServicePauseResponse__Output>('Pause', (cb) => lab.client('bak-1').autopilot.pause({ forSeconds: 7200, subject: 'msk-1', requestId: 'p-1' }, deadline(5000), cb));
    expect(paused.pauses).toEqual([expect.objectContaining({ subject: 'msk-1' })]);
    await unary('SetMode', (cb) => lab.client('bak-1').autopilot.setMode({ mode: 'act', requestId: 'm-1' }, deadline(5000), cb));
    // When bak-1's agent restarts
    await lab.stop('bak-1');
    await lab.start('bak-1');
    // Then the pause and the mode are still in force
    const status = await h.status();
    expect(status.pauses).toEqual([expect.objectContaining({ subject: 'msk-1', untilUnixMs: Number(paused.pauses[0]?.untilUnixMs) })]);
    expect(status.mode).toBe('act');
    // And an unknown mode is refused, changing nothing
    await expect(unary('SetMode', (cb) => lab.client('bak-1').autopilot.setMode({ mode: 'yolo', requestId: '' }, deadline(5000), cb))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect((await h.status()).mode).toBe('act');
  }, 60_000);
});

describe('autopilot and a host that crashed and rebooted', () => {
  let lab: Lab;
  beforeAll(async () => {
    // No automatic failover at all (the site's hourly limit is 0), so the only repair left is a start.
    lab = await startLab({ ...POLICY, maxFailoversPerSitePerHour: 0 });
  }, 60_000);
  afterAll(async () => {
    await lab?.close();
  });

  it('starts the VMs intended running that came back shut off, with its own start workflows', async () => {
    const h = reads(lab);
    await h.watching();
    // Given spb-1 crashes and reboots: its VMs come back shut off, both replicas Secondary
    await lab.kill('spb-1');
    await lab.start('spb-1');
    // Then, with no operator call, vm-a and vm-b run again, each exactly once
    await waitFor(
      'vm-a and vm-b to run again',
      async () => {
        const all = [...(await h.runningOn('msk-1')), ...(await h.runningOn('spb-1'))].sort();
        return all.join(',') === 'vm-a,vm-b,vm-c';
      },
      { timeoutMs: 60_000, intervalMs: 500 },
    );
    // And each came back through a start workflow owned by the autopilot, not a failover
    const starts = await waitFor('both start workflows to end', async () => {
      // The coordinator and the other node of the pair both hold a copy of each workflow.
      const all = [...new Map([...(await h.workflows('msk-1')), ...(await h.workflows('spb-1'))].filter((workflow) => workflow.spec?.start).map((workflow) => [workflow.id, workflow])).values()];
      return all.length === 2 && all.every((workflow) => workflow.state !== 'running') ? all : undefined;
    }, { timeoutMs: 30_000 });
    expect(starts.map((workflow) => [workflow.spec?.start?.vm, workflow.owner, workflow.state]).sort()).toEqual([
      ['vm-a', 'autopilot@bak-1', 'succeeded'],
      ['vm-b', 'autopilot@bak-1', 'succeeded'],
    ]);
    expect([...(await h.workflows('msk-1')), ...(await h.workflows('spb-1'))].filter((workflow) => workflow.spec?.failover)).toEqual([]);
  }, 120_000);
});
