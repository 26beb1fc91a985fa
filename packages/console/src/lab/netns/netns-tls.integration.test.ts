import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRunner, type Topology } from '@hvctl/common';
import type { KernelRoute } from '@hvctl/agent';
import { labDown, labUp } from '../lab.js';
import { LAB_PUBLIC_BLOCK } from '../plan.js';
import { labClusterPath, readLabState } from '../state.js';
import { LabNetwork, listNamespaces } from './network.js';
import { UPSTREAM, planNetns, routerOf, uplinkAddress, type NetnsPlan } from './plan.js';
import { hvctl, netnsSkipReason, processesOf, via, waitFor } from './testing/netns-test.js';

// `lab up --netns --tls` together: real BIRD routing behind agents that serve mutual TLS,
// driven through the real CLI with the lab's admin certificate. Also: killing only a
// node's agent leaves its BIRD (and the routes via that node) alone, and restarting the
// agent reconnects it to that BIRD. Needs root, bird2 and iproute2.

const skip = netnsSkipReason();
const runner = new ProcessRunner();

describe.skipIf(skip)(`lab up --netns --tls${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let plan: NetnsPlan;
  let network: LabNetwork;
  const cli = (...args: string[]): ReturnType<typeof hvctl> => hvctl('--cluster', labClusterPath(dir), ...args);
  const topology = async (): Promise<Topology> => {
    const status = await cli('status', '--json');
    expect(status.code, status.stderr).toBe(0);
    return JSON.parse(status.stdout) as Topology;
  };
  const upstream = (): Promise<KernelRoute[]> => network.routes(UPSTREAM);
  const birdPid = (node: string): number => Number(readFileSync(routerOf(plan, node).bird.pidFile, 'utf8').trim());

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-netns-tls-'));
    plan = planNetns({ dir });
    network = new LabNetwork(plan, dir, runner);
    await labUp({ dir, vms: 8, netns: true, tls: true, autopilot: 'off' });
  }, 90_000);

  afterAll(async () => {
    await labDown({ dir, force: true });
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('answers status over mutual TLS, with real routing on the main-site nodes and every /32 routed upstream via its node', async () => {
    // Given the lab's cluster file, which carries the admin certificate
    const state = await readLabState(dir);
    expect(state?.netns?.routers).toEqual(['msk-1', 'msk-2', 'spb-1', 'spb-2']);
    expect(readFileSync(labClusterPath(dir), 'utf8')).toMatch(/tls:/);
    // When status runs, Then every agent answers over TLS
    const t = await topology();
    expect(t.nodes.filter((node) => node.reachable).map((node) => node.name).sort()).toEqual(['bak-1', 'msk-1', 'msk-2', 'spb-1', 'spb-2']);
    // And the main-site nodes use the real routing driver, which found its BIRD
    for (const node of ['msk-1', 'msk-2', 'spb-1', 'spb-2']) {
      const entry = t.nodes.find((candidate) => candidate.name === node);
      expect(entry?.capabilities, node).toContain('routing:real');
      expect(entry?.missingCapabilities.filter((missing) => missing.startsWith('routing')), node).toEqual([]);
    }
    // And upstream's kernel routes each VM's /32 via the node running it (BGP converged)
    const routes = await waitFor('every /32 upstream', upstream, (list) => t.vms.every((vm) => via(list, `${vm.ip}/32`) === uplinkAddress(plan, vm.node)), 15_000);
    expect([uplinkAddress(plan, 'msk-1'), uplinkAddress(plan, 'spb-1')]).toContain(via(routes, LAB_PUBLIC_BLOCK));
  }, 30_000);

  it('drains msk-2 over TLS: every moved /32 is then routed upstream via spb-2', async () => {
    const moved = (await topology()).vms.filter((vm) => vm.node === 'msk-2');
    expect(moved.length).toBeGreaterThan(0);
    // When msk-2 is drained through the CLI (the coordinator reaches its peers with its node certificate)
    const drain = await cli('drain', 'msk-2', '--yes');
    expect(drain.code, drain.stdout + drain.stderr).toBe(0);
    // Then upstream routes each moved /32 via spb-2, and nothing via msk-2
    const spb2 = uplinkAddress(plan, 'spb-2');
    const routes = await waitFor('moved /32s via spb-2', upstream, (list) => moved.every((vm) => via(list, `${vm.ip}/32`) === spb2), 10_000);
    expect(routes.filter((route) => route.gateway === uplinkAddress(plan, 'msk-2'))).toEqual([]);
    // And undrain brings msk-2 back (no VMs return: not asked to)
    const undrain = await cli('undrain', 'msk-2', '--yes');
    expect(undrain.code, undrain.stdout + undrain.stderr).toBe(0);
  }, 90_000);

  it('kills only the agent of msk-1: its BIRD keeps running and upstream keeps routing via msk-1', async () => {
    // Given what upstream routes via msk-1 and the pid of msk-1's BIRD
    const msk1 = uplinkAddress(plan, 'msk-1');
    const before = (await upstream()).filter((route) => route.gateway === msk1).map((route) => route.prefix).sort();
    expect(before.length).toBeGreaterThan(0);
    const pid = birdPid('msk-1');
    // When only the agent is killed
    const killed = await hvctl('lab', 'fault', 'kill', 'msk-1', '--agent-only', '--dir', dir);
    expect(killed.code, killed.stderr).toBe(0);
    // Then msk-1's agent is unreachable, but its BIRD is the same process and still routes
    const t = await topology();
    expect(t.nodes.find((node) => node.name === 'msk-1')?.reachable).toBe(false);
    expect(network.birdRunning('msk-1')).toBe(true);
    expect(birdPid('msk-1')).toBe(pid);
    // (after a few seconds: a dead BIRD's BGP session closes at once, taking its routes with it)
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await upstream()).filter((route) => route.gateway === msk1).map((route) => route.prefix).sort()).toEqual(before);
  }, 30_000);

  it('restarts the agent of msk-1: it reconnects to the same BIRD, reports its announcements and moves routes again', async () => {
    const pid = birdPid('msk-1');
    // When the agent is restarted
    const restarted = await hvctl('lab', 'fault', 'restart', 'msk-1', '--dir', dir);
    expect(restarted.code, restarted.stderr).toBe(0);
    // Then BIRD was left alone, and the agent reads its announcements back from it
    expect(birdPid('msk-1')).toBe(pid);
    const t = await waitFor('msk-1 reachable with routing', topology, (value) => value.nodes.some((node) => node.name === 'msk-1' && node.reachable && node.capabilities.includes('routing:real')), 15_000);
    const onMsk1 = t.vms.filter((vm) => vm.node === 'msk-1');
    expect(onMsk1.length).toBeGreaterThan(0);
    const announced = t.announcements.filter((a) => a.node === 'msk-1').map((a) => a.prefix);
    for (const vm of onMsk1) expect(announced).toContain(`${vm.ip}/32`);
    // And it drives that BIRD: migrating a VM away moves its /32 upstream to the peer
    const vm = onMsk1[0] as (typeof onMsk1)[number];
    const migrated = await cli('migrate', vm.name, '--yes');
    expect(migrated.code, migrated.stdout + migrated.stderr).toBe(0);
    const target = (await topology()).vms.find((entry) => entry.name === vm.name)?.node as string;
    expect(target).not.toBe('msk-1');
    await waitFor(`${vm.name}'s /32 via ${target}`, upstream, (list) => via(list, `${vm.ip}/32`) === uplinkAddress(plan, target), 10_000);
  }, 60_000);

  it('lab down removes every namespace and process of the TLS netns lab', async () => {
    await labDown({ dir });
    expect(await listNamespaces(plan.prefix, runner)).toEqual([]);
    expect(processesOf(dir)).toEqual([]);
  }, 30_000);
});
