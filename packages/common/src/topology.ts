import type { Domain__Output, KnownVm__Output, PeerConnection__Output, Resource__Output } from '@hvctl/proto';
import type { ClusterSnapshot, NodeConnection } from './cluster-model.js';
import { policyFor } from './backup-policy.js';
import type { SiteKind } from './cluster-file.js';
import { estimateRpo, type RpoEstimate } from './rpo.js';

/** A VM's run state in the topology (libvirt's word, lowercase). */
export type VmState = 'running' | 'paused' | 'shutdown' | 'shut off' | 'crashed' | 'unknown';

export interface TopologySite {
  readonly name: string;
  readonly kind: SiteKind;
  readonly nodes: readonly string[];
}

export interface TopologyNode {
  readonly name: string;
  readonly site: string;
  readonly address: string;
  readonly reachable: boolean;
  readonly cordoned: boolean;
  readonly maintenance: boolean;
  /** 1-minute load average (0 when unknown). */
  readonly load: number;
  readonly agentVersion: string;
  /** Capabilities as "area:driver", only those available. */
  readonly capabilities: readonly string[];
  /** Capabilities whose probe failed, with the reason. */
  readonly missingCapabilities: readonly string[];
  /** Seconds since the node became unreachable; 0 while reachable. */
  readonly unreachableForSeconds: number;
  readonly error: string;
}

export interface TopologyVm {
  readonly name: string;
  /** The node the VM runs on (or is defined on when it is not running). */
  readonly node: string;
  readonly state: VmState;
  readonly ip: string;
  readonly resource: string;
  readonly priority: number;
  /** Nodes that report this VM running (more than one breaks an invariant). */
  readonly runningOn: readonly string[];
  /** Nodes announcing the VM's /32. */
  readonly announcedFrom: readonly string[];
  /** True when the state comes from an unreachable node's last report. */
  readonly stale: boolean;
  readonly migrating: boolean;
  /** Unix ms when the state shown last changed (0 if unknown): "down since" for a VM that should run. */
  readonly stateChangedUnixMs: number;
  /** Desired state: the newest intent any node of its pair holds; "" when none was ever set. */
  readonly intent: VmIntent;
  /** Unix ms when that intent was set (0 when none). */
  readonly intentSetUnixMs: number;
  /** Who set it. */
  readonly intentSetBy: string;
  /** For a VM known only from the backup site's registry: when a node last reported it (Unix ms); 0 otherwise. */
  readonly lastSeenUnixMs: number;
}

/** A VM's desired state. */
export type VmIntent = 'running' | 'stopped' | '';

const INTENTS: Record<string, VmIntent> = { DOMAIN_INTENT_RUNNING: 'running', DOMAIN_INTENT_STOPPED: 'stopped' };

/** The newest intent among a VM's definitions (newest wins; equal times: "running", the safer reading). */
export function newestIntent(domains: readonly Pick<Domain__Output, 'intent' | 'intentSetUnixMs' | 'intentSetBy'>[]): { intent: VmIntent; setUnixMs: number; setBy: string } {
  let best: { intent: VmIntent; setUnixMs: number; setBy: string } = { intent: '', setUnixMs: 0, setBy: '' };
  for (const domain of domains) {
    const intent = INTENTS[domain.intent] ?? '';
    if (!intent) continue;
    const at = Number(domain.intentSetUnixMs);
    if (!best.intent || at > best.setUnixMs || (at === best.setUnixMs && intent === 'running')) best = { intent, setUnixMs: at, setBy: domain.intentSetBy };
  }
  return best;
}

export interface TopologyReplica {
  readonly node: string;
  /** "Primary", "Secondary" or "Unknown" (an unreachable node seen from its peers). */
  readonly role: string;
  readonly disk: string;
  /** Replication state towards the diskful peer ("Established", "SyncSource", "Off", ...). */
  readonly replication: string;
  /** Connection state towards the diskful peer ("Connected", "Connecting", ...). */
  readonly connection: string;
  /** True when this replica is connected to its diskful peer. */
  readonly peerReachable: boolean;
  /** True when this replica is the diskless witness. */
  readonly witness: boolean;
  readonly quorum: boolean;
  /**
   * Why DRBD suspended this replica's I/O: "no", or reasons such as "quorum" (a Primary
   * that lost quorum: its VM is frozen though it looks running); "" when unknown (an
   * unreachable node, or an agent that does not report it).
   */
  readonly suspended: string;
  readonly allowTwoPrimaries: boolean;
  /** Resync progress (0-100) while syncing, else 0. */
  readonly syncPercent: number;
  readonly outOfSyncBytes: number;
  /** DRBD's estimate of the seconds a running resync still needs (0 when not syncing). */
  readonly syncEtaSeconds: number;
  /** Unix ms when the connection to the diskful peer last changed state (0 if unknown). */
  readonly connectionChangedUnixMs: number;
  /** True when the node is unreachable and this entry was derived from its peers' view. */
  readonly derived: boolean;
}

