import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  Domain__Output,
  ListAnnouncementsResponse__Output,
  ListDomainsResponse__Output,
  ListLeasesResponse__Output,
  ListResourcesResponse__Output,
  ListWorkflowsResponse__Output,
  Plan__Output,
  PlanResponse__Output,
  Resource__Output,
  SubmitResponse__Output,
  WatchWorkflowResponse__Output,
  Workflow__Output,
  WorkflowSpec,
} from '@hvctl/proto';
import { ClusterModel, buildTopology, checkInvariants, collectStream, createAgentClient, deadline, loadClusterFile, unary, type HvctlError, type Topology } from '@hvctl/common';
import { waitFor } from '@hvctl/common/testing';
import { join } from 'node:path';
import { buildSeeds, Lab, type LabNodeSpec } from '../../testing/harness.js';

/**
 * `start` and `stop` end to end: real agents on loopback with simulated drivers. spb-1 (a
 * child process) runs vm-a and vm-b, replicated to msk-1, with bak-1 as witness, and
 * announces the public block. A crash and a restart of spb-1 without failover leaves both
 * VMs shut off with their intent still "running": `check` reports the outage, `start`
 * brings each back, `stop` records "stopped", which is not an outage.
 */
const PUBLIC_BLOCK = '203.0.113.0/24';
const IP: Record<string, string> = { 'vm-a': '10.20.0.10', 'vm-b': '10.20.0.11' };

