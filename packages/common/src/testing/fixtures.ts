import type { Domain__Output, NodeInfo__Output, NodeState__Output, PeerConnection__Output, Resource__Output } from '@hvctl/proto';
import type { ClusterFile } from '../cluster-file.js';
import type { ClusterSnapshot, NodeConnection } from '../cluster-model.js';
import { viewFromSnapshot } from '../node-state.js';

/** The lab's cluster file shape, with fake addresses. */
export function labClusterFile(): ClusterFile {
  return {
    name: 'lab',
    publicBlock: '203.0.113.0/24',
    sites: [
      { name: 'msk', kind: 'main' },
      { name: 'spb', kind: 'main' },
      { name: 'bak', kind: 'backup' },
    ],
    nodes: [
      { name: 'msk-1', site: 'msk', address: '127.0.0.1:7401' },
      { name: 'msk-2', site: 'msk', address: '127.0.0.1:7402' },
      { name: 'spb-1', site: 'spb', address: '127.0.0.1:7403' },
      { name: 'spb-2', site: 'spb', address: '127.0.0.1:7404' },
      { name: 'bak-1', site: 'bak', address: '127.0.0.1:7405' },
    ],
  };
}

export function fakeNodeInfo(name: string, site: string, overrides: Partial<NodeInfo__Output> = {}): NodeInfo__Output {
  return {
    name,
    site,
    agentVersion: '0.1.0',
    uptimeSeconds: 100,
    capabilities: ['drbd', 'kvm', 'routing', 'backup', 'host'].map((area) => ({ area, driver: 'sim', available: true, detail: 'simulated' })),
    flags: { cordoned: false, cordonReason: '', maintenance: false, changedUnixMs: 0 },
    facts: {
      cpuModel: 'Simulated CPU',
      cpuCores: 32,
      cpuUsagePercent: 12,
      memoryTotalBytes: 256 * 2 ** 30,
      memoryUsedBytes: 48 * 2 ** 30,
      loadAverage: [1.5, 1.2, 1.0],
      disks: [],
      measuredUnixMs: 0,
    },
    agentEpoch: `epoch-${name}`,
    ...overrides,
  };
}

export function fakePeer(node: string, overrides: Partial<PeerConnection__Output> = {}): PeerConnection__Output {
  return {
    node,
    connectionState: 'Connected',
    peerRole: 'Secondary',
    peerDiskState: 'UpToDate',
    replicationState: 'Established',
    outOfSyncBytes: 0,
    syncPercent: 0,
    syncEtaSeconds: 0,
    peerClient: false,
    connectionChangedUnixMs: 0,
    ...overrides,
  };
}

export function fakeResource(name: string, overrides: Partial<Resource__Output> = {}): Resource__Output {
  return {
    name,
    role: 'Secondary',
    diskState: 'UpToDate',
    quorum: true,
    suspended: 'no',
    mayPromote: false,
    promotionScore: 0,
    allowTwoPrimaries: false,
    protocol: 'C',
    sizeBytes: 20 * 2 ** 30,
    minor: 1000,
    client: false,
    peers: [],
    vm: name,
    ...overrides,
  };
}

export function fakeDomain(name: string, overrides: Partial<Domain__Output> = {}): Domain__Output {
  return {
    name,
    state: 'DOMAIN_STATE_RUNNING',
    stateReason: 'booted',
    vcpus: 2,
    memoryBytes: 4 * 2 ** 30,
    ip: '10.20.0.1',
    resources: [name],
    priority: 10,
    migrating: false,
    stateChangedUnixMs: 0,
    intent: 'DOMAIN_INTENT_UNSPECIFIED',
    intentSetUnixMs: 0,
    intentSetBy: '',
    ...overrides,
  };
}

const PAIRS: Record<string, string> = { 'msk-1': 'spb-1', 'msk-2': 'spb-2', 'spb-1': 'msk-1', 'spb-2': 'msk-2' };

