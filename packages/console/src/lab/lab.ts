import { spawn } from 'node:child_process';
import { openSync, closeSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { HvctlError, deadline, failedPrecondition, formatClusterFile, invalidArgument, notFound, unary, type AgentClient, type AutopilotMode } from '@hvctl/common';
import type { ListResourcesResponse__Output } from '@hvctl/proto';
import { SIM_HOST_PING, callSimHost } from '@hvctl/agent';
import { LAB_ALERTS_FILE, LAB_NODES, linkName, partitionFor, planLab } from './plan.js';
import { freePorts } from './ports.js';
import { labClient, secureLabPlan } from './tls.js';
import { SIM_HOST_COMMAND, isAgentProcess, isHostProcess, labClusterPath, readLabState, writeLabState, type LabNodeState, type LabState } from './state.js';
import { netnsApplyCuts, netnsBoot, netnsCrash, netnsDown, netnsUp, prepareNetnsLab, waitForUpstream } from './netns/lab-netns.js';
import { requireNetnsPrerequisites } from './netns/network.js';

export interface LabUpOptions {
  readonly dir: string;
  readonly vms: number;
  /** Progress lines for people ("starting msk-1 ..."). */
  readonly onProgress?: (line: string) => void;
  /** How long to wait for the cluster to converge. Default 30 s. */
  readonly timeoutMs?: number;
  /** Real routing: each main-site node in a network namespace with its own BIRD (needs root). */
  readonly netns?: boolean;
  /** Mutual TLS: a lab CA, node certificates for the agents, an admin certificate for the console. */
  readonly tls?: boolean;
  /** The autopilot's mode (default `act`: `lab fault kill NODE` alone fails over); tests that fail over by hand pass `off`. */
  readonly autopilot?: AutopilotMode;
}

const SITES: readonly string[] = [...new Set(LAB_NODES.map((node) => node.site))];
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function agentMainPath(): string {
  return fileURLToPath(new URL('./main.js', import.meta.resolve('@hvctl/agent')));
}

const configPathOf = (node: LabNodeState): string => join(node.dir, 'agent.yaml');
/** The unix socket of a node's simulated host (`sim.host` in its agent.yaml). */
export const hostSocketOf = (node: LabNodeState): string => join(node.dir, 'host.sock');
const agentRuns = (node: LabNodeState): boolean => isAgentProcess(node.pid, configPathOf(node));
const hostRuns = (node: LabNodeState): boolean => isHostProcess(node.hostPid, configPathOf(node));

function spawnDetached(node: LabNodeState, args: readonly string[], outFile: string): number {
  const out = openSync(join(node.dir, outFile), 'a');
  try {
    const child = spawn(process.execPath, [agentMainPath(), ...args], {
      cwd: node.dir,
      detached: true,
      stdio: ['ignore', out, out],
      env: { ...process.env, HVCTL_LOG_LEVEL: process.env['HVCTL_LOG_LEVEL'] ?? 'info' },
    });
    child.unref();
    return child.pid ?? 0;
  } finally {
    closeSync(out);
  }
}

// The lab runs plaintext on loopback (the agent prints a warning); a config with `tls:` (lab up --tls) makes the agent serve mutual TLS and ignore the flag.
const spawnAgent = (node: LabNodeState): number => spawnDetached(node, ['--config', configPathOf(node), '--insecure-lab'], 'agent.out');
/** The node's simulated host: DRBD, domains and routes in a process of their own, which outlives the agent. */
const spawnHost = (node: LabNodeState): number => spawnDetached(node, [SIM_HOST_COMMAND, '--config', configPathOf(node)], 'host.out');

function tail(path: string, lines = 5): string {
  if (!existsSync(path)) return '';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** Resolves once the agent answers GetInfo; rejects after `timeoutMs` with its output. */
async function waitForAgent(node: LabNodeState, timeoutMs: number): Promise<void> {
  const client = labClient(join(node.dir, '..', '..'), node);
  const until = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await unary('GetInfo', (cb) => client.node.getInfo({}, deadline(1000), cb));
        return;
      } catch {
        if (!agentRuns(node)) {
          throw new HvctlError('UNAVAILABLE', `agent ${node.name} exited during start:\n${tail(join(node.dir, 'agent.out'))}`);
        }
        if (Date.now() > until) throw new HvctlError('DEADLINE_EXCEEDED', `agent ${node.name} did not answer within ${timeoutMs} ms`);
        await sleep(100);
      }
    }
  } finally {
    client.close();
  }
}

