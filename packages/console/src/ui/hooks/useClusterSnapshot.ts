import type { AgentClient, ClusterSnapshot } from '@hvctl/common';
import { useCallback, useSyncExternalStore } from 'react';

/** Where the console gets cluster snapshots from (ClusterModel implements it). */
export interface ClusterSource {
  snapshot(): ClusterSnapshot;
  subscribe(listener: (snapshot: ClusterSnapshot) => void): () => void;
  /**
   * The client of one agent, to plan, submit, watch and abort workflows (ClusterModel's
   * pooled clients; the console never closes them). Without it the console only watches:
   * a workflow's plan screen says there is no connection.
   */
  client?(node: string): AgentClient | undefined;
}

/**
 * The latest snapshot of `source`. Live data stays outside React: the component re-renders
 * only when the source publishes a new (immutable) snapshot.
 */
export function useClusterSnapshot(source: ClusterSource): ClusterSnapshot {
  const subscribe = useCallback((onChange: () => void) => source.subscribe(() => onChange()), [source]);
  const getSnapshot = useCallback(() => source.snapshot(), [source]);
  return useSyncExternalStore(subscribe, getSnapshot);
}