export interface TopologyResource {
  readonly name: string;
  readonly vm: string;
  readonly replicas: readonly TopologyReplica[];
  /** Nodes where the resource is Primary. */
  readonly primaries: readonly string[];
  /** True when a diskful replica is not UpToDate or not connected. */
  readonly degraded: boolean;
  /** The data at risk now as an estimated RPO in seconds, against the target (rpo.ts). */
  readonly rpo: RpoEstimate;
}

export interface TopologyAnnouncement {
  readonly prefix: string;
  readonly node: string;
  readonly kind: 'vm' | 'bgp';
  readonly vm: string;
}

export interface TopologyBackup {
  readonly vm: string;
  readonly snapshots: number;
  /** Unix ms of the newest snapshot (0 if none). */
  readonly lastAtMs: number;
  readonly lastSizeBytes: number;
  /** The backup policy covering the VM (cluster file `backups:`), or "" when none. */
  readonly policy: string;
  /** How old the newest backup may be under that policy, in seconds (0 without a policy). */
  readonly maxAgeSeconds: number;
  /** True when a policy covers the VM and its newest backup is older than it allows (or it has none). */
  readonly overdue: boolean;
}

export interface TopologyHealth {
  readonly nodesUp: number;
  readonly nodesDown: number;
  readonly vmsRunning: number;
  /** VMs defined but not running anywhere visible. */
  readonly vmsStopped: number;
  /** VMs whose state is unknown because the node that may run them is unreachable. */
  readonly vmsUnknown: number;
  readonly resourcesDegraded: number;
  readonly resourcesTotal: number;
}

/** The merged cluster: what `hvctl status --json` prints and the console draws. */
export interface Topology {
  readonly cluster: string;
  /** The cluster file's public block ("" when it has none): some node must announce it. */
  readonly publicBlock: string;
  readonly health: TopologyHealth;
  readonly sites: readonly TopologySite[];
  readonly nodes: readonly TopologyNode[];
  readonly vms: readonly TopologyVm[];
  readonly resources: readonly TopologyResource[];
  readonly announcements: readonly TopologyAnnouncement[];
  readonly backups: readonly TopologyBackup[];
}

const VM_STATES: Record<string, VmState> = {
  DOMAIN_STATE_RUNNING: 'running',
  DOMAIN_STATE_PAUSED: 'paused',
  DOMAIN_STATE_SHUTDOWN: 'shutdown',
  DOMAIN_STATE_SHUTOFF: 'shut off',
  DOMAIN_STATE_CRASHED: 'crashed',
};

export function vmState(domain: Domain__Output): VmState {
  return VM_STATES[domain.state] ?? 'unknown';
}

/** True when DRBD reports this replica's I/O suspended (for any reason). */
export function isSuspended(replica: Pick<TopologyReplica, 'suspended'>): boolean {
  return replica.suspended !== '' && replica.suspended !== 'no';
}

function diskPeer(resource: Resource__Output): PeerConnection__Output | undefined {
  return resource.peers.find((peer) => !peer.peerClient) ?? resource.peers[0];
}

function replicaFromOwnView(node: string, resource: Resource__Output): TopologyReplica {
  const peer = resource.client ? resource.peers[0] : diskPeer(resource);
  return {
    node,
    role: resource.role,
    disk: resource.diskState,
    replication: peer?.replicationState ?? 'Off',
    connection: peer?.connectionState ?? 'StandAlone',
    peerReachable: peer?.connectionState === 'Connected',
    witness: resource.client,
    quorum: resource.quorum,
    suspended: resource.suspended,
    allowTwoPrimaries: resource.allowTwoPrimaries,
    syncPercent: peer?.syncPercent ?? 0,
    outOfSyncBytes: Number(peer?.outOfSyncBytes ?? 0),
    syncEtaSeconds: peer?.syncEtaSeconds ?? 0,
    connectionChangedUnixMs: Number(peer?.connectionChangedUnixMs ?? 0),
    derived: false,
  };
}