/** Resolves once the node's simulated host answers on its socket; rejects after `timeoutMs` with its output. */
async function waitForHost(node: LabNodeState, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      await callSimHost(hostSocketOf(node), SIM_HOST_PING, []);
      return;
    } catch {
      if (!hostRuns(node)) throw new HvctlError('UNAVAILABLE', `the simulated host of ${node.name} exited during start:\n${tail(join(node.dir, 'host.out'))}`);
      if (Date.now() > until) throw new HvctlError('DEADLINE_EXCEEDED', `the simulated host of ${node.name} did not answer within ${timeoutMs} ms`);
      await sleep(50);
    }
  }
}

/** True when every diskful replica on every node is connected to all its peers. */
async function converged(clients: readonly AgentClient[]): Promise<boolean> {
  for (const client of clients) {
    const { resources } = await unary<ListResourcesResponse__Output>('ListResources', (cb) => client.drbd.listResources({}, deadline(1000), cb));
    for (const resource of resources) {
      if (resource.peers.some((peer) => peer.connectionState !== 'Connected' || peer.replicationState !== 'Established')) return false;
    }
  }
  return true;
}

/** Starts the five lab agents; resolves once every DRBD pair is connected. */
export async function labUp(options: LabUpOptions): Promise<LabState> {
  const { dir } = options;
  const progress = options.onProgress ?? (() => undefined);
  const existing = await readLabState(dir);
  if (existing?.nodes.some((node) => agentRuns(node) || hostRuns(node))) {
    throw failedPrecondition(`a lab is already running in ${dir}`, {
      nextSteps: ['use it (hvctl status), or stop it first with `hvctl lab down`'],
    });
  }
  if (!(options.vms >= 0 && options.vms <= 2000)) throw new HvctlError('INVALID_ARGUMENT', `--vms must be between 0 and 2000, got ${options.vms}`);
  if (options.netns) requireNetnsPrerequisites();
  await rm(join(dir, 'nodes'), { recursive: true, force: true });
  await rm(join(dir, LAB_ALERTS_FILE), { force: true });
  const ports = await freePorts(LAB_NODES.length * 3);
  const simulatedPlan = planLab({
    vms: options.vms,
    alertsFile: join(dir, LAB_ALERTS_FILE),
    ...(options.autopilot ? { autopilot: options.autopilot } : {}),
    ports: {
      grpc: Object.fromEntries(LAB_NODES.map((node, i) => [node.name, ports[i] as number])),
      link: Object.fromEntries(LAB_NODES.map((node, i) => [node.name, ports[LAB_NODES.length + i] as number])),
      metrics: Object.fromEntries(LAB_NODES.map((node, i) => [node.name, ports[2 * LAB_NODES.length + i] as number])),
    },
  });
  const netns = options.netns ? prepareNetnsLab(dir, simulatedPlan) : undefined;
  const plan = options.tls ? await secureLabPlan(dir, netns?.routed.lab ?? simulatedPlan) : (netns?.routed.lab ?? simulatedPlan);
  const state: LabState = { dir, startedAtMs: Date.now(), nodes: [], cutSites: [], ...(netns ? { netns: netns.state } : {}) };
  for (const node of plan.nodes) {
    const nodeDir = join(dir, 'nodes', node.name);
    await mkdir(nodeDir, { recursive: true });
    await writeFile(join(nodeDir, 'agent.yaml'), stringify(node.agentConfig));
    await writeFile(join(nodeDir, 'seed.json'), JSON.stringify(node.seed, null, 1));
    state.nodes.push({ name: node.name, site: node.site, address: node.address, link: node.link, ...(node.metrics ? { metrics: node.metrics } : {}), dir: nodeDir, pid: 0, hostPid: 0 });
  }
  await writeFile(labClusterPath(dir), formatClusterFile(plan.cluster));
  const timeoutMs = options.timeoutMs ?? 30_000;
  try {
    if (netns) {
      // Recorded first: a lab that fails or crashes from here on is found by `lab down`.
      await writeLabState(state);
      // Leftovers of a crashed lab in this directory (its agents no longer run) would collide.
      await netnsDown(dir, true, true);
      await netnsUp(dir, netns.routed, progress);
    }
    // Hosts first, as machines boot before their agents start.
    for (const node of state.nodes) node.hostPid = spawnHost(node);
    await writeLabState(state);
    await Promise.all(state.nodes.map((node) => waitForHost(node, timeoutMs)));
    for (const node of state.nodes) {
      node.pid = spawnAgent(node);
      progress(`started ${node.name} (${node.site}) host pid ${node.hostPid}, agent pid ${node.pid} on ${node.address}${node.metrics ? `, metrics http://${node.metrics}/metrics` : ''}`);
    }
    await writeLabState(state);
    await Promise.all(state.nodes.map((node) => waitForAgent(node, timeoutMs)));
    progress('all agents answer; waiting for DRBD pairs to connect');
    const clients = state.nodes.map((node) => labClient(dir, node));
    try {
      const until = Date.now() + timeoutMs;
      while (!(await converged(clients))) {
        if (Date.now() > until) throw new HvctlError('DEADLINE_EXCEEDED', `DRBD pairs did not connect within ${timeoutMs} ms`);
        await sleep(100);
      }
    } finally {
      for (const client of clients) client.close();
    }
    if (netns) {
      progress('waiting for OSPF and BGP: upstream must route every announced prefix via its node');
      await waitForUpstream(dir, netns.routed.announcements, timeoutMs);
    }
  } catch (error) {
    await labDown({ dir });
    throw error;
  }
  progress(`lab up: ${state.nodes.length} nodes, ${options.vms} VMs; cluster file ${labClusterPath(dir)}`);
  return state;
}

async function stopPid(pid: number, alive: () => boolean, graceMs: number): Promise<void> {
  if (!alive()) return;
  try {
    process.kill(pid, 'SIGTERM');
  } catch {
    return;
  }
  const until = Date.now() + graceMs;
  while (Date.now() < until && alive()) await sleep(50);
  if (alive()) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

/** Pids of any agent or simulated host process whose config lies under `dir` (leftovers of a crashed lab). */
function leftoverPids(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (args.some((arg) => arg.startsWith(join(dir, 'nodes')) && arg.endsWith('agent.yaml'))) pids.push(Number(entry));
    } catch {
      // the process ended meanwhile
    }
  }
  return pids;
}