describe('start and stop', () => {
  let lab: Lab;
  const client = (node: string): ReturnType<Lab['client']> => lab.client(node);
  const domains = async (node: string): Promise<Domain__Output[]> =>
    (await unary<ListDomainsResponse__Output>('ListDomains', (cb) => client(node).kvm.listDomains({}, deadline(), cb))).domains;
  const resources = async (node: string): Promise<Resource__Output[]> =>
    (await unary<ListResourcesResponse__Output>('ListResources', (cb) => client(node).drbd.listResources({}, deadline(), cb))).resources;
  let requests = 0;
  const plan = async (coordinator: string, spec: WorkflowSpec): Promise<Plan__Output> =>
    (await unary<PlanResponse__Output>('Plan', (cb) => client(coordinator).workflows.plan({ spec }, deadline(15_000), cb))).plan as Plan__Output;
  const run = async (coordinator: string, spec: WorkflowSpec): Promise<Workflow__Output> => {
    const { workflow } = await unary<SubmitResponse__Output>('Submit', (cb) =>
      client(coordinator).workflows.submit({ requestId: `start-test-${(requests += 1)}`, spec, owner: 'tester' }, deadline(15_000), cb),
    );
    const states = (await collectStream<WatchWorkflowResponse__Output>('WatchWorkflow', client(coordinator).workflows.watchWorkflow({ id: workflow!.id }, deadline(30_000)))).flatMap((m) =>
      m.workflow ? [m.workflow] : [],
    );
    return states.at(-1) as Workflow__Output;
  };
  const refusal = (promise: Promise<unknown>): Promise<HvctlError> =>
    promise.then(
      () => {
        throw new Error('expected a refusal');
      },
      (error: HvctlError) => error,
    );

  /** What `hvctl check` computes: the topology from every running agent, with leases and workflows. */
  const check = async (): Promise<{ topology: Topology; rules: string[] }> => {
    const cluster = await loadClusterFile(join(lab.dir, 'cluster.yaml'));
    const model = new ClusterModel({ cluster, connect: (address) => createAgentClient(address) });
    try {
      model.start();
      await waitFor('every running agent to send a snapshot', () => model.snapshot().nodes.filter((n) => lab.running().includes(n.name)).every((n) => n.reachable && n.state), { timeoutMs: 10_000 });
      const topology = buildTopology(model.snapshot());
      const leases = (
        await Promise.all(lab.running().map(async (on) => (await unary<ListLeasesResponse__Output>('ListLeases', (cb) => client(on).leases.listLeases({}, deadline(), cb))).leases.map((l) => ({ ...l, on }))))
      ).flat();
      const workflows = (await Promise.all(lab.running().map(async (on) => (await unary<ListWorkflowsResponse__Output>('ListWorkflows', (cb) => client(on).workflows.listWorkflows({}, deadline(), cb))).workflows))).flat();
      return { topology, rules: checkInvariants(topology, leases, workflows).violations.map((v) => `${v.rule} ${v.subject}`).sort() };
    } finally {
      model.stop();
    }
  };

  beforeAll(async () => {
    const seeds = buildSeeds(
      ['msk-1', 'spb-1', 'bak-1'],
      [
        { name: 'vm-a', home: 'spb-1', peer: 'msk-1', witness: 'bak-1', ip: IP['vm-a'] },
        { name: 'vm-b', home: 'spb-1', peer: 'msk-1', witness: 'bak-1', ip: IP['vm-b'] },
      ],
      'bak-1',
    );
    seeds['spb-1']?.announcements.push({ prefix: PUBLIC_BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceMs: 0 });
    seeds['msk-1']?.announcements.push({ prefix: PUBLIC_BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceMs: 0 });
    const nodes: LabNodeSpec[] = [
      { name: 'msk-1', site: 'msk' },
      { name: 'spb-1', site: 'spb', child: true },
      { name: 'bak-1', site: 'bak', siteKind: 'backup' },
    ];
    lab = await Lab.start({ nodes, seeds, clusterFile: true, publicBlock: PUBLIC_BLOCK });
    await lab.waitAllConnected();
  });

  afterAll(async () => {
    await lab?.close();
  });

  it('a crash and restart without failover is an outage check reports; start brings each VM back', async () => {
    // Given spb-1 crashes (SIGKILL) and comes back: its VMs shut off, both replicas Secondary
    await lab.kill('spb-1');
    await lab.start('spb-1');
    await lab.waitAllConnected(10_000);
    await waitFor('both replicas UpToDate after the reconnect', async () => (await resources('spb-1')).every((r) => r.diskState === 'UpToDate' && r.quorum));
    expect((await domains('spb-1')).map((d) => [d.name, d.state, d.intent])).toEqual([
      ['vm-a', 'DOMAIN_STATE_SHUTOFF', 'DOMAIN_INTENT_RUNNING'],
      ['vm-b', 'DOMAIN_STATE_SHUTOFF', 'DOMAIN_INTENT_RUNNING'],
    ]);

    // Then check reports each VM as intended running and down (the intent survived the crash)
    const before = await check();
    expect(before.rules).toEqual(['intended-running-down vm-a', 'intended-running-down vm-b']);
    expect(before.topology.vms.map((vm) => [vm.name, vm.intent])).toEqual([
      ['vm-a', 'running'],
      ['vm-b', 'running'],
    ]);

    // When vm-a is started: the plan promotes the replica where it last ran, records the intent, starts, announces, verifies
    const planned = await plan('msk-1', { start: { vm: 'vm-a' } });
    expect(planned.title).toBe('Start vm-a on spb-1');
    expect(planned.steps.map((step) => `${step.phase}: ${step.title}`)).toEqual([
      'check: check vm-a runs nowhere and vm-a can be promoted on spb-1',
      'promote: promote vm-a on spb-1',
      'promote: record intent running for vm-a on spb-1 and msk-1',
      'start: start vm-a on spb-1',
      'route: announce 10.20.0.10/32 (vm-a) from spb-1, withdraw it from msk-1',
      'verify: verify vm-a runs only on spb-1, vm-a Primary only there, /32 only from there',
    ]);
    const started = await run('msk-1', { start: { vm: 'vm-a' } });
    expect(started.state).toBe('succeeded');
    expect((await run('msk-1', { start: { vm: 'vm-b' } })).state).toBe('succeeded');

    // Then both run on spb-1, intended by the workflow's owner (the coordinator is "anonymous" without TLS), and check is clean
    expect((await domains('spb-1')).map((d) => [d.name, d.state, d.intentSetBy])).toEqual([
      ['vm-a', 'DOMAIN_STATE_RUNNING', 'tester via anonymous'],
      ['vm-b', 'DOMAIN_STATE_RUNNING', 'tester via anonymous'],
    ]);
    expect((await check()).rules).toEqual([]);
  });

  it('stop records the intent stopped, which is not an outage', async () => {
    // When vm-b is stopped
    const stopped = await run('msk-1', { stop: { vm: 'vm-b', timeoutSeconds: 0 } });
    expect(stopped.state).toBe('succeeded');
    // Then it is shut off, Secondary, its /32 withdrawn, intended stopped on both nodes; check is clean
    for (const node of ['spb-1', 'msk-1']) {
      expect((await domains(node)).find((d) => d.name === 'vm-b')).toMatchObject({ state: 'DOMAIN_STATE_SHUTOFF', intent: 'DOMAIN_INTENT_STOPPED' });
      expect((await resources(node)).find((r) => r.name === 'vm-b')?.role).toBe('Secondary');
      const announced = (await unary<ListAnnouncementsResponse__Output>('ListAnnouncements', (cb) => client(node).routing.listAnnouncements({}, deadline(), cb))).announcements;
      expect(announced.map((a) => a.prefix)).not.toContain(`${IP['vm-b']}/32`);
    }
    expect((await check()).rules).toEqual([]);
  });

  it('refuses to start a VM that runs, and one whose only reachable copy cannot be promoted', async () => {
    // Given vm-a runs on spb-1
    const running = await refusal(plan('msk-1', { start: { vm: 'vm-a' } }));
    expect(running.code).toBe('FAILED_PRECONDITION');
    expect(running.message).toMatch(/vm-a is already running on spb-1 \(running\); nothing was changed$/);

    // Given spb-1 is down and msk-1's disk of vm-b has failed (Diskless)
    await lab.stop('spb-1');
    await unary('FailDisk', (cb) => client('msk-1').faults.failDisk({ resource: 'vm-b' }, deadline(), cb));
    await waitFor('msk-1 to report vm-b without its disk', async () => (await resources('msk-1')).find((r) => r.name === 'vm-b')?.diskState !== 'UpToDate');

    // Then start refuses, naming why, and nothing changes
    const broken = await refusal(plan('msk-1', { start: { vm: 'vm-b' } }));
    expect(broken.code).toBe('FAILED_PRECONDITION');
    expect(broken.message).toMatch(/no replica of vm-b can be safely promoted: vm-b is (Failed|Diskless) on msk-1: promoting it would serve an out-of-date or partial copy \(spb-1 did not answer\); nothing was changed$/);
    expect((await resources('msk-1')).find((r) => r.name === 'vm-b')?.role).toBe('Secondary');
  });
});
