import type { ClusterSnapshot, NodeConnection } from './cluster-model.js';
import { estimateRpo, type RpoEstimate } from './rpo.js';
import { buildTopology, nodeEntry, type Topology, type TopologyBackup, type TopologyResource } from './topology.js';

/** What a node contributes to the merged parts of the topology (VMs, replicas, routes, backups). */
interface NodeInputs {
  readonly reachable: boolean;
  readonly resources: unknown;
  readonly domains: unknown;
  readonly announcements: unknown;
  readonly snapshots: unknown;
  readonly knownVms: unknown;
}

const inputsOf = (connection: NodeConnection): NodeInputs => ({
  reachable: connection.reachable,
  resources: connection.state?.resources,
  domains: connection.state?.domains,
  announcements: connection.state?.announcements,
  snapshots: connection.state?.snapshots,
  knownVms: connection.state?.knownVms,
});

const sameInputs = (a: NodeInputs, b: NodeInputs): boolean =>
  a.reachable === b.reachable && a.resources === b.resources && a.domains === b.domains && a.announcements === b.announcements && a.snapshots === b.snapshots && a.knownVms === b.knownVms;

const sameRpo = (a: RpoEstimate, b: RpoEstimate): boolean =>
  a.seconds === b.seconds &&
  a.reason === b.reason &&
  a.targetSeconds === b.targetSeconds &&
  a.overTarget === b.overTarget &&
  a.outOfSyncBytes === b.outOfSyncBytes &&
  a.rateBytesPerSecond === b.rateBytesPerSecond;

export interface TopologyMemoOptions {
  readonly rpoTargetSeconds?: number;
}

/**
 * buildTopology for a stream of snapshots from one ClusterModel, for a console that
 * redraws many times a second. Most deltas touch only a node's own record (a cordon, the
 * load average, a log line) and leave its replicas, domains, announcements and backup
 * snapshots alone: the node state maps are immutable and shared between snapshots
 * (node-state.ts), so when no node's maps and no node's reachability changed since the
 * previous call, the merged VMs, resources, announcements and backups are reused, and only
 * the nodes and the time-dependent RPO estimates are recomputed (an unchanged estimate keeps
 * its resource object, so a consumer can compare by identity). Anything else rebuilds the
 * whole topology. The result always equals `buildTopology(snapshot, nowMs)`.
 */
export function createTopologyMemo(options: TopologyMemoOptions = {}): (snapshot: ClusterSnapshot, nowMs: number) => Topology {
  let last: { topology: Topology; cluster: ClusterSnapshot['cluster']; inputs: readonly NodeInputs[] } | undefined;
  return (snapshot, nowMs) => {
    const inputs = snapshot.nodes.map(inputsOf);
    const reusable =
      last !== undefined &&
      last.cluster === snapshot.cluster &&
      last.inputs.length === inputs.length &&
      inputs.every((input, index) => sameInputs(input, (last as NonNullable<typeof last>).inputs[index] as NodeInputs));
    if (!last || !reusable) {
      last = { topology: buildTopology(snapshot, nowMs, options), cluster: snapshot.cluster, inputs };
      return last.topology;
    }
    const previous = last.topology;
    const nodes = snapshot.nodes.map((connection) => nodeEntry(connection, nowMs));
    const resources = refreshRpo(previous.resources, nowMs, options);
    const backups = refreshBackups(previous.backups, nowMs);
    const up = nodes.filter((node) => node.reachable).length;
    const topology: Topology = {
      ...previous,
      health: { ...previous.health, nodesUp: up, nodesDown: nodes.length - up },
      nodes,
      resources,
      backups,
    };
    last = { topology, cluster: snapshot.cluster, inputs };
    return topology;
  };
}

/**
 * The same resources with their RPO estimated at `nowMs`. Only a `disconnected` estimate
 * depends on the clock (it is the age of the break, rpo.ts); the others are functions of
 * the replicas alone, which did not change, and are kept without recomputing.
 */
function refreshRpo(resources: readonly TopologyResource[], nowMs: number, options: TopologyMemoOptions): readonly TopologyResource[] {
  let changed: TopologyResource[] | undefined;
  resources.forEach((resource, index) => {
    if (resource.rpo.reason !== 'disconnected') return;
    const rpo = estimateRpo(resource.replicas, { nowMs, ...(options.rpoTargetSeconds === undefined ? {} : { targetSeconds: options.rpoTargetSeconds }) });
    if (sameRpo(rpo, resource.rpo)) return;
    changed ??= [...resources];
    changed[index] = { ...resource, rpo };
  });
  return changed ?? resources;
}

/**
 * The same backups with `overdue` re-evaluated at `nowMs`: under a policy, a VM's newest
 * backup ages into overdue once it is older than the policy's maximum age (topology.ts).
 */
function refreshBackups(backups: readonly TopologyBackup[], nowMs: number): readonly TopologyBackup[] {
  let changed: TopologyBackup[] | undefined;
  backups.forEach((backup, index) => {
    if (!backup.policy) return;
    const overdue = backup.lastAtMs === 0 || nowMs - backup.lastAtMs > backup.maxAgeSeconds * 1000;
    if (overdue === backup.overdue) return;
    changed ??= [...backups];
    changed[index] = { ...backup, overdue };
  });
  return changed ?? backups;
}