/** Stops every lab agent, then every simulated host (SIGTERM, then SIGKILL after 3 s). `force` also kills leftovers. */
export async function labDown(options: { readonly dir: string; readonly force?: boolean }): Promise<string[]> {
  const state = await readLabState(options.dir);
  const stopped: string[] = [];
  if (state) {
    await Promise.all(
      state.nodes.map(async (node) => {
        if (agentRuns(node) || hostRuns(node)) stopped.push(node.name);
        await stopPid(node.pid, () => agentRuns(node), 3000);
        node.pid = 0;
        await stopPid(node.hostPid, () => hostRuns(node), 3000);
        node.hostPid = 0;
      }),
    );
  }
  if (options.force && existsSync('/proc')) {
    for (const pid of leftoverPids(options.dir)) {
      try {
        process.kill(pid, 'SIGKILL');
        stopped.push(`pid ${pid}`);
      } catch {
        // gone
      }
    }
  }
  const network = await netnsDown(options.dir, state?.netns !== undefined, options.force === true);
  stopped.push(...network.birds.map((pid) => `bird pid ${pid}`), ...network.namespaces.map((name) => `netns ${name}`));
  if (state) await rm(join(options.dir, 'lab.json'), { force: true });
  return stopped;
}

async function requireLab(dir: string): Promise<LabState> {
  const state = await readLabState(dir);
  if (!state) throw notFound(`no lab is running in ${dir}`, { nextSteps: ['start one with `hvctl lab up --detach`'] });
  return state;
}

