import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadClusterFile, type Topology } from '@hvctl/common';
import { fetchTopology } from '../cli/status.js';
import { labCut, labDown, labHeal, labKill, labRestart, labUp } from './lab.js';
import { LAB_PAIRS } from './plan.js';
import { isAgentProcess, labClusterPath, readLabState } from './state.js';

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

describe('the lab (five agent processes)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-lab-'));
    await labUp({ dir, vms: 12, autopilot: 'off' });
  }, 60_000);

  afterAll(async () => {
    const state = await readLabState(dir);
    await labDown({ dir, force: true });
    // Then: no agent process of this lab is left behind.
    for (const node of state?.nodes ?? []) expect(isAgentProcess(node.pid, join(node.dir, 'agent.yaml'))).toBe(false);
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
