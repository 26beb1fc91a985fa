import {
  createTopologyMemo,
  vmState,
  type ClusterSnapshot,
  type NodeConnection,
  type SiteKind,
  type Topology,
  type TopologyBackup,
  type TopologyNode,
  type TopologyResource,
  type TopologyVm,
  type VmState,
} from '@hvctl/common';
import { findAlerts, type Alert } from './alerts.js';
import { mergeEventLog, type EventLine } from './event-log.js';
import { rolesSummary } from './format.js';

/** A site heading: `msk (main) 2 nodes, 6 VMs`. */
export interface SiteRow {
  readonly kind: 'site';
  readonly id: string;
  readonly name: string;
  readonly siteKind: SiteKind;
  readonly nodes: number;
  /** Nodes that stopped answering or could not be reached (not the ones still connecting). */
  readonly nodesDown: number;
  /** Nodes that have neither answered nor failed since the console started. */
  readonly nodesConnecting: number;
  readonly vms: number;
}

/** A node under its site, reachable or not. */
export interface NodeRow {
  readonly kind: 'node';
  readonly id: string;
  readonly parent: string;
  readonly node: TopologyNode;
  readonly connection: NodeConnection;
  /** The node of a backup site: the witness and backup repository. */
  readonly witness: boolean;
  /** Announces the public block by BGP. */
  readonly bgp: boolean;
  readonly vms: number;
  readonly vmsRunning: number;
  /** Backup snapshots the node's repository holds (last known), and the newest one's time. */
  readonly backups: number;
  readonly newestBackupMs: number;
  /** Unreachable: everything on this row and under it is last-known state. */
  readonly stale: boolean;
}

/** A VM under the node it runs on (or is defined on). */
export interface VmRow {
  readonly kind: 'vm';
  readonly id: string;
  readonly parent: string;
  readonly vm: TopologyVm;
  readonly resource: TopologyResource | undefined;
  readonly backup: TopologyBackup | undefined;
  readonly stale: boolean;
  /** The VM's state, or for a stale VM the state its unreachable node last reported. */
  readonly lastKnownState: VmState;
  /** The worst alert about this VM, if any. */
  readonly alert: Alert['level'] | undefined;
}

export type Row = SiteRow | NodeRow | VmRow;

/** Column widths measured over the whole list, so that every visible window aligns alike. */
export interface ColumnWidths {
  readonly node: number;
  readonly vm: number;
  readonly ip: number;
  readonly roles: number;
}

/** What the console draws from one snapshot; rebuilt only when the snapshot changes. */
export interface RowModel {
  readonly version: number;
  readonly snapshot: ClusterSnapshot;
  readonly topology: Topology;
  /** The topology tree flattened: site, its nodes, each node's VMs. */
  readonly rows: readonly Row[];
  readonly alerts: readonly Alert[];
  /** Nodes that have neither answered nor failed since the console started: not known to be down. */
  readonly connecting: ReadonlySet<string>;
  readonly events: readonly EventLine[];
  readonly widths: ColumnWidths;
  /** Index of a row id, -1 when absent. */
  indexOf(id: string): number;
}

export const siteId = (name: string): string => `site:${name}`;
export const nodeId = (name: string): string => `node:${name}`;
export const vmId = (name: string): string => `vm:${name}`;

const NO_NODES: ReadonlySet<string> = new Set();

/** The nodes that have neither answered nor failed since the console started. */
function connectingNodes(snapshot: ClusterSnapshot): ReadonlySet<string> {
  let names: Set<string> | undefined;
  for (const connection of snapshot.nodes) if (!connection.settled && !connection.reachable) (names ??= new Set()).add(connection.name);
  return names ?? NO_NODES;
}

const lastKnown = (connection: NodeConnection, vm: TopologyVm): VmState => {
  const domain = connection.state?.domains.get(vm.name);
  return domain ? vmState(domain) : vm.state;
};

const NAME_ORDER = new Intl.Collator('en', { numeric: true });

const cap = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));

const sameLevels = (a: ReadonlyMap<string, Alert['level']>, b: ReadonlyMap<string, Alert['level']>): boolean =>
  a.size === b.size && [...a].every(([target, level]) => b.get(target) === level);

/** One node's VM rows, and what they were built from (compared by identity). */
interface NodeVmRows {
  readonly vms: readonly TopologyVm[];
  readonly reachable: boolean;
  readonly domains: unknown;
  readonly backups: readonly TopologyBackup[];
  readonly vmAlert: ReadonlyMap<string, Alert['level']>;
  readonly rows: readonly VmRow[];
  readonly vmsRunning: number;
  readonly widest: { readonly vm: number; readonly ip: number; readonly roles: number };
}

/**
 * Builds row models for a stream of snapshots, reusing what did not change: the topology
 * (createTopologyMemo) and each node's VM rows while its VMs, their resources, backups and
 * alert levels are the same objects. A cordon or a log line on one of 100 nodes then costs the node rows, not 4,000
 * VM rows. The result equals a fresh `buildRowModel(snapshot, nowMs)`.
 */
