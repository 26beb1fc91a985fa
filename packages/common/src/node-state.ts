import type {
  Announcement__Output,
  KnownVm__Output,
  Domain__Output,
  LogEntry__Output,
  Neighbor__Output,
  NodeInfo__Output,
  NodeState__Output,
  Resource__Output,
  Snapshot__Output,
  StateChange__Output,
} from '@hvctl/proto';

/** How many log entries a node view keeps. */
export const NODE_LOG_LIMIT = 200;

/** The state of one node as a watcher holds it: immutable, replaced on every change. */
export interface NodeStateView {
  readonly node: NodeInfo__Output;
  readonly resources: ReadonlyMap<string, Resource__Output>;
  readonly domains: ReadonlyMap<string, Domain__Output>;
  readonly announcements: ReadonlyMap<string, Announcement__Output>;
  readonly neighbors: ReadonlyMap<string, Neighbor__Output>;
  readonly snapshots: ReadonlyMap<string, Snapshot__Output>;
  readonly log: readonly LogEntry__Output[];
  /** The cluster watcher's registry of every VM it has seen (empty on other nodes). */
  readonly knownVms: ReadonlyMap<string, KnownVm__Output>;
}

/** The key of a routing session in NodeStateView.neighbors and in neighbor_removed. */
export const neighborKey = (neighbor: Pick<Neighbor__Output, 'protocol' | 'name'>): string =>
  `${neighbor.protocol}/${neighbor.name}`;

function byKey<T>(items: readonly T[], key: (item: T) => string): ReadonlyMap<string, T> {
  return new Map(items.map((item) => [key(item), item]));
}

/** Builds a view from a full snapshot. */
export function viewFromSnapshot(state: NodeState__Output): NodeStateView {
  return {
    node: state.node ?? emptyNodeInfo(),
    resources: byKey(state.resources, (r) => r.name),
    domains: byKey(state.domains, (d) => d.name),
    announcements: byKey(state.announcements, (a) => a.prefix),
    neighbors: byKey(state.neighbors, neighborKey),
    snapshots: byKey(state.snapshots, (s) => s.id),
    log: state.log.slice(-NODE_LOG_LIMIT),
    knownVms: byKey(state.knownVms ?? [], (vm) => vm.name),
  };
}

/** The full snapshot of a view (the inverse of viewFromSnapshot). */
export function snapshotFromView(view: NodeStateView): NodeState__Output {
  return {
    node: view.node,
    resources: [...view.resources.values()],
    domains: [...view.domains.values()],
    announcements: [...view.announcements.values()],
    neighbors: [...view.neighbors.values()],
    snapshots: [...view.snapshots.values()],
    log: [...view.log],
    knownVms: [...view.knownVms.values()],
  };
}

function upsert<T>(map: ReadonlyMap<string, T>, key: string, value: T): ReadonlyMap<string, T> {
  const next = new Map(map);
  next.set(key, value);
  return next;
}

function remove<T>(map: ReadonlyMap<string, T>, key: string): ReadonlyMap<string, T> {
  if (!map.has(key)) return map;
  const next = new Map(map);
  next.delete(key);
  return next;
}

/** Applies one delta; returns a new view sharing every untouched map with the old one. */
export function applyChange(view: NodeStateView, change: StateChange__Output): NodeStateView {
  switch (change.change) {
    case 'node':
      return change.node ? { ...view, node: change.node } : view;
    case 'resource':
      return change.resource ? { ...view, resources: upsert(view.resources, change.resource.name, change.resource) } : view;
    case 'resourceRemoved':
      return { ...view, resources: remove(view.resources, change.resourceRemoved ?? '') };
    case 'domain':
      return change.domain ? { ...view, domains: upsert(view.domains, change.domain.name, change.domain) } : view;
    case 'domainRemoved':
      return { ...view, domains: remove(view.domains, change.domainRemoved ?? '') };
    case 'announcement':
      return change.announcement
        ? { ...view, announcements: upsert(view.announcements, change.announcement.prefix, change.announcement) }
        : view;
    case 'announcementRemoved':
      return { ...view, announcements: remove(view.announcements, change.announcementRemoved ?? '') };
    case 'neighbor':
      return change.neighbor ? { ...view, neighbors: upsert(view.neighbors, neighborKey(change.neighbor), change.neighbor) } : view;
    case 'neighborRemoved':
      return { ...view, neighbors: remove(view.neighbors, change.neighborRemoved ?? '') };
    case 'snapshot':
      return change.snapshot ? { ...view, snapshots: upsert(view.snapshots, change.snapshot.id, change.snapshot) } : view;
    case 'snapshotRemoved':
      return { ...view, snapshots: remove(view.snapshots, change.snapshotRemoved ?? '') };
    case 'knownVm':
      return change.knownVm ? { ...view, knownVms: upsert(view.knownVms, change.knownVm.name, change.knownVm) } : view;
    case 'knownVmRemoved':
      return { ...view, knownVms: remove(view.knownVms, change.knownVmRemoved ?? '') };
    case 'log':
      return change.log ? { ...view, log: [...view.log.slice(-(NODE_LOG_LIMIT - 1)), change.log] } : view;
    default:
      return view;
  }
}

/** A NodeInfo with every field at its default, for a node not heard from yet. */
export function emptyNodeInfo(name = '', site = ''): NodeInfo__Output {
  return {
    name,
    site,
    agentVersion: '',
    uptimeSeconds: 0,
    capabilities: [],
    flags: null,
    facts: null,
    agentEpoch: '',
  };
}
