import type { AgentClient, ClusterSnapshot } from '@hvctl/common';
import { useMemo, useSyncExternalStore } from 'react';
import { paceSnapshots, type SnapshotSource } from './paced-source.js';

/** Where the console gets cluster snapshots from (ClusterModel implements it). */
export interface ClusterSource extends SnapshotSource {
  /**
   * The client of one agent, to plan, submit, watch and abort workflows (ClusterModel's
   * pooled clients; the console never closes them). Without it the console only watches:
   * a workflow's plan screen says there is no connection.
   */
  client?(node: string): AgentClient | undefined;
}

/**
 * The snapshot of `source` the console draws. Live data stays outside React: the component
 * re-renders only when a new (immutable) snapshot is adopted, at most once per
 * ADOPT_INTERVAL_MS, less often while the agents are still connecting (paced-source.ts);
 * key presses re-render at once with the adopted one.
 */
export function useClusterSnapshot(source: ClusterSource): ClusterSnapshot {
  const paced = useMemo(() => paceSnapshots(source, { settled: (snapshot) => snapshot.nodes.every((node) => node.settled) }), [source]);
  return useSyncExternalStore(paced.subscribe, paced.snapshot);
}
