import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type {
  Announcement__Output,
  Domain__Output,
  ListAnnouncementsResponse__Output,
  ListDomainsResponse__Output,
  ListResourcesResponse__Output,
  Plan__Output,
  PlanResponse__Output,
  Resource__Output,
  SetPartitionResponse__Output,
  SubmitResponse__Output,
  WatchWorkflowResponse__Output,
  Workflow__Output,
  WorkflowSpec,
} from '@hvctl/proto';
import { collectStream, deadline, unary, type HvctlError } from '@hvctl/common';
import { waitFor } from '@hvctl/common/testing';
import { buildSeeds, Lab, type LabNodeSpec } from '../../testing/harness.js';

/**
 * Failover and failback end to end: real agents on loopback with simulated drivers and
 * a cluster file; workflows driven through the coordinator's gRPC API only. After each
 * workflow the safety invariants are read back from every running agent.
 */
const PUBLIC_BLOCK = '203.0.113.0/24';
const MIB = 1024 ** 2;
const IP: Record<string, string> = { 'vm-a': '10.20.0.10', 'vm-b': '10.20.0.11', 'vm-c': '10.20.0.12' };
const VMS = Object.keys(IP);

// ---- reads and calls on a lab -----------------------------------------------------------

function helpers(getLab: () => Lab) {
  const client = (node: string): ReturnType<Lab['client']> => getLab().client(node);
  const resources = async (node: string): Promise<Resource__Output[]> =>
    (await unary<ListResourcesResponse__Output>('ListResources', (cb) => client(node).drbd.listResources({}, deadline(), cb))).resources;
  const domains = async (node: string): Promise<Domain__Output[]> =>
    (await unary<ListDomainsResponse__Output>('ListDomains', (cb) => client(node).kvm.listDomains({}, deadline(), cb))).domains;
  const announcements = async (node: string): Promise<Announcement__Output[]> =>
    (await unary<ListAnnouncementsResponse__Output>('ListAnnouncements', (cb) => client(node).routing.listAnnouncements({}, deadline(), cb))).announcements;
  let requests = 0;
  const plan = async (coordinator: string, spec: WorkflowSpec): Promise<Plan__Output> =>
    (await unary<PlanResponse__Output>('Plan', (cb) => client(coordinator).workflows.plan({ spec }, deadline(15_000), cb))).plan as Plan__Output;
  const submit = async (coordinator: string, spec: WorkflowSpec): Promise<Workflow__Output> =>
    (await unary<SubmitResponse__Output>('Submit', (cb) => client(coordinator).workflows.submit({ requestId: `test-${(requests += 1)}`, spec, owner: 'tester' }, deadline(15_000), cb)))
      .workflow as Workflow__Output;
  /** Watches a workflow to its end; returns every state seen. */
  const follow = async (coordinator: string, id: string): Promise<Workflow__Output[]> =>
    (await collectStream<WatchWorkflowResponse__Output>('WatchWorkflow', client(coordinator).workflows.watchWorkflow({ id }, deadline(30_000)))).flatMap((m) =>
      m.workflow ? [m.workflow] : [],
    );
  const refusal = (promise: Promise<unknown>): Promise<HvctlError> =>
    promise.then(
      () => {
        throw new Error('expected a refusal');
      },
      (error: HvctlError) => error,
    );

  /** Where each VM runs, is Primary and is announced, on the running main-site agents. */
  const placement = async (nodes: readonly string[]): Promise<Record<string, { running: string[]; primaries: string[]; announced: string[] }>> => {
    const live = nodes.filter((node) => getLab().running().includes(node));
    const state = await Promise.all(live.map(async (node) => ({ node, domains: await domains(node), resources: await resources(node), announcements: await announcements(node) })));
    return Object.fromEntries(
      VMS.map((vm) => [
        vm,
        {
          running: state.filter((s) => s.domains.some((d) => d.name === vm && d.state === 'DOMAIN_STATE_RUNNING')).map((s) => s.node),
          primaries: state.filter((s) => s.resources.some((r) => r.name === vm && r.role === 'Primary')).map((s) => s.node),
          announced: state.filter((s) => s.announcements.some((a) => a.prefix === `${IP[vm]}/32`)).map((s) => s.node),
        },
      ]),
    );
  };

  /**
   * The invariants after any workflow, on every running agent: no resource Primary on two
   * nodes, no VM running on two nodes, every resource with an UpToDate replica, and each
   * VM where `where` says, Primary and announced only there.
   */
  const expectSafe = async (nodes: readonly string[], where: Record<string, string>): Promise<void> => {
    const actual = await placement(nodes);
    const problems: string[] = [];
    for (const [vm, place] of Object.entries(actual)) {
      if (place.primaries.length > 1) problems.push(`${vm} Primary on ${place.primaries.join(' and ')}`);
      if (place.running.length > 1) problems.push(`${vm} running on ${place.running.join(' and ')}`);
    }
    const replicas = (await Promise.all(getLab().running().map(resources))).flat();
    const upToDate = new Set(replicas.filter((r) => r.diskState === 'UpToDate' && !r.client).map((r) => r.name));
    for (const name of new Set(replicas.map((r) => r.name))) if (!upToDate.has(name)) problems.push(`${name} has no UpToDate replica`);
    expect(problems).toEqual([]);
    const expected = Object.fromEntries(Object.entries(where).map(([vm, node]) => [vm, { running: [node], primaries: [node], announced: [node] }]));
    expect(Object.fromEntries(Object.keys(where).map((vm) => [vm, actual[vm]]))).toEqual(expected);
  };

  const lostBy = async (observer: string, resource: string, lost: string): Promise<boolean> =>
    (await resources(observer)).find((r) => r.name === resource)?.peers.find((p) => p.node === lost)?.connectionState !== 'Connected';

  const bgpSpeakers = async (nodes: readonly string[]): Promise<string[]> => {
    const live = nodes.filter((node) => getLab().running().includes(node));
    const lists = await Promise.all(live.map(async (node) => ({ node, announced: await announcements(node) })));
    return lists.filter((list) => list.announced.some((a) => a.prefix === PUBLIC_BLOCK && a.kind === 'ANNOUNCEMENT_KIND_BGP')).map((list) => list.node);
  };

  /** Every link up and every diskful replica UpToDate (a seed's Primary may write before its peer connects). */
  const settled = async (): Promise<void> => {
    await getLab().waitAllConnected();
    await waitFor(
      'every replica UpToDate and in sync',
      async () => {
        const all = (await Promise.all(getLab().running().map(resources))).flat();
        return all.every((r) => r.client || (r.diskState === 'UpToDate' && r.peers.every((p) => p.peerClient || (p.replicationState === 'Established' && p.peerDiskState === 'UpToDate'))));
      },
      { timeoutMs: 10_000 },
    );
  };

  return { client, resources, domains, announcements, plan, submit, follow, refusal, expectSafe, lostBy, bgpSpeakers, settled };
}

