import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type {
  CordonResponse__Output,
  DisconnectResponse__Output,
  FailDiskResponse__Output,
  ListLeasesResponse__Output,
  ListResourcesResponse__Output,
  ListWorkflowsResponse__Output,
  GetInfoResponse__Output,
  NodeFlags__Output,
  Plan__Output,
  PlanResponse__Output,
  PromoteResponse__Output,
  Resource__Output,
  SetPartitionResponse__Output,
  SubmitResponse__Output,
  UncordonResponse__Output,
  WatchWorkflowResponse__Output,
  Workflow__Output,
  WorkflowSpec,
} from '@hvctl/proto';
import { ClusterModel, buildTopology, checkInvariants, collectStream, createAgentClient, deadline, loadClusterFile, unary, type HvctlError } from '@hvctl/common';
import { sleep, waitFor } from '@hvctl/common/testing';
import { buildSeeds, Lab, type LabNodeSpec, type SeedVm } from '../testing/harness.js';
import { LINK_GRACE_MS } from './resync.js';

/**
 * Undrain and failback never wait for what cannot happen: real agents on loopback with
 * simulated drivers, faults injected through the lab's fault service or by killing a
 * child-process agent, workflows driven through the coordinator's gRPC API only.
 */
const MIB = 1024 ** 2;

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

const client = (node: string): ReturnType<Lab['client']> => (lab as Lab).client(node);
const resources = async (node: string): Promise<Resource__Output[]> =>
  (await unary<ListResourcesResponse__Output>('ListResources', (cb) => client(node).drbd.listResources({}, deadline(), cb))).resources;
const flags = async (node: string): Promise<NodeFlags__Output | null | undefined> =>
  (await unary<GetInfoResponse__Output>('GetInfo', (cb) => client(node).node.getInfo({}, deadline(), cb))).node?.flags;
let requests = 0;
const plan = async (coordinator: string, spec: WorkflowSpec): Promise<Plan__Output> =>
  (await unary<PlanResponse__Output>('Plan', (cb) => client(coordinator).workflows.plan({ spec }, deadline(15_000), cb))).plan as Plan__Output;
const submit = async (coordinator: string, spec: WorkflowSpec): Promise<Workflow__Output> =>
  (await unary<SubmitResponse__Output>('Submit', (cb) => client(coordinator).workflows.submit({ requestId: `test-${(requests += 1)}`, spec, owner: 'tester' }, deadline(15_000), cb)))
    .workflow as Workflow__Output;
/** Watches a workflow to its end (the watch's deadline is the bound: a workflow that hangs fails the test); returns every state seen. */
const follow = async (coordinator: string, id: string, boundMs = 40_000): Promise<Workflow__Output[]> =>
  (await collectStream<WatchWorkflowResponse__Output>('WatchWorkflow', client(coordinator).workflows.watchWorkflow({ id }, deadline(boundMs)))).flatMap((m) =>
    m.workflow ? [m.workflow] : [],
  );
const run = async (coordinator: string, spec: WorkflowSpec, boundMs?: number): Promise<{ final: Workflow__Output; states: Workflow__Output[] }> => {
  const states = await follow(coordinator, (await submit(coordinator, spec)).id, boundMs);
  return { final: states.at(-1) as Workflow__Output, states };
};
const refusal = (promise: Promise<unknown>): Promise<HvctlError> =>
  promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (error: HvctlError) => error,
  );

const linkState = async (node: string, name: string, other: string): Promise<string | undefined> =>
  (await resources(node)).find((r) => r.name === name)?.peers.find((p) => p.node === other)?.connectionState;

/** Every running agent's links up and every diskful replica UpToDate and in sync. */
async function settled(): Promise<void> {
  await (lab as Lab).waitAllConnected();
  await waitFor(
    'every replica UpToDate and in sync',
    async () => {
      const all = (await Promise.all((lab as Lab).running().map(resources))).flat();
      return all.every((r) => r.client || (r.diskState === 'UpToDate' && r.peers.every((p) => p.peerClient || (p.replicationState === 'Established' && p.peerDiskState === 'UpToDate'))));
    },
    { timeoutMs: 10_000 },
  );
}

