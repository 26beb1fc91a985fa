import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import type { GetInfoResponse__Output, ListResourcesResponse__Output } from '@hvctl/proto';
import { createAgentClient, formatClusterFile, silentLogger, unary, deadline, type AgentClient, type AutopilotPolicy, type BackupsSection, type ClusterFile } from '@hvctl/common';
import { parseMonitorConfig } from '../monitor/config.js';
import { freePorts, makeTempDir, removeTempDir, waitFor } from '@hvctl/common/testing';
import { startAgent, type RunningAgent } from '../agent.js';
import type { AgentConfig } from '../config.js';
import type { SimDomainRecord, SimNodeRecord, SimResourceRecord } from '../drivers/sim/records.js';
import type { SimTiming } from '../drivers/sim/timing.js';
import { bootSimWorld } from '../drivers/sim/boot.js';
import { SimHostServer } from '../drivers/sim/host-server.js';

/**
 * Starts small simulated clusters for integration tests: real agents (in this process
 * with startAgent, or as child processes through bin/hvctl-agent.js, which can be killed
 * with SIGKILL) on loopback, each with its own state directory under one temp dir.
 */

const GIB = 1024 ** 3;
const MIB = 1024 ** 2;

/** Simulation rates for tests: a 4 GiB VM migrates in ~0.5 s, a 1 GiB volume backs up in ~0.5 s. */
export const FAST_TIMING: SimTiming = {
  tickMs: 50,
  writeBytesPerSecond: 64 * MIB,
  resyncBytesPerSecond: 32 * MIB,
  migrationBytesPerSecond: 8 * GIB,
  backupBytesPerSecond: 100 * MIB,
  shutdownMs: 100,
  bootMs: 50,
};

/** A VM of a test seed: its disk is replicated between `home` (Primary) and `peer`, with an optional diskless witness. */
export interface SeedVm {
  readonly name: string;
  readonly home: string;
  readonly peer?: string;
  readonly witness?: string;
  /** Running on `home` (default true). */
  readonly running?: boolean;
  /** Default 4 GiB. */
  readonly memoryBytes?: number;
  /** Default 1 GiB. */
  readonly sizeBytes?: number;
  /** Default 10.20.0.(10 + index). */
  readonly ip?: string;
}

/** Builds the per-node seeds (SimNodeRecord) for a set of VMs; `repositoryNode` gets an empty backup repository. */
export function buildSeeds(nodes: readonly string[], vms: readonly SeedVm[], repositoryNode?: string): Record<string, SimNodeRecord> {
  const seeds: Record<string, SimNodeRecord> = {};
  for (const node of nodes) seeds[node] = { resources: [], domains: [], announcements: [] };
  if (repositoryNode && seeds[repositoryNode]) seeds[repositoryNode].repository = { snapshots: [] };
  vms.forEach((vm, index) => {
    const ip = vm.ip ?? `10.20.0.${10 + index}`;
    const running = vm.running ?? true;
    const members = [vm.home, ...(vm.peer ? [vm.peer] : []), ...(vm.witness ? [vm.witness] : [])];
    const resource = (node: string, role: SimResourceRecord['role'], client: boolean): SimResourceRecord => ({
      name: vm.name,
      vm: vm.name,
      minor: 1000 + index,
      sizeBytes: vm.sizeBytes ?? GIB,
      protocol: 'C',
      role,
      disk: client ? 'Diskless' : 'UpToDate',
      client,
      allowTwoPrimaries: false,
      standAlone: false,
      standAloneReason: '',
      discardMyData: false,
      peers: members.filter((member) => member !== node).map((member) => ({ node: member, client: member === vm.witness })),
      outOfSync: {},
    });
    const domain = (state: SimDomainRecord['state']): SimDomainRecord => ({
      name: vm.name,
      vcpus: 2,
      memoryBytes: vm.memoryBytes ?? 4 * GIB,
      ip,
      resources: [vm.name],
      priority: 10 * (index + 1),
      state,
      reason: state === 'running' ? 'booted' : 'shutdown',
      changedMs: 0,
      // Recorded on both nodes of the pair, as the lab seed does.
      intent: running ? 'running' : 'stopped',
      intentSetMs: 1,
      intentSetBy: 'test seed',
    });
    // Members outside `nodes` are absent peers: their side of the resource is simply not seeded.
    const home = seeds[vm.home];
    if (!home) throw new Error(`${vm.name}: its home ${vm.home} is not one of the nodes`);
    home.resources.push(resource(vm.home, running ? 'Primary' : 'Secondary', false));
    home.domains.push(domain(running ? 'running' : 'shut off'));
    if (running) home.announcements.push({ prefix: `${ip}/32`, kind: 'ANNOUNCEMENT_KIND_VM', vm: vm.name, sinceMs: 0 });
    const peer = vm.peer ? seeds[vm.peer] : undefined;
    if (vm.peer && peer) {
      peer.resources.push(resource(vm.peer, 'Secondary', false));
      peer.domains.push(domain('shut off'));
    }
    const witness = vm.witness ? seeds[vm.witness] : undefined;
    if (vm.witness && witness) witness.resources.push(resource(vm.witness, 'Secondary', true));
  });
  return seeds;
}