/**
 * A healthy lab: `vmsPerNode` VMs on each of msk-1, msk-2, spb-1, spb-2, each with a
 * resource paired across sites and bak-1 as diskless witness; each VM's /32 announced
 * from its node; the public block from msk-1 and spb-1; one snapshot per VM on bak-1.
 */
export function fakeLabStates(vmsPerNode = 3, nowMs = 1_700_000_000_000): Map<string, NodeState__Output> {
  const cluster = labClusterFile();
  const states = new Map<string, NodeState__Output>();
  for (const node of cluster.nodes) {
    states.set(node.name, { node: fakeNodeInfo(node.name, node.site), resources: [], domains: [], announcements: [], neighbors: [], snapshots: [], log: [], knownVms: [] });
  }
  const get = (name: string): NodeState__Output => states.get(name) as NodeState__Output;
  let ipIndex = 10;
  for (const home of ['msk-1', 'msk-2', 'spb-1', 'spb-2']) {
    const peer = PAIRS[home] as string;
    for (let i = 1; i <= vmsPerNode; i += 1) {
      const vm = `vm-${home}-${i}`;
      const ip = `10.20.0.${ipIndex++}`;
      get(home).domains.push(fakeDomain(vm, { ip, priority: i * 10 }));
      get(home).resources.push(
        fakeResource(vm, { role: 'Primary', peers: [fakePeer(peer), fakePeer('bak-1', { peerDiskState: 'Diskless', peerClient: true })] }),
      );
      get(peer).resources.push(
        fakeResource(vm, { peers: [fakePeer(home, { peerRole: 'Primary' }), fakePeer('bak-1', { peerDiskState: 'Diskless', peerClient: true })] }),
      );
      get('bak-1').resources.push(
        fakeResource(vm, {
          diskState: 'Diskless',
          client: true,
          peers: [fakePeer(home, { peerRole: 'Primary' }), fakePeer(peer)],
        }),
      );
      get(home).announcements.push({ prefix: `${ip}/32`, kind: 'ANNOUNCEMENT_KIND_VM', node: home, vm, sinceUnixMs: nowMs });
      get('bak-1').snapshots.push({
        id: `${vm}-snap`.padEnd(64, '0'),
        shortId: vm.slice(0, 8),
        vm,
        resource: vm,
        sourceNode: home,
        timeUnixMs: nowMs - 3_600_000,
        sizeBytes: 2 ** 30,
        consistency: 'crash',
        checksum: '',
        durationMs: 0,
      });
    }
  }
  for (const node of ['msk-1', 'spb-1']) {
    get(node).announcements.push({ prefix: '203.0.113.0/24', kind: 'ANNOUNCEMENT_KIND_BGP', node, vm: '', sinceUnixMs: nowMs });
  }
  return states;
}

/** A ClusterSnapshot from node states; nodes listed in `unreachable` are marked so (state kept as last known). */
export function fakeClusterSnapshot(
  states: Map<string, NodeState__Output> = fakeLabStates(),
  unreachable: readonly string[] = [],
  version = 1,
  /** When the unreachable nodes were lost. */
  unreachableSinceMs = 1,
): ClusterSnapshot {
  const cluster = labClusterFile();
  const nodes: NodeConnection[] = cluster.nodes.map((node) => {
    const state = states.get(node.name);
    const down = unreachable.includes(node.name);
    return {
      name: node.name,
      site: node.site,
      address: node.address,
      reachable: !down && state !== undefined,
      ...(state ? { state: viewFromSnapshot(state) } : {}),
      epoch: `epoch-${node.name}`,
      revision: 1,
      lastMessageMs: 1,
      unreachableSinceMs: down ? unreachableSinceMs : 0,
      error: down ? 'connection refused' : '',
      settled: true,
    };
  });
  return { cluster, nodes, connectionEvents: [], version };
}