function replicaFromPeerView(node: string, peer: PeerConnection__Output): TopologyReplica {
  return {
    node,
    role: peer.connectionState === 'Connected' ? peer.peerRole : 'Unknown',
    disk: peer.connectionState === 'Connected' ? peer.peerDiskState : 'DUnknown',
    replication: 'Off',
    connection: 'Unknown',
    peerReachable: false,
    witness: peer.peerClient,
    quorum: false,
    suspended: '',
    allowTwoPrimaries: false,
    syncPercent: 0,
    outOfSyncBytes: 0,
    syncEtaSeconds: 0,
    connectionChangedUnixMs: 0,
    derived: true,
  };
}

/** The registry entry's intent in a domain's shape, to be weighed with the definitions (newest wins). */
function registryIntent(known: KnownVm__Output | undefined): Pick<Domain__Output, 'intent' | 'intentSetUnixMs' | 'intentSetBy'>[] {
  return known ? [{ intent: known.intent, intentSetUnixMs: known.intentSetUnixMs, intentSetBy: known.intentSetBy }] : [];
}

function intentFields(newest: { intent: VmIntent; setUnixMs: number; setBy: string }): Pick<TopologyVm, 'intent' | 'intentSetUnixMs' | 'intentSetBy'> {
  return { intent: newest.intent, intentSetUnixMs: newest.setUnixMs, intentSetBy: newest.setBy };
}

/** One node's entry in the topology (its flags, load, capabilities, reachability). */
export function nodeEntry(connection: NodeConnection, nowMs: number): TopologyNode {
  const info = connection.state?.node;
  const flags = info?.flags;
  const capabilities = info?.capabilities ?? [];
  return {
    name: connection.name,
    site: connection.site,
    address: connection.address,
    reachable: connection.reachable,
    cordoned: flags?.cordoned ?? false,
    maintenance: flags?.maintenance ?? false,
    load: info?.facts?.loadAverage[0] ?? 0,
    agentVersion: info?.agentVersion ?? '',
    capabilities: capabilities.filter((c) => c.available).map((c) => `${c.area}:${c.driver}`),
    missingCapabilities: capabilities.filter((c) => !c.available).map((c) => `${c.area}: ${c.detail}`),
    unreachableForSeconds:
      connection.reachable || connection.unreachableSinceMs === 0 ? 0 : Math.max(0, Math.round((nowMs - connection.unreachableSinceMs) / 1000)),
    error: connection.error,
  };
}

/**
 * Merges every node's view into one topology. Reachable nodes speak for themselves;
 * an unreachable node's replicas are derived from what its peers see (role Unknown,
 * disk DUnknown), and its VMs and announcements from its last report, marked stale. A field
 * that depends on `nowMs` must also be refreshed in topology-memo.ts (the console reuses the rest).
 */