export interface LabNodeSpec {
  readonly name: string;
  readonly site: string;
  /** Default "main". */
  readonly siteKind?: 'main' | 'backup';
  /** Run as a child process (bin/hvctl-agent.js with a YAML config) instead of in this process. */
  readonly child?: boolean;
  /**
   * Run the node's simulated host apart from its agent, as the lab does (here in the test
   * process, behind its unix socket): stopping or killing the agent leaves the host, its
   * links, VMs and routes running; `stopHost` / `crash` take the host down.
   */
  readonly separateHost?: boolean;
}

export interface LabOptions {
  readonly nodes: readonly LabNodeSpec[];
  readonly seeds: Record<string, SimNodeRecord>;
  /** Node holding the backup repository; default the first backup-site node, else the first node. */
  readonly repositoryNode?: string;
  readonly timing?: Partial<SimTiming>;
  /** Default 1000 ms: tight enough for fast tests, loose enough for a loaded 2-core machine (a stalled event loop must not look like a lost peer). */
  readonly peerTimeoutMs?: number;
  /** Watch heartbeat interval; default 200 ms. */
  readonly heartbeatMs?: number;
  /** Nodes to leave stopped at first (start them with `lab.start(name)`). */
  readonly deferred?: readonly string[];
  /**
   * Write a cluster file (every node with its site and gRPC address) and point each
   * agent's `cluster:` at it, so workflows coordinated by one agent reach the others.
   * Default false: each agent knows only itself.
   */
  readonly clusterFile?: boolean;
  /** The public block recorded in the cluster file (with `clusterFile`). */
  readonly publicBlock?: string;
  /** Backup policies recorded in the cluster file (with `clusterFile`). */
  readonly backups?: BackupsSection;
  /** Give every agent a metrics endpoint on a free loopback port (RunningAgent.metricsPort). */
  readonly metrics?: boolean;
  /** Enable the cluster watcher (`monitor:`) on this node; on the backup site's node it runs the autopilot too. */
  readonly monitorOn?: string;
  /** The autopilot policy recorded in the cluster file (with `clusterFile`). */
  readonly autopilot?: AutopilotPolicy;
}

/** One agent of a lab. */
export interface LabNode {
  readonly spec: LabNodeSpec;
  readonly config: AgentConfig;
  readonly address: string;
  /** A client for this agent (reconnects on its own when the agent restarts). */
  readonly client: AgentClient;
  /** Set while an in-process agent runs. */
  agent?: RunningAgent;
  /** Set while a child-process agent runs. */
  child?: ChildProcess;
  /** What a child process wrote to stderr. */
  stderr: string;
  /** Set while a separate simulated host runs (spec.separateHost). */
  host?: SimHostServer;
}

const AGENT_BIN = fileURLToPath(new URL('../../bin/hvctl-agent.js', import.meta.url));

/** A running set of simulated agents; `close()` stops them all and removes their files. */
export class Lab {
  readonly nodes = new Map<string, LabNode>();

  private constructor(readonly dir: string) {}

  static async start(options: LabOptions): Promise<Lab> {
    const dir = await makeTempDir('hvctl-lab-');
    const lab = new Lab(dir);
    try {
      await lab.configure(options);
      for (const spec of options.nodes) {
        if (!options.deferred?.includes(spec.name)) await lab.start(spec.name);
      }
      return lab;
    } catch (error) {
      await lab.close();
      throw error;
    }
  }