function requireNode(state: LabState, name: string): LabNodeState {
  const node = state.nodes.find((candidate) => candidate.name === name);
  if (!node) throw notFound(`no lab node "${name}"; lab nodes are ${state.nodes.map((n) => n.name).join(', ')}`);
  return node;
}

/** SIGKILL, then wait until the process is gone (so what it held, its sockets, is released). */
async function killNow(pid: number, alive: () => boolean): Promise<void> {
  if (!alive()) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    return;
  }
  while (alive()) await sleep(20);
}

/**
 * Kills a node with SIGKILL: its simulated host and its agent, a host crash (peers lose
 * it, its VMs stop; on restart DRBD is Secondary and nothing is announced). With
 * `agentOnly` only the agent process dies, like a real hypervisor whose agent crashed:
 * the host runs on (peers stay Connected, VMs keep running, routes stay announced).
 */
export async function labKill(dir: string, name: string, options: { readonly agentOnly?: boolean } = {}): Promise<void> {
  const state = await requireLab(dir);
  const node = requireNode(state, name);
  if (options.agentOnly) {
    if (!agentRuns(node)) throw failedPrecondition(`the agent of ${name} is not running; nothing was killed`);
  } else if (!agentRuns(node) && !hostRuns(node)) {
    throw failedPrecondition(`${name} is not running`);
  }
  await killNow(node.pid, () => agentRuns(node));
  node.pid = 0;
  if (!options.agentOnly) {
    await killNow(node.hostPid, () => hostRuns(node));
    node.hostPid = 0;
  }
  await writeLabState(state);
  if (state.netns?.routers.includes(name) && !options.agentOnly) await netnsCrash(dir, name);
}

/**
 * Starts what of a node is not running, host first, then agent. A host that was down
 * boots like a rebooted machine (DRBD Secondary, VMs off, nothing announced; an agent
 * still running is stopped first, as a reboot would). After an agent-only kill only the
 * agent starts and finds its host as it was. A node running whole is rebooted.
 */
export async function labRestart(dir: string, name: string): Promise<void> {
  const state = await requireLab(dir);
  const node = requireNode(state, name);
  if (hostRuns(node) && agentRuns(node)) {
    await killNow(node.pid, () => agentRuns(node));
    await killNow(node.hostPid, () => hostRuns(node));
  }
  if (!hostRuns(node)) {
    await killNow(node.pid, () => agentRuns(node));
    node.pid = 0;
    if (state.netns?.routers.includes(name)) await netnsBoot(dir, name, true);
    node.hostPid = spawnHost(node);
    await writeLabState(state);
    await waitForHost(node, 15_000);
    await applyPartitions(state, [node]);
  }
  if (!agentRuns(node)) {
    node.pid = spawnAgent(node);
    await writeLabState(state);
    await waitForAgent(node, 15_000);
  }
}

/**
 * Calls a fault method on a node's simulated host. Faults belong to the host and its
 * network, not to the agent: they work while the agent is dead.
 */
async function hostFault<T>(node: LabNodeState, method: string, args: readonly unknown[]): Promise<T> {
  if (!hostRuns(node)) {
    throw failedPrecondition(`${node.name} is down (its simulated host is not running); nothing was changed`, { nextSteps: [`start it: hvctl lab fault restart ${node.name}`] });
  }
  return (await callSimHost(hostSocketOf(node), `faults.${method}`, args)) as T;
}

async function applyPartitions(state: LabState, nodes: readonly LabNodeState[]): Promise<string[]> {
  const skipped: string[] = [];
  await Promise.all(
    nodes.map(async (node) => {
      if (!hostRuns(node)) {
        skipped.push(node.name);
        return;
      }
      await hostFault(node, 'setPartition', [partitionFor(node.site, state.cutSites, SITES, state.cutLinks)]);
    }),
  );
  return skipped;
}

/** Cuts a site off from the others (both sides lose each other; processes live on). */
export async function labCut(dir: string, site: string): Promise<void> {
  const state = await requireLab(dir);
  if (!SITES.includes(site)) throw notFound(`no lab site "${site}"; sites are ${SITES.join(', ')}`);
  if (!state.cutSites.includes(site)) state.cutSites.push(site);
  await writeLabState(state);
  await applyPartitions(state, state.nodes);
  if (state.netns) await netnsApplyCuts(dir, state.cutSites);
}

