import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { Workflow__Output } from '@hvctl/proto';
import type { NodeStateView } from '@hvctl/common';

/** What the metrics are read from, at scrape time only. */
export interface MetricsSource {
  readonly node: string;
  readonly site: string;
  /** The agent's current state (the hub's view). */
  state(): NodeStateView;
  /** Workflows this agent coordinated (running and finished, from its journal). */
  workflows(): Promise<readonly Workflow__Output[]>;
  /** Collect process metrics (CPU, memory, event loop); off where several agents share one process. */
  readonly processMetrics?: boolean;
}

export interface AgentMetrics {
  /** This agent's own registry (never prom-client's global one). */
  readonly registry: Registry;
  /** Counts one finished RPC (called by the gRPC interceptor). */
  countRpc(method: string, code: string): void;
}

/**
 * Resolution of the event-loop lag histogram (`nodejs_eventloop_lag_*`), in ms. Its timer
 * fires this often for the agent's whole life; at prom-client's default of 10 ms it was the
 * idle agent's most frequent wake-up (100 a second, of ~120; docs/benchmarks.md).
 */
export const EVENT_LOOP_LAG_RESOLUTION_MS = 100;

const ROLES = ['Primary', 'Secondary'] as const;
const VM_STATES = ['running', 'paused', 'shutdown', 'shut off', 'crashed'] as const;

const vmState = (state: string): string => state.replace('DOMAIN_STATE_', '').toLowerCase().replace('shutoff', 'shut off');

/**
 * Prometheus metrics of one agent, in a registry of its own. Gauges are computed from the
 * hub's state when scraped (nothing is added to the paths that change state); the RPC
 * counter is the only thing counted as it happens.
 */
export function createAgentMetrics(source: MetricsSource): AgentMetrics {
  const registry = new Registry();
  const node = source.node;
  const gauge = <L extends string>(name: string, help: string, labelNames: readonly L[], collect: (g: Gauge<L>) => void | Promise<void>): Gauge<L> =>
    new Gauge<L>({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        await collect(this);
      },
    });

  gauge('hvctl_node_up', 'Always 1 while the agent answers; a missing series means the scrape failed.', ['node', 'site'], (g) => g.set({ node, site: source.site }, 1));
  gauge('hvctl_node_cordoned', '1 when the node is cordoned (no new VMs or promotions).', ['node'], (g) => g.set({ node }, source.state().node.flags?.cordoned ? 1 : 0));
  gauge('hvctl_node_maintenance', '1 when the node is in maintenance.', ['node'], (g) => g.set({ node }, source.state().node.flags?.maintenance ? 1 : 0));

  gauge('hvctl_drbd_resource_role', 'DRBD role of a resource on this node: 1 for the current role, 0 for the other.', ['node', 'resource', 'role'], (g) => {
    for (const resource of source.state().resources.values()) for (const role of ROLES) g.set({ node, resource: resource.name, role }, resource.role === role ? 1 : 0);
  });
  gauge('hvctl_drbd_disk_state', 'DRBD disk state of a resource on this node (1 for the current state).', ['node', 'resource', 'state'], (g) => {
    for (const resource of source.state().resources.values()) g.set({ node, resource: resource.name, state: resource.diskState }, 1);
  });
  gauge('hvctl_drbd_connection_state', 'DRBD connection state towards each peer (1 for the current state).', ['node', 'resource', 'peer', 'state'], (g) => {
    for (const resource of source.state().resources.values()) {
      for (const peer of resource.peers) g.set({ node, resource: resource.name, peer: peer.node, state: peer.connectionState }, 1);
    }
  });
  gauge('hvctl_drbd_out_of_sync_bytes', 'Bytes a peer lacks of this node\'s replica (DRBD out-of-sync).', ['node', 'resource', 'peer'], (g) => {
    for (const resource of source.state().resources.values()) {
      for (const peer of resource.peers) if (!peer.peerClient) g.set({ node, resource: resource.name, peer: peer.node }, Number(peer.outOfSyncBytes));
    }
  });

  gauge('hvctl_vm_running', '1 when the VM runs on this node, 0 when it is defined here but not running.', ['node', 'vm'], (g) => {
    for (const domain of source.state().domains.values()) g.set({ node, vm: domain.name }, domain.state === 'DOMAIN_STATE_RUNNING' ? 1 : 0);
  });
  gauge('hvctl_vm_state', 'libvirt state of each VM defined on this node (1 for the current state).', ['node', 'vm', 'state'], (g) => {
    for (const domain of source.state().domains.values()) {
      const current = vmState(domain.state);
      for (const state of VM_STATES) g.set({ node, vm: domain.name, state }, current === state ? 1 : 0);
    }
  });

  // Backups: reported by the node that holds the repository (the backup site).
  const newestBackups = (): Map<string, { time: number; size: number; duration: number; count: number }> => {
    const byVm = new Map<string, { time: number; size: number; duration: number; count: number }>();
    for (const snapshot of source.state().snapshots.values()) {
      const entry = byVm.get(snapshot.vm) ?? { time: 0, size: 0, duration: 0, count: 0 };
      entry.count += 1;
      if (Number(snapshot.timeUnixMs) > entry.time) Object.assign(entry, { time: Number(snapshot.timeUnixMs), size: Number(snapshot.sizeBytes), duration: Number(snapshot.durationMs) });
      byVm.set(snapshot.vm, entry);
    }
    return byVm;
  };
  gauge('hvctl_backup_last_success_timestamp_seconds', 'Unix time of the newest backup of each VM in the repository this node holds.', ['vm'], (g) => {
    for (const [vm, entry] of newestBackups()) g.set({ vm }, entry.time / 1000);
  });
  gauge('hvctl_backup_last_size_bytes', 'Size of the newest backup of each VM.', ['vm'], (g) => {
    for (const [vm, entry] of newestBackups()) g.set({ vm }, entry.size);
  });
  gauge('hvctl_backup_last_duration_seconds', 'How long the newest backup of each VM took (0 when not recorded).', ['vm'], (g) => {
    for (const [vm, entry] of newestBackups()) g.set({ vm }, entry.duration / 1000);
  });
  gauge('hvctl_backup_snapshots', 'Snapshots of each VM kept in the repository this node holds.', ['vm'], (g) => {
    for (const [vm, entry] of newestBackups()) g.set({ vm }, entry.count);
  });

  new Counter({
    name: 'hvctl_workflows_total',
    help: 'Workflows this agent coordinated, by kind and outcome (running, succeeded, failed, refused, aborted); from its journal, so it survives restarts.',
    labelNames: ['node', 'kind', 'outcome'],
    registers: [registry],
    async collect() {
      this.reset();
      for (const workflow of await source.workflows()) this.inc({ node, kind: workflow.spec?.kind ?? 'unknown', outcome: workflow.state });
    },
  });
  const rpc = new Counter({
    name: 'hvctl_rpc_requests_total',
    help: 'gRPC calls this agent answered, by full method name and status code.',
    labelNames: ['node', 'method', 'code'],
    registers: [registry],
  });
  if (source.processMetrics !== false) collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: EVENT_LOOP_LAG_RESOLUTION_MS });

  return {
    registry,
    countRpc: (method, code) => rpc.inc({ node, method, code }),
  };
}