const outline = (steps: readonly { phase: string; title: string }[]): string[] => steps.map((step) => `${step.phase}: ${step.title}`);
const failoverSpec = (target: { node?: string; site?: string }, force = false): WorkflowSpec => ({ failover: { node: target.node ?? '', site: target.site ?? '', force } });

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

// ---- a node dies hard, its partner takes over, it comes back ------------------------------

/**
 * spb-1 (a child process, killed with SIGKILL) runs vm-a and vm-b, replicated to msk-1;
 * msk-1 runs vm-c, replicated to spb-1; bak-1 is every resource's witness. Only spb-1
 * announces the public block. vm-b has the lower priority number, so it starts first.
 * The three cases run in order on one lab: refused while alive, failover, failback.
 */
describe('node failover and failback', () => {
  let lab: Lab;
  const h = helpers(() => lab);
  const MAIN = ['msk-1', 'spb-1'];

  beforeAll(async () => {
    const seeds = buildSeeds(
      ['msk-1', 'spb-1', 'bak-1'],
      [
        { name: 'vm-a', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
        { name: 'vm-b', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
        { name: 'vm-c', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
      ],
      'bak-1',
    );
    for (const node of ['msk-1', 'spb-1']) {
      const vmB = seeds[node]?.domains.find((domain) => domain.name === 'vm-b');
      if (vmB) vmB.priority = 5;
    }
    seeds['spb-1']?.announcements.push({ prefix: PUBLIC_BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceMs: 0 });
    const nodes: LabNodeSpec[] = [
      { name: 'msk-1', site: 'msk' },
      { name: 'spb-1', site: 'spb', child: true },
      { name: 'bak-1', site: 'bak', siteKind: 'backup' },
    ];
    // Writes slow enough and resync fast enough that failback's resync takes about a second.
    lab = await Lab.start({ nodes, seeds, clusterFile: true, publicBlock: PUBLIC_BLOCK, timing: { writeBytesPerSecond: 24 * MIB, resyncBytesPerSecond: 40 * MIB } });
    await h.settled();
  });

  afterAll(async () => {
    await lab?.close();
  });

  it('refuses to fail over a node that answers, and refuses a coordinator in the lost set', async () => {
    // Given spb-1 healthy and connected
    // When msk-1 is asked to fail it over
    const alive = await h.refusal(h.plan('msk-1', failoverSpec({ node: 'spb-1' })));
    // Then it refuses: spb-1 is not lost; drain is the way to empty a working node
    expect(alive.code).toBe('FAILED_PRECONDITION');
    expect(alive.message).toMatch(/spb-1 answers and is still connected .*it is not lost/);
    expect(alive.describe()).toContain('hvctl drain spb-1');
    // And a coordinator cannot fail over itself
    const self = await h.refusal(h.plan('spb-1', failoverSpec({ node: 'spb-1' })));
    expect(self.message).toMatch(/coordinator spb-1 is itself in the lost set/);
    // And nothing changed
    await h.expectSafe(MAIN, { 'vm-a': 'spb-1', 'vm-b': 'spb-1', 'vm-c': 'msk-1' });
  });

  it('recovers every VM of a killed node on its partner, in priority order, with evidence and RTO/RPO', async () => {
    // Given spb-1 killed with SIGKILL, and msk-1 and the witness having noticed
    await lab.kill('spb-1');
    await waitFor('msk-1 and bak-1 to lose spb-1', async () => (await h.lostBy('msk-1', 'vm-a', 'spb-1')) && (await h.lostBy('bak-1', 'vm-a', 'spb-1')), { timeoutMs: 5000 });
    // (msk-1, a Secondary, has quorum again once the witness's next heartbeat says it lost spb-1 too)
    await waitFor('msk-1 to have quorum through the witness', async () => (await h.resources('msk-1')).every((r) => r.quorum));

    // When msk-1 plans the failover of spb-1
    const plan = await h.plan('msk-1', failoverSpec({ node: 'spb-1' }));

    // Then the plan fences (best effort), promotes, starts vm-b before vm-a, moves the routes and the public block, verifies
    expect(plan.title).toBe('Fail over spb-1: 2 VM(s) to msk-1');
    expect(outline(plan.steps)).toEqual([
      'detect: confirm spb-1 still lost and the witness agrees',
      'fence: fence spb-1: withdraw its announcements if it can still be reached (best effort)',
      'promote: promote vm-b on msk-1',
      'promote: promote vm-a on msk-1',
      'start: start vm-b on msk-1',
      'start: start vm-a on msk-1',
      'route: announce 10.20.0.11/32 (vm-b) from msk-1, withdraw it from spb-1',
      'route: announce 10.20.0.10/32 (vm-a) from msk-1, withdraw it from spb-1',
      'route: record intent running for vm-b on msk-1',
      'route: record intent running for vm-a on msk-1',
      `route: announce public block ${PUBLIC_BLOCK} by BGP from msk-1`,
      'verify: verify vm-b, vm-a: each running once, Primary and announced only where it runs',
    ]);
    // And the evidence: the agent is silent, the partner and the witness lost it, its routes are gone
    const facts = plan.evidence.map((e) => `${e.supportsLoss ? '+' : '-'} [${e.source}] ${e.fact}`);
    expect(facts).toEqual(
      expect.arrayContaining([
        '+ [msk-1 (coordinator)] the agent of spb-1 does not answer',
        expect.stringMatching(/^\+ \[msk-1\] lost its connection to spb-1 for vm-a \(Connecting\), vm-b \(Connecting\), vm-c \(Connecting\) since \d\d:\d\d:\d\dZ/),
        expect.stringMatching(/^\+ \[witness bak-1\] lost its connection to spb-1 for vm-a, vm-b, vm-c since/),
        '+ [routes] 10.20.0.10/32 (vm-a) is announced by no reachable node',
        `+ [routes] public block ${PUBLIC_BLOCK} is announced by no surviving node`,
      ]),
    );
    expect(plan.warnings).toEqual([expect.stringMatching(/^vm-c keeps running on msk-1; its replica on spb-1 is lost/)]);
    expect({ nodes: plan.nodes, resources: plan.resources }).toEqual({ nodes: ['msk-1'], resources: ['vm-b', 'vm-a'] });

    // When it runs
    const submitted = await h.submit('msk-1', failoverSpec({ node: 'spb-1' }));
    const states = await h.follow('msk-1', submitted.id);
    const done = states.at(-1) as Workflow__Output;

    // Then it succeeded; vm-b started before vm-a
    expect(done.state, done.error).toBe('succeeded');
    const step = (id: string) => done.steps.find((s) => s.id === id);
    expect(Number(step('start-vm-b')?.finishedUnixMs)).toBeLessThanOrEqual(Number(step('start-vm-a')?.startedUnixMs));
    // And the fence step says what it could and could not do
    expect(step('fence-spb-1')?.detail).toMatch(/could not reach spb-1 .*it cannot announce without quorum; spb-1 cannot be outdated while unreachable: DRBD quorum/);
    // And every phase was timed, and the summary compares them with the RTO, the data at risk with the RPO
    expect(done.timings.map((t) => t.phase)).toEqual(['detect', 'fence', 'promote', 'start', 'route', 'verify']);
    expect(done.summary[0]).toMatch(/^RTO: \d+\.\d s of 900 s budget, within \(detect \d+\.\d s, fence \d+\.\d s, promote \d+\.\d s, start \d+\.\d s, route \d+\.\d s, verify \d+\.\d s\)$/);
    expect(done.summary).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^Outage since the survivors lost spb-1 at .*: \d+\.\d s of 900 s/),
        expect.stringMatching(/^RPO vm-a \(protocol C\): 0 acknowledged writes at risk .* within the 60 s RPO; spb-1 lacked .* at planning/),
        expect.stringMatching(/^RPO vm-b \(protocol C\)/),
      ]),
    );
    // And the invariants hold: each VM once, Primary and announced only where it runs; the public block moved
    await h.expectSafe(MAIN, { 'vm-a': 'msk-1', 'vm-b': 'msk-1', 'vm-c': 'msk-1' });
    expect(await h.bgpSpeakers(MAIN)).toEqual(['msk-1']);
  });

  it('fails back the node once it returns: SyncTarget resync, migrations home, public block back', async () => {
    // Given msk-1 has written enough while spb-1 was away for the resync to take a second or more
    const behind = async (): Promise<boolean> => {
      const missing = (await h.resources('msk-1')).filter((r) => r.name !== 'vm-c').map((r) => Number(r.peers.find((p) => p.node === 'spb-1')?.outOfSyncBytes ?? 0));
      return missing.every((bytes) => bytes >= 40 * MIB);
    };
    await waitFor('msk-1 to be 40 MiB ahead of spb-1 on vm-a and vm-b', behind, { timeoutMs: 10_000 });
    // And spb-1 started again: it comes back as after a crash, Secondary everywhere
    await lab.start('spb-1');
    expect((await h.resources('spb-1')).map((r) => `${r.name} ${r.role}`)).toEqual(['vm-a Secondary', 'vm-b Secondary', 'vm-c Secondary']);

    // When it plans its failback
    const plan = await h.plan('spb-1', { failback: { node: 'spb-1' } });

    // Then: resync every resource, then migrate vm-b and vm-a home (two at a time), then the public block, then verify
    expect(outline(plan.steps)).toEqual([
      'resync: resync vm-a on spb-1 from msk-1 (SyncTarget) until UpToDate',
      'resync: resync vm-b on spb-1 from msk-1 (SyncTarget) until UpToDate',
      'resync: resync vm-c on spb-1 from msk-1 (SyncTarget) until UpToDate',
      ...migrationOutline('vm-b', 'msk-1', 'spb-1'),
      ...migrationOutline('vm-a', 'msk-1', 'spb-1'),
      `route: announce public block ${PUBLIC_BLOCK} from spb-1 again, withdraw it from msk-1`,
      'verify: verify spb-1: every resynced resource UpToDate on both sides, one Primary each, vm-b, vm-a home',
    ]);
    expect(plan.warnings).toEqual([]);

    // When it runs
    const submitted = await h.submit('spb-1', { failback: { node: 'spb-1' } });
    const states = await h.follow('spb-1', submitted.id);
    const done = states.at(-1) as Workflow__Output;

    // Then it succeeded, and spb-1 was seen resyncing as SyncTarget with progress
    expect(done.state, done.error).toBe('succeeded');
    const progress = states.flatMap((w) => w.steps.filter((s) => s.id.startsWith('resync-') && s.state === 'running' && /SyncTarget/.test(s.detail)).map((s) => s.percent));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.some((percent) => percent > 0 && percent < 100)).toBe(true);
    // And the VMs are home, their /32s too; vm-c stayed; the public block is back on spb-1 only
    await h.expectSafe(MAIN, { 'vm-a': 'spb-1', 'vm-b': 'spb-1', 'vm-c': 'msk-1' });
    expect(await h.bgpSpeakers(MAIN)).toEqual(['spb-1']);
    // And every resource is UpToDate on both nodes again
    for (const node of MAIN) expect((await h.resources(node)).map((r) => `${r.name} ${r.diskState}`)).toEqual(['vm-a UpToDate', 'vm-b UpToDate', 'vm-c UpToDate']);
  });
});

