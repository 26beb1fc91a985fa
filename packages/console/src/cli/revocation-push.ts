import { HvctlError, clusterConnector, deadline, unary, type ClusterFile, type RevocationList } from '@hvctl/common';

/** What one agent answered to a pushed revocation list. */
export interface PushResult {
  readonly node: string;
  readonly ok: boolean;
  /** The list number the agent enforces after the push (when ok). */
  readonly number?: number;
  /** False when the agent already held this list. */
  readonly changed?: boolean;
  /** Why the agent refused or could not be reached. */
  readonly error?: string;
  readonly status?: string;
}

/**
 * Sends a CA-signed revocation list to every agent of the cluster
 * (SecurityService.UpdateRevocations, admin only), all at once; never throws for one
 * agent's failure: each result says what that agent did.
 */
export async function pushRevocations(cluster: ClusterFile, list: RevocationList, timeoutMs = 5000): Promise<PushResult[]> {
  const connect = clusterConnector(cluster);
  const text = JSON.stringify(list);
  return Promise.all(
    cluster.nodes.map(async (node): Promise<PushResult> => {
      const client = connect(node.address);
      try {
        const reply = await unary<{ number: number | string; changed: boolean }>(`UpdateRevocations on ${node.name}`, (callback) =>
          client.security.updateRevocations({ list: text }, deadline(timeoutMs), callback),
        );
        return { node: node.name, ok: true, number: Number(reply.number), changed: reply.changed };
      } catch (error) {
        const status = error instanceof HvctlError ? error.code : 'UNKNOWN';
        return { node: node.name, ok: false, status, error: (error as Error).message };
      } finally {
        client.close();
      }
    }),
  );
}

/** One line per agent, for people. */
export function formatPushResults(results: readonly PushResult[], number: number | undefined): string {
  return results
    .map((result) =>
      result.ok
        ? `${result.node}: ${result.changed ? `now enforces list ${result.number}` : `already enforced list ${result.number}`}`
        : `${result.node}: NOT updated (${result.status}: ${result.error})`,
    )
    .concat(results.some((result) => !result.ok) ? [`next: fix the agents above and run \`hvctl certs push\` again (list ${number ?? 0}); until then they accept what the list revokes`] : [])
    .join('\n');
}