export function buildTopology(snapshot: ClusterSnapshot, nowMs: number = Date.now(), options: { readonly rpoTargetSeconds?: number } = {}): Topology {
  const { cluster } = snapshot;
  const nodes = snapshot.nodes.map((connection) => nodeEntry(connection, nowMs));

  // Resources: own view from reachable nodes, then derived entries for the others.
  const replicas = new Map<string, Map<string, TopologyReplica>>();
  const resourceVm = new Map<string, string>();
  const addReplica = (resource: string, replica: TopologyReplica): void => {
    let byNode = replicas.get(resource);
    if (!byNode) replicas.set(resource, (byNode = new Map()));
    if (!byNode.has(replica.node) || byNode.get(replica.node)?.derived) byNode.set(replica.node, replica);
  };
  for (const connection of snapshot.nodes) {
    if (!connection.reachable || !connection.state) continue;
    for (const resource of connection.state.resources.values()) {
      if (resource.vm) resourceVm.set(resource.name, resource.vm);
      addReplica(resource.name, replicaFromOwnView(connection.name, resource));
    }
  }
  const reachable = new Set(snapshot.nodes.filter((n) => n.reachable).map((n) => n.name));
  for (const connection of snapshot.nodes) {
    if (!connection.reachable || !connection.state) continue;
    for (const resource of connection.state.resources.values()) {
      for (const peer of resource.peers) {
        if (!reachable.has(peer.node)) addReplica(resource.name, replicaFromPeerView(peer.node, peer));
      }
    }
  }
  // Resources only known from an unreachable node's last report.
  for (const connection of snapshot.nodes) {
    if (connection.reachable || !connection.state) continue;
    for (const resource of connection.state.resources.values()) {
      if (!replicas.has(resource.name)) {
        if (resource.vm) resourceVm.set(resource.name, resource.vm);
        addReplica(resource.name, { ...replicaFromOwnView(connection.name, resource), role: 'Unknown', disk: 'DUnknown', derived: true });
      }
    }
  }
  const resources: TopologyResource[] = [...replicas.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, byNode]) => {
      const list = [...byNode.values()].sort((a, b) => Number(a.witness) - Number(b.witness) || a.node.localeCompare(b.node));
      const diskful = list.filter((replica) => !replica.witness);
      return {
        name,
        vm: resourceVm.get(name) ?? '',
        replicas: list,
        primaries: list.filter((replica) => replica.role === 'Primary').map((replica) => replica.node),
        degraded: diskful.length < 2 || diskful.some((replica) => replica.disk !== 'UpToDate' || !replica.peerReachable || isSuspended(replica)),
        rpo: estimateRpo(list, { nowMs, ...(options.rpoTargetSeconds === undefined ? {} : { targetSeconds: options.rpoTargetSeconds }) }),
      };
    });

  // Announcements, from reachable nodes, plus stale ones of unreachable nodes.
  const announcements: TopologyAnnouncement[] = [];
  for (const connection of snapshot.nodes) {
    if (!connection.state) continue;
    for (const announcement of connection.state.announcements.values()) {
      announcements.push({
        prefix: announcement.prefix,
        node: connection.name,
        kind: announcement.kind === 'ANNOUNCEMENT_KIND_BGP' ? 'bgp' : 'vm',
        vm: announcement.vm,
      });
    }
  }
  announcements.sort((a, b) => a.prefix.localeCompare(b.prefix) || a.node.localeCompare(b.node));

  const resourcesByName = new Map(resources.map((resource) => [resource.name, resource]));
  const vmAnnouncers = new Map<string, string[]>();
  for (const announcement of announcements) {
    if (announcement.kind !== 'vm') continue;
    const nodes = vmAnnouncers.get(announcement.prefix) ?? [];
    nodes.push(announcement.node);
    vmAnnouncers.set(announcement.prefix, nodes);
  }

  // VMs: one entry per name; the running definition wins over a stale or stopped one.
  const vmEntries = new Map<string, { domain: Domain__Output; node: string; stale: boolean }[]>();
  for (const connection of snapshot.nodes) {
    if (!connection.state) continue;
    for (const domain of connection.state.domains.values()) {
      const list = vmEntries.get(domain.name) ?? [];
      list.push({ domain, node: connection.name, stale: !connection.reachable });
      vmEntries.set(domain.name, list);
    }
  }
  // The watcher's registry (known_vms of the backup site's agent): the newest entry per VM.
  const registry = new Map<string, KnownVm__Output>();
  for (const connection of snapshot.nodes) {
    if (!connection.state) continue;
    for (const known of connection.state.knownVms.values()) {
      const before = registry.get(known.name);
      if (!before || Number(known.lastSeenUnixMs) > Number(before.lastSeenUnixMs)) registry.set(known.name, known);
    }
  }
  const rank = (entry: { domain: Domain__Output; stale: boolean }): number =>
    (entry.stale ? 2 : 0) + (vmState(entry.domain) === 'running' ? 0 : 1);
  const vms: TopologyVm[] = [...vmEntries.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, list]) => {
      // Running beats stopped beats stale; among equals, the most recent state change wins
      // (the node that last ran a stopped VM, rather than its idle standby definition).
      const best = [...list].sort(
        (a, b) => rank(a) - rank(b) || Number(b.domain.stateChangedUnixMs) - Number(a.domain.stateChangedUnixMs),
      )[0] as (typeof list)[number];
      const ip = best.domain.ip;
      const resourceName = best.domain.resources[0] ?? '';
      // Not running anywhere we can see, but a replica sits on an unreachable node: it may run there.
      const hidden =
        best.stale || vmState(best.domain) === 'running'
          ? undefined
          : resourcesByName.get(resourceName)?.replicas.find((replica) => replica.derived && !replica.witness);
      return {
        name,
        node: hidden?.node ?? best.node,
        state: best.stale || hidden ? 'unknown' : vmState(best.domain),
        ip,
        resource: resourceName,
        priority: best.domain.priority,
        runningOn: list.filter((entry) => !entry.stale && vmState(entry.domain) === 'running').map((entry) => entry.node),
        announcedFrom: vmAnnouncers.get(`${ip}/32`) ?? [],
        stale: best.stale || hidden !== undefined,
        migrating: best.domain.migrating,
        stateChangedUnixMs: Number(best.domain.stateChangedUnixMs),
        ...intentFields(newestIntent([...list.map((entry) => entry.domain), ...registryIntent(registry.get(name))])),
        lastSeenUnixMs: 0,
      };
    });
  // A VM only the registry knows (every node that defines it is down, and this client never
  // heard from them): listed as unknown where it last ran, until an operator forgets it.
  for (const known of registry.values()) {
    if (vmEntries.has(known.name)) continue;
    vms.push({
      name: known.name,
      node: known.lastNode,
      state: 'unknown',
      ip: known.ip,
      resource: known.resource,
      priority: 0,
      runningOn: [],
      announcedFrom: vmAnnouncers.get(`${known.ip}/32`) ?? [],
      stale: true,
      migrating: false,
      stateChangedUnixMs: 0,
      ...intentFields(newestIntent(registryIntent(known))),
      lastSeenUnixMs: Number(known.lastSeenUnixMs),
    });
  }
  vms.sort((a, b) => a.name.localeCompare(b.name));

  // Backups: the newest snapshot per VM, from any node holding the repository.
  const backupsByVm = new Map<string, { count: number; lastAtMs: number; lastSizeBytes: number; ids: Set<string> }>();
  for (const connection of snapshot.nodes) {
    if (!connection.state) continue;
    for (const snap of connection.state.snapshots.values()) {
      const entry = backupsByVm.get(snap.vm) ?? { count: 0, lastAtMs: 0, lastSizeBytes: 0, ids: new Set<string>() };
      if (!entry.ids.has(snap.id)) {
        entry.ids.add(snap.id);
        entry.count += 1;
        const at = Number(snap.timeUnixMs);
        if (at > entry.lastAtMs) {
          entry.lastAtMs = at;
          entry.lastSizeBytes = Number(snap.sizeBytes);
        }
      }
      backupsByVm.set(snap.vm, entry);
    }
  }
  // A VM under a policy is listed even without any backup: that is the most overdue of all.
  if (cluster.backups) {
    for (const vm of vms) if (policyFor(cluster.backups, vm.name) && !backupsByVm.has(vm.name)) backupsByVm.set(vm.name, { count: 0, lastAtMs: 0, lastSizeBytes: 0, ids: new Set() });
  }
  const backups: TopologyBackup[] = [...backupsByVm.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([vm, entry]) => {
      const policy = policyFor(cluster.backups, vm);
      const overdue = policy !== undefined && (entry.lastAtMs === 0 || nowMs - entry.lastAtMs > policy.maxAgeSeconds * 1000);
      return { vm, snapshots: entry.count, lastAtMs: entry.lastAtMs, lastSizeBytes: entry.lastSizeBytes, policy: policy?.name ?? '', maxAgeSeconds: policy?.maxAgeSeconds ?? 0, overdue };
    });

  const sites: TopologySite[] = cluster.sites.map((site) => ({
    name: site.name,
    kind: site.kind,
    nodes: cluster.nodes.filter((node) => node.site === site.name).map((node) => node.name),
  }));

  const running = vms.filter((vm) => vm.state === 'running').length;
  return {
    cluster: cluster.name,
    publicBlock: cluster.publicBlock ?? '',
    health: {
      nodesUp: nodes.filter((node) => node.reachable).length,
      nodesDown: nodes.filter((node) => !node.reachable).length,
      vmsRunning: running,
      vmsStopped: vms.filter((vm) => vm.state !== 'running' && vm.state !== 'unknown').length,
      vmsUnknown: vms.filter((vm) => vm.state === 'unknown').length,
      resourcesDegraded: resources.filter((resource) => resource.degraded).length,
      resourcesTotal: resources.length,
    },
    sites,
    nodes,
    vms,
    resources,
    announcements,
    backups,
  };
}