  private async configure(options: LabOptions): Promise<void> {
    const ports = await freePorts(options.nodes.length * 2);
    const linkAddress = (index: number): string => `127.0.0.1:${ports[options.nodes.length + index]}`;
    const repositoryNode = options.repositoryNode ?? options.nodes.find((node) => node.siteKind === 'backup')?.name ?? options.nodes[0]?.name ?? '';
    const clusterPath = options.clusterFile ? join(this.dir, 'cluster.yaml') : undefined;
    if (clusterPath) {
      const sites = new Map(options.nodes.map((node) => [node.site, node.siteKind ?? 'main'] as const));
      const cluster: ClusterFile = {
        name: 'test-lab',
        ...(options.publicBlock ? { publicBlock: options.publicBlock } : {}),
        ...(options.backups ? { backups: options.backups } : {}),
        ...(options.autopilot ? { autopilot: options.autopilot } : {}),
        sites: [...sites].map(([name, kind]) => ({ name, kind })),
        nodes: options.nodes.map((node, index) => ({ name: node.name, site: node.site, address: `127.0.0.1:${ports[index]}` })),
      };
      await writeFile(clusterPath, formatClusterFile(cluster));
    }
    for (const [index, spec] of options.nodes.entries()) {
      const stateDir = join(this.dir, spec.name);
      await mkdir(stateDir, { recursive: true });
      const seedPath = join(this.dir, `${spec.name}.seed.json`);
      await writeFile(seedPath, JSON.stringify(options.seeds[spec.name] ?? { resources: [], domains: [], announcements: [] }));
      const address = `127.0.0.1:${ports[index]}`;
      const config: AgentConfig = {
        node: spec.name,
        site: spec.site,
        listen: address,
        stateDir,
        ...(clusterPath ? { cluster: clusterPath } : {}),
        heartbeatMs: options.heartbeatMs ?? 200,
        ...(options.metrics ? { metrics: { listen: '127.0.0.1:0' } } : {}),
        ...(options.monitorOn === spec.name
          ? {
              monitor: parseMonitorConfig({ enabled: true, nodeUnreachableAfterSeconds: 5 }, (message) => {
                throw new Error(message);
              }),
            }
          : {}),
        // Plaintext on loopback; TLS is tested in security/*.integration.test.ts and the lab's --tls test.
        insecureLab: true,
        log: { level: 'info', file: join(this.dir, `${spec.name}.log`) },
        drivers: { drbd: 'sim', kvm: 'sim', routing: 'sim', backup: 'sim', host: 'sim' },
        sim: {
          siteKind: spec.siteKind ?? 'main',
          link: linkAddress(index),
          peers: options.nodes
            .map((peer, peerIndex) => ({ name: peer.name, site: peer.site, address: linkAddress(peerIndex) }))
            .filter((peer) => peer.name !== spec.name),
          repositoryNode,
          seed: seedPath,
          timing: { ...FAST_TIMING, ...options.timing },
          peerTimeoutMs: options.peerTimeoutMs ?? 1000,
          ...(spec.separateHost ? { host: join(this.dir, `${spec.name}.host.sock`) } : {}),
        },
      };
      this.nodes.set(spec.name, { spec, config, address, client: createAgentClient(address), stderr: '' });
    }
  }

  node(name: string): LabNode {
    const node = this.nodes.get(name);
    if (!node) throw new Error(`no lab node ${name}`);
    return node;
  }

  client(name: string): AgentClient {
    return this.node(name).client;
  }

  /**
   * Starts (or restarts, with the same state dir and ports) one agent, and first its
   * separate simulated host when that is not running; resolves once the agent answers GetInfo.
   */
  async start(name: string): Promise<void> {
    const node = this.node(name);
    if (node.agent || node.child) throw new Error(`${name} is already running`);
    if (node.spec.separateHost && !node.host) await this.startHost(name);
    if (node.spec.child) {
      await this.spawnChild(node);
    } else {
      node.agent = await startAgent(node.config, silentLogger());
    }
    await waitFor(`${name} to answer GetInfo`, () => unary<GetInfoResponse__Output>('GetInfo', (cb) => node.client.node.getInfo({}, deadline(1000), cb)), { timeoutMs: 10_000 });
  }

