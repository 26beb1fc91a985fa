import type { ClusterFile } from '@hvctl/common';
import { seedPairedVm, type SimNodeRecord, type SimPeer, type SimTiming } from '@hvctl/agent';

/**
 * The benchmark lab: the lab's shape (packages/console/src/lab/plan.ts) generalised to N
 * hypervisors. Hypervisors come in DRBD pairs across the two main sites (msk-i <-> spb-i);
 * every hypervisor runs `vmsPerNode` VMs (Primary replica, domain running, its /32
 * announced) and holds the Secondary replica and the shut-off standby definition of each of
 * its partner's VMs. Diskless quorum witnesses sit on the bak site, one per
 * `pairsPerWitness` pairs (bak-1 also holds the backup repository with one snapshot per VM).
 *
 * Simulated links exist only where DRBD needs them: within a pair and between each
 * hypervisor and its witness (not a full mesh: a full mesh of 100 nodes would make every
 * node send every other node its heartbeat).
 */

export interface BenchPlanOptions {
  /** Hypervisors (even: they come in pairs). */
  readonly hypervisors: number;
  readonly vmsPerNode: number;
  /** Pairs per witness node. Default 10. */
  readonly pairsPerWitness?: number;
  /** Link port per node, in `nodeNames()` order. */
  readonly linkPorts: readonly number[];
  readonly host?: string;
  readonly nowMs?: number;
}

export interface BenchNode {
  readonly name: string;
  readonly site: 'msk' | 'spb' | 'bak';
  readonly siteKind: 'main' | 'backup';
  /** host:port of its simulated link. */
  readonly link: string;
  readonly peers: readonly SimPeer[];
  readonly seed: SimNodeRecord;
}

export interface BenchPlan {
  readonly nodes: readonly BenchNode[];
  /** VMs in the cluster (hypervisors x vmsPerNode). */
  readonly vms: number;
  readonly hypervisors: number;
  readonly witnesses: number;
  readonly repositoryNode: string;
  /** The cluster file, once the agents' gRPC addresses are known. */
  cluster(addresses: Readonly<Record<string, string>>): ClusterFile;
}

export const PUBLIC_BLOCK = '203.0.113.0/24';

/** The nodes of a plan, in order: msk-1..P, spb-1..P, bak-1..W. */
export function nodeNames(hypervisors: number, pairsPerWitness = 10): string[] {
  const pairs = pairCount(hypervisors);
  const witnesses = Math.ceil(pairs / pairsPerWitness);
  return [
    ...Array.from({ length: pairs }, (_, i) => `msk-${i + 1}`),
    ...Array.from({ length: pairs }, (_, i) => `spb-${i + 1}`),
    ...Array.from({ length: witnesses }, (_, i) => `bak-${i + 1}`),
  ];
}

function pairCount(hypervisors: number): number {
  if (!Number.isInteger(hypervisors) || hypervisors < 2 || hypervisors % 2 !== 0) throw new Error(`hypervisors must be an even number >= 2, got ${hypervisors}`);
  return hypervisors / 2;
}