// ---- no witness: the operator override --------------------------------------------------

describe('failover without a witness', () => {
  let lab: Lab | undefined;
  const h = helpers(() => lab as Lab);
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('is refused without --force (nothing can tell a dead node from a cut link), and runs forced', async () => {
    // Given a pair without a witness; spb-1 runs vm-a and stops
    lab = await Lab.start({
      nodes: [
        { name: 'msk-1', site: 'msk' },
        { name: 'spb-1', site: 'spb' },
      ],
      seeds: buildSeeds(['msk-1', 'spb-1'], [{ name: 'vm-a', home: 'spb-1', peer: 'msk-1' }]),
      clusterFile: true,
    });
    await h.settled();
    await lab.stop('spb-1');
    await waitFor('msk-1 to lose spb-1', () => h.lostBy('msk-1', 'vm-a', 'spb-1'));

    // When the failover is planned without force
    const refused = await h.refusal(h.plan('msk-1', failoverSpec({ node: 'spb-1' })));
    // Then it is refused, naming the missing witness, the override and its risk
    expect(refused.code).toBe('FAILED_PRECONDITION');
    expect(refused.message).toMatch(/there is no witness site/);
    expect(refused.message).toMatch(/--force is the operator override: .*split brain/);

    // When it is planned and run with force
    const plan = await h.plan('msk-1', failoverSpec({ node: 'spb-1' }, true));
    expect(plan.title).toBe('Fail over spb-1: 1 VM(s) to msk-1 (forced)');
    expect(outline(plan.steps).slice(0, 3)).toEqual([
      'detect: confirm spb-1 still lost (forced: the witness is not asked)',
      'fence: fence spb-1: withdraw its announcements if it can still be reached (best effort)',
      'promote: promote vm-a on msk-1 (forced)',
    ]);
    expect(plan.warnings).toEqual([expect.stringMatching(/^FORCED: there is no witness site/)]);
    const submitted = await h.submit('msk-1', failoverSpec({ node: 'spb-1' }, true));
    const done = (await h.follow('msk-1', submitted.id)).at(-1) as Workflow__Output;

    // Then vm-a runs on msk-1, Primary and announced there
    expect(done.state, done.error).toBe('succeeded');
    await h.expectSafe(['msk-1'], { 'vm-a': 'msk-1' });
  });
});