export function createRowModelBuilder(): (snapshot: ClusterSnapshot, nowMs: number) => RowModel {
  const topologyOf = createTopologyMemo();
  let alertsMemo: { alerts: readonly Alert[]; vmAlert: ReadonlyMap<string, Alert['level']> } | undefined;
  let byVmMemo: { vms: readonly TopologyVm[]; byNode: ReadonlyMap<string, readonly TopologyVm[]> } | undefined;
  let resourcesMemo: { resources: readonly TopologyResource[]; byName: ReadonlyMap<string, TopologyResource> } | undefined;
  let backupsMemo: { backups: readonly TopologyBackup[]; byVm: ReadonlyMap<string, TopologyBackup> } | undefined;
  let nodeRowsMemo = new Map<string, NodeVmRows>();
  let indexMemo: { ids: readonly string[]; index: ReadonlyMap<string, number> } | undefined;

  return (snapshot, nowMs) => {
    const topology = topologyOf(snapshot, nowMs);
    // Alerts are checked on every build (any part of the topology may raise one); the per-VM
    // levels keep their identity while they are the same, so the VM rows can be reused.
    const connecting = connectingNodes(snapshot);
    const alerts = findAlerts(topology, connecting, nowMs);
    const levels = new Map<string, Alert['level']>();
    for (const alert of alerts) {
      if (alert.target.startsWith('vm:') && levels.get(alert.target) !== 'bad') levels.set(alert.target, alert.level);
    }
    if (!alertsMemo || !sameLevels(alertsMemo.vmAlert, levels)) alertsMemo = { alerts, vmAlert: levels };
    const vmAlert = alertsMemo.vmAlert;
    if (resourcesMemo?.resources !== topology.resources) {
      resourcesMemo = { resources: topology.resources, byName: new Map(topology.resources.map((resource) => [resource.name, resource])) };
    }
    const resources = resourcesMemo.byName;
    if (backupsMemo?.backups !== topology.backups) {
      backupsMemo = { backups: topology.backups, byVm: new Map(topology.backups.map((backup) => [backup.vm, backup])) };
    }
    const backups = backupsMemo.byVm;
    if (byVmMemo?.vms !== topology.vms) {
      const byNode = new Map<string, TopologyVm[]>();
      for (const vm of topology.vms) {
        const list = byNode.get(vm.node);
        if (list) list.push(vm);
        else byNode.set(vm.node, [vm]);
      }
      // Natural order within a node: vm-2 before vm-10.
      for (const list of byNode.values()) list.sort((a, b) => NAME_ORDER.compare(a.name, b.name));
      byVmMemo = { vms: topology.vms, byNode };
    }
    const vmsByNode = byVmMemo.byNode;
    const connections = new Map(snapshot.nodes.map((connection) => [connection.name, connection]));
    const bgpNodes = new Set(topology.announcements.filter((announcement) => announcement.kind === 'bgp').map((announcement) => announcement.node));

    // Sites in cluster-file order; a node naming a site the file does not list gets its own group.
    const sites: { name: string; kind: SiteKind; nodes: string[] }[] = topology.sites.map((site) => ({ name: site.name, kind: site.kind, nodes: [...site.nodes] }));
    const placed = new Set(sites.flatMap((site) => site.nodes));
    for (const node of topology.nodes) {
      if (placed.has(node.name)) continue;
      let site = sites.find((entry) => entry.name === node.site);
      if (!site) sites.push((site = { name: node.site || '?', kind: 'main', nodes: [] }));
      site.nodes.push(node.name);
      placed.add(node.name);
    }

    const vmRowsOf = (node: TopologyNode, connection: NodeConnection): NodeVmRows => {
      const vms = vmsByNode.get(node.name) ?? [];
      const cached = nodeRowsMemo.get(node.name);
      if (
        cached &&
        cached.vms === vms &&
        cached.reachable === node.reachable &&
        cached.domains === connection.state?.domains &&
        cached.backups === topology.backups &&
        cached.vmAlert === vmAlert &&
        cached.rows.every((row) => row.resource === resources.get(row.vm.resource))
      ) {
        return cached;
      }
      const rows: VmRow[] = [];
      const widest = { vm: 0, ip: 0, roles: 0 };
      for (const vm of vms) {
        const stale = !node.reachable || vm.stale;
        const domain = stale ? connection.state?.domains.get(vm.name) : undefined;
        const resource = resources.get(vm.resource);
        widest.vm = Math.max(widest.vm, vm.name.length);
        widest.ip = Math.max(widest.ip, vm.ip.length);
        if (resource) widest.roles = Math.max(widest.roles, rolesSummary(resource).length);
        rows.push({
          kind: 'vm',
          id: vmId(vm.name),
          parent: nodeId(node.name),
          vm,
          resource,
          backup: backups.get(vm.name),
          stale,
          lastKnownState: domain ? vmState(domain) : vm.state,
          alert: vmAlert.get(vmId(vm.name)),
        });
      }
      return {
        vms,
        reachable: node.reachable,
        domains: connection.state?.domains,
        backups: topology.backups,
        vmAlert,
        rows,
        vmsRunning: vms.filter((vm) => (node.reachable ? vm.state : lastKnown(connection, vm)) === 'running').length,
        widest,
      };
    };

    const nodesByName = new Map(topology.nodes.map((node) => [node.name, node]));
    const nextNodeRows = new Map<string, NodeVmRows>();
    const rows: Row[] = [];
    let widestVm = 0;
    let widestIp = 0;
    let widestRoles = 0;
    let widestNode = 0;
    for (const site of sites) {
      const siteNodes = site.nodes.map((name) => nodesByName.get(name)).filter((node): node is TopologyNode => node !== undefined);
      rows.push({
        kind: 'site',
        id: siteId(site.name),
        name: site.name,
        siteKind: site.kind,
        nodes: siteNodes.length,
        nodesDown: siteNodes.filter((node) => !node.reachable && !connecting.has(node.name)).length,
        nodesConnecting: siteNodes.filter((node) => connecting.has(node.name)).length,
        vms: siteNodes.reduce((sum, node) => sum + (vmsByNode.get(node.name)?.length ?? 0), 0),
      });
      for (const node of siteNodes) {
        const connection = connections.get(node.name) as NodeConnection;
        const vmRows = vmRowsOf(node, connection);
        nextNodeRows.set(node.name, vmRows);
        let newestBackupMs = 0;
        for (const snap of connection.state?.snapshots.values() ?? []) newestBackupMs = Math.max(newestBackupMs, Number(snap.timeUnixMs));
        widestNode = Math.max(widestNode, node.name.length);
        rows.push({
          kind: 'node',
          id: nodeId(node.name),
          parent: siteId(site.name),
          node,
          connection,
          witness: site.kind === 'backup',
          bgp: bgpNodes.has(node.name),
          vms: vmRows.vms.length,
          vmsRunning: vmRows.vmsRunning,
          backups: connection.state?.snapshots.size ?? 0,
          newestBackupMs,
          stale: !node.reachable,
        });
        for (const row of vmRows.rows) rows.push(row);
        widestVm = Math.max(widestVm, vmRows.widest.vm);
        widestIp = Math.max(widestIp, vmRows.widest.ip);
        widestRoles = Math.max(widestRoles, vmRows.widest.roles);
      }
    }
    nodeRowsMemo = nextNodeRows;

    // The index only changes when the row ids do (a VM added, moved or removed).
    const sameIds = indexMemo !== undefined && indexMemo.ids.length === rows.length && rows.every((row, i) => (indexMemo as NonNullable<typeof indexMemo>).ids[i] === row.id);
    if (!sameIds || !indexMemo) {
      const index = new Map<string, number>();
      rows.forEach((row, i) => index.set(row.id, i));
      indexMemo = { ids: rows.map((row) => row.id), index };
    }
    const index = indexMemo.index;
    return {
      version: snapshot.version,
      snapshot,
      topology,
      rows,
      alerts,
      connecting,
      events: mergeEventLog(snapshot),
      widths: {
        node: cap(widestNode, 4, 20),
        vm: cap(widestVm, 4, 28),
        ip: cap(widestIp, 2, 18),
        roles: cap(widestRoles, 4, 40),
      },
      indexOf: (id) => index.get(id) ?? -1,
    };
  };
}

