import type { ClusterSnapshot, Topology, TopologyNode, TopologyVm } from '@hvctl/common';
import type { ObservedState } from '../sla/compute.js';

/** What the watcher concludes about one node or VM at one moment. */
export interface Observation {
  readonly kind: 'node' | 'vm';
  readonly subject: string;
  readonly state: ObservedState;
  /** The site the subject is in (a VM: the site of the node it runs or last ran on). */
  readonly site: string;
  /** A VM's node; empty for nodes. */
  readonly node: string;
  /** Why, in a few words ("crashed on msk-1", "msk-1 unreachable"). */
  readonly detail: string;
}

/** libvirt shut-off reasons that mean someone stopped the VM on purpose. */
const DELIBERATE_STOPS = new Set(['shutdown', 'destroyed', 'saved']);

function nodeObservation(node: TopologyNode): Observation {
  const planned = node.maintenance;
  const state: ObservedState = node.reachable ? (planned ? 'maintenance' : 'up') : planned ? 'maintenance' : 'down';
  return { kind: 'node', subject: node.name, state, site: node.site, node: '', detail: node.reachable ? (planned ? 'in maintenance' : 'reachable') : `unreachable: ${node.error}` };
}

function vmObservation(vm: TopologyVm, snapshot: ClusterSnapshot, topology: Topology, nodes: ReadonlyMap<string, TopologyNode>): Observation {
  const running = vm.runningOn[0];
  const base = (state: ObservedState, node: string, detail: string): Observation => ({
    kind: 'vm',
    subject: vm.name,
    state,
    site: nodes.get(node)?.site ?? '',
    node,
    detail,
  });
  if (running) return base('up', running, `running on ${running}`);
  const host = nodes.get(vm.node);
  const planned = host?.maintenance === true || host?.cordoned === true;
  if (vm.stale || host?.reachable === false) {
    // The watcher cannot see the host; a reachable DRBD peer still replicating from it as
    // Primary is evidence that the host (and the VM) is alive, cut off only from us.
    const resource = topology.resources.find((candidate) => candidate.name === vm.resource);
    const seenPrimary = resource?.replicas.some((replica) => replica.node === vm.node && replica.derived && replica.role === 'Primary');
    if (seenPrimary) return base('up', vm.node, `${vm.node} unreachable from the watcher, but its DRBD peer sees it Primary`);
    return base(planned ? 'maintenance' : 'down', vm.node, `${vm.node} unreachable`);
  }
  if (planned) return base('maintenance', vm.node, `not running; ${vm.node} is ${host?.maintenance ? 'in maintenance' : 'cordoned'}`);
  const domain = snapshot.nodes.find((connection) => connection.name === vm.node)?.state?.domains.get(vm.name);
  const reason = domain?.stateReason ?? '';
  if (vm.state === 'shut off' && DELIBERATE_STOPS.has(reason)) return base('stopped', vm.node, `stopped (${reason}) on ${vm.node}`);
  return base('down', vm.node, `${vm.state}${reason ? ` (${reason})` : ''} on ${vm.node}`);
}

/**
 * What the watcher sees now: each settled node's reachability and each VM's availability.
 * A VM is up when it runs on a node the watcher reaches (or its host is unreachable but a
 * DRBD peer still sees it Primary); down when it does not run; maintenance when it does
 * not run and its node is cordoned or in maintenance (a drain); stopped when it was shut
 * down on purpose (libvirt reason shutdown, destroyed or saved). Nodes whose first
 * connection attempt has not settled yet are left out, and so are their VMs.
 */
export function observe(snapshot: ClusterSnapshot, topology: Topology): Observation[] {
  const settled = new Set(snapshot.nodes.filter((connection) => connection.settled).map((connection) => connection.name));
  const nodes = new Map(topology.nodes.map((node) => [node.name, node]));
  const observations = topology.nodes.filter((node) => settled.has(node.name)).map(nodeObservation);
  for (const vm of topology.vms) {
    if (!settled.has(vm.node) && vm.runningOn.length === 0) continue;
    observations.push(vmObservation(vm, snapshot, topology, nodes));
  }
  return observations;
}
