import { afterEach, describe, expect, it } from 'vitest';
import type {
  Announcement__Output,
  CordonResponse__Output,
  DisconnectResponse__Output,
  Domain__Output,
  FailMigrationsResponse__Output,
  GetInfoResponse__Output,
  ListAnnouncementsResponse__Output,
  ListDomainsResponse__Output,
  ListLeasesResponse__Output,
  ListResourcesResponse__Output,
  ListWorkflowsResponse__Output,
  NodeInfo__Output,
  Plan__Output,
  PlanResponse__Output,
  Resource__Output,
  SubmitResponse__Output,
  WatchWorkflowResponse__Output,
  Workflow__Output,
  WorkflowSpec,
} from '@hvctl/proto';
import { collectStream, deadline, unary, type HvctlError } from '@hvctl/common';
import { sleep, waitFor } from '@hvctl/common/testing';
import { buildSeeds, Lab, type LabNodeSpec } from '../../testing/harness.js';
import type { DrainData } from './drain.js';

/**
 * Drain and undrain end to end: real agents on loopback with simulated drivers, a
 * cluster file so the coordinator (the drained node) reaches the others, workflows
 * driven through the coordinator's gRPC API only.
 *
 * msk-1 runs vm-a, vm-b, vm-c (peers on spb-1) and announces the public block;
 * spb-1 runs vm-d (peer msk-1) and announces the public block too; msk-2 runs vm-e
 * (peer spb-1); bak-1 is every resource's diskless witness.
 */
const PUBLIC_BLOCK = '203.0.113.0/24';
const GIB = 1024 ** 3;
const LAB_NODES: LabNodeSpec[] = [
  { name: 'msk-1', site: 'msk' },
  { name: 'msk-2', site: 'msk' },
  { name: 'spb-1', site: 'spb' },
  { name: 'bak-1', site: 'bak', siteKind: 'backup' },
];
const MAIN_NODES = ['msk-1', 'msk-2', 'spb-1'];
const DRAINED = ['vm-a', 'vm-b', 'vm-c'];
const ALL_VMS = ['vm-a', 'vm-b', 'vm-c', 'vm-d', 'vm-e'];
const IP: Record<string, string> = { 'vm-a': '10.20.0.10', 'vm-b': '10.20.0.11', 'vm-c': '10.20.0.12', 'vm-d': '10.20.0.13', 'vm-e': '10.20.0.14' };