/**
 * Flattens a snapshot into the topology rows: each site (cluster-file order), its nodes
 * (cluster-file order), each node's VMs (by name, numbers in numeric order). Pure; `nowMs` only feeds buildTopology
 * (the console computes "unreachable for N s" itself at render time from the connection).
 */
export function buildRowModel(snapshot: ClusterSnapshot, nowMs: number): RowModel {
  return createRowModelBuilder()(snapshot, nowMs);
}

/**
 * A one-entry memo of the row model: rebuilt only when the snapshot's version (or its
 * cluster file) changes, so key presses and clock ticks reuse it; each rebuild reuses what
 * the previous one built where nothing changed (createRowModelBuilder).
 */
export function createRowModelMemo(now: () => number = Date.now): (snapshot: ClusterSnapshot) => RowModel {
  const build = createRowModelBuilder();
  let last: RowModel | undefined;
  return (snapshot) => {
    if (last && (last.snapshot === snapshot || (last.version === snapshot.version && last.snapshot.cluster === snapshot.cluster))) return last;
    last = build(snapshot, now());
    return last;
  };
}

/** The rows of a list window: `start` inclusive, `end` exclusive. */
export interface ListWindow {
  readonly start: number;
  readonly end: number;
}

/**
 * The window of `height` rows to draw, starting near `top`, moved as little as possible so
 * that `selected` is visible. Pure; the reducer stores the returned start as the new top.
 */
export function visibleWindow(total: number, selected: number, height: number, top: number): ListWindow {
  if (height <= 0 || total <= 0) return { start: 0, end: 0 };
  let start = cap(top, 0, Math.max(0, total - height));
  if (selected >= 0 && selected < start) start = selected;
  if (selected >= start + height) start = selected - height + 1;
  return { start, end: Math.min(total, start + height) };
}
