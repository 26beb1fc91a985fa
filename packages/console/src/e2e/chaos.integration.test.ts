import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Workflow__Output, WorkflowSpec } from '@hvctl/proto';
import { checkInvariants, loadClusterFile, type ClusterFile, type Topology } from '@hvctl/common';
import { coordinatorFor } from '../cli/coordinator.js';
import { gatherLeases, gatherWorkflows } from '../cli/gather.js';
import { fetchTopology } from '../cli/status.js';
import { clientFor, follow, submitOn } from '../cli/workflow-client.js';
import { labCut, labDown, labFailMigrations, labHeal, labKill, labRestart, labUp } from '../lab/lab.js';
import { labClusterPath } from '../lab/state.js';

/** mulberry32: a small seeded PRNG, so a failing round can be replayed with its seed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SEED = Number(process.env['HVCTL_CHAOS_SEED'] ?? Math.floor(Math.random() * 2 ** 31));
const ROUNDS = Number(process.env['HVCTL_CHAOS_ROUNDS'] ?? 5);
const MAIN_NODES = ['msk-1', 'msk-2', 'spb-1', 'spb-2'];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number, what: string): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`${what} did not happen within ${timeoutMs} ms`);
    await sleep(250);
  }
}

describe(`randomized workflows with faults (seed ${SEED}; replay with HVCTL_CHAOS_SEED=${SEED})`, () => {
  let dir: string;
  let cluster: ClusterFile;
  const log: string[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-chaos-'));
    await labUp({ dir, vms: 8, autopilot: 'off' });
    cluster = await loadClusterFile(labClusterPath(dir));
  }, 60_000);

  afterAll(async () => {
    await labDown({ dir, force: true });
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  async function run(spec: WorkflowSpec): Promise<Workflow__Output | undefined> {
    const topology = await fetchTopology(cluster, 2000);
    const coordinator = coordinatorFor(spec, topology);
    const client = clientFor(cluster, coordinator);
    try {
      const workflow = await submitOn(client, spec, 'chaos@test');
      const final = await follow(client, workflow.id, () => undefined, () => undefined, 60_000);
      log.push(`  ${Object.keys(spec)[0]} ${JSON.stringify(Object.values(spec)[0])} -> ${final?.state}${final?.error ? ` (${final.error.slice(0, 120)})` : ''}`);
      return final;
    } catch (error) {
      // A refusal (FAILED_PRECONDITION) is a legitimate outcome under faults; it must change nothing.
      log.push(`  ${Object.keys(spec)[0]} ${JSON.stringify(Object.values(spec)[0])} -> refused: ${(error as Error).message.slice(0, 160)}`);
      return undefined;
    }
  }

  async function settledTopology(): Promise<Topology> {
    await waitFor(() => gatherWorkflows(cluster), (w) => w.items.every((workflow) => workflow.state !== 'running'), 60_000, 'every workflow ending');
    return fetchTopology(cluster, 2000);
  }

  async function assertSafe(round: number): Promise<void> {
    const topology = await settledTopology();
    const [leases, workflows] = await Promise.all([gatherLeases(cluster), gatherWorkflows(cluster)]);
    const report = checkInvariants(topology, leases.items, workflows.items);
    const context = `seed ${SEED}, round ${round}\n${log.join('\n')}\nviolations: ${report.violations.map((v) => v.message).join('; ')}`;
    expect(report.violations, context).toEqual([]);
    // No VM lost: every VM runs somewhere (rounds always end with the cluster whole again).
    const notRunning = topology.vms.filter((vm) => vm.state !== 'running').map((vm) => `${vm.name}:${vm.state}@${vm.node}`);
    expect(notRunning, context).toEqual([]);
  }

  it('keeps every safety invariant after each round', async () => {
    const next = random(SEED);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(next() * items.length)] as T;
    for (let round = 1; round <= ROUNDS; round += 1) {
      const topology = await fetchTopology(cluster, 2000);
      const action = pick(['migrate', 'migrate-failing', 'drain', 'crash-failover', 'cut-heal'] as const);
      log.push(`round ${round}: ${action}`);
      if (action === 'migrate') {
        await run({ migrate: { vm: pick(topology.vms).name, targetNode: '' } });
      } else if (action === 'migrate-failing') {
        const vm = pick(topology.vms);
        await labFailMigrations(dir, vm.node, 1);
        await run({ migrate: { vm: vm.name, targetNode: '' } });
        await labFailMigrations(dir, vm.node, 0);
      } else if (action === 'drain') {
        const node = pick(MAIN_NODES);
        await run({ drain: { node, parallel: 1 + Math.floor(next() * 3), skipUnmovable: false } });
        await run({ undrain: { node, returnVms: true } });
      } else if (action === 'crash-failover') {
        const node = pick(MAIN_NODES);
        await labKill(dir, node);
        await waitFor(() => fetchTopology(cluster, 2000), (t) => t.resources.every((r) => r.replicas.every((x) => x.node !== node || x.derived) && r.replicas.some((x) => x.quorum)), 10_000, `${node} seen lost`);
        await sleep(500);
        await run({ failover: { node, site: '', force: false } });
        await labRestart(dir, node);
        await sleep(1000);
        await run({ failback: { node } });
      } else {
        const site = pick(['msk', 'spb']);
        await labCut(dir, site);
        await sleep(2500);
        await labHeal(dir, site);
        await waitFor(() => fetchTopology(cluster, 2000), (t) => t.health.resourcesDegraded === 0, 30_000, 'resync after heal');
      }
      await assertSafe(round);
    }
    if (process.env['HVCTL_CHAOS_VERBOSE']) process.stderr.write(`${log.join('\n')}\n`);
  }, 600_000);
});