/** A VM's IP: 10.(100 + n / 65536).(n / 256 % 256).(n % 256), unique for n < 1.6M. */
const vmIp = (n: number): string => `10.${100 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;

export function planBench(options: BenchPlanOptions): BenchPlan {
  const pairsPerWitness = options.pairsPerWitness ?? 10;
  const pairs = pairCount(options.hypervisors);
  const host = options.host ?? '127.0.0.1';
  const now = options.nowMs ?? Date.now();
  const names = nodeNames(options.hypervisors, pairsPerWitness);
  if (options.linkPorts.length !== names.length) throw new Error(`need ${names.length} link ports, got ${options.linkPorts.length}`);
  const link = new Map(names.map((name, i) => [name, `${host}:${options.linkPorts[i]}`]));
  const siteOf = (name: string): BenchNode['site'] => name.slice(0, 3) as BenchNode['site'];
  const peer = (name: string): SimPeer => ({ name, site: siteOf(name), address: link.get(name) as string });
  const witnessOf = (pair: number): string => `bak-${Math.floor((pair - 1) / pairsPerWitness) + 1}`;
  const repositoryNode = 'bak-1';

  const seeds = new Map<string, SimNodeRecord>(names.map((name) => [name, { resources: [], domains: [], announcements: [] }]));
  const seed = (name: string): SimNodeRecord => seeds.get(name) as SimNodeRecord;
  seed(repositoryNode).repository = { snapshots: [] };
  const peers = new Map<string, SimPeer[]>(names.map((name) => [name, []]));

  let index = 0;
  for (let pair = 1; pair <= pairs; pair += 1) {
    const msk = `msk-${pair}`;
    const spb = `spb-${pair}`;
    const witness = witnessOf(pair);
    peers.get(msk)?.push(peer(spb), peer(witness));
    peers.get(spb)?.push(peer(msk), peer(witness));
    peers.get(witness)?.push(peer(msk), peer(spb));
    for (const [home, partner] of [
      [msk, spb],
      [spb, msk],
    ] as const) {
      for (let v = 1; v <= options.vmsPerNode; v += 1) {
        const vm = `vm-${home}-${v}`;
        const ip = vmIp(index);
        seedPairedVm(seed, { index, vm, ip, home, partner, witness, repositoryNode, priority: 10 * (1 + (v % 5)), nowMs: now });
        index += 1;
      }
    }
  }
  for (const speaker of ['msk-1', 'spb-1']) {
    seed(speaker).announcements.push({ prefix: PUBLIC_BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceMs: now });
  }

  const nodes: BenchNode[] = names.map((name) => ({
    name,
    site: siteOf(name),
    siteKind: siteOf(name) === 'bak' ? 'backup' : 'main',
    link: link.get(name) as string,
    peers: peers.get(name) ?? [],
    seed: seed(name),
  }));
  return {
    nodes,
    vms: index,
    hypervisors: options.hypervisors,
    witnesses: names.length - options.hypervisors,
    repositoryNode,
    cluster: (addresses) => ({
      name: `bench-${options.hypervisors}`,
      publicBlock: PUBLIC_BLOCK,
      sites: [
        { name: 'msk', kind: 'main' },
        { name: 'spb', kind: 'main' },
        { name: 'bak', kind: 'backup' },
      ],
      nodes: names.map((name) => {
        const address = addresses[name];
        if (!address) throw new Error(`no gRPC address for ${name}`);
        return { name, site: siteOf(name), address };
      }),
    }),
  };
}

/** The agent config (AgentConfig, as agent.yaml would hold it) of one bench node. */
export function agentConfigFor(
  node: BenchNode,
  plan: BenchPlan,
  paths: { readonly stateDir: string; readonly seed: string; readonly cluster?: string },
  sim: { readonly timing?: Partial<SimTiming>; readonly peerTimeoutMs?: number; readonly listen?: string; readonly heartbeatMs?: number } = {},
): Record<string, unknown> {
  return {
    node: node.name,
    site: node.site,
    listen: sim.listen ?? '127.0.0.1:0',
    stateDir: paths.stateDir,
    ...(paths.cluster ? { cluster: paths.cluster } : {}),
    heartbeatMs: sim.heartbeatMs ?? 1000,
    log: { level: 'warn' },
    drivers: { drbd: 'sim', kvm: 'sim', routing: 'sim', backup: 'sim', host: 'sim' },
    sim: {
      siteKind: node.siteKind,
      link: node.link,
      repositoryNode: plan.repositoryNode,
      seed: paths.seed,
      peers: node.peers,
      ...(sim.timing ? { timing: sim.timing } : {}),
      ...(sim.peerTimeoutMs ? { peerTimeoutMs: sim.peerTimeoutMs } : {}),
    },
  };
}
