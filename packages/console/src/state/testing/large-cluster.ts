import { viewFromSnapshot, type ClusterFile, type ClusterSnapshot, type NodeConnection } from '@hvctl/common';
import { fakeDomain, fakeNodeInfo, fakePeer, fakeResource } from '@hvctl/common/testing';
import type { NodeState__Output } from '@hvctl/proto';

export interface LargeClusterOptions {
  /** Hypervisors per main site (msk, spb); node msk-i is paired with spb-i. Default 50. */
  readonly nodesPerSite?: number;
  readonly vmsPerNode?: number;
  readonly nowMs?: number;
  readonly version?: number;
}

/**
 * A healthy cluster of `2 * nodesPerSite` hypervisors plus the bak-1 witness, each
 * hypervisor running `vmsPerNode` VMs replicated to its pair (defaults: 100 nodes x 40 VMs
 * = 4,000 VMs, the console's benchmark size). Built from @hvctl/common/testing's fakes.
 */
export function fakeLargeCluster(options: LargeClusterOptions = {}): ClusterSnapshot {
  const { nodesPerSite = 50, vmsPerNode = 40, nowMs = 1_700_000_000_000, version = 1 } = options;
  const cluster: ClusterFile = {
    name: 'large',
    publicBlock: '203.0.113.0/24',
    sites: [
      { name: 'msk', kind: 'main' },
      { name: 'spb', kind: 'main' },
      { name: 'bak', kind: 'backup' },
    ],
    nodes: [
      ...['msk', 'spb'].flatMap((site, s) =>
        Array.from({ length: nodesPerSite }, (_, i) => ({ name: `${site}-${i + 1}`, site, address: `127.0.0.1:${10_000 + s * 1000 + i}` })),
      ),
      { name: 'bak-1', site: 'bak', address: '127.0.0.1:9999' },
    ],
  };
  const states = new Map<string, NodeState__Output>(
    cluster.nodes.map((node) => [
      node.name,
      { node: fakeNodeInfo(node.name, node.site), resources: [], domains: [], announcements: [], neighbors: [], snapshots: [], log: [], knownVms: [] },
    ]),
  );
  const state = (name: string): NodeState__Output => states.get(name) as NodeState__Output;
  let ip = 0;
  for (let i = 1; i <= nodesPerSite; i += 1) {
    for (const [home, peer] of [
      [`msk-${i}`, `spb-${i}`],
      [`spb-${i}`, `msk-${i}`],
    ] as const) {
      for (let v = 1; v <= vmsPerNode; v += 1) {
        const vm = `vm-${home}-${v}`;
        const address = `10.${100 + (ip >> 16)}.${(ip >> 8) & 255}.${ip & 255}`;
        ip += 1;
        state(home).domains.push(fakeDomain(vm, { ip: address, priority: v }));
        state(home).resources.push(fakeResource(vm, { role: 'Primary', peers: [fakePeer(peer)] }));
        state(peer).resources.push(fakeResource(vm, { peers: [fakePeer(home, { peerRole: 'Primary' })] }));
        state(home).announcements.push({ prefix: `${address}/32`, kind: 'ANNOUNCEMENT_KIND_VM', node: home, vm, sinceUnixMs: nowMs });
      }
    }
  }
  state('msk-1').announcements.push({ prefix: '203.0.113.0/24', kind: 'ANNOUNCEMENT_KIND_BGP', node: 'msk-1', vm: '', sinceUnixMs: nowMs });
  const nodes: NodeConnection[] = cluster.nodes.map((node) => ({
    name: node.name,
    site: node.site,
    address: node.address,
    reachable: true,
    state: viewFromSnapshot(state(node.name)),
    epoch: `epoch-${node.name}`,
    revision: 1,
    lastMessageMs: nowMs,
    unreachableSinceMs: 0,
    error: '',
    settled: true,
  }));
  return { cluster, nodes, connectionEvents: [], version };
}