/** Heals a cut site. */
export async function labHeal(dir: string, site: string): Promise<void> {
  const state = await requireLab(dir);
  if (!SITES.includes(site)) throw notFound(`no lab site "${site}"; sites are ${SITES.join(', ')}`);
  state.cutSites = state.cutSites.filter((cut) => cut !== site);
  await writeLabState(state);
  await applyPartitions(state, state.nodes);
  if (state.netns) await netnsApplyCuts(dir, state.cutSites);
}

/** The two ends of a link, validated: two different sites of the lab. */
function linkOf(a: string, b: string): string {
  for (const site of [a, b]) if (!SITES.includes(site)) throw notFound(`no lab site "${site}"; sites are ${SITES.join(', ')}`);
  if (a === b) throw invalidArgument(`a link joins two different sites; got ${a} twice`);
  return linkName(a, b);
}

/**
 * Cuts only the link between two sites: their nodes lose each other (from both sides),
 * while each still reaches the third site (e.g. both main sites still see the witness).
 */
export async function labCutLink(dir: string, a: string, b: string): Promise<void> {
  const state = await requireLab(dir);
  const link = linkOf(a, b);
  if (state.netns) {
    throw failedPrecondition('a --netns lab cuts whole sites only (`lab fault cut SITE`); a cut between two sites is not built for it yet', {
      nextSteps: ['use `lab fault cut SITE`, or a lab without --netns'],
    });
  }
  state.cutLinks = [...new Set([...(state.cutLinks ?? []), link])];
  await writeLabState(state);
  await applyPartitions(state, state.nodes);
}

/** Reconnects a link cut by labCutLink. */
export async function labHealLink(dir: string, a: string, b: string): Promise<void> {
  const state = await requireLab(dir);
  const link = linkOf(a, b);
  state.cutLinks = (state.cutLinks ?? []).filter((cut) => cut !== link);
  await writeLabState(state);
  await applyPartitions(state, state.nodes);
}

/** Fails the backing disk of a resource on a node. */
export async function labFailDisk(dir: string, name: string, resource: string): Promise<void> {
  const node = requireNode(await requireLab(dir), name);
  await hostFault(node, 'failDisk', [resource]);
}

/** Adds latency to every link of a node. */
export async function labSlow(dir: string, name: string, delayMs: number): Promise<void> {
  const node = requireNode(await requireLab(dir), name);
  await hostFault(node, 'setLinkDelay', [delayMs]);
}

/** Makes the next `count` outgoing migrations of a node fail. */
export async function labFailMigrations(dir: string, name: string, count: number): Promise<void> {
  const node = requireNode(await requireLab(dir), name);
  await hostFault(node, 'failMigrations', [count]);
}

/** Damages a VM's stored backup (its newest, or `snapshotId`) in the backup site's repository. */
export async function labCorruptBackup(dir: string, vm: string, snapshotId: string): Promise<{ snapshotId: string; shortId: string }> {
  const state = await requireLab(dir);
  const node = state.nodes.find((candidate) => candidate.site === 'bak');
  if (!node) throw notFound('the lab has no backup-site node holding the repository; nothing was damaged');
  if (snapshotId !== '' && !/^[0-9a-f]{1,64}$/.test(snapshotId)) throw invalidArgument(`"${snapshotId.slice(0, 70)}" is not a snapshot id`);
  const snapshot = await hostFault<{ id: string; shortId: string }>(node, 'corruptBackup', [vm, snapshotId]);
  return { snapshotId: snapshot.id, shortId: snapshot.shortId };
}

/** What of each node runs (its agent, its simulated host), for `lab status`. */
export interface LabNodeRunning {
  readonly agent: boolean;
  readonly host: boolean;
}

/** Which nodes are running, for `lab status`. */
export async function labStatus(dir: string): Promise<{ state: LabState; running: Record<string, LabNodeRunning> }> {
  const state = await requireLab(dir);
  return { state, running: Object.fromEntries(state.nodes.map((node) => [node.name, { agent: agentRuns(node), host: hostRuns(node) }])) };
}
