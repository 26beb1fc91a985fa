import { downFor, isSuspended, type Topology } from '@hvctl/common';

/**
 * Something the operator must look at now. `bad` alerts are safety invariants that look
 * broken (the rules of `hvctl check`) or nodes that are down; `warn` alerts are
 * states that are legal but temporary (two primaries inside a live migration).
 */
export interface Alert {
  readonly level: 'bad' | 'warn';
  /** The row the alert is about (`node:msk-1`, `vm:web-1`), to jump to it. */
  readonly target: string;
  readonly message: string;
}

type TopologyVm = Topology['vms'][number];

const NO_NODES: ReadonlySet<string> = new Set();

/** True when a reachable node other than the ones the VM runs on announces its /32. */
function announcedElsewhere(vm: TopologyVm, reachable: ReadonlySet<string>): boolean {
  for (const node of vm.announcedFrom) if (reachable.has(node) && !vm.runningOn.includes(node)) return true;
  return false;
}

/**
 * Checks a topology for down nodes and broken invariants; pure, ordered by severity. It runs
 * on every topology the console draws (4,000 VMs at 100 hypervisors, up to 10 times a
 * second), so the healthy path allocates nothing per VM or resource. A node in `connecting`
 * (no answer and no failure yet since the console started) is a warning, not a down node:
 * the console must not cry "unreachable" in the second it takes to connect.
 */
export function findAlerts(topology: Topology, connecting: ReadonlySet<string> = NO_NODES, nowMs: number = Date.now()): readonly Alert[] {
  const alerts: Alert[] = [];
  const reachable = new Set<string>();
  for (const node of topology.nodes) {
    if (node.reachable) {
      reachable.add(node.name);
      continue;
    }
    if (connecting.has(node.name)) alerts.push({ level: 'warn', target: `node:${node.name}`, message: `${node.name} connecting` });
    else alerts.push({ level: 'bad', target: `node:${node.name}`, message: `${node.name} unreachable` });
  }

  // Invariant 1: never two Primaries, except inside a live migration that allowed it.
  let vmByName: Map<string, TopologyVm> | undefined;
  for (const resource of topology.resources) {
    if (resource.primaries.length < 2) continue;
    vmByName ??= new Map(topology.vms.map((vm) => [vm.name, vm]));
    const vm = vmByName.get(resource.vm);
    const allowed =
      vm?.migrating === true &&
      resource.replicas.filter((replica) => replica.role === 'Primary').every((replica) => replica.allowTwoPrimaries);
    alerts.push({
      level: allowed ? 'warn' : 'bad',
      target: vm ? `vm:${vm.name}` : `resource:${resource.name}`,
      message: `${resource.name} Primary on ${resource.primaries.join(' and ')}${allowed ? ' (live migration)' : ''}`,
    });
  }

  // Invariant 4: at least one UpToDate replica (derived entries of unreachable nodes are unknown, not lost).
  for (const resource of topology.resources) {
    let diskful = false;
    let upToDateOrUnknown = false;
    for (const replica of resource.replicas) {
      if (replica.witness) continue;
      diskful = true;
      if (replica.disk === 'UpToDate' || replica.derived) {
        upToDateOrUnknown = true;
        break;
      }
    }
    if (diskful && !upToDateOrUnknown) {
      alerts.push({ level: 'bad', target: resource.vm ? `vm:${resource.vm}` : `resource:${resource.name}`, message: `${resource.name} has no UpToDate replica` });
    }
  }

  // A Primary whose I/O DRBD suspended (quorum lost): its VM looks running but cannot write.
  for (const resource of topology.resources) {
    for (const replica of resource.replicas) {
      if (replica.role !== 'Primary' || !isSuspended(replica)) continue;
      alerts.push({
        level: 'bad',
        target: resource.vm ? `vm:${resource.vm}` : `resource:${resource.name}`,
        message: `${resource.name} I/O suspended on ${replica.node} (${replica.suspended})${resource.vm ? `: ${resource.vm} is frozen` : ''}`,
      });
    }
  }

  for (const vm of topology.vms) {
    // Invariant 2: a VM never runs on two nodes.
    if (vm.runningOn.length > 1) {
      alerts.push({ level: 'bad', target: `vm:${vm.name}`, message: `${vm.name} running on ${vm.runningOn.join(' and ')}` });
    }
    // Invariant 3: a VM's /32 is announced only from where it runs (stale announcements of unreachable nodes excluded).
    if (vm.runningOn.length > 0 && announcedElsewhere(vm, reachable)) {
      const wrong = vm.announcedFrom.filter((node) => reachable.has(node) && !vm.runningOn.includes(node));
      alerts.push({ level: 'bad', target: `vm:${vm.name}`, message: `${vm.name} /32 announced from ${wrong.join(', ')} but runs on ${vm.runningOn.join(', ')}` });
    }
    if (vm.runningOn.length > 0 || vm.stale || vm.migrating) continue;
    // Outage: meant to run, runs nowhere (a VM of an unreachable node is unknown, not down).
    if (vm.intent === 'running') {
      const since = downFor(vm.stateChangedUnixMs, nowMs);
      alerts.push({ level: 'bad', target: `vm:${vm.name}`, message: `${vm.name} intended running, down${since ? ` ${since}` : ''} (hvctl start ${vm.name})` });
    }
    // Its /32 still announced while it runs nowhere: traffic goes to a node without the VM.
    for (const node of vm.announcedFrom) {
      if (reachable.has(node)) alerts.push({ level: 'bad', target: `vm:${vm.name}`, message: `${vm.name} /32 announced from ${node} but runs nowhere` });
    }
  }

  // Outage: the public block announced by no reachable node (undecided while a node is still connecting).
  if (topology.publicBlock && reachable.size > 0 && connecting.size === 0 && !topology.announcements.some((a) => a.kind === 'bgp' && a.prefix === topology.publicBlock && reachable.has(a.node))) {
    alerts.push({ level: 'bad', target: 'cluster', message: `public block ${topology.publicBlock} announced by no node` });
  }
  return alerts.sort((a, b) => Number(a.level === 'warn') - Number(b.level === 'warn'));
}
