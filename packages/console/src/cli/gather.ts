import type { Lease__Output, ListLeasesResponse__Output, ListWorkflowsResponse__Output, Workflow__Output } from '@hvctl/proto';
import { deadline, unary, type ClusterFile } from '@hvctl/common';
import { clientFor } from './workflow-client.js';

/** A lease and the agent that holds it. */
export type HeldLease = Lease__Output & { readonly on: string };

export interface Gathered<T> {
  readonly items: T[];
  /** Nodes that answered. */
  readonly reachable: ReadonlySet<string>;
}

async function fromEveryAgent<T>(cluster: ClusterFile, read: (node: string) => Promise<T[]>): Promise<Gathered<T>> {
  const items: T[] = [];
  const reachable = new Set<string>();
  await Promise.all(
    cluster.nodes.map(async (entry) => {
      try {
        items.push(...(await read(entry.name)));
        reachable.add(entry.name);
      } catch {
        // unreachable: reported through `reachable`
      }
    }),
  );
  return { items, reachable };
}

/** Every lease held on every reachable agent. */
export function gatherLeases(cluster: ClusterFile): Promise<Gathered<HeldLease>> {
  return fromEveryAgent(cluster, async (node) => {
    const client = clientFor(cluster, node);
    try {
      const { leases } = await unary<ListLeasesResponse__Output>('ListLeases', (cb) => client.leases.listLeases({}, deadline(2000), cb));
      return leases.map((lease) => ({ ...lease, on: node }));
    } finally {
      client.close();
    }
  });
}

/**
 * Every workflow any reachable agent coordinates or holds a journal copy of, one entry
 * per id: the coordinator's own record wins, else the copy with the most steps done.
 */
export async function gatherWorkflows(cluster: ClusterFile): Promise<Gathered<Workflow__Output>> {
  const all = await fromEveryAgent(cluster, async (node) => {
    const client = clientFor(cluster, node);
    try {
      const { workflows } = await unary<ListWorkflowsResponse__Output>('ListWorkflows', (cb) => client.workflows.listWorkflows({}, deadline(2000), cb));
      return workflows.map((workflow) => ({ workflow, from: node }));
    } finally {
      client.close();
    }
  });
  const done = (workflow: Workflow__Output): number => workflow.steps.filter((step) => step.state === 'done').length;
  const merged = new Map<string, { workflow: Workflow__Output; from: string }>();
  for (const entry of all.items) {
    const known = merged.get(entry.workflow.id);
    const own = entry.workflow.coordinator === entry.from;
    if (!known || (own && known.workflow.coordinator !== known.from) || (!(known.workflow.coordinator === known.from) && done(entry.workflow) > done(known.workflow))) {
      merged.set(entry.workflow.id, entry);
    }
  }
  const items = [...merged.values()].map((entry) => entry.workflow).sort((a, b) => Number(b.createdUnixMs) - Number(a.createdUnixMs));
  return { items, reachable: all.reachable };
}

/** A running workflow whose coordinator does not answer. */
export function isOrphan(workflow: Workflow__Output, reachable: ReadonlySet<string>): boolean {
  return workflow.state === 'running' && !reachable.has(workflow.coordinator);
}
