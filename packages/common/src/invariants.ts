import type { Lease__Output, Workflow__Output } from '@hvctl/proto';
import type { Topology, TopologyReplica } from './topology.js';

/** One broken safety invariant (the rules `hvctl check` applies, docs/workflows.md), with what to look at. */
export interface Violation {
  /**
   * Short id: "dual-primary", "split-brain", "vm-twice", "route", "route-vm-down", "no-uptodate",
   * "stale-two-primaries", "stale-lease", "bgp-without-quorum", "intended-running-down",
   * "public-block-unannounced".
   */
  readonly rule: string;
  readonly subject: string;
  readonly message: string;
  /** "outage" when service is down (a VM meant to run, the public block); absent for the safety rules. */
  readonly severity?: 'outage';
  /** For an outage: Unix ms since when (0 when unknown). */
  readonly sinceUnixMs?: number;
}

/** "12 min" / "3 h 5 min" since `sinceMs`; "" when the time is unknown. */
export function downFor(sinceMs: number, nowMs: number): string {
  if (sinceMs <= 0 || nowMs < sinceMs) return '';
  const minutes = Math.floor((nowMs - sinceMs) / 60_000);
  return minutes < 60 ? `${minutes} min` : `${Math.floor(minutes / 60)} h ${minutes % 60} min`;
}

export interface InvariantReport {
  readonly violations: readonly Violation[];
  /** What could not be checked (unreachable nodes). */
  readonly unchecked: readonly string[];
}

/**
 * A split brain, as DRBD leaves it: a diskful replica is StandAlone (the handshake refused
 * the connection) and both sides changed data the other lacks (each reports out-of-sync
 * bytes), or both are Primary. DRBD never resolves this on its own with hvctl's settings:
 * an operator chooses the copy to discard.
 */
function splitBrain(name: string, visible: readonly TopologyReplica[]): string | undefined {
  if (visible.length < 2 || !visible.some((replica) => replica.connection === 'StandAlone')) return undefined;
  const bothChanged = visible.every((replica) => replica.outOfSyncBytes > 0);
  const primaries = visible.filter((replica) => replica.role === 'Primary');
  if (!bothChanged && primaries.length < 2) return undefined;
  const nodes = visible.map((replica) => replica.node);
  const why = bothChanged ? `both changed data while apart (${visible.map((r) => `${r.node} holds ${r.outOfSyncBytes} B the other lacks`).join(', ')})` : `both are Primary`;
  return (
    `${name}: split brain between ${nodes.join(' and ')} (${visible.map((r) => `${r.node} ${r.connection}`).join(', ')}; ${why}). ` +
    `hvctl never picks the copy to discard: choose the victim, then on it \`drbdadm secondary ${name}; drbdadm connect --discard-my-data ${name}\` ` +
    `(stop its VM first), and on the other \`drbdadm connect ${name}\`; the victim resyncs from the survivor`
  );
}

/**
 * Checks the safety invariants on a topology plus the leases and workflows the agents
 * report: one Primary per resource, one running copy per VM, a VM's /32 only from where
 * it runs, an UpToDate replica per resource, no allow-two-primaries or lease left behind
 * by a workflow that is not running, no public block from a side without quorum; and the
 * outages: a VM intended running that runs nowhere, a public block announced by no node.
 */
