import type { Lease__Output } from '@hvctl/proto';
import type { ClusterSnapshot, Topology } from '@hvctl/common';
import type { Evidence, NodeEvidence, VmEvidence } from './decide.js';

/**
 * Turns what the witness's cluster model holds into one Evidence sample. Pure.
 *
 * - The witness's own DRBD connections come from its own state (it is the diskless
 *   tie-breaker of every resource: first-hand data-path evidence).
 * - A partner's report is its own resource list as its watch stream last delivered it; it
 *   is trusted only while the partner's agent answers (`reachable`).
 * - Nodes whose first connection has not settled are left out: right after the witness
 *   starts, nobody is judged.
 */
export function gatherEvidence(snapshot: ClusterSnapshot, topology: Topology, witness: string, leases: readonly Lease__Output[], nowMs: number): Evidence {
  const mainSites = new Set(snapshot.cluster.sites.filter((site) => site.kind === 'main').map((site) => site.name));
  const connections = new Map(snapshot.nodes.map((connection) => [connection.name, connection]));
  const self = connections.get(witness);
  const ownResources = self?.reachable ? [...(self.state?.resources.values() ?? [])] : [];
  const flags = new Map(topology.nodes.map((node) => [node.name, node]));
  const leaseLines = (keys: ReadonlySet<string>): string[] =>
    [...new Map(leases.filter((lease) => keys.has(lease.key)).map((lease) => [`${lease.key} ${lease.workflowId}`, `${lease.key} held by ${lease.workflowId} of ${lease.owner || 'unknown'}`])).values()];

  const nodes = snapshot.nodes
    .filter((connection) => mainSites.has(connection.site) && connection.settled)
    .map((connection): NodeEvidence => {
      const name = connection.name;
      const partners = snapshot.nodes
        .filter((other) => other.name !== name && mainSites.has(other.site))
        .flatMap((other) =>
          [...(other.state?.resources.values() ?? [])].flatMap((resource) =>
            resource.peers
              .filter((peer) => peer.node === name && !peer.peerClient && !resource.client)
              .map((peer) => ({ partner: other.name, resource: resource.name, reachable: other.reachable, state: peer.connectionState, quorum: resource.quorum })),
          ),
        );
      const resources = new Set([...(connection.state?.resources.keys() ?? []), ...partners.map((entry) => entry.resource)]);
      const vms = topology.vms.filter((vm) => vm.node === name || vm.runningOn.includes(name)).map((vm) => vm.name);
      const keys = new Set([`node/${name}`, ...[...resources].map((resource) => `resource/${resource}`), ...vms.map((vm) => `vm/${vm}`)]);
      const node = flags.get(name);
      return {
        name,
        site: connection.site,
        agentReachable: connection.reachable,
        witnessLinks: ownResources.flatMap((resource) => resource.peers.filter((peer) => peer.node === name).map((peer) => ({ resource: resource.name, state: peer.connectionState }))),
        partners,
        cordoned: node?.cordoned ?? false,
        maintenance: node?.maintenance ?? false,
        leases: leaseLines(keys),
      };
    });

  const reachable = new Set(snapshot.nodes.filter((connection) => connection.reachable).map((connection) => connection.name));
  const vms = topology.vms.map((vm): VmEvidence => {
    const resource = topology.resources.find((candidate) => candidate.name === vm.resource);
    return {
      name: vm.name,
      // A VM whose intent was never recorded is `unknown`: never acted on.
      intent: vm.intent || 'unknown',
      runningOn: vm.runningOn,
      replicas: (resource?.replicas ?? [])
        .filter((replica) => !replica.witness)
        .map((replica) => ({
          node: replica.node,
          reachable: reachable.has(replica.node),
          disk: replica.disk,
          quorum: replica.quorum,
          cordoned: flags.get(replica.node)?.cordoned ?? false,
          maintenance: flags.get(replica.node)?.maintenance ?? false,
        })),
      // A workflow holding either node of the pair (a drain, another start) would refuse a start: wait for it.
      leases: leaseLines(new Set([`vm/${vm.name}`, `resource/${vm.resource}`, ...(resource?.replicas ?? []).filter((replica) => !replica.witness).map((replica) => `node/${replica.node}`)])),
    };
  });
  return { atMs: nowMs, witness, witnessState: self?.reachable === true && self.state !== undefined, nodes, vms };
}
