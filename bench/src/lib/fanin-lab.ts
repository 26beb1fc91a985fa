import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { ClusterModel, buildTopology, createAgentClient, formatClusterFile, type Topology } from '@hvctl/common';
import type { SimTiming } from '@hvctl/agent';
import { agentConfigFor, nodeNames, planBench, type BenchPlan } from './plan.js';
import { stablePorts } from './ports.js';
import { nextMessage, spawnChild, stopChild } from './procs.js';

export interface BenchLabOptions {
  readonly dir: string;
  readonly hypervisors: number;
  readonly vmsPerNode: number;
  /** Host processes the agents are spread over. Default 4. */
  readonly hosts?: number;
  /** DRBD pairs per witness node (see plan.ts). */
  readonly pairsPerWitness?: number;
  readonly timing?: Partial<SimTiming>;
  readonly peerTimeoutMs?: number;
  /** How long to wait for every agent to answer and every DRBD pair to connect. */
  readonly timeoutMs?: number;
  /** nice(1) level of the host processes (0: same priority as the console). */
  readonly nice?: number;
  /** Extra node flags for the host processes (for example --cpu-prof). */
  readonly hostNodeArgs?: readonly string[];
}

export interface BenchLab {
  readonly plan: BenchPlan;
  readonly clusterPath: string;
  readonly addresses: Readonly<Record<string, string>>;
  /** Pids of the host processes. */
  readonly hostPids: readonly number[];
  /** How long the start took: hosts ready, then converged. */
  readonly startMs: number;
  readonly convergeMs: number;
  /** CPU-profiles every host process for `ms`; resolves with the .cpuprofile paths. */
  profile(ms: number, dir: string, label: string): Promise<string[]>;
  stop(): Promise<void>;
}

/**
 * Simulation settings of the fan-in lab. The simulated hypervisors all share this
 * machine's two cores, so the simulation's own 4-per-second tick (which diffs every object
 * of every agent to find changes) runs once a second instead; nothing in the fan-in
 * figures depends on it: changes are driven by RPCs, and the watch stream carries them as
 * they are applied. A longer peer timeout keeps a busy machine from looking like lost links.
 */
export const FANIN_TIMING: Partial<SimTiming> = { tickMs: 1000 };
export const FANIN_PEER_TIMEOUT_MS = 10_000;

/** Starts the bench lab: agents in `hosts` child processes, a cluster file, converged. */
export async function startBenchLab(options: BenchLabOptions): Promise<BenchLab> {
  const started = Date.now();
  const names = nodeNames(options.hypervisors, options.pairsPerWitness);
  const plan = planBench({ hypervisors: options.hypervisors, vmsPerNode: options.vmsPerNode, ...(options.pairsPerWitness ? { pairsPerWitness: options.pairsPerWitness } : {}), linkPorts: await stablePorts(names.length) });
  const configPaths = new Map<string, string>();
  for (const node of plan.nodes) {
    const dir = join(options.dir, 'nodes', node.name);
    await mkdir(dir, { recursive: true });
    const seed = join(dir, 'seed.json');
    await writeFile(seed, JSON.stringify(node.seed));
    const config = agentConfigFor(node, plan, { stateDir: join(dir, 'state'), seed }, {
      timing: options.timing ?? FANIN_TIMING,
      peerTimeoutMs: options.peerTimeoutMs ?? FANIN_PEER_TIMEOUT_MS,
    });
    const path = join(dir, 'agent.yaml');
    await writeFile(path, stringify(config));
    configPaths.set(node.name, path);
  }

  const hostCount = Math.max(1, Math.min(options.hosts ?? 4, plan.nodes.length));
  const groups: string[][] = Array.from({ length: hostCount }, () => []);
  plan.nodes.forEach((node, i) => groups[i % hostCount]?.push(configPaths.get(node.name) as string));
  const hosts: ChildProcess[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(hosts.map((host) => stopChild(host, 5000)));
  };
  try {
    const readies = groups.map((group, i) => {
      const logFile = join(options.dir, `host-${i + 1}.log`);
      const host = spawnChild('agent-host', [join(options.dir, `host-${i + 1}.agents.log`), ...group], { logFile, nice: options.nice ?? 0, ...(options.hostNodeArgs ? { nodeArgs: options.hostNodeArgs } : {}) });
      hosts.push(host);
      return nextMessage<{ type: 'ready'; ports: Record<string, number>; pid: number }>(host, 'ready', options.timeoutMs ?? 120_000, logFile);
    });
    const ready = await Promise.all(readies);
    const addresses: Record<string, string> = {};
    for (const message of ready) for (const [name, port] of Object.entries(message.ports)) addresses[name] = `127.0.0.1:${port}`;
    const clusterPath = join(options.dir, 'cluster.yaml');
    const cluster = plan.cluster(addresses);
    await writeFile(clusterPath, formatClusterFile(cluster));
    const startMs = Date.now() - started;
    await waitConverged(cluster, plan, options.timeoutMs ?? 120_000);
    return {
      plan,
      clusterPath,
      addresses,
      hostPids: ready.map((message) => message.pid),
      startMs,
      convergeMs: Date.now() - started - startMs,
      profile: (ms, dir, label) =>
        Promise.all(
          hosts.map(async (host, i) => {
            const file = join(dir, `${label}-host-${i + 1}.cpuprofile`);
            const done = nextMessage(host, 'profiled', ms + 30_000);
            host.send({ type: 'profile', ms, file });
            await done;
            return file;
          }),
        ),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** True when every node is up, every VM runs and no DRBD resource is degraded. */
export function healthy(topology: Topology, plan: BenchPlan): boolean {
  const { health } = topology;
  return health.nodesDown === 0 && health.nodesUp === plan.nodes.length && health.vmsRunning === plan.vms && health.resourcesDegraded === 0 && health.resourcesTotal === plan.vms;
}

async function waitConverged(cluster: ReturnType<BenchPlan['cluster']>, plan: BenchPlan, timeoutMs: number): Promise<void> {
  const model = new ClusterModel({ cluster, connect: (address) => createAgentClient(address) });
  model.start();
  try {
    await new Promise<void>((resolve, reject) => {
      let last = '';
      const timer = setTimeout(() => {
        unsubscribe();
        reject(new Error(`the bench lab did not converge within ${timeoutMs} ms: ${last}`));
      }, timeoutMs);
      let checking = false;
      const check = (): void => {
        if (checking) return;
        checking = true;
        const topology = buildTopology(model.snapshot());
        checking = false;
        last = JSON.stringify(topology.health);
        if (healthy(topology, plan)) {
          clearTimeout(timer);
          unsubscribe();
          resolve();
        }
      };
      // Rebuilding a 4,000-VM topology on every snapshot would itself load the machine: check twice a second.
      const poll = setInterval(check, 500);
      const unsubscribe = (): void => clearInterval(poll);
    });
  } finally {
    model.stop();
  }
}
