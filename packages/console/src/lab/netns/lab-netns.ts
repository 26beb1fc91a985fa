import { existsSync } from 'node:fs';
import { HvctlError, type CommandRunner } from '@hvctl/common';
import type { AnnouncementRecord, KernelRoute } from '@hvctl/agent';
import type { LabPlan } from '../plan.js';
import { routeThroughNetns, type NetnsLabPlan } from './agent-config.js';
import { DEFAULT_NETNS_TOOLS, LabNetwork, requireNetnsPrerequisites, teardownNetns, type NetnsTeardown } from './network.js';
import { UPSTREAM, netnsPrefix, planNetns, uplinkAddress, type NetnsPlan } from './plan.js';

/** What `lab.json` records about the netns mode. */
export interface LabNetnsState {
  /** Namespace prefix (`hvl-<tag>-`). */
  readonly prefix: string;
  /** The upstream router's namespace (`ip -n … route` shows what the lab announces). */
  readonly upstream: string;
  /** Nodes with a namespace and a real BIRD. */
  readonly routers: readonly string[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The netns mode of the lab in `dir`: its plan and the network handle. */
export function labNetwork(dir: string, runner?: CommandRunner): { plan: NetnsPlan; network: LabNetwork } {
  const plan = planNetns({ dir });
  return { plan, network: new LabNetwork(plan, dir, runner) };
}

/** Checks root and tools, then plans the network and switches the nodes' routing to it. Creates nothing. */
export function prepareNetnsLab(dir: string, lab: LabPlan): { netns: NetnsPlan; routed: NetnsLabPlan; state: LabNetnsState } {
  requireNetnsPrerequisites();
  const netns = planNetns({ dir });
  const upstream = netns.routers.find((router) => router.name === UPSTREAM);
  return {
    netns,
    routed: routeThroughNetns(lab, netns),
    state: { prefix: netns.prefix, upstream: upstream?.namespace ?? '', routers: netns.routers.filter((r) => r.name !== UPSTREAM).map((r) => r.name) },
  };
}

/** Creates the namespaces and links, writes the BIRD configs and starts every BIRD (upstream first). */
export async function netnsUp(dir: string, routed: NetnsLabPlan, progress: (line: string) => void): Promise<void> {
  const { plan, network } = labNetwork(dir);
  await network.create();
  progress(`created ${plan.routers.length} network namespaces ${plan.prefix}* and ${plan.links.length} veth links`);
  await network.writeConfigs(routed.announcements);
  for (const router of [...plan.routers].sort((a, b) => Number(b.name === UPSTREAM) - Number(a.name === UPSTREAM))) {
    const pid = await network.startBird(router.name);
    progress(`started BIRD for ${router.name} in ${router.namespace} (pid ${pid}, socket ${router.bird.socket})`);
  }
}

/**
 * Where upstream should route each announced prefix: a VM's /32 via the uplink address of
 * the node announcing it, a public block via the uplink of any node announcing it.
 */
export function expectedUpstreamRoutes(plan: NetnsPlan, announcements: Readonly<Record<string, readonly AnnouncementRecord[]>>): Map<string, string[]> {
  const expected = new Map<string, string[]>();
  for (const [node, records] of Object.entries(announcements)) {
    for (const record of records) expected.set(record.prefix, [...(expected.get(record.prefix) ?? []), uplinkAddress(plan, node)]);
  }
  return expected;
}

/** The prefixes whose upstream route is missing or via a gateway not expected (empty: converged). */
export function routesNotYetAsExpected(routes: readonly KernelRoute[], expected: ReadonlyMap<string, readonly string[]>): string[] {
  const missing: string[] = [];
  for (const [prefix, gateways] of expected) {
    const route = routes.find((candidate) => candidate.prefix === prefix);
    const via = route?.gateway ?? route?.nexthops.find((hop) => hop.gateway)?.gateway;
    if (!via || !gateways.includes(via)) missing.push(prefix);
  }
  return missing;
}

/** Waits until upstream's kernel routes every prefix the nodes announce via its node (OSPF and BGP converged). */
export async function waitForUpstream(dir: string, announcements: Readonly<Record<string, readonly AnnouncementRecord[]>>, timeoutMs: number): Promise<void> {
  const { plan, network } = labNetwork(dir);
  const expected = expectedUpstreamRoutes(plan, announcements);
  const until = Date.now() + timeoutMs;
  for (;;) {
    const missing = routesNotYetAsExpected(await network.routes(UPSTREAM), expected);
    if (!missing.length) return;
    if (Date.now() > until) {
      throw new HvctlError('DEADLINE_EXCEEDED', `upstream did not learn ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${missing.length - 5} more` : ''} within ${timeoutMs} ms`, {
        nextSteps: [`look at the BGP sessions: birdc -s ${plan.routers.find((r) => r.name === UPSTREAM)?.bird.socket} show protocols`],
      });
    }
    await sleep(200);
  }
}

/** A host crash: the node's BIRD dies with it (its BGP session drops, OSPF neighbours time out). */
export async function netnsCrash(dir: string, node: string): Promise<boolean> {
  return labNetwork(dir).network.stopBird(node, 'SIGKILL');
}

/**
 * Boots a node's BIRD again. After a host crash the routing config is rebuilt like the
 * simulated host's: nothing announced until a workflow (failback, undrain) decides so.
 * After an agent-only restart BIRD kept running and is left alone.
 */
export async function netnsBoot(dir: string, node: string, hostCrash: boolean): Promise<void> {
  const { network } = labNetwork(dir);
  if (hostCrash) {
    await network.stopBird(node, 'SIGKILL');
    await network.writeAnnouncements(node, []);
  }
  if (!network.birdRunning(node)) await network.startBird(node);
}

/** Sets every wan link of a cut site down and every other wan link up. */
export async function netnsApplyCuts(dir: string, cutSites: readonly string[]): Promise<void> {
  const { plan, network } = labNetwork(dir);
  const siteOf = (name: string): string => plan.routers.find((router) => router.name === name)?.site ?? '';
  for (const link of plan.links.filter((candidate) => candidate.kind === 'wan')) {
    const cut = cutSites.includes(siteOf(link.a.router)) || cutSites.includes(siteOf(link.b.router));
    await network.setLink(link.a.router, link.a.interface, !cut);
  }
}

/**
 * Removes the lab's namespaces, links and BIRDs. With `force` it looks for them by prefix
 * even when `lab.json` does not mention netns mode (or is gone); without iproute2 there
 * can be no namespaces, so a simulated lab's `down --force` needs no `ip`.
 */
export async function netnsDown(dir: string, recorded: boolean, force: boolean): Promise<NetnsTeardown> {
  if (!recorded && !(force && existsSync(DEFAULT_NETNS_TOOLS.ip))) return { namespaces: [], birds: [] };
  return teardownNetns({ dir, prefix: netnsPrefix(dir) });
}
