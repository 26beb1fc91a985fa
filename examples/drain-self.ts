/**
 * An unattended update, scripted against the hvctl.v1 API: drain the host this runs on,
 * wait for the drain, run the update command, then undrain and bring the VMs back.
 *
 *   npx tsx examples/drain-self.ts --agent 127.0.0.1:7401 -- apt-get -y upgrade
 *
 * Exit codes: 0 done,
 * 3 the drain was refused (nothing changed), 4 a workflow failed, 1 the update failed
 * (the node stays drained for a person to look at).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { GetInfoResponse__Output, SubmitResponse__Output, WatchWorkflowResponse__Output, Workflow__Output, WorkflowSpec } from '@hvctl/proto';
import { createAgentClient, deadline, unary, type AgentClient } from '@hvctl/common';

function argument(name: string, fallback: string): string {
  const index = process.argv.indexOf(name);
  return index >= 0 ? (process.argv[index + 1] ?? fallback) : fallback;
}

/** Submits a workflow to this agent and follows it to its end. */
async function run(agent: AgentClient, spec: WorkflowSpec): Promise<Workflow__Output> {
  const { workflow } = await unary<SubmitResponse__Output>('Submit', (cb) =>
    agent.workflows.submit({ requestId: `update-${randomBytes(6).toString('hex')}`, spec, owner: `update@${hostname()}` }, deadline(30_000), cb),
  );
  if (!workflow) throw new Error('no workflow returned');
  process.stderr.write(`${workflow.id}: ${workflow.plan?.title}\n`);
  return new Promise((resolve, reject) => {
    let last: Workflow__Output = workflow;
    const stream = agent.workflows.watchWorkflow({ id: workflow.id });
    stream.on('data', (message: WatchWorkflowResponse__Output) => {
      if (!message.workflow) return;
      for (const step of message.workflow.steps) {
        const before = last.steps.find((s) => s.id === step.id);
        if (step.state !== before?.state && step.state !== 'pending') process.stderr.write(`  ${step.state.padEnd(7)} ${step.id} ${step.detail}\n`);
      }
      last = message.workflow;
    });
    stream.on('end', () => resolve(last));
    stream.on('error', reject);
  });
}

async function main(): Promise<number> {
  const agent = createAgentClient(argument('--agent', '127.0.0.1:7400'));
  const separator = process.argv.indexOf('--');
  const update = separator >= 0 ? process.argv.slice(separator + 1) : [];
  try {
    const { node } = await unary<GetInfoResponse__Output>('GetInfo', (cb) => agent.node.getInfo({}, deadline(), cb));
    const self = node?.name ?? '';
    const drained = await run(agent, { drain: { node: self, parallel: 2, skipUnmovable: false } });
    if (drained.state === 'refused') return 3;
    if (drained.state !== 'succeeded') return 4;
    if (update.length) {
      // argv array, no shell: the update command is run exactly as given.
      const result = spawnSync(update[0] as string, update.slice(1), { stdio: 'inherit' });
      if (result.status !== 0) {
        process.stderr.write(`update failed (exit ${result.status}); ${self} stays drained\n`);
        return 1;
      }
    }
    const undrained = await run(agent, { undrain: { node: self, returnVms: true } });
    return undrained.state === 'succeeded' ? 0 : 4;
  } finally {
    agent.close();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).message}\n`);
    process.exit(1);
  },
);
