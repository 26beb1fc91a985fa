import { ClusterModel, buildTopology, clusterConnector, type ClusterFile, type Topology } from '@hvctl/common';
import { age, bytes, table } from './format.js';

/** Connects to every agent, waits for each first snapshot (or failure), returns the topology. */
export async function fetchTopology(cluster: ClusterFile, timeoutMs: number): Promise<Topology> {
  const model = new ClusterModel({ cluster, connect: clusterConnector(cluster) });
  model.start();
  try {
    const snapshot = await model.whenSettled(timeoutMs);
    return buildTopology(snapshot);
  } finally {
    model.stop();
  }
}

function replicaText(topology: Topology, resourceName: string): string {
  const resource = topology.resources.find((candidate) => candidate.name === resourceName);
  if (!resource) return '-';
  return resource.replicas
    .filter((replica) => !replica.witness)
    .sort((a, b) => Number(b.role === 'Primary') - Number(a.role === 'Primary'))
    .map((replica) => {
      const sync = replica.replication.startsWith('Sync') ? ` ${replica.replication} ${replica.syncPercent.toFixed(1)}%` : '';
      return `${replica.role[0] ?? '?'}:${replica.node} ${replica.disk}${sync}${replica.peerReachable ? '' : ' (peer lost)'}`;
    })
    .join(', ') + rpoText(resource);
}

/** " RPO 42s" (with "over target" past it) for a resource with data at risk; empty when in sync. */
function rpoText(resource: Topology['resources'][number]): string {
  const { rpo } = resource;
  if (rpo.reason === 'in-sync' || (rpo.seconds === 0 && !rpo.overTarget)) return '';
  return ` RPO ${rpo.seconds === null ? '?' : age(rpo.seconds)}${rpo.overTarget ? ` over the ${rpo.targetSeconds}s target` : ''}`;
}

/** The human-readable status report. */
export function formatStatus(topology: Topology, nowMs: number = Date.now()): string {
  const { health } = topology;
  const lines: string[] = [];
  lines.push(
    `cluster ${topology.cluster}: nodes ${health.nodesUp} up, ${health.nodesDown} down; ` +
      `VMs ${health.vmsRunning} running, ${health.vmsStopped} stopped, ${health.vmsUnknown} unknown; ` +
      `resources ${health.resourcesDegraded}/${health.resourcesTotal} degraded`,
  );
  lines.push('');
  lines.push(
    table(
      ['NODE', 'SITE', 'STATE', 'FLAGS', 'LOAD', 'ADDRESS'],
      topology.nodes.map((node) => [
        node.name,
        node.site,
        node.reachable ? 'up' : `UNREACHABLE${node.unreachableForSeconds ? ` ${age(node.unreachableForSeconds)}` : ''}`,
        [node.cordoned ? 'cordoned' : '', node.maintenance ? 'maintenance' : ''].filter(Boolean).join(',') || '-',
        node.reachable ? node.load.toFixed(2) : '-',
        node.address,
      ]),
    ),
  );
  lines.push('');
  lines.push(
    table(
      ['VM', 'NODE', 'STATE', 'IP', '/32 FROM', 'DISK REPLICAS'],
      topology.vms.map((vm) => [
        vm.name,
        vm.node,
        vm.stale ? `${vm.state} (stale)` : vm.runningOn.length > 1 ? `RUNNING TWICE: ${vm.runningOn.join('+')}` : vm.state,
        vm.ip,
        vm.announcedFrom.join(',') || '-',
        replicaText(topology, vm.resource),
      ]),
    ),
  );
  const bgp = topology.announcements.filter((announcement) => announcement.kind === 'bgp');
  lines.push('');
  lines.push(`public block: ${bgp.length ? bgp.map((a) => `${a.prefix} from ${a.node}`).join(', ') : 'NOT ANNOUNCED'}`);
  if (topology.backups.length) {
    const oldest = Math.min(...topology.backups.map((backup) => backup.lastAtMs));
    const total = topology.backups.reduce((sum, backup) => sum + backup.lastSizeBytes, 0);
    lines.push(`backups: ${topology.backups.length} VMs backed up; oldest last backup ${age((nowMs - oldest) / 1000)} ago; ${bytes(total)} in latest snapshots`);
  }
  const unreachable = topology.nodes.filter((node) => !node.reachable);
  for (const node of unreachable) lines.push(`! ${node.name} unreachable: ${node.error}`);
  return lines.join('\n');
}
