/**
 * Reads the cluster the way `hvctl status --json`, `hvctl workflows --json` and `hvctl
 * check --json` do — the same public client library (@hvctl/common: ClusterModel,
 * buildTopology, the agents' ListLeases/ListWorkflows, checkInvariants) — but inside the
 * campaign's process: starting a CLI costs about a second of CPU, and the campaign samples
 * the cluster every half second while it waits for convergence. The faults and the operator
 * actions still go through the CLI; the campaign also runs the real `hvctl check --json`
 * and `status --json` at the end, so the CLI's reads are exercised too.
 */
import { ClusterModel, buildTopology, checkInvariants, clusterConnector, deadline, loadClusterFile, unary, type ClusterFile, type Topology } from '@hvctl/common';
import type { Lease__Output, ListLeasesResponse__Output, ListWorkflowsResponse__Output, Workflow__Output } from '@hvctl/proto';
import type { CheckJson, StatusJson, WorkflowJson } from './checks.js';

/** How long a read waits for slow or dead agents (the CLI's default). */
const READ_TIMEOUT_MS = 2000;

export interface Observation {
  readonly status: StatusJson & Pick<Topology, 'sites'>;
  readonly check: CheckJson;
  readonly workflows: readonly WorkflowJson[];
}

export interface Observer {
  observe(): Promise<Observation>;
}

/** Every item `read` returns from each agent that answers, and which agents answered. */
async function fromEveryAgent<T>(cluster: ClusterFile, read: (node: string, address: string) => Promise<T[]>): Promise<{ items: { item: T; from: string }[]; reachable: Set<string> }> {
  const items: { item: T; from: string }[] = [];
  const reachable = new Set<string>();
  await Promise.all(
    cluster.nodes.map(async (entry) => {
      try {
        for (const item of await read(entry.name, entry.address)) items.push({ item, from: entry.name });
        reachable.add(entry.name);
      } catch {
        // Unreachable: it stays out of `reachable`.
      }
    }),
  );
  return { items, reachable };
}

/** One workflow per id: the coordinator's own record wins, else the copy with the most steps done (as `hvctl workflows`). */
function mergeWorkflows(entries: readonly { item: Workflow__Output; from: string }[]): Workflow__Output[] {
  const done = (workflow: Workflow__Output): number => workflow.steps.filter((step) => step.state === 'done').length;
  const merged = new Map<string, { item: Workflow__Output; from: string }>();
  for (const entry of entries) {
    const known = merged.get(entry.item.id);
    const knownOwn = known !== undefined && known.item.coordinator === known.from;
    if (!known || (entry.item.coordinator === entry.from && !knownOwn) || (!knownOwn && done(entry.item) > done(known.item))) merged.set(entry.item.id, entry);
  }
  return [...merged.values()].map((entry) => entry.item);
}

export async function createObserver(clusterPath: string): Promise<Observer> {
  const cluster = await loadClusterFile(clusterPath);
  const connect = clusterConnector(cluster);
  const call = async <T>(address: string, read: (client: ReturnType<typeof connect>) => Promise<T>): Promise<T> => {
    const client = connect(address);
    try {
      return await read(client);
    } finally {
      client.close();
    }
  };
  return {
    observe: async () => {
      const model = new ClusterModel({ cluster, connect });
      model.start();
      const topologyRead = model.whenSettled(READ_TIMEOUT_MS).then((snapshot) => buildTopology(snapshot));
      const leasesRead = fromEveryAgent<Lease__Output>(cluster, (_, address) =>
        call(address, async (client) => (await unary<ListLeasesResponse__Output>('ListLeases', (cb) => client.leases.listLeases({}, deadline(READ_TIMEOUT_MS), cb))).leases),
      );
      const workflowsRead = fromEveryAgent<Workflow__Output>(cluster, (_, address) =>
        call(address, async (client) => (await unary<ListWorkflowsResponse__Output>('ListWorkflows', (cb) => client.workflows.listWorkflows({}, deadline(READ_TIMEOUT_MS), cb))).workflows),
      );
      try {
        const [topology, leases, workflows] = await Promise.all([topologyRead, leasesRead, workflowsRead]);
        const merged = mergeWorkflows(workflows.items);
        const report = checkInvariants(
          topology,
          leases.items.map((entry) => ({ ...entry.item, on: entry.from })),
          merged,
        );
        return {
          status: topology,
          check: { ok: report.violations.length === 0, ...report },
          workflows: merged.map((workflow) => ({
            id: workflow.id,
            state: workflow.state,
            orphaned: workflow.state === 'running' && !workflows.reachable.has(workflow.coordinator),
            coordinator: workflow.coordinator,
            createdUnixMs: Number(workflow.createdUnixMs),
            spec: { kind: workflow.spec?.kind ?? '?' },
          })),
        };
      } finally {
        model.stop();
      }
    },
  };
}