async function startLab(nodes: LabNodeSpec[], vms: SeedVm[], timing = {}): Promise<Lab> {
  lab = await Lab.start({ nodes, seeds: buildSeeds(nodes.map((node) => node.name), vms, 'bak-1'), clusterFile: true, timing });
  await settled();
  return lab;
}

/** The safety invariants from outside, as `hvctl check` computes them, over every agent that answers. */
async function invariantViolations(): Promise<string[]> {
  const current = lab as Lab;
  const cluster = await loadClusterFile(join(current.dir, 'cluster.yaml'));
  const model = new ClusterModel({ cluster, connect: (address) => createAgentClient(address) });
  model.start();
  try {
    const topology = buildTopology(await model.whenSettled(5000));
    const running = current.running();
    const leases = (
      await Promise.all(
        running.map(async (node) =>
          (await unary<ListLeasesResponse__Output>('ListLeases', (done) => client(node).leases.listLeases({}, deadline(), done))).leases.map((lease) => ({ ...lease, on: node })),
        ),
      )
    ).flat();
    const workflows = (
      await Promise.all(running.map(async (node) => (await unary<ListWorkflowsResponse__Output>('ListWorkflows', (done) => client(node).workflows.listWorkflows({}, deadline(), done))).workflows))
    ).flat();
    return checkInvariants(topology, leases, workflows).violations.map((violation) => violation.message);
  } finally {
    model.stop();
  }
}

const stepsOf = (workflow: Workflow__Output, prefix: string) => workflow.steps.filter((step) => step.id.startsWith(prefix));