// ---- a whole site is cut off ------------------------------------------------------------

describe('site failover', () => {
  let lab: Lab | undefined;
  const h = helpers(() => lab as Lab);
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('fences the cut site (it lost quorum), recovers its VMs on the other site with the witness agreeing, and fails a node back after the heal', async () => {
    // Given msk-1 (vm-a) and msk-2 (vm-b) replicated to spb-1, which runs vm-c; bak-1 the witness; msk-1 and spb-1 announce the public block
    const seeds = buildSeeds(
      ['msk-1', 'msk-2', 'spb-1', 'bak-1'],
      [
        { name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
        { name: 'vm-b', home: 'msk-2', peer: 'spb-1', witness: 'bak-1' },
        { name: 'vm-c', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
      ],
      'bak-1',
    );
    for (const speaker of ['msk-1', 'spb-1']) seeds[speaker]?.announcements.push({ prefix: PUBLIC_BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceMs: 0 });
    lab = await Lab.start({
      nodes: [
        { name: 'msk-1', site: 'msk' },
        { name: 'msk-2', site: 'msk' },
        { name: 'spb-1', site: 'spb' },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
      ],
      seeds,
      clusterFile: true,
      publicBlock: PUBLIC_BLOCK,
      timing: { writeBytesPerSecond: 16 * MIB, resyncBytesPerSecond: 64 * MIB },
    });
    await h.settled();
    const MAIN = ['msk-1', 'msk-2', 'spb-1'];

    // When the healthy site is named, it is refused
    const healthy = await h.refusal(h.plan('spb-1', failoverSpec({ site: 'msk' })));
    expect(healthy.message).toMatch(/msk-1 answers and is still connected/);

    // When msk is cut off from spb and bak (every node told)
    const cut = (node: string, sites: string[]) =>
      unary<SetPartitionResponse__Output>('SetPartition', (cb) => h.client(node).faults.setPartition({ unreachableSites: sites }, deadline(), cb));
    await Promise.all([cut('msk-1', ['spb', 'bak']), cut('msk-2', ['spb', 'bak']), cut('spb-1', ['msk']), cut('bak-1', ['msk'])]);
    // Then the cut side loses quorum (it cannot write), while spb-1 keeps it through the witness
    await waitFor('msk to lose quorum', async () => {
      const [a, b] = await Promise.all([h.resources('msk-1'), h.resources('msk-2')]);
      return a.every((r) => !r.quorum) && b.every((r) => !r.quorum);
    });
    await waitFor('the witness to lose msk', async () => (await h.lostBy('bak-1', 'vm-a', 'msk-1')) && (await h.lostBy('bak-1', 'vm-b', 'msk-2')));
    await waitFor('spb-1 to keep quorum through the witness', async () => (await h.resources('spb-1')).every((r) => r.quorum));
    // And msk-1, without quorum on any resource, withdraws the public block on its own (its quorum guard), with no workflow
    await waitFor('msk-1 to withdraw the public block itself', async () => (await h.bgpSpeakers(MAIN)).join() === 'spb-1', { timeoutMs: 8000 });
    expect((await h.resources('msk-1')).find((r) => r.name === 'vm-a')).toMatchObject({ role: 'Primary', quorum: false, suspended: 'quorum' });

    // When a node of the cut site is asked to coordinate, it refuses
    const inside = await h.refusal(h.plan('msk-1', failoverSpec({ site: 'msk' })));
    expect(inside.message).toMatch(/coordinator msk-1 is itself in the lost set/);

    // When spb-1 plans the failover of site msk
    const plan = await h.plan('spb-1', failoverSpec({ site: 'msk' }));
    // Then it fences both cut nodes for real (they answer), promotes without force, starts, routes, verifies
    expect(outline(plan.steps)).toEqual([
      'detect: confirm msk-1, msk-2 still lost and the witness agrees',
      'fence: fence msk-1 (cut off): withdraw its announcements, stop vm-a there and demote',
      'fence: fence msk-2 (cut off): withdraw its announcements, stop vm-b there and demote',
      'promote: promote vm-a on spb-1',
      'promote: promote vm-b on spb-1',
      'start: start vm-a on spb-1',
      'start: start vm-b on spb-1',
      'route: announce 10.20.0.10/32 (vm-a) from spb-1, withdraw it from msk-1',
      'route: announce 10.20.0.11/32 (vm-b) from spb-1, withdraw it from msk-2',
      'route: record intent running for vm-a on spb-1',
      'route: record intent running for vm-b on spb-1',
      'verify: verify vm-a, vm-b: each running once, Primary and announced only where it runs',
    ]);
    expect(plan.evidence.filter((e) => e.source === 'witness bak-1').map((e) => [e.supportsLoss, e.fact.replace(/ since.*/, '')])).toEqual([
      [true, 'lost its connection to msk-1 for vm-a, vm-c'],
      [true, 'lost its connection to msk-2 for vm-b'],
    ]);
    expect(plan.evidence.map((e) => e.fact)).toEqual(expect.arrayContaining([expect.stringMatching(/^the agent of msk-1 answers, but msk-1 has no quorum .*it is cut off/)]));

    // When it runs
    const submitted = await h.submit('spb-1', failoverSpec({ site: 'msk' }));
    const done = (await h.follow('spb-1', submitted.id)).at(-1) as Workflow__Output;

    // Then every VM runs once, on spb-1, Primary and announced only there (the cut side's copies were stopped and demoted)
    expect(done.state, done.error).toBe('succeeded');
    expect(done.steps.find((s) => s.id === 'fence-msk-1')?.detail).toBe('withdrew 10.20.0.10/32; stopped vm-a (its disk had no quorum: it could not write); demoted vm-a');
    await h.expectSafe(MAIN, { 'vm-a': 'spb-1', 'vm-b': 'spb-1', 'vm-c': 'spb-1' });
    // And the side that lost quorum announces no public block any more
    expect(await h.bgpSpeakers(MAIN)).toEqual(['spb-1']);

    // When the cut heals, msk-1 (fenced: Secondary, nothing running) reconnects; with quorum back, its guard announces the block it withdrew again
    await Promise.all(['msk-1', 'msk-2', 'spb-1', 'bak-1'].map((node) => cut(node, [])));
    await waitFor('msk-1 to reconnect to spb-1', async () => !(await h.lostBy('msk-1', 'vm-a', 'spb-1')));
    await waitFor('msk-1 to announce the public block again', async () => (await h.bgpSpeakers(MAIN)).join() === 'msk-1,spb-1');
    // And it fails back
    const back = await h.plan('msk-1', { failback: { node: 'msk-1' } });
    expect(outline(back.steps)).toEqual([
      'resync: resync vm-a on msk-1 from spb-1 (SyncTarget) until UpToDate',
      'resync: resync vm-c on msk-1 from spb-1 (SyncTarget) until UpToDate',
      ...migrationOutline('vm-a', 'spb-1', 'msk-1'),
      'verify: verify msk-1: every resynced resource UpToDate on both sides, one Primary each, vm-a home',
    ]);
    const failback = await h.submit('msk-1', { failback: { node: 'msk-1' } });
    const backDone = (await h.follow('msk-1', failback.id)).at(-1) as Workflow__Output;
    // Then vm-a is home on msk-1, vm-b stays on spb-1 until msk-2 fails back, and msk-1 announces the public block again
    expect(backDone.state, backDone.error).toBe('succeeded');
    await h.expectSafe(MAIN, { 'vm-a': 'msk-1', 'vm-b': 'spb-1', 'vm-c': 'spb-1' });
    expect(await h.bgpSpeakers(MAIN)).toEqual(['msk-1', 'spb-1']);
  });
});

// ---- a BGP speaker dies silently: failback gives its site the public block back -----------

/**
 * As in `hvctl lab up`: msk-1 and spb-1 both announce the public block. msk-1 (a child
 * process) is killed, so its agent never says what it announced; spb-1 keeps announcing.
 * A host that reboots announces nothing until told (the simulated host crash follows the
 * real agent's boot reconcile), so failback must announce it from msk-1 again, and leave it
 * on spb-1, which had it before the failure.
 */
describe('failover of a silent BGP speaker, then failback', () => {
  let lab: Lab | undefined;
  const h = helpers(() => lab as Lab);
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('announces the public block from the returning node again, as before the failure', async () => {
    // Given vm-a on msk-1 replicated to spb-1, bak-1 the witness, and the public block from msk-1 and spb-1
    const seeds = buildSeeds(['msk-1', 'spb-1', 'bak-1'], [{ name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' }], 'bak-1');
    for (const speaker of ['msk-1', 'spb-1']) seeds[speaker]?.announcements.push({ prefix: PUBLIC_BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceMs: 0 });
    lab = await Lab.start({
      nodes: [
        { name: 'msk-1', site: 'msk', child: true },
        { name: 'spb-1', site: 'spb' },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
      ],
      seeds,
      clusterFile: true,
      publicBlock: PUBLIC_BLOCK,
    });
    await h.settled();
    const MAIN = ['msk-1', 'spb-1'];
    expect(await h.bgpSpeakers(MAIN)).toEqual(['msk-1', 'spb-1']);

    // When msk-1 dies (SIGKILL: it cannot be asked anything) and spb-1 fails it over
    await lab.kill('msk-1');
    await waitFor('spb-1 and bak-1 to lose msk-1', async () => (await h.lostBy('spb-1', 'vm-a', 'msk-1')) && (await h.lostBy('bak-1', 'vm-a', 'msk-1')), { timeoutMs: 5000 });
    await waitFor('spb-1 to have quorum through the witness', async () => (await h.resources('spb-1')).every((r) => r.quorum));
    const failover = await h.submit('spb-1', failoverSpec({ node: 'msk-1' }));
    const failed = (await h.follow('spb-1', failover.id)).at(-1) as Workflow__Output;
    expect(failed.state, failed.error).toBe('succeeded');
    await h.expectSafe(MAIN, { 'vm-a': 'spb-1' });

    // And msk-1 comes back (a host crash: Secondary, nothing running, nothing announced)
    await lab.start('msk-1');
    await waitFor('msk-1 to reconnect to spb-1', async () => !(await h.lostBy('msk-1', 'vm-a', 'spb-1')));
    expect(await h.bgpSpeakers(MAIN)).toEqual(['spb-1']);

    // When msk-1 fails back
    const back = await h.plan('msk-1', { failback: { node: 'msk-1' } });
    expect(outline(back.steps)).toContain(`route: announce public block ${PUBLIC_BLOCK} from msk-1 again`);
    const failback = await h.submit('msk-1', { failback: { node: 'msk-1' } });
    const done = (await h.follow('msk-1', failback.id)).at(-1) as Workflow__Output;

    // Then vm-a is home and the public block is announced as before the failure: from msk-1 and spb-1
    expect(done.state, done.error).toBe('succeeded');
    await h.expectSafe(MAIN, { 'vm-a': 'msk-1' });
    expect(await h.bgpSpeakers(MAIN)).toEqual(['msk-1', 'spb-1']);
  });
});

// ---- an operator aborts: rollback -------------------------------------------------------

describe('failover rollback', () => {
  let lab: Lab | undefined;
  const h = helpers(() => lab as Lab);
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('after an abort, demotes what it promoted for a VM that did not start and reports it stopped', async () => {
    // Given spb-1 runs vm-a and vm-b (vm-a first by priority); guests take 1.5 s to boot
    const seeds = buildSeeds(
      ['msk-1', 'spb-1', 'bak-1'],
      [
        { name: 'vm-a', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
        { name: 'vm-b', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
      ],
      'bak-1',
    );
    lab = await Lab.start({
      nodes: [
        { name: 'msk-1', site: 'msk' },
        { name: 'spb-1', site: 'spb' },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
      ],
      seeds,
      clusterFile: true,
      timing: { bootMs: 1500 },
    });
    await h.settled();
    await lab.stop('spb-1');
    await waitFor('msk-1 to lose spb-1 and keep quorum', async () => (await h.lostBy('msk-1', 'vm-a', 'spb-1')) && (await h.resources('msk-1')).every((r) => r.quorum));

    // When the failover runs and is aborted while vm-a boots
    const submitted = await h.submit('msk-1', failoverSpec({ node: 'spb-1' }));
    const watching = h.follow('msk-1', submitted.id);
    await waitFor('both promoted (vm-a booting)', async () => (await h.resources('msk-1')).every((r) => r.role === 'Primary'));
    await unary('Abort', (cb) => h.client('msk-1').workflows.abort({ id: submitted.id, owner: 'tester' }, deadline(10_000), cb));
    const done = (await watching).at(-1) as Workflow__Output;

    // Then it is aborted; vm-a, which finished booting, keeps running with its /32; vm-b's resource is demoted again and vm-b is reported stopped
    expect(done.state).toBe('aborted');
    expect(done.steps.filter((s) => s.state === 'done').map((s) => s.id)).toEqual(['detect', 'fence-spb-1', 'promote-vm-a', 'promote-vm-b', 'start-vm-a']);
    expect(done.summary).toEqual([
      'rollback: vm-a runs on msk-1',
      'rollback: announced 10.20.0.10/32 from msk-1',
      'rollback: demoted vm-b on msk-1 (vm-b did not start there)',
      'rollback: vm-b is NOT RUNNING anywhere reachable: check spb-1, then plan the failover again or start it by hand on msk-1',
    ]);
    expect((await h.resources('msk-1')).map((r) => `${r.name} ${r.role}`)).toEqual(['vm-a Primary', 'vm-b Secondary']);
    await h.expectSafe(['msk-1'], { 'vm-a': 'msk-1' });
  });
});

// ---- the lost node comes back still Primary: failback refuses to pick a victim ---------------

describe('failback after a split brain', () => {
  let lab: Lab | undefined;
  const h = helpers(() => lab as Lab);
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  // Skipped (#14): since the simulator models DRBD quorum (a Primary without quorum suspends and is forced Secondary
  // when it learns it is outdated), this sequence no longer builds a split brain reliably: in one ordering spb-1 is
  // forced Secondary, in another msk-1 drops its witness link and both stay Primary. The refusal itself is covered by
  // resync.test.ts (splitBrain) and resync.integration.test.ts (an undrain of a split-brain pair is refused).
  it.skip('refuses, naming the resources and the operator commands to discard one side', async () => {
    // Given spb-1 runs vm-a; spb-1 is cut off from the other sites and its agent dies (the host keeps vm-a running
    // and Primary, out of reach), and msk-1 fails it over
    lab = await Lab.start({
      nodes: [
        { name: 'msk-1', site: 'msk' },
        { name: 'spb-1', site: 'spb', separateHost: true },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
      ],
      seeds: buildSeeds(['msk-1', 'spb-1', 'bak-1'], [{ name: 'vm-a', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' }], 'bak-1'),
      clusterFile: true,
    });
    await h.settled();
    const spb1 = lab.client('spb-1');
    await unary('SetPartition', (cb) => spb1.faults.setPartition({ unreachableSites: ['msk', 'bak'] }, deadline(), cb));
    await lab.stop('spb-1');
    await waitFor('msk-1 to lose spb-1 and keep quorum', async () => (await h.lostBy('msk-1', 'vm-a', 'spb-1')) && (await h.resources('msk-1')).every((r) => r.quorum));
    const failover = await h.submit('msk-1', failoverSpec({ node: 'spb-1' }));
    expect(((await h.follow('msk-1', failover.id)).at(-1) as Workflow__Output).state).toBe('succeeded');

    // When the cut heals and spb-1's agent returns: vm-a still Primary there, so the two Primaries refuse each other
    lab.node('spb-1').host?.world.setPartition([]);
    await lab.start('spb-1');
    const standAlone = async (node: string, other: string): Promise<boolean> => (await h.resources(node))[0]?.peers.find((p) => p.node === other)?.connectionState === 'StandAlone';
    // (the agent first reconnects to its host, then the handshake runs: a few seconds on a loaded machine)
    await waitFor(
      'one side to drop the connection (StandAlone) with vm-a Primary on both',
      async () =>
        ((await standAlone('spb-1', 'msk-1')) || (await standAlone('msk-1', 'spb-1'))) &&
        (await h.resources('spb-1'))[0]?.role === 'Primary' &&
        (await h.resources('msk-1'))[0]?.role === 'Primary',
      { timeoutMs: 20_000 },
    );

    // Then failback is refused: an operator must choose the victim, hvctl never does
    const refused = await h.refusal(h.plan('spb-1', { failback: { node: 'spb-1' } }));
    expect(refused.code).toBe('FAILED_PRECONDITION');
    expect(refused.message).toMatch(/not failing back spb-1: vm-a is Primary on both spb-1 and msk-1/);
    expect(refused.message).toMatch(/an operator must choose which copy to discard \(the victim\); hvctl never picks one\. On the victim: `drbdadm secondary vm-a; drbdadm connect --discard-my-data vm-a`/);
    // And nothing was changed by the refusal
    expect((await h.resources('spb-1'))[0]?.role).toBe('Primary');
    expect((await h.resources('msk-1'))[0]?.role).toBe('Primary');
  });
});

// ---- the survivor's copy is out of date, or on a drained node -------------------------------

describe('failover to a survivor that is Outdated or cordoned', () => {
  let lab: Lab | undefined;
  const h = helpers(() => lab as Lab);
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });
  const cut = (node: string, sites: string[]) =>
    unary<SetPartitionResponse__Output>('SetPartition', (cb) => h.client(node).faults.setPartition({ unreachableSites: sites }, deadline(), cb));
  const nodes: LabNodeSpec[] = [
    { name: 'msk-2', site: 'msk' },
    { name: 'spb-2', site: 'spb', child: true },
    { name: 'bak-1', site: 'bak', siteKind: 'backup' },
  ];

  it('refuses to promote a copy that went Outdated while its peer kept writing, states what is at risk, and promotes it only with --force', async () => {
    // Given spb-2 runs vm-a, replicated to msk-2, witnessed by bak-1
    lab = await Lab.start({
      nodes,
      seeds: buildSeeds(['msk-2', 'spb-2', 'bak-1'], [{ name: 'vm-a', home: 'spb-2', peer: 'msk-2', witness: 'bak-1' }], 'bak-1'),
      clusterFile: true,
      timing: { writeBytesPerSecond: 8 * MIB },
    });
    await h.settled();
    // When msk is cut off (lab fault cut msk): msk-2 loses quorum and its copy is Outdated, while spb-2 keeps writing with bak-1's vote
    await Promise.all([cut('msk-2', ['spb', 'bak']), cut('spb-2', ['msk']), cut('bak-1', ['msk'])]);
    await waitFor('msk-2 Outdated', async () => (await h.resources('msk-2'))[0]?.diskState === 'Outdated');
    await waitFor('spb-2 to write 4 MiB without msk-2, and the witness to know', async () => {
      const lacks = (await h.resources('bak-1'))[0]?.peers.find((p) => p.node === 'msk-2')?.outOfSyncBytes ?? 0;
      return Number(lacks) >= 4 * MIB;
    });
    // And spb-2 dies (lab fault kill spb-2), then msk heals (lab fault heal msk)
    await lab.kill('spb-2');
    await waitFor('bak-1 to lose spb-2', () => h.lostBy('bak-1', 'vm-a', 'spb-2'));
    await Promise.all([cut('msk-2', []), cut('bak-1', [])]);
    await waitFor('msk-2 to regain quorum through the witness', async () => (await h.resources('msk-2'))[0]?.quorum === true);

    // Then msk-2's copy is still Outdated: it never got what spb-2 wrote, and DRBD refuses to promote it without force
    const survivor = (await h.resources('msk-2'))[0];
    expect(survivor).toMatchObject({ diskState: 'Outdated', quorum: true, mayPromote: false, suspended: 'no' });

    // When the failover is planned without --force
    const refused = await h.refusal(h.plan('msk-2', failoverSpec({ node: 'spb-2' })));
    // Then it is refused, naming the Outdated copy and the data at risk (what the SURVIVOR lacks), and the override
    expect(refused.code).toBe('FAILED_PRECONDITION');
    expect(refused.message).toMatch(
      /msk-2's copy of vm-a is Outdated, not UpToDate: spb-2 went on writing without it from \d\d:\d\d:\d\dZ until the witness lost spb-2 at \d\d:\d\d:\d\dZ \(\d+\.\d s\); the witness bak-1 last knew msk-2 lacked \d+\.\d MiB; promoting it loses those writes/,
    );
    expect(refused.message).toMatch(/--force is the operator override/);
    expect((await h.resources('msk-2'))[0]?.role).toBe('Secondary');

    // When it is run with --force
    const plan = await h.plan('msk-2', failoverSpec({ node: 'spb-2' }, true));
    expect(plan.warnings).toEqual(expect.arrayContaining([expect.stringMatching(/^FORCED: msk-2's copy of vm-a is Outdated/)]));
    const submitted = await h.submit('msk-2', failoverSpec({ node: 'spb-2' }, true));
    const done = (await h.follow('msk-2', submitted.id)).at(-1) as Workflow__Output;
    // Then vm-a runs on msk-2, and the RPO line states the writes lost, not "0 at risk"
    expect(done.state, done.error).toBe('succeeded');
    const rpo = done.summary.find((line) => line.startsWith('RPO vm-a'));
    expect(rpo).toMatch(/^RPO vm-a \(protocol C\): msk-2's copy was Outdated and was forced: \d+\.\d MiB that spb-2 wrote without msk-2 are LOST \(\d+\.\d s of writes, within the 60 s RPO\)/);
    expect(rpo).not.toMatch(/0 acknowledged writes at risk/);
    await h.expectSafe(['msk-2'], { 'vm-a': 'msk-2' });
  });

  it('starts the VMs on a drained (cordoned) node when it holds the only surviving copy, saying so in the plan', async () => {
    // Given msk-2 runs vm-a and spb-2 runs vm-b, each replicated to the other
    lab = await Lab.start({
      nodes,
      seeds: buildSeeds(
        ['msk-2', 'spb-2', 'bak-1'],
        [
          { name: 'vm-a', home: 'msk-2', peer: 'spb-2', witness: 'bak-1' },
          { name: 'vm-b', home: 'spb-2', peer: 'msk-2', witness: 'bak-1' },
        ],
        'bak-1',
      ),
      clusterFile: true,
    });
    await h.settled();
    // And msk-2 is drained for maintenance: vm-a moves to spb-2, msk-2 is cordoned
    const drain = await h.submit('msk-2', { drain: { node: 'msk-2', parallel: 2, skipUnmovable: false } });
    expect(((await h.follow('msk-2', drain.id)).at(-1) as Workflow__Output).state).toBe('succeeded');
    await h.expectSafe(['msk-2', 'spb-2'], { 'vm-a': 'spb-2', 'vm-b': 'spb-2' });
    // When spb-2 dies
    await lab.kill('spb-2');
    await waitFor('msk-2 to lose spb-2 and keep quorum', async () => (await h.lostBy('msk-2', 'vm-a', 'spb-2')) && (await h.resources('msk-2')).every((r) => r.quorum));

    // Then the failover plan uses msk-2 anyway, saying why
    const plan = await h.plan('msk-2', failoverSpec({ node: 'spb-2' }));
    expect(plan.title).toBe('Fail over spb-2: 2 VM(s) to msk-2');
    expect(plan.warnings).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^msk-2 is cordoned \(.*\): it is the only surviving copy of vm-a, so vm-a starts there anyway$/),
        expect.stringMatching(/^msk-2 is cordoned \(.*\): it is the only surviving copy of vm-b, so vm-b starts there anyway$/),
      ]),
    );
    // And it runs: both VMs start on msk-2, past its cordon, without --force
    const submitted = await h.submit('msk-2', failoverSpec({ node: 'spb-2' }));
    const done = (await h.follow('msk-2', submitted.id)).at(-1) as Workflow__Output;
    expect(done.state, done.error).toBe('succeeded');
    await h.expectSafe(['msk-2'], { 'vm-a': 'msk-2', 'vm-b': 'msk-2' });
  });
});
