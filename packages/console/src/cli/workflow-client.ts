import { randomBytes } from 'node:crypto';
import type {
  PlanResponse__Output,
  Plan__Output,
  SubmitResponse__Output,
  WatchWorkflowResponse__Output,
  Workflow__Output,
  WorkflowSpec,
} from '@hvctl/proto';
import { clusterConnector, deadline, fromServiceError, unary, type AgentClient, type ClusterFile } from '@hvctl/common';

/** Exit codes of workflow commands, distinct so scripts can tell outcomes apart. */
export const EXIT = {
  succeeded: 0,
  error: 1,
  invalid: 2,
  refused: 3,
  failed: 4,
  interrupted: 5,
} as const;

export function exitCodeFor(state: string): number {
  switch (state) {
    case 'succeeded':
      return EXIT.succeeded;
    case 'refused':
      return EXIT.refused;
    case 'failed':
      return EXIT.failed;
    default:
      return EXIT.interrupted;
  }
}

export function clientFor(cluster: ClusterFile, node: string): AgentClient {
  const entry = cluster.nodes.find((candidate) => candidate.name === node);
  if (!entry) throw new Error(`${node} is not in the cluster file`);
  return clusterConnector(cluster)(entry.address);
}

export async function planOn(client: AgentClient, spec: WorkflowSpec): Promise<Plan__Output> {
  const { plan } = await unary<PlanResponse__Output>('Plan', (cb) => client.workflows.plan({ spec }, deadline(15_000), cb));
  if (!plan) throw new Error('the coordinator returned no plan');
  return plan;
}

export async function submitOn(client: AgentClient, spec: WorkflowSpec, owner: string): Promise<Workflow__Output> {
  const requestId = `cli-${randomBytes(6).toString('hex')}`;
  const { workflow } = await unary<SubmitResponse__Output>('Submit', (cb) => client.workflows.submit({ requestId, spec, owner }, deadline(30_000), cb));
  if (!workflow) throw new Error('the coordinator returned no workflow');
  return workflow;
}

/**
 * Follows a workflow until it ends, re-attaching when the coordinator's stream breaks
 * (a restarted coordinator resumes the workflow; the watch picks it up again). Resolves
 * with the final state, or with the last state seen once `giveUpMs` passed without a
 * coordinator answering.
 */
export async function follow(
  client: AgentClient,
  id: string,
  onUpdate: (workflow: Workflow__Output) => void,
  onLost: (reason: string) => void,
  giveUpMs = 120_000,
): Promise<Workflow__Output | undefined> {
  let last: Workflow__Output | undefined;
  let lostSince = 0;
  for (;;) {
    const ended = await new Promise<{ done: boolean; error?: string }>((resolve) => {
      const stream = client.workflows.watchWorkflow({ id });
      stream.on('data', (message: WatchWorkflowResponse__Output) => {
        if (!message.workflow) return;
        lostSince = 0;
        last = message.workflow;
        onUpdate(message.workflow);
      });
      stream.on('error', (error) => resolve({ done: false, error: fromServiceError(error, 'watch').message }));
      stream.on('end', () => resolve({ done: true }));
    });
    if (ended.done && last && last.state !== 'running') return last;
    if (!lostSince) {
      lostSince = Date.now();
      onLost(ended.error ?? 'the watch stream ended while the workflow was running');
    }
    if (Date.now() - lostSince > giveUpMs) return last;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