describe('undrain when the peer is gone', () => {
  it('drain msk-2, kill spb-2, undrain msk-2: ends, msk-2 uncordoned, the gone peer named, invariants hold', async () => {
    // Given msk-2 runs vm-a and vm-b, replicated to spb-2 (a child process), bak-1 the witness
    await startLab(
      [
        { name: 'msk-2', site: 'msk' },
        { name: 'spb-2', site: 'spb', child: true },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
      ],
      [
        { name: 'vm-a', home: 'msk-2', peer: 'spb-2', witness: 'bak-1' },
        { name: 'vm-b', home: 'msk-2', peer: 'spb-2', witness: 'bak-1' },
      ],
    );
    // And msk-2 drained: its VMs run on spb-2
    const drain = await run('msk-2', { drain: { node: 'msk-2', parallel: 2, skipUnmovable: false } });
    expect(drain.final.state, drain.final.error).toBe('succeeded');
    // When spb-2 dies (SIGKILL) and msk-2 notices
    await (lab as Lab).kill('spb-2');
    await waitFor('msk-2 to lose spb-2', async () => (await linkState('msk-2', 'vm-a', 'spb-2')) !== 'Connected' && (await linkState('msk-2', 'vm-b', 'spb-2')) !== 'Connected');

    // Then the undrain plan says both resources' peer is gone and waits for neither
    const planned = await plan('msk-2', { undrain: { node: 'msk-2', returnVms: false } });
    expect(planned.steps.map((step) => `${step.phase}: ${step.title}`)).toEqual([
      'check: health-check msk-2: agent answers, drbd, kvm, routing drivers available',
      'resync: let vm-a on msk-2 reconnect to spb-2 by itself (peer gone: not waited for)',
      'resync: let vm-b on msk-2 reconnect to spb-2 by itself (peer gone: not waited for)',
      'service: uncordon msk-2',
      'service: unmark msk-2 maintenance',
      'verify: verify msk-2 is back in service',
    ]);
    expect(planned.warnings).toEqual(
      ['vm-a', 'vm-b'].map((vm) =>
        expect.stringMatching(
          new RegExp(`^${vm}: peer spb-2 unreachable since \\d\\d:\\d\\d:\\d\\d \\(its agent does not answer, DRBD link Connecting\\): not waited for; msk-2 goes back in service with ${vm} degraded until spb-2 returns`),
        ),
      ),
    );

    // When it runs, it ends (the watch's bound), msk-2 is in service and the summary names the gone peer
    const undrain = await run('msk-2', { undrain: { node: 'msk-2', returnVms: false } }, 20_000);
    expect(undrain.final.state, undrain.final.error).toBe('succeeded');
    expect(undrain.final.summary).toEqual([expect.stringMatching(/^degraded: vm-a: peer spb-2 unreachable since/), expect.stringMatching(/^degraded: vm-b: peer spb-2 unreachable since/)]);
    expect(await flags('msk-2')).toMatchObject({ cordoned: false, maintenance: false });
    // And msk-2 keeps an UpToDate copy of each resource; the invariants hold
    expect((await resources('msk-2')).filter((r) => !r.client).map((r) => `${r.name} ${r.role} ${r.diskState}`)).toEqual(['vm-a Secondary UpToDate', 'vm-b Secondary UpToDate']);
    await waitFor('no lease left on msk-2', async () => (await unary<ListLeasesResponse__Output>('ListLeases', (done) => client('msk-2').leases.listLeases({}, deadline(), done))).leases.length === 0);
    expect(await invariantViolations()).toEqual([]);
  });

  it('with a cut peer site: the wait gives up after the link grace, says why, and the next plan does not wait', async () => {
    // Given msk-1 drained to spb-1 (spb-1 runs vm-a and vm-b and keeps writing)
    await startLab(
      [
        { name: 'msk-1', site: 'msk' },
        { name: 'spb-1', site: 'spb' },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
      ],
      [
        { name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
        { name: 'vm-b', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
      ],
    );
    const drain = await run('msk-1', { drain: { node: 'msk-1', parallel: 2, skipUnmovable: false } });
    expect(drain.final.state, drain.final.error).toBe('succeeded');
    // When the link between msk and spb is cut (both agents still answer)
    const cut = (node: string, sites: string[]) => unary<SetPartitionResponse__Output>('SetPartition', (done) => client(node).faults.setPartition({ unreachableSites: sites }, deadline(), done));
    await Promise.all([cut('msk-1', ['spb']), cut('spb-1', ['msk'])]);
    await waitFor('msk-1 to lose spb-1', async () => (await linkState('msk-1', 'vm-a', 'spb-1')) !== 'Connected');

    // And msk-1 is undrained at once (the link may still come back: it is waited for, within the grace)
    const undrain = await run('msk-1', { undrain: { node: 'msk-1', returnVms: false } }, LINK_GRACE_MS + 25_000);

    // Then it ends, saying the replication link is cut, and msk-1 stays cordoned: nothing was put in service on a guess
    expect(undrain.final.state).toMatch(/^(failed|refused)$/);
    expect(undrain.final.error).toMatch(/^vm-[ab]: DRBD link to spb-1 Connecting since \d\d:\d\d:\d\d while its agent answers \(the replication link is cut\); the resync cannot finish until it heals/);
    // And while it waited, each resource said what it waited for
    const waiting = undrain.states.flatMap((w) => stepsOf(w, 'resync:').filter((s) => s.state === 'running').map((s) => s.detail));
    expect(waiting).toEqual(expect.arrayContaining([expect.stringMatching(/^vm-a: Connecting to spb-1 since \d\d:\d\d:\d\d$/)]));
    expect(await flags('msk-1')).toMatchObject({ cordoned: true });

    // When it is planned again, past the grace, the cut link counts as a gone peer: not waited for
    const again = await plan('msk-1', { undrain: { node: 'msk-1', returnVms: false } });
    expect(again.steps.filter((step) => step.phase === 'resync').map((step) => step.id)).toEqual(['reconnect:vm-a', 'reconnect:vm-b']);
    expect(again.warnings[0]).toMatch(/^vm-a: DRBD link to spb-1 Connecting since .* \(the replication link is cut\): not waited for/);
    expect(await invariantViolations()).toEqual([]);
  });
});

describe('undrain resync', () => {
  it('waits for every resource side by side: the waits overlap, each with its own progress', async () => {
    // Given msk-1 drained to spb-1, and its three replicas cut off while spb-1 keeps writing (each falls ~2 s of resync behind)
    await startLab(
      [
        { name: 'msk-1', site: 'msk' },
        { name: 'spb-1', site: 'spb' },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
      ],
      ['vm-a', 'vm-b', 'vm-c'].map((name) => ({ name, home: 'msk-1', peer: 'spb-1', witness: 'bak-1' })),
      { writeBytesPerSecond: 24 * MIB, resyncBytesPerSecond: 32 * MIB },
    );
    const drain = await run('msk-1', { drain: { node: 'msk-1', parallel: 3, skipUnmovable: false } });
    expect(drain.final.state, drain.final.error).toBe('succeeded');
    await Promise.all(['vm-a', 'vm-b', 'vm-c'].map((name) => unary<DisconnectResponse__Output>('Disconnect', (done) => client('msk-1').drbd.disconnect({ name }, deadline(), done))));
    await waitFor(
      'spb-1 to be 48 MiB ahead on every resource',
      async () => (await resources('spb-1')).filter((r) => !r.client).every((r) => Number(r.peers.find((p) => p.node === 'msk-1')?.outOfSyncBytes ?? 0) >= 48 * MIB),
      { timeoutMs: 10_000 },
    );

    // When msk-1 is undrained
    const undrain = await run('msk-1', { undrain: { node: 'msk-1', returnVms: false } });

    // Then it succeeded, and every resource's wait began before any ended: the phase lasts as long as the slowest, not the sum
    expect(undrain.final.state, undrain.final.error).toBe('succeeded');
    const waits = stepsOf(undrain.final, 'resync:');
    expect(waits.map((step) => step.id)).toEqual(['resync:vm-a', 'resync:vm-b', 'resync:vm-c']);
    const lastStart = Math.max(...waits.map((step) => Number(step.startedUnixMs)));
    const firstEnd = Math.min(...waits.map((step) => Number(step.finishedUnixMs)));
    expect(lastStart).toBeLessThan(firstEnd);
    // And each wait said what it waited for, in DRBD's terms, with DRBD's estimate
    const details = undrain.states.flatMap((w) => stepsOf(w, 'resync:').filter((s) => s.state === 'running').map((s) => s.detail));
    for (const vm of ['vm-a', 'vm-b', 'vm-c']) expect(details).toEqual(expect.arrayContaining([expect.stringMatching(new RegExp(`^${vm}: SyncTarget \\d+%, ~\\d+ s left$`))]));
    expect(await invariantViolations()).toEqual([]);
  });

  it('refuses a split-brain pair, naming the command that discards one side; nothing changes', async () => {
    // Given msk-1 drained to spb-1, then vm-a disconnected on msk-1 and forced Primary there: both sides Primary
    await startLab(
      [
        { name: 'msk-1', site: 'msk' },
        { name: 'spb-1', site: 'spb' },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
      ],
      [
        { name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
        { name: 'vm-b', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
      ],
    );
    const drain = await run('msk-1', { drain: { node: 'msk-1', parallel: 2, skipUnmovable: false } });
    expect(drain.final.state, drain.final.error).toBe('succeeded');
    await unary<UncordonResponse__Output>('Uncordon', (done) => client('msk-1').node.uncordon({ requestId: 'test-uncordon' }, deadline(), done));
    await unary<DisconnectResponse__Output>('Disconnect', (done) => client('msk-1').drbd.disconnect({ name: 'vm-a' }, deadline(), done));
    await unary<PromoteResponse__Output>('Promote', (done) => client('msk-1').drbd.promote({ requestId: 'test-promote', name: 'vm-a', force: true }, deadline(), done));
    await unary<CordonResponse__Output>('Cordon', (done) => client('msk-1').node.cordon({ requestId: 'test-cordon', reason: 'maintenance' }, deadline(), done));

    // When msk-1 is undrained, it is refused at once, naming the pair and the operator's commands
    const refused = await refusal(plan('msk-1', { undrain: { node: 'msk-1', returnVms: false } }));
    expect(refused.code).toBe('FAILED_PRECONDITION');
    expect(refused.message).toMatch(/not undraining msk-1: vm-a is Primary on both msk-1 and spb-1/);
    expect(refused.describe()).toContain('drbdadm secondary vm-a; drbdadm connect --discard-my-data vm-a');
    // And nothing changed: still cordoned, vm-a still StandAlone on msk-1 (never reconnected into a refused handshake)
    expect(await flags('msk-1')).toMatchObject({ cordoned: true });
    expect(await linkState('msk-1', 'vm-a', 'spb-1')).toBe('StandAlone');
  });
});

describe('failback resync', () => {
  it('leaves a VM whose disk failed on the returning node where it runs, names the fix, and fails the rest back', async () => {
    // Given spb-1 (a child process) runs vm-a and vm-b, replicated to msk-1; it dies and msk-1 fails it over
    await startLab(
      [
        { name: 'msk-1', site: 'msk' },
        { name: 'spb-1', site: 'spb', child: true },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
      ],
      [
        { name: 'vm-a', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
        { name: 'vm-b', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
      ],
    );
    await (lab as Lab).kill('spb-1');
    await waitFor('msk-1 to lose spb-1 with quorum', async () => (await resources('msk-1')).every((r) => r.peers.find((p) => p.node === 'spb-1')?.connectionState !== 'Connected' && r.quorum));
    const failover = await run('msk-1', { failover: { node: 'spb-1', site: '', force: false } });
    expect(failover.final.state, failover.final.error).toBe('succeeded');
    // And spb-1 returns, but the disk under vm-b's replica fails there
    await (lab as Lab).start('spb-1');
    await waitFor('spb-1 to reconnect', async () => (await linkState('spb-1', 'vm-a', 'msk-1')) === 'Connected');
    await unary<FailDiskResponse__Output>('FailDisk', (done) => client('spb-1').faults.failDisk({ resource: 'vm-b' }, deadline(), done));
    await sleep(200);

    // When spb-1's failback is planned, vm-b is named with the fix and stays on msk-1; vm-a resyncs and moves home
    const planned = await plan('spb-1', { failback: { node: 'spb-1' } });
    expect(planned.steps.filter((step) => step.phase === 'resync').map((step) => step.title)).toEqual(['resync vm-a on spb-1 from msk-1 (SyncTarget) until UpToDate']);
    expect(planned.warnings).toEqual([
      'vm-b: the local disk on spb-1 failed (Diskless); its data is only on msk-1: not resynced; replace the failed backing disk of vm-b on spb-1, then on spb-1: `drbdadm create-md vm-b; drbdadm attach vm-b` (a full resync from the peer follows)',
      'vm-b stays on msk-1: only a VM whose disk is UpToDate and connected on both sides moves home, and vm-b is not resynced now',
    ]);
    const failback = await run('spb-1', { failback: { node: 'spb-1' } });
    // Then it ends: vm-a is home, vm-b runs on msk-1 alone; the invariants hold
    expect(failback.final.state, failback.final.error).toBe('succeeded');
    const running = async (node: string) => (await resources(node)).filter((r) => r.role === 'Primary').map((r) => r.name);
    expect(await running('spb-1')).toEqual(['vm-a']);
    expect(await running('msk-1')).toEqual(['vm-b']);
    expect(await invariantViolations()).toEqual([]);
  });
});
