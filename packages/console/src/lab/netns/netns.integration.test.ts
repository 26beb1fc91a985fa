import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ProcessRunner, type Topology } from '@hvctl/common';
import { parseBirdProtocols, type KernelRoute } from '@hvctl/agent';
import { labCut, labDown, labHeal, labKill, labRestart, labUp } from '../lab.js';
import { LAB_PUBLIC_BLOCK } from '../plan.js';
import { isAgentProcess, labClusterPath, labStatePath, readLabState } from '../state.js';
import { DEFAULT_NETNS_TOOLS, LabNetwork, listNamespaces } from './network.js';
import { UPSTREAM, planNetns, routerOf, uplinkAddress, type NetnsPlan } from './plan.js';
import { hvctl, netnsSkipReason, processesOf, via, waitFor } from './testing/netns-test.js';

// A whole lab with real routing: four BIRDs in their namespaces plus upstream, driven
// through the real CLI. Needs root, bird2 and iproute2. In CI (`.ci/run` installs them
// and runs as root) a missing prerequisite fails the run instead of skipping.

const runner = new ProcessRunner();
const skip = netnsSkipReason();

describe.skipIf(skip)(`lab up --netns: drains and failovers move real routes${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let plan: NetnsPlan;
  let network: LabNetwork;
  const topology = async (): Promise<Topology> => JSON.parse((await hvctl('--cluster', labClusterPath(dir), 'status', '--json')).stdout) as Topology;
  const upstream = (): Promise<KernelRoute[]> => network.routes(UPSTREAM);
  const vmsOn = (t: Topology, node: string): { name: string; ip: string }[] => t.vms.filter((vm) => vm.node === node).map((vm) => ({ name: vm.name, ip: vm.ip }));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-netns-'));
    plan = planNetns({ dir });
    network = new LabNetwork(plan, dir, runner);
    await labUp({ dir, vms: 8, netns: true, autopilot: 'off' });
  }, 60_000);

  afterAll(async () => {
    await labDown({ dir, force: true });
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('converges: OSPF and BGP up on every node, upstream routes each /32 via its node and the public block via a BGP speaker', async () => {
    // Given a lab that just came up
    const state = await readLabState(dir);
    expect(state?.netns).toEqual({ prefix: plan.prefix, upstream: `${plan.prefix}upstream`, routers: ['msk-1', 'msk-2', 'spb-1', 'spb-2'] });
    // Then every node's BIRD runs OSPF and has its BGP session to upstream established
    for (const node of state?.netns?.routers ?? []) {
      const protocols = await waitFor(
        `BIRD of ${node}`,
        async () => parseBirdProtocols((await runner.run(DEFAULT_NETNS_TOOLS.birdc, { args: ['-s', routerOf(plan, node).bird.socket, 'show', 'protocols'] })).stdout),
        (list) => list.some((p) => p.name === 'upstream' && p.info.startsWith('Established')),
        10_000,
      );
      expect(protocols.find((p) => p.name === 'mesh')).toMatchObject({ proto: 'OSPF', state: 'up' });
    }
    // And upstream's kernel routes each VM's /32 via the uplink of the node running it
    const t = await topology();
    expect(t.vms).toHaveLength(8);
    const routes = await upstream();
    for (const vm of t.vms) expect(via(routes, `${vm.ip}/32`), vm.name).toBe(uplinkAddress(plan, vm.node));
    expect([uplinkAddress(plan, 'msk-1'), uplinkAddress(plan, 'spb-1')]).toContain(via(routes, LAB_PUBLIC_BLOCK));
    // And the agents report what their BIRD does
    expect(t.announcements.filter((a) => a.kind === 'bgp').map((a) => a.node).sort()).toEqual(['msk-1', 'spb-1']);
  });

  it("drains msk-2: upstream then routes each moved VM's /32 via the node now running it", async () => {
    // Given msk-2's VMs
    const moved = vmsOn(await topology(), 'msk-2');
    expect(moved.length).toBeGreaterThan(0);
    // When msk-2 is drained through the CLI
    const drain = await hvctl('--cluster', labClusterPath(dir), 'drain', 'msk-2', '--yes');
    expect(drain.code, drain.stdout + drain.stderr).toBe(0);
    // Then every moved /32 is routed via spb-2 (msk-2's DRBD peer), and nothing via msk-2 any more
    const spb2 = uplinkAddress(plan, 'spb-2');
    const routes = await waitFor('moved /32s via spb-2', upstream, (list) => moved.every((vm) => via(list, `${vm.ip}/32`) === spb2), 10_000);
    expect(routes.filter((route) => route.gateway === uplinkAddress(plan, 'msk-2'))).toEqual([]);
    const after = await topology();
    for (const vm of moved) expect(after.vms.find((entry) => entry.name === vm.name)?.node).toBe('spb-2');
  }, 60_000);

  it('kills msk-1 and fails over to spb: the public block and the /32s are routed via spb-1', async () => {
    // Given msk-1's VMs
    const lost = vmsOn(await topology(), 'msk-1');
    expect(lost.length).toBeGreaterThan(0);
    // When the host crashes: its agent and its BIRD die
    await labKill(dir, 'msk-1');
    expect(network.birdRunning('msk-1')).toBe(false);
    // Then upstream stops routing anything via msk-1 at once (its BGP session is gone)
    const msk1 = uplinkAddress(plan, 'msk-1');
    await waitFor('no route via msk-1', upstream, (list) => !list.some((route) => route.gateway === msk1), 10_000);
    // When the operator fails msk-1 over
    const failover = await hvctl('--cluster', labClusterPath(dir), 'failover', '--node', 'msk-1', '--yes');
    expect(failover.code, failover.stdout + failover.stderr).toBe(0);
    // Then the public block goes via the surviving site and every recovered VM's /32 via spb-1
    const spb1 = uplinkAddress(plan, 'spb-1');
    const routes = await waitFor('failover routes via spb-1', upstream, (list) => via(list, LAB_PUBLIC_BLOCK) === spb1 && lost.every((vm) => via(list, `${vm.ip}/32`) === spb1), 15_000);
    expect(via(routes, LAB_PUBLIC_BLOCK)).toBe(spb1);
  }, 90_000);

  it('restarts msk-1 like a rebooted host: BIRD comes back and announces nothing', async () => {
    await labRestart(dir, 'msk-1');
    expect(network.birdRunning('msk-1')).toBe(true);
    const protocols = await waitFor(
      'msk-1 BGP session',
      async () => parseBirdProtocols((await runner.run(DEFAULT_NETNS_TOOLS.birdc, { args: ['-s', routerOf(plan, UPSTREAM).bird.socket, 'show', 'protocols'] })).stdout),
      (list) => list.some((p) => p.name === 'msk_1' && p.info.startsWith('Established')),
      15_000,
    );
    expect(protocols.find((p) => p.name === 'msk_1')?.state).toBe('up');
    expect((await upstream()).filter((route) => route.gateway === uplinkAddress(plan, 'msk-1'))).toEqual([]);
  }, 30_000);

  it('cuts site spb: its wan links go down (OSPF across the sites ends), while upstream still sees spb', async () => {
    const ospfNeighbors = async (): Promise<string> => (await runner.run(DEFAULT_NETNS_TOOLS.birdc, { args: ['-s', routerOf(plan, 'msk-2').bird.socket, 'show', 'ospf', 'neighbors'] })).stdout;
    const spb2 = routerOf(plan, 'spb-2').routerId;
    expect(await ospfNeighbors()).toContain(spb2);
    // When spb is cut off
    await labCut(dir, 'spb');
    try {
      // Then msk-2 loses its OSPF neighbour spb-2, but upstream keeps routing via spb-2's uplink
      await waitFor('msk-2 loses spb-2', ospfNeighbors, (text) => !text.includes(spb2), 10_000);
      expect((await upstream()).some((route) => route.gateway === uplinkAddress(plan, 'spb-2'))).toBe(true);
    } finally {
      await labHeal(dir, 'spb');
    }
    // And healing brings the adjacency back
    await waitFor('msk-2 sees spb-2 again', ospfNeighbors, (text) => new RegExp(`${spb2.replace(/\./g, '\\.')}\\s+\\d+\\s+Full`).test(text), 10_000);
  }, 30_000);

  it('lab down removes every namespace, link and BIRD it created', async () => {
    // When the lab is stopped
    const stopped = await labDown({ dir });
    // Then it says what it removed, and nothing with its prefix or under its directory is left
    expect(stopped).toEqual(expect.arrayContaining(plan.routers.map((router) => `netns ${router.namespace}`)));
    expect(await listNamespaces(plan.prefix, runner)).toEqual([]);
    expect(processesOf(dir)).toEqual([]);
    // Links lived only inside the namespaces: the root namespace never had one
    const rootLinks = JSON.parse((await runner.run(DEFAULT_NETNS_TOOLS.ip, { args: ['-j', 'link', 'show'] })).stdout) as { ifname: string }[];
    expect(rootLinks.filter((link) => link.ifname.startsWith('to-'))).toEqual([]);
  }, 30_000);

  it('lab down --force cleans up after a crashed lab, without lab.json', async () => {
    // Given a netns lab whose console and agents died (kill -9) and whose lab.json is gone
    await labUp({ dir, vms: 4, netns: true });
    const state = await readLabState(dir);
    for (const node of state?.nodes ?? []) process.kill(node.pid, 'SIGKILL');
    await rm(labStatePath(dir));
    expect(await listNamespaces(plan.prefix, runner)).toHaveLength(plan.routers.length);
    // When the operator runs `lab down --force`
    const down = await hvctl('lab', 'down', '--force', '--dir', dir);
    expect(down.code, down.stderr).toBe(0);
    expect(down.stdout).toContain(`netns ${plan.prefix}upstream`);
    // Then no namespace, BIRD or agent of this lab is left
    expect(await listNamespaces(plan.prefix, runner)).toEqual([]);
    expect(processesOf(dir)).toEqual([]);
    for (const node of state?.nodes ?? []) expect(isAgentProcess(node.pid, join(node.dir, 'agent.yaml'))).toBe(false);
  }, 60_000);
});
