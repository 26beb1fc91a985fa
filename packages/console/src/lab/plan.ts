import type { ClusterFile } from '@hvctl/common';
import type { SimDomainRecord, SimNodeRecord, SimPeer, SimResourceRecord } from '@hvctl/agent';

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
export const LAB_PUBLIC_BLOCK = '203.0.113.0/24';
/** Nodes announcing the public block by BGP: one per main site. */
export const LAB_BGP_SPEAKERS = ['msk-1', 'spb-1'] as const;
const HOMES = ['msk-1', 'spb-1', 'msk-2', 'spb-2'] as const;
const SERVICES = ['web', 'db', 'mail', 'git', 'crm', 'shop', 'dns', 'wiki', 'ci', 'chat', 'erp', 'vpn'];

const GIB = 1024 ** 3;

export interface LabPorts {
  /** gRPC port per node. */
  readonly grpc: Readonly<Record<string, number>>;
  /** Simulated link port per node. */
  readonly link: Readonly<Record<string, number>>;
}

export interface LabNodePlan {
  readonly name: string;
  readonly site: string;
  readonly address: string;
  readonly link: string;
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
export function planLab(options: { readonly vms: number; readonly ports: LabPorts; readonly host?: string; readonly nowMs?: number }): LabPlan {
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
    const sizeBytes = (20 + (index % 4) * 10) * GIB;
    vms[vm] = home;
    const resource = (role: 'Primary' | 'Secondary', other: string): SimResourceRecord => ({
      name: vm,
      vm,
      minor: 1000 + index,
      sizeBytes,
      protocol: 'C',
      role,
      disk: 'UpToDate',
      client: false,
      allowTwoPrimaries: false,
      standAlone: false,
      standAloneReason: '',
      discardMyData: false,
      peers: [
        { node: other, client: false },
        { node: LAB_WITNESS, client: true },
      ],
      outOfSync: { [other]: 0 },
    });
    seed(home).resources.push(resource('Primary', peer));
    seed(peer).resources.push(resource('Secondary', home));
    seed(LAB_WITNESS).resources.push({
      ...resource('Secondary', home),
      disk: 'Diskless',
      client: true,
      peers: [
        { node: home, client: false },
        { node: peer, client: false },
      ],
      outOfSync: {},
    });
    const domain = (state: SimDomainRecord['state'], reason: string): SimDomainRecord => ({
      name: vm,
      vcpus: 2 + (index % 3) * 2,
      memoryBytes: (2 + (index % 4) * 2) * GIB,
      ip,
      resources: [vm],
      priority: 10 * (1 + (index % 5)),
      state,
      reason,
      changedMs: now,
    });
    seed(home).domains.push(domain('running', 'booted'));
    seed(peer).domains.push(domain('shut off', 'defined'));
    seed(home).announcements.push({ prefix: `${ip}/32`, kind: 'ANNOUNCEMENT_KIND_VM', vm, sinceMs: now });
    // One nightly backup per VM, taken a few hours ago.
    const id = `${(index + 1).toString(16).padStart(8, '0')}${'ab'.repeat(28)}`;
    seed(LAB_WITNESS).repository?.snapshots.push({
      id,
      shortId: id.slice(0, 8),
      vm,
      resource: vm,
      sourceNode: home,
      timeUnixMs: now - (3 + (index % 6)) * 3_600_000,
      sizeBytes: Math.round(sizeBytes * 0.05),
      consistency: 'crash',
    });
  }
  for (const speaker of LAB_BGP_SPEAKERS) {
    seed(speaker).announcements.push({ prefix: LAB_PUBLIC_BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceMs: now });
  }

  const address = (name: string): string => `${host}:${options.ports.grpc[name]}`;
  const link = (name: string): string => `${host}:${options.ports.link[name]}`;
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
      seed: seed(node.name),
      agentConfig: {
        node: node.name,
        site: node.site,
        listen: address(node.name),
        stateDir: './state',
        cluster: '../../cluster.yaml',
        heartbeatMs: 1000,
        log: { file: './agent.log', level: 'info' },
        drivers: { drbd: 'sim', kvm: 'sim', routing: 'sim', backup: 'sim', host: 'sim' },
        sim: {
          siteKind: node.site === 'bak' ? 'backup' : 'main',
          link: link(node.name),
          repositoryNode: LAB_WITNESS,
          seed: './seed.json',
          peers,
        },
      },
    };
  });

  const cluster: ClusterFile = {
    name: 'lab',
    publicBlock: LAB_PUBLIC_BLOCK,
    sites: [
      { name: 'msk', kind: 'main' },
      { name: 'spb', kind: 'main' },
      { name: 'bak', kind: 'backup' },
    ],
    nodes: nodes.map((node) => ({ name: node.name, site: node.site, address: node.address })),
  };
  return { cluster, nodes, vms };
}

/** Which sites each node must not reach, given the cut sites. */
export function partitionFor(site: string, cutSites: readonly string[], allSites: readonly string[]): string[] {
  if (cutSites.includes(site)) return allSites.filter((other) => other !== site);
  return cutSites.filter((other) => other !== site);
}