  /** Names of the agents running now. */
  running(): string[] {
    return [...this.nodes.values()].filter((node) => node.agent || node.child).map((node) => node.spec.name);
  }

  /**
   * Resolves once every running agent reports every resource connected to each of its
   * peers that runs too (the witness included): links are dialed with retries, so right
   * after start some may still be down.
   */
  async waitAllConnected(timeoutMs = 5000): Promise<void> {
    const running = new Set(this.running());
    await waitFor('every replication link up', async () => {
      for (const name of running) {
        const { resources } = await unary<ListResourcesResponse__Output>('ListResources', (cb) => this.client(name).drbd.listResources({}, deadline(1000), cb));
        const down = resources.flatMap((resource) => resource.peers.filter((peer) => running.has(peer.node) && peer.connectionState !== 'Connected'));
        if (down.length) return false;
      }
      return true;
    }, { timeoutMs });
  }

  /** Graceful stop of the agent (in-process: agent.stop(); child: SIGTERM); a separate host runs on. */
  async stop(name: string): Promise<void> {
    const node = this.node(name);
    if (node.agent) {
      const agent = node.agent;
      node.agent = undefined;
      await agent.stop(200);
    }
    if (node.child) await this.signal(node, 'SIGTERM');
  }

  /** Stops a separate simulated host (its state persisted as a disk keeps it: it comes back as after a crash). */
  async stopHost(name: string): Promise<void> {
    const node = this.node(name);
    const host = node.host;
    node.host = undefined;
    await host?.stop();
  }

  /** A host crash: the agent dies (SIGKILL for a child) and so does its separate host. */
  async crash(name: string): Promise<void> {
    const node = this.node(name);
    if (node.child) await this.signal(node, 'SIGKILL');
    else await this.stop(name);
    await this.stopHost(name);
  }

  /** Starts a separate simulated host alone (its agent, if running, reconnects to it). */
  async startHost(name: string): Promise<void> {
    const node = this.node(name);
    const sim = node.config.sim;
    if (!sim?.host) throw new Error(`${node.spec.name} has no separate host`);
    if (node.host) throw new Error(`${node.spec.name}: its host is already running`);
    const world = await bootSimWorld(node.config, sim, silentLogger());
    node.host = (await SimHostServer.start({ socketPath: sim.host, world, repositoryNode: sim.repositoryNode, logger: silentLogger() })).host;
  }

  /** Kills a child-process agent at once (SIGKILL): no cleanup, sockets closed by the kernel. */
  async kill(name: string): Promise<void> {
    const node = this.node(name);
    if (!node.child) throw new Error(`${name} is not a running child process`);
    await this.signal(node, 'SIGKILL');
  }

  private async signal(node: LabNode, signal: NodeJS.Signals): Promise<void> {
    const child = node.child;
    if (!child) return;
    node.child = undefined;
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  private async spawnChild(node: LabNode): Promise<void> {
    const configPath = join(this.dir, `${node.spec.name}.agent.yaml`);
    await writeFile(configPath, stringify(node.config));
    node.stderr = '';
    const child = spawn(process.execPath, [AGENT_BIN, '--config', configPath, '--insecure-lab'], { stdio: ['ignore', 'ignore', 'pipe'] });
    node.child = child;
    child.stderr?.on('data', (chunk: Buffer) => {
      node.stderr += chunk.toString('utf8');
    });
    await new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null): void => {
        node.child = undefined;
        reject(new Error(`${node.spec.name} exited (${code}) while starting: ${node.stderr}`));
      };
      child.once('exit', onExit);
      const check = (): void => {
        if (node.stderr.includes('listening on')) {
          child.off('exit', onExit);
          child.stderr?.off('data', check);
          resolve();
        }
      };
      child.stderr?.on('data', check);
    });
  }

  /** Stops every agent, closes the clients and removes the lab's files. */
  async close(): Promise<void> {
    for (const node of this.nodes.values()) node.client.close();
    await Promise.all([...this.nodes.keys()].map((name) => this.stop(name).catch(() => undefined)));
    await Promise.all([...this.nodes.keys()].map((name) => this.stopHost(name).catch(() => undefined)));
    await removeTempDir(this.dir);
  }
}
