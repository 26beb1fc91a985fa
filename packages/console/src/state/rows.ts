import {
  buildTopology,
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
  readonly nodesDown: number;
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
  readonly events: readonly EventLine[];
  readonly widths: ColumnWidths;
  /** Index of a row id, -1 when absent. */
  indexOf(id: string): number;
}

export const siteId = (name: string): string => `site:${name}`;
export const nodeId = (name: string): string => `node:${name}`;
export const vmId = (name: string): string => `vm:${name}`;

const lastKnown = (connection: NodeConnection, vm: TopologyVm): VmState => {
  const domain = connection.state?.domains.get(vm.name);
  return domain ? vmState(domain) : vm.state;
};

const NAME_ORDER = new Intl.Collator('en', { numeric: true });

const cap = (value: number, min: number, max: number): number => Math.min(max, Math.max(min, value));

/**
 * Flattens a snapshot into the topology rows: each site (cluster-file order), its nodes
 * (cluster-file order), each node's VMs (by name, numbers in numeric order). Pure; `nowMs` only feeds buildTopology
 * (the console computes "unreachable for N s" itself at render time from the connection).
 */
export function buildRowModel(snapshot: ClusterSnapshot, nowMs: number): RowModel {
  const topology = buildTopology(snapshot, nowMs);
  const alerts = findAlerts(topology);
  const vmAlert = new Map<string, Alert['level']>();
  for (const alert of alerts) {
    if (alert.target.startsWith('vm:') && vmAlert.get(alert.target) !== 'bad') vmAlert.set(alert.target, alert.level);
  }
  const resources = new Map(topology.resources.map((resource) => [resource.name, resource]));
  const backups = new Map(topology.backups.map((backup) => [backup.vm, backup]));
  const connections = new Map(snapshot.nodes.map((connection) => [connection.name, connection]));
  const vmsByNode = new Map<string, TopologyVm[]>();
  for (const vm of topology.vms) {
    const list = vmsByNode.get(vm.node);
    if (list) list.push(vm);
    else vmsByNode.set(vm.node, [vm]);
  }
  // Natural order within a node: vm-2 before vm-10.
  for (const list of vmsByNode.values()) list.sort((a, b) => NAME_ORDER.compare(a.name, b.name));
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

  const nodesByName = new Map(topology.nodes.map((node) => [node.name, node]));
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
      nodesDown: siteNodes.filter((node) => !node.reachable).length,
      vms: siteNodes.reduce((sum, node) => sum + (vmsByNode.get(node.name)?.length ?? 0), 0),
    });
    for (const node of siteNodes) {
      const connection = connections.get(node.name) as NodeConnection;
      const vms = vmsByNode.get(node.name) ?? [];
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
        vms: vms.length,
        vmsRunning: vms.filter((vm) => (node.reachable ? vm.state : lastKnown(connection, vm)) === 'running').length,
        backups: connection.state?.snapshots.size ?? 0,
        newestBackupMs,
        stale: !node.reachable,
      });
      for (const vm of vms) {
        const stale = !node.reachable || vm.stale;
        const domain = stale ? connection.state?.domains.get(vm.name) : undefined;
        const resource = resources.get(vm.resource);
        widestVm = Math.max(widestVm, vm.name.length);
        widestIp = Math.max(widestIp, vm.ip.length);
        if (resource) widestRoles = Math.max(widestRoles, rolesSummary(resource).length);
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
    }
  }

  const index = new Map<string, number>();
  rows.forEach((row, i) => index.set(row.id, i));
  return {
    version: snapshot.version,
    snapshot,
    topology,
    rows,
    alerts,
    events: mergeEventLog(snapshot),
    widths: {
      node: cap(widestNode, 4, 20),
      vm: cap(widestVm, 4, 28),
      ip: cap(widestIp, 2, 18),
      roles: cap(widestRoles, 4, 40),
    },
    indexOf: (id) => index.get(id) ?? -1,
  };
}

/**
 * A one-entry memo of buildRowModel: the model is rebuilt only when the snapshot's
 * version (or its cluster file) changes, so key presses and clock ticks reuse it.
 */
export function createRowModelMemo(now: () => number = Date.now): (snapshot: ClusterSnapshot) => RowModel {
  let last: RowModel | undefined;
  return (snapshot) => {
    if (last && (last.snapshot === snapshot || (last.version === snapshot.version && last.snapshot.cluster === snapshot.cluster))) return last;
    last = buildRowModel(snapshot, now());
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
