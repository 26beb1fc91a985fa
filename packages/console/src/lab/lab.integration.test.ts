import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClusterFile, type Topology } from '@hvctl/common';
import { fetchTopology } from '../cli/status.js';
import { labCut, labDown, labHeal, labKill, labRestart, labSlow, labStatus, labUp } from './lab.js';
import { LAB_PAIRS } from './plan.js';
import { isAgentProcess, isHostProcess, labClusterPath, readLabState } from './state.js';

const run = promisify(execFile);
const HVCTL = fileURLToPath(new URL('../../bin/hvctl.js', import.meta.url));

async function status(dir: string): Promise<Topology> {
  const { stdout } = await run(process.execPath, [HVCTL, 'status', '--json', '--cluster', labClusterPath(dir)], { timeout: 20_000 });
  return JSON.parse(stdout) as Topology;
}

async function pollUntil<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<{ value: T; elapsedMs: number }> {
  const started = Date.now();
  for (;;) {
    const value = await read();
    if (done(value)) return { value, elapsedMs: Date.now() - started };
    if (Date.now() - started > timeoutMs) throw new Error(`condition not met within ${timeoutMs} ms: ${JSON.stringify(value).slice(0, 2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the lab (five nodes: a simulated host and an agent process each)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-lab-'));
    await labUp({ dir, vms: 12, autopilot: 'off' });
  }, 60_000);

  afterAll(async () => {
    const state = await readLabState(dir);
    await labDown({ dir, force: true });
    // Then: no agent or host process of this lab is left behind.
    for (const node of state?.nodes ?? []) {
      expect(isAgentProcess(node.pid, join(node.dir, 'agent.yaml'))).toBe(false);
      expect(isHostProcess(node.hostPid, join(node.dir, 'agent.yaml'))).toBe(false);
    }
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('starts 3 sites, 5 reachable nodes and 12 running VMs, each with one Primary on its node and an UpToDate Secondary in the other site', async () => {
    // Given a lab that just came up; When a script asks for the topology through the CLI
    const topology = await status(dir);
    // Then it sees the whole cluster healthy
    expect(topology.sites.map((site) => site.name)).toEqual(['msk', 'spb', 'bak']);
    expect(topology.nodes).toHaveLength(5);
    expect(topology.nodes.every((node) => node.reachable)).toBe(true);
    expect(topology.vms).toHaveLength(12);
    for (const vm of topology.vms) {
      expect(vm.state).toBe('running');
      expect(vm.runningOn).toEqual([vm.node]);
      expect(vm.announcedFrom).toEqual([vm.node]);
      const resource = topology.resources.find((candidate) => candidate.name === vm.resource);
      expect(resource?.primaries).toEqual([vm.node]);
      const secondary = resource?.replicas.find((replica) => !replica.witness && replica.node !== vm.node);
      expect(secondary).toMatchObject({ node: LAB_PAIRS[vm.node], role: 'Secondary', disk: 'UpToDate', replication: 'Established', peerReachable: true });
      expect(secondary?.node.slice(0, 3)).not.toBe(vm.node.slice(0, 3));
    }
    expect(topology.announcements.filter((a) => a.kind === 'bgp').map((a) => a.node).sort()).toEqual(['msk-1', 'spb-1']);
    expect(topology.backups).toHaveLength(12);
  });

  it('kills only the agent of msk-2: its host runs on (peers stay Connected, VMs run, routes stay); restart starts only the agent', async () => {
    const cluster = await loadClusterFile(labClusterPath(dir));
    const shared = (topology: Topology) => topology.resources.filter((resource) => resource.replicas.some((replica) => replica.node === 'msk-2' && !replica.witness));
    const spb2Views = (topology: Topology) => shared(topology).map((resource) => resource.replicas.find((replica) => replica.node === 'spb-2'));
    const before = await fetchTopology(cluster, 2000);
    const vms = before.vms.filter((vm) => vm.node === 'msk-2').map((vm) => vm.name);
    expect(vms.length).toBeGreaterThan(0);
    const changedBefore = spb2Views(before).map((replica) => replica?.connectionChangedUnixMs);
    const hostPid = (await readLabState(dir))?.nodes.find((node) => node.name === 'msk-2')?.hostPid;

    // When only msk-2's agent is killed with SIGKILL
    await labKill(dir, 'msk-2', { agentOnly: true });
    expect((await labStatus(dir)).running['msk-2']).toEqual({ agent: false, host: true });

    // Then for 4 s (more than the peer timeout) msk-2 does not answer, but spb-2 stays Connected to it on every shared resource
    const until = Date.now() + 4000;
    while (Date.now() < until) {
      const topology = await fetchTopology(cluster, 2000);
      expect(topology.nodes.find((node) => node.name === 'msk-2')?.reachable).toBe(false);
      expect(spb2Views(topology).map((replica) => replica?.connection)).toEqual(changedBefore.map(() => 'Connected'));
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // And host faults still work with the agent dead (they go to the host)
    await labSlow(dir, 'msk-2', 0);

    // When the node is restarted: only the agent starts, on the same host
    await labRestart(dir, 'msk-2');
    const after = (await readLabState(dir))?.nodes.find((node) => node.name === 'msk-2');
    expect(after?.hostPid).toBe(hostPid);
    // Then its VMs still run there, announced from there, and spb-2's connections never changed state
    const { value } = await pollUntil(() => fetchTopology(cluster, 2000), (topology) => topology.nodes.every((node) => node.reachable), 10_000);
    for (const name of vms) {
      const vm = value.vms.find((candidate) => candidate.name === name);
      expect(vm).toMatchObject({ state: 'running', runningOn: ['msk-2'], announcedFrom: ['msk-2'] });
    }
    expect(spb2Views(value).map((replica) => replica?.connectionChangedUnixMs)).toEqual(changedBefore);
  });

  it('sees a kill -9 of spb-1 within 3 s, on the status output and on its DRBD peers', async () => {
    // Given a healthy lab; When spb-1's process is killed with SIGKILL
    const cluster = await loadClusterFile(labClusterPath(dir));
    await labKill(dir, 'spb-1');
    // Then within 3 s spb-1 is unreachable and msk-1's replicas of their shared resources lost their peer
    const { value, elapsedMs } = await pollUntil(
      () => fetchTopology(cluster, 2000),
      (topology) =>
        topology.nodes.find((node) => node.name === 'spb-1')?.reachable === false &&
        topology.resources
          .filter((resource) => resource.replicas.some((replica) => replica.node === 'spb-1'))
          .every((resource) => resource.replicas.find((replica) => replica.node === 'msk-1')?.peerReachable === false),
      3000,
    );
    expect(elapsedMs).toBeLessThan(3000);
    const msk1Replica = value.resources.find((resource) => resource.name === 'web-1')?.replicas.find((replica) => replica.node === 'msk-1');
    expect(msk1Replica).toMatchObject({ connection: 'Connecting', replication: 'Off', role: 'Primary' });
    // And the CLI says so too
    const viaCli = await status(dir);
    expect(viaCli.nodes.find((node) => node.name === 'spb-1')?.reachable).toBe(false);
  });

  it('brings a restarted node back as Secondary and resyncs it', async () => {
    // Given spb-1 was killed (previous test); When it is restarted
    await labRestart(dir, 'spb-1');
    const cluster = await loadClusterFile(labClusterPath(dir));
    // Then every resource it shares with msk-1 ends connected and UpToDate on both sides, with one Primary
    const { value } = await pollUntil(
      () => fetchTopology(cluster, 2000),
      (topology) => topology.nodes.every((node) => node.reachable) && topology.health.resourcesDegraded === 0,
      20_000,
    );
    for (const resource of value.resources) expect(resource.primaries.length).toBeLessThanOrEqual(1);
    // And the VMs that ran on the crashed host are reported stopped, not hidden
    const stopped = value.vms.filter((vm) => vm.state !== 'running');
    expect(stopped.length).toBe(3);
    for (const vm of stopped) expect(vm.announcedFrom).toEqual([]);
  });

  it('cuts a site off: both sides see each other lost while every process lives', async () => {
    const cluster = await loadClusterFile(labClusterPath(dir));
    // When site spb is cut off
    await labCut(dir, 'spb');
    try {
      // Then msk-1 and spb-1 each report the other lost, and all five agents still answer
      const { value } = await pollUntil(
        () => fetchTopology(cluster, 2000),
        (topology) => {
          const web = topology.resources.find((resource) => resource.name === 'web-1');
          return !!web && web.replicas.filter((replica) => !replica.witness).every((replica) => replica.connection === 'Connecting');
        },
        5000,
      );
      expect(value.nodes.every((node) => node.reachable)).toBe(true);
      const web = value.resources.find((resource) => resource.name === 'web-1');
      // The spb side has lost quorum (peer and witness unreachable); the msk side keeps it with the witness.
      expect(web?.replicas.find((replica) => replica.node === 'spb-1')?.quorum).toBe(false);
      expect(web?.replicas.find((replica) => replica.node === 'msk-1')?.quorum).toBe(true);
    } finally {
      await labHeal(dir, 'spb');
    }
    await pollUntil(() => fetchTopology(cluster, 2000), (topology) => topology.health.resourcesDegraded === 0, 20_000);
  });
});
