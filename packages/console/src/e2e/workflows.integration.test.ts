import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CordonResponse__Output, ListWorkflowsResponse__Output, UncordonResponse__Output } from '@hvctl/proto';
import { createAgentClient, deadline, loadClusterFile, unary, type Topology } from '@hvctl/common';
import { labDown, labFailMigrations, labKill, labRestart, labUp } from '../lab/lab.js';
import { labClusterPath } from '../lab/state.js';
import { fetchTopology } from '../cli/status.js';

const HVCTL = fileURLToPath(new URL('../../bin/hvctl.js', import.meta.url));

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

function hvctl(dir: string, ...args: string[]): Promise<Result> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HVCTL, '--cluster', labClusterPath(dir), ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

async function topology(dir: string): Promise<Topology> {
  return JSON.parse((await hvctl(dir, 'status', '--json')).stdout) as Topology;
}

async function expectInvariantsHold(dir: string): Promise<void> {
  const check = await hvctl(dir, 'check');
  expect(check.stdout, check.stdout + check.stderr).toContain('every invariant holds');
  expect(check.code).toBe(0);
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`timed out; last value: ${JSON.stringify(value).slice(0, 1500)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

const nodeOf = (t: Topology, vm: string): string | undefined => t.vms.find((entry) => entry.name === vm)?.node;

describe('live migration through the CLI against the lab', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-wf-'));
    await labUp({ dir, vms: 12, autopilot: 'off' });
  }, 60_000);

  afterAll(async () => {
    await labDown({ dir, force: true });
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('--dry-run prints the plan and changes nothing', async () => {
    const result = await hvctl(dir, 'migrate', 'web-1', '--dry-run');
    expect(result.code).toBe(0);
    // The plan, as text, names every step with the command an operator would type.
    const steps = result.stdout.split('\n').filter((line) => /^\s+\d+\. \[/.test(line)).map((line) => line.trim());
    expect(steps).toEqual([
      '1. [check] check web-1 can move from msk-1 to spb-1',
      '2. [prepare] allow two primaries for web-1 on spb-1',
      '3. [prepare] allow two primaries for web-1 on msk-1',
      '4. [prepare] promote web-1 on spb-1',
      '5. [migrate] live-migrate web-1 from msk-1 to spb-1',
      '6. [cleanup] demote web-1 on msk-1',
      '7. [cleanup] forbid two primaries for web-1 on msk-1',
      '8. [cleanup] forbid two primaries for web-1 on spb-1',
      '9. [route] announce 10.20.0.11/32 (web-1) from spb-1, withdraw it from msk-1',
      '10. [route] record intent running for web-1 on spb-1 and msk-1',
      '11. [verify] verify web-1 runs only on spb-1, web-1 Primary only there, /32 only from there',
    ]);
    expect(result.stdout).toContain('virsh migrate --live --persistent web-1 qemu+ssh://spb-1/system');
    expect(nodeOf(await topology(dir), 'web-1')).toBe('msk-1');
  });

  it('moves a VM with its /32, and every invariant holds after', async () => {
    const result = await hvctl(dir, 'migrate', 'web-1', '--yes', '--json');
    expect(result.code, result.stderr).toBe(0);
    const events = result.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string; workflow?: { state: string } });
    expect(events[0]?.event).toBe('plan');
    expect(events.at(-1)).toMatchObject({ event: 'result', workflow: { state: 'succeeded' } });
    const after = await topology(dir);
    const vm = after.vms.find((entry) => entry.name === 'web-1');
    expect(vm).toMatchObject({ node: 'spb-1', state: 'running', runningOn: ['spb-1'], announcedFrom: ['spb-1'] });
    expect(after.resources.find((resource) => resource.name === 'web-1')?.primaries).toEqual(['spb-1']);
    await expectInvariantsHold(dir);
  });

  it('refuses a migration to a cordoned node with exit 3 and changes nothing', async () => {
    const cluster = await loadClusterFile(labClusterPath(dir));
    const spb1 = createAgentClient(cluster.nodes.find((node) => node.name === 'spb-1')!.address);
    try {
      await unary<CordonResponse__Output>('Cordon', (cb) => spb1.node.cordon({ requestId: 'test-cordon', reason: 'test' }, deadline(), cb));
      const result = await hvctl(dir, 'migrate', 'crm-1', '--yes');
      expect(result.code).toBe(3);
      expect(result.stderr).toMatch(/spb-1 is cordoned/);
      expect(nodeOf(await topology(dir), 'crm-1')).toBe('msk-1');
    } finally {
      await unary<UncordonResponse__Output>('Uncordon', (cb) => spb1.node.uncordon({ requestId: 'test-uncordon' }, deadline(), cb));
      spb1.close();
    }
    await expectInvariantsHold(dir);
  });

  it('refuses a second workflow on a leased resource, naming the holder', async () => {
    // Given a slow migration of git-1 (8 GiB: about 4 s) running detached
    const first = await hvctl(dir, 'migrate', 'git-1', '--yes', '--detach');
    expect(first.code).toBe(0);
    const id = /(wf-[0-9a-f-]+)/.exec(first.stdout)?.[1];
    // When a second operator asks for the same VM
    const second = await hvctl(dir, 'migrate', 'git-1', '--yes');
    // Then it is refused, naming the workflow that holds the lease
    expect(second.code).toBe(3);
    expect(second.stderr).toContain(`held by workflow ${id}`);
    await waitFor(() => topology(dir), (t) => nodeOf(t, 'git-1') === 'msk-2' && t.vms.every((vm) => !vm.migrating), 20_000);
    await waitFor(() => hvctl(dir, 'locks'), (r) => r.stdout.includes('no leases held'), 10_000);
    await expectInvariantsHold(dir);
  });

  it('rolls back a migration that fails midway (exit 4): the VM keeps running on its node, one Primary', async () => {
    await labFailMigrations(dir, 'msk-2', 1);
    const result = await hvctl(dir, 'migrate', 'dns-1', '--yes');
    expect(result.code).toBe(4);
    expect(result.stdout).toMatch(/FAILED/);
    const after = await topology(dir);
    expect(after.vms.find((vm) => vm.name === 'dns-1')).toMatchObject({ node: 'msk-2', runningOn: ['msk-2'], announcedFrom: ['msk-2'] });
    expect(after.resources.find((resource) => resource.name === 'dns-1')?.primaries).toEqual(['msk-2']);
    await expectInvariantsHold(dir);
  });

  it('aborts a migration mid-copy: exit 5, the VM stays on its node, every invariant holds', async () => {
    // git-1 has 8 GiB: its copy takes about 4 s.
    const cluster = await loadClusterFile(labClusterPath(dir));
    const before = nodeOf(await topology(dir), 'git-1');
    const submitted = await hvctl(dir, 'migrate', 'git-1', '--yes', '--detach');
    const id = /(wf-[0-9a-f-]+)/.exec(submitted.stdout)?.[1] as string;
    await waitFor(() => fetchTopology(cluster, 2000), (t) => t.vms.find((vm) => vm.name === 'git-1')?.migrating === true, 10_000);
    const aborted = await hvctl(dir, 'abort', id);
    expect(aborted.code, aborted.stdout + aborted.stderr).toBe(5);
    expect(aborted.stdout).toMatch(/ABORTED/);
    const after = await topology(dir);
    expect(after.vms.find((vm) => vm.name === 'git-1')).toMatchObject({ node: before, runningOn: [before], announcedFrom: [before], migrating: false });
    await expectInvariantsHold(dir);
  });

  it('rolls back when the target host dies mid-migration: the VM keeps running on its source', async () => {
    // Given a migration of git-1 (8 GiB, about 4 s of copying) to its DRBD peer
    const cluster = await loadClusterFile(labClusterPath(dir));
    const before = await topology(dir);
    const source = nodeOf(before, 'git-1') as string;
    const target = before.resources.find((r) => r.name === 'git-1')?.replicas.find((r) => !r.witness && r.node !== source)?.node as string;
    const run = hvctl(dir, 'migrate', 'git-1', '--yes');
    await waitFor(() => fetchTopology(cluster, 2000), (t) => t.vms.find((vm) => vm.name === 'git-1')?.migrating === true, 10_000);
    // When the target's host crashes mid-copy
    await labKill(dir, target);
    // Then the workflow fails and rolls back: git-1 runs on its source only, Primary there, /32 there
    const result = await run;
    expect(result.code, result.stdout + result.stderr).toBe(4);
    const after = await topology(dir);
    expect(after.vms.find((vm) => vm.name === 'git-1')).toMatchObject({ node: source, runningOn: [source], announcedFrom: [source] });
    expect(after.resources.find((r) => r.name === 'git-1')?.primaries).toEqual([source]);
    await expectInvariantsHold(dir);
    // And after a failover of the lost target, its return (rebooted) and a failback, the cluster is whole again
    const failover = await hvctl(dir, 'failover', '--node', target, '--yes');
    expect(failover.code, failover.stdout + failover.stderr).toBe(0);
    await labRestart(dir, target);
    await waitFor(() => fetchTopology(cluster, 2000), (t) => t.nodes.every((n) => n.reachable), 15_000);
    // The migration's leases on the rebooted target are released by its coordinator once it answers again.
    await waitFor(() => hvctl(dir, 'locks'), (r) => r.stdout.includes('no leases held'), 15_000);
    const failback = await hvctl(dir, 'failback', target, '--yes');
    expect(failback.code, failback.stdout + failback.stderr).toBe(0);
    await expectInvariantsHold(dir);
    expect((await topology(dir)).vms.every((vm) => vm.state === 'running')).toBe(true);
  }, 120_000);

  it('goes on when the CLI that started it is killed', async () => {
    // Given an operator's hvctl following a migration of mail-1 (6 GiB)
    const child = spawn(process.execPath, [HVCTL, '--cluster', labClusterPath(dir), 'migrate', 'mail-1', '--yes'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        if (/wf-[0-9a-f-]+ running on/.test(output)) resolve();
      }),
    );
    // When the console is killed (laptop closed)
    child.kill('SIGKILL');
    // Then the migration still finishes
    await waitFor(() => topology(dir), (t) => nodeOf(t, 'mail-1') === 'spb-2' && t.vms.every((vm) => !vm.migrating), 20_000);
    await waitFor(() => hvctl(dir, 'workflows', '--json'), (r) => (JSON.parse(r.stdout) as { state: string }[]).every((w) => w.state !== 'running'), 10_000);
    await expectInvariantsHold(dir);
  });

  it('finishes a migration whose coordinator agent was killed with SIGKILL and restarted', async () => {
    // Given a migration of vpn-1 (spb-2 -> msk-2, 4 GiB) coordinated by spb-2
    const submitted = await hvctl(dir, 'migrate', 'vpn-1', '--yes', '--detach');
    expect(submitted.code).toBe(0);
    await new Promise((resolve) => setTimeout(resolve, 700));
    // When the coordinator's agent is killed (the host keeps running) and started again
    await labKill(dir, 'spb-2', { agentOnly: true });
    await labRestart(dir, 'spb-2');
    // Then it resumes from its journal and finishes
    const workflows = await waitFor(
      () => hvctl(dir, 'workflows', '--json'),
      (r) => (JSON.parse(r.stdout) as { state: string }[]).every((w) => w.state !== 'running'),
      30_000,
    );
    const vpn = (JSON.parse(workflows.stdout) as { state: string; error: string; steps: unknown[]; plan: { title: string } }[]).find((w) => w.plan.title.includes('vpn-1'));
    expect(vpn?.state, JSON.stringify(vpn)).toBe('succeeded');
    expect(nodeOf(await topology(dir), 'vpn-1')).toBe('msk-2');
    await expectInvariantsHold(dir);
  });

  it('finishes a drain whose coordinator (the drained node) was killed mid-drain and restarted', async () => {
    // Given a drain of msk-1 running detached
    const submitted = await hvctl(dir, 'drain', 'msk-1', '--parallel', '1', '--yes', '--detach');
    expect(submitted.code, submitted.stderr).toBe(0);
    // (asked of the coordinator directly: a `status --json` per poll is too slow on a loaded machine to catch a migration)
    const cluster = await loadClusterFile(labClusterPath(dir));
    const coordinator = createAgentClient(cluster.nodes.find((node) => node.name === 'msk-1')?.address as string);
    try {
      await waitFor(
        () => unary<ListWorkflowsResponse__Output>('ListWorkflows', (cb) => coordinator.workflows.listWorkflows({}, deadline(), cb)),
        (list) => list.workflows.some((workflow) => workflow.state === 'running' && workflow.steps.some((step) => step.id.endsWith(':migrate') && step.state === 'running')),
        10_000,
      );
    } finally {
      coordinator.close();
    }
    // When its agent is killed mid-drain and started again
    await labKill(dir, 'msk-1', { agentOnly: true });
    await labRestart(dir, 'msk-1');
    // Then the drain resumes and finishes: msk-1 empty, cordoned, in maintenance
    const done = await waitFor(
      () => hvctl(dir, 'workflows', '--json'),
      (r) => (JSON.parse(r.stdout) as { state: string }[]).every((w) => w.state !== 'running'),
      60_000,
    );
    const drain = (JSON.parse(done.stdout) as { state: string; plan: { title: string } }[]).find((w) => /drain msk-1/i.test(w.plan.title));
    expect(drain?.state, JSON.stringify(drain)).toBe('succeeded');
    const after = await topology(dir);
    expect(after.vms.filter((vm) => vm.node === 'msk-1')).toEqual([]);
    expect(after.nodes.find((node) => node.name === 'msk-1')).toMatchObject({ cordoned: true, maintenance: true });
    await expectInvariantsHold(dir);
    const undrain = await hvctl(dir, 'undrain', 'msk-1', '--return-vms', '--yes');
    expect(undrain.code, undrain.stdout + undrain.stderr).toBe(0);
    await expectInvariantsHold(dir);
  }, 90_000);

  it('lets another agent adopt an orphan whose coordinator is lost for good, and roll it back safely', async () => {
    // Given a migration of erp-1 (msk-2 -> spb-2) whose coordinator msk-2 dies mid-copy (a host crash) and stays dead
    const before = await topology(dir);
    const from = nodeOf(before, 'erp-1') as string;
    const submitted = await hvctl(dir, 'migrate', 'erp-1', '--yes', '--detach');
    const id = /(wf-[0-9a-f-]+)/.exec(submitted.stdout)?.[1] as string;
    // (asked of the coordinator directly: a `status --json` per poll is too slow on a loaded machine to catch a migration)
    const cluster = await loadClusterFile(labClusterPath(dir));
    const coordinator = createAgentClient(cluster.nodes.find((node) => node.name === from)?.address as string);
    try {
      await waitFor(
        () => unary<ListWorkflowsResponse__Output>('ListWorkflows', (cb) => coordinator.workflows.listWorkflows({}, deadline(), cb)),
        (list) => list.workflows.some((workflow) => workflow.id === id && workflow.steps.some((step) => step.id === 'migrate' && step.state === 'running')),
        10_000,
      );
    } finally {
      coordinator.close();
    }
    await labKill(dir, from);
    // Then `hvctl workflows` shows it orphaned
    const listed = await waitFor(() => hvctl(dir, 'workflows'), (r) => r.stdout.includes('ORPHANED'), 10_000);
    expect(listed.stdout).toMatch(new RegExp(`${id}\\s+ORPHANED`));
    // When the target adopts it from its journal copy
    const target = from === 'msk-2' ? 'spb-2' : 'msk-2';
    const resumed = await hvctl(dir, 'resume', id, '--on', target);
    // Then it ends rolled back (its source cannot be reached): the target's replica is not left Primary
    expect(resumed.code, resumed.stdout + resumed.stderr).toBe(4);
    expect(resumed.stdout).toMatch(/demoted erp-1 on/);
    const after = await topology(dir);
    expect(after.resources.find((resource) => resource.name === 'erp-1')?.primaries ?? []).not.toContain(target);
    await expectInvariantsHold(dir);
    // And the lost node is failed over; when it comes back (rebooted), failback makes the cluster whole again
    const failover = await hvctl(dir, 'failover', '--node', from, '--yes');
    expect(failover.code, failover.stdout + failover.stderr).toBe(0);
    await labRestart(dir, from);
    const failback = await hvctl(dir, 'failback', from, '--yes');
    expect(failback.code, failback.stdout + failback.stderr).toBe(0);
    await expectInvariantsHold(dir);
    expect((await topology(dir)).vms.every((vm) => vm.state === 'running')).toBe(true);
  }, 180_000);
});