export function checkInvariants(
  topology: Topology,
  leases: readonly (Lease__Output & { readonly on: string })[],
  workflows: readonly Workflow__Output[],
  nowMs: number = Date.now(),
): InvariantReport {
  const violations: Violation[] = [];
  const unchecked = topology.nodes.filter((node) => !node.reachable).map((node) => `${node.name} is unreachable: its replicas, VMs and announcements were not checked`);
  const running = new Set(workflows.filter((workflow) => workflow.state === 'running').map((workflow) => workflow.id));
  const leasedByRunning = new Set(leases.filter((lease) => running.has(lease.workflowId)).map((lease) => lease.key));

  for (const resource of topology.resources) {
    if (resource.primaries.length > 1) {
      const migrating = leasedByRunning.has(`resource/${resource.name}`);
      if (!migrating) {
        violations.push({ rule: 'dual-primary', subject: resource.name, message: `${resource.name} is Primary on ${resource.primaries.join(' and ')} outside a live migration` });
      }
    }
    const diskful = resource.replicas.filter((replica) => !replica.witness);
    const visible = diskful.filter((replica) => !replica.derived);
    if (visible.length === diskful.length && !diskful.some((replica) => replica.disk === 'UpToDate')) {
      violations.push({ rule: 'no-uptodate', subject: resource.name, message: `${resource.name} has no UpToDate replica (${diskful.map((r) => `${r.node} ${r.disk}`).join(', ')})` });
    } else if (visible.length > 0 && !visible.some((replica) => replica.disk === 'UpToDate')) {
      const unseen = diskful.filter((replica) => replica.derived).map((replica) => replica.node);
      violations.push({
        rule: 'no-uptodate',
        subject: resource.name,
        message: `${resource.name} has no UpToDate replica in sight (${visible.map((r) => `${r.node} ${r.disk}`).join(', ')}); the only current copy may be on ${unseen.join(', ')}, which does not answer`,
      });
    }
    const split = splitBrain(resource.name, visible);
    if (split) violations.push({ rule: 'split-brain', subject: resource.name, message: split });
    for (const replica of resource.replicas) {
      if (replica.allowTwoPrimaries && !leasedByRunning.has(`resource/${resource.name}`)) {
        violations.push({ rule: 'stale-two-primaries', subject: resource.name, message: `allow-two-primaries is set for ${resource.name} on ${replica.node} and no running workflow holds it` });
      }
    }
  }

  for (const vm of topology.vms) {
    if (vm.runningOn.length > 1) {
      violations.push({ rule: 'vm-twice', subject: vm.name, message: `${vm.name} runs on ${vm.runningOn.join(' and ')}` });
    }
    if (vm.stale) continue;
    const expected = vm.state === 'running' ? [vm.node] : [];
    const wrong = vm.announcedFrom.filter((node) => !expected.includes(node));
    if (wrong.length && vm.runningOn.length === 0 && !leasedByRunning.has(`vm/${vm.name}`)) {
      violations.push({ rule: 'route-vm-down', subject: vm.name, message: `${vm.ip}/32 is announced from ${wrong.join(', ')} but ${vm.name} runs nowhere (${vm.state} on ${vm.node})` });
    } else if (wrong.length) {
      violations.push({ rule: 'route', subject: vm.name, message: `${vm.ip}/32 (${vm.name}, ${vm.state} on ${vm.node}) is announced from ${wrong.join(', ')}` });
    }
    if (vm.intent === 'running' && vm.runningOn.length === 0 && !vm.migrating && !leasedByRunning.has(`vm/${vm.name}`)) {
      const since = downFor(vm.stateChangedUnixMs, nowMs);
      violations.push({
        rule: 'intended-running-down',
        subject: vm.name,
        severity: 'outage',
        sinceUnixMs: vm.stateChangedUnixMs,
        message: `${vm.name} is intended running (set by ${vm.intentSetBy || 'unknown'}) but runs nowhere: ${vm.state} on ${vm.node}${since ? `, down ${since}` : ''}; start it: hvctl start ${vm.name}`,
      });
    }
    if (vm.state === 'running' && !vm.announcedFrom.includes(vm.node) && !leasedByRunning.has(`resource/${vm.resource}`)) {
      violations.push({ rule: 'route', subject: vm.name, message: `${vm.ip}/32 is not announced from ${vm.node}, where ${vm.name} runs` });
    }
  }

  for (const lease of leases) {
    if (!running.has(lease.workflowId)) {
      violations.push({ rule: 'stale-lease', subject: lease.key, message: `${lease.key} on ${lease.on} is held by ${lease.workflowId}, which is not running` });
    }
  }

  for (const announcement of topology.announcements) {
    if (announcement.kind !== 'bgp') continue;
    const replicas = topology.resources.flatMap((resource) => resource.replicas.filter((replica) => replica.node === announcement.node && !replica.witness && !replica.derived));
    if (replicas.length > 0 && replicas.every((replica) => !replica.quorum)) {
      violations.push({ rule: 'bgp-without-quorum', subject: announcement.prefix, message: `${announcement.node} announces ${announcement.prefix} but has lost quorum on every resource` });
    }
  }
  if (topology.publicBlock) {
    const reachable = new Set(topology.nodes.filter((node) => node.reachable).map((node) => node.name));
    const from = topology.announcements.filter((a) => a.kind === 'bgp' && a.prefix === topology.publicBlock && reachable.has(a.node));
    if (from.length === 0 && reachable.size > 0) {
      violations.push({
        rule: 'public-block-unannounced',
        subject: topology.publicBlock,
        severity: 'outage',
        sinceUnixMs: 0,
        message: `the public block ${topology.publicBlock} is announced by no reachable node: the cluster is unreachable from outside`,
      });
    }
  }
  return { violations, unchecked };
}
