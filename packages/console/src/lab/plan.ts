import { LAB_AUTOPILOT_POLICY, type AutopilotMode, type ClusterFile } from '@hvctl/common';
import { seedPairedVm, type SimNodeRecord, type SimPeer } from '@hvctl/agent';

/** The lab's fixed shape: two main sites with two hypervisors each, and the backup/witness site. */
export const LAB_NODES = [
  { name: 'msk-1', site: 'msk' },
  { name: 'msk-2', site: 'msk' },
  { name: 'spb-1', site: 'spb' },
  { name: 'spb-2', site: 'spb' },
  { name: 'bak-1', site: 'bak' },
] as const;

/** DRBD pairs: each VM's disk lives on one node of a pair and is replicated to the other. */
export const LAB_PAIRS: Readonly<Record<string, string>> = { 'msk-1': 'spb-1', 'msk-2': 'spb-2', 'spb-1': 'msk-1', 'spb-2': 'msk-2' };

export const LAB_WITNESS = 'bak-1';
/** The file in the lab directory where bak-1's alert hook appends every alert (one JSON per line). */
export const LAB_ALERTS_FILE = 'alerts.jsonl';
export const LAB_PUBLIC_BLOCK = '203.0.113.0/24';
/** Nodes announcing the public block by BGP: one per main site. */
export const LAB_BGP_SPEAKERS = ['msk-1', 'spb-1'] as const;
const HOMES = ['msk-1', 'spb-1', 'msk-2', 'spb-2'] as const;
const SERVICES = ['web', 'db', 'mail', 'git', 'crm', 'shop', 'dns', 'wiki', 'ci', 'chat', 'erp', 'vpn'];


export interface LabPorts {
  /** gRPC port per node. */
  readonly grpc: Readonly<Record<string, number>>;
  /** Simulated link port per node. */
  readonly link: Readonly<Record<string, number>>;
  /** Prometheus metrics port per node (docs/metrics.md); absent: no metrics endpoint. */
  readonly metrics?: Readonly<Record<string, number>>;
}

export interface LabNodePlan {
  readonly name: string;
  readonly site: string;
  readonly address: string;
  readonly link: string;
  /** host:port of the node's metrics endpoint, when it has one. */
  readonly metrics?: string;
  /** agent.yaml content as an object. */
  readonly agentConfig: Record<string, unknown>;
  readonly seed: SimNodeRecord;
}

export interface LabPlan {
  readonly cluster: ClusterFile;
  readonly nodes: readonly LabNodePlan[];
  /** VM name -> home node. */
  readonly vms: Readonly<Record<string, string>>;
}

/** The name of the i-th lab VM (0-based): web-1, db-1, ..., vpn-1, web-2, ... */
export function labVmName(index: number): string {
  return `${SERVICES[index % SERVICES.length]}-${Math.floor(index / SERVICES.length) + 1}`;
}

/**
 * Plans a lab: which node runs which VM, every DRBD resource (paired across sites, with
 * bak-1 as diskless witness), each node's seed state and agent config, and the cluster
 * file. Pure: the caller picks ports and writes files.
 */