function labSeeds(): ReturnType<typeof buildSeeds> {
  const seeds = buildSeeds(
    LAB_NODES.map((node) => node.name),
    [
      { name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
      { name: 'vm-b', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
      { name: 'vm-c', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
      { name: 'vm-d', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
      { name: 'vm-e', home: 'msk-2', peer: 'spb-1', witness: 'bak-1', memoryBytes: 8 * GIB },
    ],
    'bak-1',
  );
  for (const speaker of ['msk-1', 'spb-1']) seeds[speaker]?.announcements.push({ prefix: PUBLIC_BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceMs: 0 });
  return seeds;
}

let lab: Lab | undefined;
const client = (node: string): ReturnType<Lab['client']> => (lab as Lab).client(node);

async function startLab(nodes: LabNodeSpec[] = LAB_NODES, seeds = labSeeds()): Promise<Lab> {
  const started = await Lab.start({ nodes, seeds, clusterFile: true, publicBlock: PUBLIC_BLOCK });
  lab = started;
  await started.waitAllConnected();
  // Writes made before every agent was up are resynced first: start from a cluster in sync.
  await waitFor('every replica UpToDate and in sync', async () => {
    for (const node of started.running()) {
      for (const resource of await resources(node)) {
        if (resource.client) continue;
        if (resource.diskState !== 'UpToDate' || resource.peers.some((peer) => !peer.peerClient && (peer.replicationState !== 'Established' || peer.peerDiskState !== 'UpToDate'))) return false;
      }
    }
    return true;
  }, { timeoutMs: 10_000 });
  return started;
}

afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

// ---- reads ------------------------------------------------------------------------------

const domains = async (node: string): Promise<Domain__Output[]> =>
  (await unary<ListDomainsResponse__Output>('ListDomains', (cb) => client(node).kvm.listDomains({}, deadline(), cb))).domains;
const resources = async (node: string): Promise<Resource__Output[]> =>
  (await unary<ListResourcesResponse__Output>('ListResources', (cb) => client(node).drbd.listResources({}, deadline(), cb))).resources;
const announcements = async (node: string): Promise<Announcement__Output[]> =>
  (await unary<ListAnnouncementsResponse__Output>('ListAnnouncements', (cb) => client(node).routing.listAnnouncements({}, deadline(), cb))).announcements;
const info = async (node: string): Promise<NodeInfo__Output> =>
  (await unary<GetInfoResponse__Output>('GetInfo', (cb) => client(node).node.getInfo({}, deadline(), cb))).node as NodeInfo__Output;
const leases = async (node: string): Promise<string[]> =>
  (await unary<ListLeasesResponse__Output>('ListLeases', (cb) => client(node).leases.listLeases({}, deadline(), cb))).leases.map((lease) => lease.key);
const workflows = async (node: string): Promise<Workflow__Output[]> =>
  (await unary<ListWorkflowsResponse__Output>('ListWorkflows', (cb) => client(node).workflows.listWorkflows({}, deadline(), cb))).workflows;

const isUp = (domain: Domain__Output | undefined): boolean => domain?.state === 'DOMAIN_STATE_RUNNING' || domain?.state === 'DOMAIN_STATE_PAUSED';

/** Where each VM runs, which nodes are Primary for its resource, who sets allow-two-primaries, who announces its /32. */
async function placement(vms: readonly string[]): Promise<Record<string, { running: string[]; primaries: string[]; twoPrimaries: string[]; announced: string[] }>> {
  const nodes = MAIN_NODES.filter((node) => lab?.running().includes(node));
  const state = await Promise.all(nodes.map(async (node) => ({ node, domains: await domains(node), resources: await resources(node), announcements: await announcements(node) })));
  return Object.fromEntries(
    vms.map((vm) => [
      vm,
      {
        running: state.filter((entry) => entry.domains.some((domain) => domain.name === vm && domain.state === 'DOMAIN_STATE_RUNNING')).map((entry) => entry.node),
        primaries: state.filter((entry) => entry.resources.some((resource) => resource.name === vm && resource.role === 'Primary')).map((entry) => entry.node),
        twoPrimaries: state.filter((entry) => entry.resources.some((resource) => resource.name === vm && resource.allowTwoPrimaries)).map((entry) => entry.node),
        announced: state.filter((entry) => entry.announcements.some((a) => a.prefix === `${IP[vm]}/32`)).map((entry) => entry.node),
      },
    ]),
  );
}

/** The safety invariants for each VM: runs on one node, Primary only there, no allow-two-primaries, /32 only from there. */
async function expectSafe(where: Record<string, string>): Promise<void> {
  const actual = await placement(Object.keys(where));
  const expected = Object.fromEntries(Object.entries(where).map(([vm, node]) => [vm, { running: [node], primaries: [node], twoPrimaries: [], announced: [node] }]));
  expect(actual).toEqual(expected);
}

// ---- workflows --------------------------------------------------------------------------

const drainSpec = (node: string, parallel = 2, skipUnmovable = false): WorkflowSpec => ({ drain: { node, parallel, skipUnmovable } });
const undrainSpec = (node: string, returnVms = false): WorkflowSpec => ({ undrain: { node, returnVms } });
let requests = 0;

const plan = async (coordinator: string, spec: WorkflowSpec): Promise<Plan__Output> =>
  (await unary<PlanResponse__Output>('Plan', (cb) => client(coordinator).workflows.plan({ spec }, deadline(10_000), cb))).plan as Plan__Output;

const submit = async (coordinator: string, spec: WorkflowSpec): Promise<Workflow__Output> =>
  (await unary<SubmitResponse__Output>('Submit', (cb) => client(coordinator).workflows.submit({ requestId: `test-${(requests += 1)}`, spec, owner: 'tester' }, deadline(10_000), cb)))
    .workflow as Workflow__Output;

/** Watches a workflow to its end and returns its final state. */
async function finish(coordinator: string, id: string): Promise<Workflow__Output> {
  const messages = await collectStream<WatchWorkflowResponse__Output>('WatchWorkflow', client(coordinator).workflows.watchWorkflow({ id }, deadline(30_000)));
  const last = messages.at(-1)?.workflow;
  if (!last) throw new Error(`no state of ${id}`);
  return last;
}

const failure = (promise: Promise<unknown>): Promise<HvctlError> =>
  promise.then(
    () => {
      throw new Error('expected a refusal');
    },
    (error: HvctlError) => error,
  );

const outline = (steps: readonly { phase: string; title: string }[]): string[] => steps.map((step) => `${step.phase}: ${step.title}`);

const migrationOutline = (vm: string, from: string, to: string): string[] => [
  `check: check ${vm} can move from ${from} to ${to}`,
  `prepare: allow two primaries for ${vm} on ${to}`,
  `prepare: allow two primaries for ${vm} on ${from}`,
  `prepare: promote ${vm} on ${to}`,
  `migrate: live-migrate ${vm} from ${from} to ${to}`,
  `cleanup: demote ${vm} on ${from}`,
  `cleanup: forbid two primaries for ${vm} on ${from}`,
  `cleanup: forbid two primaries for ${vm} on ${to}`,
  `route: announce ${IP[vm]}/32 (${vm}) from ${to}, withdraw it from ${from}`,
  `route: record intent running for ${vm} on ${to} and ${from}`,
  `verify: verify ${vm} runs only on ${to}, ${vm} Primary only there, /32 only from there`,
];

/**
 * Samples ListDomains on every node until stopped. A sample counts for a VM only when
 * none of its domains changed state after the sample began (the reads of different
 * agents are not simultaneous): then it shows each node's state at that one instant.
 * "Up" is running or paused (a live migration pauses the source for its switchover).
 */
class Sampler {
  readonly violations: string[] = [];
  maxMigrating = 0;
  conclusive = 0;
  private stopped = false;
  private readonly loop: Promise<void>;

  constructor(
    private readonly nodes: readonly string[],
    private readonly vms: readonly string[],
  ) {
    this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const begun = Date.now();
      const lists = await Promise.all(this.nodes.map(async (node) => ({ node, domains: await domains(node) })));
      this.maxMigrating = Math.max(this.maxMigrating, lists.reduce((sum, list) => sum + list.domains.filter((domain) => domain.migrating).length, 0));
      for (const vm of this.vms) {
        const seen = lists.map((list) => ({ node: list.node, domain: list.domains.find((domain) => domain.name === vm) }));
        if (seen.some((entry) => entry.domain && Number(entry.domain.stateChangedUnixMs) >= begun)) continue;
        this.conclusive += 1;
        const running = seen.filter((entry) => entry.domain?.state === 'DOMAIN_STATE_RUNNING').map((entry) => entry.node);
        if (running.length > 1) this.violations.push(`${vm} seen running on ${running.join(' and ')}`);
        if (!seen.some((entry) => isUp(entry.domain))) this.violations.push(`${vm} seen running nowhere`);
      }
      await sleep(5);
    }
  }

  async stop(): Promise<this> {
    this.stopped = true;
    await this.loop;
    return this;
  }
}

describe('drain workflow', () => {
  it('live-migrates every VM to its peer with bounded parallelism, moves routes and BGP, and marks the node maintenance', async () => {
    await startLab();
    // Given msk-1 running vm-a, vm-b, vm-c and announcing the public block
    // When the drain is planned
    const planned = await plan('msk-1', drainSpec('msk-1', 2));
    // Then the plan reads: cordon, check, one lane per VM, BGP handover to msk-2, routes, maintenance, verify
    expect(planned.title).toBe('Drain msk-1: live-migrate 3 VM(s) to spb-1');
    expect(outline(planned.steps)).toEqual([
      'cordon: cordon msk-1',
      'check: check the 3 VM(s) of msk-1 can move (peers UpToDate and connected, targets in service, memory)',
      ...migrationOutline('vm-a', 'msk-1', 'spb-1'),
      ...migrationOutline('vm-b', 'msk-1', 'spb-1'),
      ...migrationOutline('vm-c', 'msk-1', 'spb-1'),
      `route: announce ${PUBLIC_BLOCK} by BGP from msk-2 (instead of msk-1)`,
      `route: withdraw ${PUBLIC_BLOCK} from msk-1 (msk-2 announces it)`,
      'route: withdraw from msk-1 the /32 of every VM that no longer runs there',
      'maintenance: mark msk-1 maintenance',
      'verify: verify msk-1 is drained: its VMs run only on their targets, cordoned, in maintenance',
    ]);
    expect(planned.warnings).toEqual([]);
    expect([...planned.nodes].sort()).toEqual(['msk-1', 'msk-2', 'spb-1']);
    expect([...planned.resources].sort()).toEqual(DRAINED);
    const data = JSON.parse(planned.data) as DrainData;
    expect(data.moves.map((move) => `${move.vm} ${move.ip} ${move.resource} ${move.from}->${move.to} ${move.memoryBytes / GIB}G`)).toEqual([
      'vm-a 10.20.0.10 vm-a msk-1->spb-1 4G',
      'vm-b 10.20.0.11 vm-b msk-1->spb-1 4G',
      'vm-c 10.20.0.12 vm-c msk-1->spb-1 4G',
    ]);
    // And planning changed nothing
    expect((await info('msk-1')).flags?.cordoned).toBe(false);

    // When it runs, with both nodes' domains sampled throughout
    const sampler = new Sampler(['msk-1', 'spb-1'], DRAINED);
    const started = await submit('msk-1', drainSpec('msk-1', 2));
    const done = await finish('msk-1', started.id);
    await sampler.stop();

    // Then it succeeded, never had a VM on 0 or 2 nodes, and never more than 2 migrations at once (and did run 2 side by side)
    expect(done.error).toBe('');
    expect(done.state).toBe('succeeded');
    expect(done.steps.every((step) => step.state === 'done')).toBe(true);
    expect(sampler.violations).toEqual([]);
    expect(sampler.conclusive).toBeGreaterThan(30);
    expect(sampler.maxMigrating).toBe(2);
    // And every VM runs once, on its peer, Primary only there, allow-two-primaries cleared, /32 moved
    await expectSafe({ 'vm-a': 'spb-1', 'vm-b': 'spb-1', 'vm-c': 'spb-1', 'vm-d': 'spb-1', 'vm-e': 'msk-2' });
    // And msk-1 is cordoned, in maintenance, announces nothing; msk-2 took the public block over
    const flags = (await info('msk-1')).flags;
    expect({ cordoned: flags?.cordoned, reason: flags?.cordonReason, maintenance: flags?.maintenance }).toEqual({ cordoned: true, reason: 'drain by workflow', maintenance: true });
    expect(await announcements('msk-1')).toEqual([]);
    expect((await announcements('msk-2')).map((a) => `${a.prefix} ${a.kind}`)).toEqual([`${IP['vm-e']}/32 ANNOUNCEMENT_KIND_VM`, `${PUBLIC_BLOCK} ANNOUNCEMENT_KIND_BGP`]);
    // And no lease is left behind
    expect([...(await leases('msk-1')), ...(await leases('spb-1')), ...(await leases('msk-2'))]).toEqual([]);
    expect(done.summary).toContain('vm-b moved from msk-1 to spb-1');
  });

  it('refuses when a peer is not UpToDate and connected: nothing changes, the node is not cordoned', async () => {
    await startLab();
    // Given vm-b's replication link cut on msk-1
    await unary<DisconnectResponse__Output>('Disconnect', (cb) => client('msk-1').drbd.disconnect({ name: 'vm-b' }, deadline(), cb));
    // When a drain of msk-1 is planned and submitted
    const refusal = await failure(plan('msk-1', drainSpec('msk-1')));
    const submitted = await failure(submit('msk-1', drainSpec('msk-1')));
    // Then both are refused, naming vm-b and why
    for (const error of [refusal, submitted]) {
      expect(error.code).toBe('FAILED_PRECONDITION');
      expect(error.message).toMatch(/cannot drain msk-1: vm-b cannot move \(vm-b is not connected to spb-1 \(StandAlone/);
      expect(error.message).not.toContain('vm-a');
    }
    // And nothing changed: msk-1 not cordoned, no workflow, every VM where it was
    expect((await info('msk-1')).flags?.cordoned).toBe(false);
    expect(await workflows('msk-1')).toEqual([]);
    await expectSafe({ 'vm-a': 'msk-1', 'vm-c': 'msk-1' });

    // When planned with skip_unmovable, vm-b is reported and left out, and maintenance is not planned
    const skipping = await plan('msk-1', drainSpec('msk-1', 2, true));
    expect(skipping.warnings).toEqual([
      'vm-b is left running on msk-1: vm-b is not connected to spb-1 (StandAlone/Off)',
      'msk-1 will not be marked maintenance while vm-b run(s) there',
    ]);
    expect(skipping.steps.some((step) => step.id.startsWith('vm-b:') || step.id === 'maintenance')).toBe(false);
    expect(skipping.resources).toEqual(['vm-a', 'vm-c']);
  });

  it('refuses when the target is cordoned, and undrain --return-vms refuses without a drain record', async () => {
    await startLab();
    // Given spb-1, every VM's target, cordoned
    await unary<CordonResponse__Output>('Cordon', (cb) => client('spb-1').node.cordon({ reason: 'kernel update' }, deadline(), cb));
    // When a drain of msk-1 is submitted
    const error = await failure(submit('msk-1', drainSpec('msk-1')));
    // Then it is refused naming each VM and the cordon, and msk-1 is not cordoned
    expect(error.code).toBe('FAILED_PRECONDITION');
    for (const vm of DRAINED) expect(error.message).toContain(`${vm} cannot move (target spb-1 is cordoned (kernel update))`);
    expect((await info('msk-1')).flags?.cordoned).toBe(false);

    // When undrain --return-vms is asked for msk-1, which was never drained
    const undrain = await failure(submit('msk-1', undrainSpec('msk-1', true)));
    // Then it is refused: where the VMs ran is unknown
    expect(undrain.code).toBe('FAILED_PRECONDITION');
    expect(undrain.message).toContain("--return-vms: msk-1's journal holds no successful drain of msk-1");
    expect(await workflows('msk-1')).toEqual([]);
  });

  it('refuses when all VMs moving to one target do not fit in its memory together', async () => {
    // Given two 130 GiB VMs on msk-1 whose peer spb-1 has 248 GiB free: each fits alone, not both
    await startLab(
      [LAB_NODES[0] as LabNodeSpec, LAB_NODES[2] as LabNodeSpec],
      buildSeeds(['msk-1', 'spb-1'], [
        { name: 'big-1', home: 'msk-1', peer: 'spb-1', memoryBytes: 130 * GIB },
        { name: 'big-2', home: 'msk-1', peer: 'spb-1', memoryBytes: 130 * GIB },
      ]),
    );
    const error = await failure(plan('msk-1', drainSpec('msk-1')));
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toBe('Plan: cannot drain msk-1: big-2 cannot move (spb-1 has 248.0 GiB free but the 2 VMs moving there need 260.0 GiB together)');
    // And with skip_unmovable the first one moves, the second is reported
    const skipping = await plan('msk-1', drainSpec('msk-1', 2, true));
    expect((JSON.parse(skipping.data) as DrainData).moves.map((move) => move.vm)).toEqual(['big-1']);
    expect(skipping.warnings[0]).toBe('big-2 is left running on msk-1: spb-1 has 248.0 GiB free but the 2 VMs moving there need 260.0 GiB together');
  });

  it('refuses a second drain while another workflow holds a lease on a node it touches, naming the holder', async () => {
    await startLab();
    // Given a drain of msk-2 running (it moves vm-e to spb-1, so it leases spb-1)
    const first = await submit('msk-2', drainSpec('msk-2'));
    // When a drain of msk-1 (also moving VMs to spb-1) is submitted meanwhile
    const error = await failure(submit('msk-1', drainSpec('msk-1')));
    // Then it is refused, naming the lease holder
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain(`node/spb-1 is held by workflow ${first.id} of tester (coordinator msk-2)`);
    // And a second drain of msk-2 itself is refused before it is even planned, naming the same holder
    const again = await failure(plan('msk-2', drainSpec('msk-2')));
    expect(again.code).toBe('FAILED_PRECONDITION');
    expect(again.message).toContain(`node/msk-2 is held by workflow ${first.id} of tester (coordinator msk-2)`);
    // And it changed nothing: msk-1 not cordoned, its VMs in place, no workflow on msk-1
    expect((await info('msk-1')).flags?.cordoned).toBe(false);
    expect(await workflows('msk-1')).toEqual([]);
    // And the first drain finishes normally
    expect((await finish('msk-2', first.id)).state).toBe('succeeded');
    await expectSafe({ 'vm-a': 'msk-1', 'vm-b': 'msk-1', 'vm-c': 'msk-1', 'vm-e': 'spb-1' });
  });

  it('rolls back to one running copy and one Primary per VM when a migration fails midway; the node stays cordoned', async () => {
    await startLab();
    // Given msk-1's next outgoing live migration armed to fail halfway
    await unary<FailMigrationsResponse__Output>('FailMigrations', (cb) => client('msk-1').faults.failMigrations({ count: 1 }, deadline(), cb));
    // When msk-1 is drained
    const sampler = new Sampler(['msk-1', 'spb-1'], DRAINED);
    const started = await submit('msk-1', drainSpec('msk-1', 2));
    const done = await finish('msk-1', started.id);
    await sampler.stop();
    // Then the drain failed on that migration
    expect(done.state).toBe('failed');
    expect(done.error).toMatch(/migration of vm-[abc] failed: internal error: qemu unexpectedly closed the migration connection/);
    const failedSteps = done.steps.filter((step) => step.state === 'failed').map((step) => step.id);
    expect(failedSteps).toHaveLength(1);
    expect(failedSteps[0]).toMatch(/^vm-[abc]:migrate$/);
    const failedVm = (failedSteps[0] as string).split(':')[0] as string;
    // And no VM was ever seen on 0 or 2 nodes
    expect(sampler.violations).toEqual([]);
    // And every VM runs on exactly one node with one Primary, allow-two-primaries cleared, /32 where it runs
    const now = await placement(ALL_VMS);
    for (const [vm, state] of Object.entries(now)) {
      expect(state.running, vm).toHaveLength(1);
      expect(state.primaries, vm).toEqual(state.running);
      expect(state.twoPrimaries, vm).toEqual([]);
      expect(state.announced, vm).toEqual(state.running);
    }
    expect(now[failedVm]?.running).toEqual(['msk-1']);
    // And msk-1 stays cordoned, not in maintenance; the rollback is reported; no lease left
    const flags = (await info('msk-1')).flags;
    expect({ cordoned: flags?.cordoned, maintenance: flags?.maintenance }).toEqual({ cordoned: true, maintenance: false });
    expect(done.summary).toContain(`rollback: ${failedVm} runs on msk-1`);
    expect(done.summary.at(-1)).toMatch(/^rollback: msk-1 stays cordoned/);
    expect([...(await leases('msk-1')), ...(await leases('spb-1'))]).toEqual([]);
  });
});

describe('undrain workflow', () => {
  it('resyncs, uncordons and ends maintenance; --return-vms migrates the VMs and the BGP announcement home', async () => {
    await startLab();
    // Given msk-1 drained one VM at a time
    const sampler = new Sampler(['msk-1', 'spb-1'], DRAINED);
    const drain = await finish('msk-1', (await submit('msk-1', drainSpec('msk-1', 1))).id);
    await sampler.stop();
    expect(sampler.violations).toEqual([]);
    expect(drain.state).toBe('succeeded');
    expect(sampler.maxMigrating).toBe(1);
    // And, while it is down for maintenance, vm-a's replica on msk-1 falls behind (link cut, writes continue on spb-1)
    await unary<DisconnectResponse__Output>('Disconnect', (cb) => client('msk-1').drbd.disconnect({ name: 'vm-a' }, deadline(), cb));
    await sleep(500);

    // When it is undrained without --return-vms
    const planned = await plan('msk-1', undrainSpec('msk-1'));
    expect(outline(planned.steps)).toEqual([
      'check: health-check msk-1: agent answers, drbd, kvm, routing drivers available',
      ...['vm-a', 'vm-b', 'vm-c', 'vm-d'].map((vm) => `resync: wait until ${vm} on msk-1 is UpToDate and connected to spb-1`),
      'service: uncordon msk-1',
      'service: unmark msk-1 maintenance',
      'verify: verify msk-1 is back in service',
    ]);
    expect(planned.warnings).toEqual(['vm-a: StandAlone to spb-1 (reconnected by the wait); waited for (side by side with the others)']);
    const back = await finish('msk-1', (await submit('msk-1', undrainSpec('msk-1'))).id);
    // Then msk-1 is in service with every replica UpToDate and connected; the VMs stay on spb-1
    expect(back.error).toBe('');
    expect(back.state).toBe('succeeded');
    expect(back.steps.find((step) => step.id === 'resync:vm-a')?.detail).toBe('UpToDate on both sides');
    const flags = (await info('msk-1')).flags;
    expect({ cordoned: flags?.cordoned, maintenance: flags?.maintenance }).toEqual({ cordoned: false, maintenance: false });
    for (const resource of await resources('msk-1')) {
      expect(`${resource.name} ${resource.diskState}`).toBe(`${resource.name} UpToDate`);
      for (const peer of resource.peers) expect(`${resource.name}/${peer.node} ${peer.connectionState}`).toBe(`${resource.name}/${peer.node} Connected`);
    }
    await expectSafe({ 'vm-a': 'spb-1', 'vm-b': 'spb-1', 'vm-c': 'spb-1' });

    // When it is undrained again with --return-vms (the node's journal has the drain's record)
    const returning = await plan('msk-1', undrainSpec('msk-1', true));
    expect(outline(returning.steps).filter((line) => !line.includes('vm-b') && !line.includes('vm-c'))).toEqual([
      'check: health-check msk-1: agent answers, drbd, kvm, routing drivers available',
      'resync: wait until vm-a on msk-1 is UpToDate and connected to spb-1',
      'resync: wait until vm-d on msk-1 is UpToDate and connected to spb-1',
      'service: uncordon msk-1',
      'service: unmark msk-1 maintenance',
      ...migrationOutline('vm-a', 'spb-1', 'msk-1'),
      `route: announce ${PUBLIC_BLOCK} by BGP from msk-1 (instead of msk-2)`,
      `route: withdraw ${PUBLIC_BLOCK} from msk-2 (msk-1 announces it again)`,
      'verify: verify msk-1 is back in service and its VMs run there',
    ]);
    expect(returning.title).toBe('Undrain msk-1: bring 3 VM(s) back from spb-1');
    const sampleBack = new Sampler(['msk-1', 'spb-1'], DRAINED);
    const home = await finish('msk-1', (await submit('msk-1', undrainSpec('msk-1', true))).id);
    await sampleBack.stop();
    // Then every VM is home, once, and the public block is announced from msk-1 again, no longer from msk-2
    expect(home.error).toBe('');
    expect(home.state).toBe('succeeded');
    expect(sampleBack.violations).toEqual([]);
    expect(sampleBack.maxMigrating).toBeLessThanOrEqual(2);
    await expectSafe({ 'vm-a': 'msk-1', 'vm-b': 'msk-1', 'vm-c': 'msk-1', 'vm-d': 'spb-1', 'vm-e': 'msk-2' });
    expect((await announcements('msk-1')).some((a) => a.prefix === PUBLIC_BLOCK && a.kind === 'ANNOUNCEMENT_KIND_BGP')).toBe(true);
    expect((await announcements('msk-2')).some((a) => a.prefix === PUBLIC_BLOCK)).toBe(false);
    await waitFor('no lease left', async () => [...(await leases('msk-1')), ...(await leases('spb-1')), ...(await leases('msk-2'))].length === 0);
  });
});