export function planLab(options: {
  readonly vms: number;
  readonly ports: LabPorts;
  readonly host?: string;
  readonly nowMs?: number;
  /** Absolute path the watcher's alert hook appends to (`<labdir>/alerts.jsonl`); no hook without it. */
  readonly alertsFile?: string;
  /** The autopilot's mode in the cluster file (default `act`, the lab's policy). */
  readonly autopilot?: AutopilotMode;
}): LabPlan {
  const host = options.host ?? '127.0.0.1';
  const now = options.nowMs ?? Date.now();
  const seeds = new Map<string, SimNodeRecord>(LAB_NODES.map((node) => [node.name, { resources: [], domains: [], announcements: [] }]));
  const seed = (name: string): SimNodeRecord => seeds.get(name) as SimNodeRecord;
  (seed(LAB_WITNESS) as { repository?: SimNodeRecord['repository'] }).repository = { snapshots: [] };
  const vms: Record<string, string> = {};

  for (let index = 0; index < options.vms; index += 1) {
    const vm = labVmName(index);
    const home = HOMES[index % HOMES.length] as string;
    const peer = LAB_PAIRS[home] as string;
    const ip = `10.20.${Math.floor((index + 10) / 250)}.${((index + 10) % 250) + 1}`;
    vms[vm] = home;
    seedPairedVm(seed, { index, vm, ip, home, partner: peer, witness: LAB_WITNESS, repositoryNode: LAB_WITNESS, priority: 10 * (1 + (index % 5)), nowMs: now });
  }
  for (const speaker of LAB_BGP_SPEAKERS) {
    seed(speaker).announcements.push({ prefix: LAB_PUBLIC_BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceMs: now });
  }

  const address = (name: string): string => `${host}:${options.ports.grpc[name]}`;
  const link = (name: string): string => `${host}:${options.ports.link[name]}`;
  const metrics = (name: string): string | undefined => (options.ports.metrics?.[name] ? `${host}:${options.ports.metrics[name]}` : undefined);
  const nodes: LabNodePlan[] = LAB_NODES.map((node) => {
    const peers: SimPeer[] = LAB_NODES.filter((other) => other.name !== node.name).map((other) => ({
      name: other.name,
      site: other.site,
      address: link(other.name),
    }));
    return {
      name: node.name,
      site: node.site,
      address: address(node.name),
      link: link(node.name),
      ...(metrics(node.name) ? { metrics: metrics(node.name) } : {}),
      seed: seed(node.name),
      agentConfig: {
        node: node.name,
        site: node.site,
        listen: address(node.name),
        stateDir: './state',
        cluster: '../../cluster.yaml',
        heartbeatMs: 1000,
        ...(metrics(node.name) ? { metrics: { listen: metrics(node.name) } } : {}),
        log: { file: './agent.log', level: 'info' },
        drivers: { drbd: 'sim', kvm: 'sim', routing: 'sim', backup: 'sim', host: 'sim' },
        sim: {
          siteKind: node.site === 'bak' ? 'backup' : 'main',
          link: link(node.name),
          repositoryNode: LAB_WITNESS,
          seed: './seed.json',
          // The node's simulated host runs as its own process (hvctl-agent sim-host) and outlives the agent.
          host: './host.sock',
          peers,
        },
        // The witness watches the cluster: availability journal, SLA, alerts (docs/sla.md), with lab-fast alert timing.
        ...(node.name === LAB_WITNESS
          ? {
              monitor: {
                enabled: true,
                nodeUnreachableAfterSeconds: 5,
                resolveAfterSeconds: 3,
                hooks: options.alertsFile ? [{ command: ['/usr/bin/tee', '-a', options.alertsFile] }] : [],
              },
            }
          : {}),
      },
    };
  });

  const cluster: ClusterFile = {
    name: 'lab',
    publicBlock: LAB_PUBLIC_BLOCK,
    // The lab acts on its own (`lab fault kill NODE` alone fails over), with a short grace; production defaults to observe (docs/autopilot.md).
    autopilot: { ...LAB_AUTOPILOT_POLICY, mode: options.autopilot ?? LAB_AUTOPILOT_POLICY.mode },
    sites: [
      { name: 'msk', kind: 'main' },
      { name: 'spb', kind: 'main' },
      { name: 'bak', kind: 'backup' },
    ],
    nodes: nodes.map((node) => ({ name: node.name, site: node.site, address: node.address })),
  };
  return { cluster, nodes, vms };
}

/** The name of the link between two sites ("msk-spb": sorted, so either order names it). */
export const linkName = (a: string, b: string): string => [a, b].sort().join('-');

/**
 * Which sites a node of `site` must not reach, given the cut sites and the cut links between
 * two sites (a cut link is lost from both ends; each site still reaches the others).
 */
export function partitionFor(site: string, cutSites: readonly string[], allSites: readonly string[], cutLinks: readonly string[] = []): string[] {
  if (cutSites.includes(site)) return allSites.filter((other) => other !== site);
  const unreachable = new Set(cutSites.filter((other) => other !== site));
  for (const other of allSites) if (other !== site && cutLinks.includes(linkName(site, other))) unreachable.add(other);
  return allSites.filter((other) => unreachable.has(other));
}
