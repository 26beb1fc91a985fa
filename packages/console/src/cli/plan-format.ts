import type { Plan__Output, Workflow__Output } from '@hvctl/proto';

/** A plan as text for people: steps with node, command and what is verified. */
export function formatPlan(plan: Plan__Output): string {
  const lines = [`Plan: ${plan.title}`];
  if (plan.evidence.length) {
    lines.push('Evidence:');
    for (const item of plan.evidence) lines.push(`  ${item.supportsLoss ? '+' : '-'} [${item.source}] ${item.fact}`);
  }
  for (const warning of plan.warnings) lines.push(`Warning: ${warning}`);
  plan.steps.forEach((step, index) => {
    lines.push(`${String(index + 1).padStart(3)}. [${step.phase}] ${step.title}`);
    lines.push(`       on ${step.node}: ${step.command}`);
    if (step.preconditions.length) lines.push(`       requires: ${step.preconditions.join('; ')}`);
    lines.push(`       verifies: ${step.verify}`);
  });
  lines.push(`Leases: ${[...plan.nodes.map((n) => `node/${n}`), ...plan.resources.map((r) => `resource/${r}`)].join(', ')}`);
  return lines.join('\n');
}

/** One line per step that changed state since `previous`. */
export function stepChanges(previous: Workflow__Output | undefined, current: Workflow__Output): string[] {
  const lines: string[] = [];
  for (const step of current.steps) {
    const before = previous?.steps.find((candidate) => candidate.id === step.id);
    if (before?.state === step.state) continue;
    if (step.state === 'pending') continue;
    const title = current.plan?.steps.find((candidate) => candidate.id === step.id)?.title ?? step.id;
    const mark = step.state === 'done' ? 'ok  ' : step.state === 'running' ? '..  ' : step.state === 'failed' ? 'FAIL' : step.state;
    lines.push(`${mark} ${title}${step.detail && step.state !== 'running' ? ` — ${step.detail}` : ''}`);
  }
  return lines;
}

/** The end of a workflow for people: state, error, timings, summary. */
export function formatResult(workflow: Workflow__Output): string {
  const lines = [`Workflow ${workflow.id} ${workflow.state.toUpperCase()}${workflow.error ? `: ${workflow.error}` : ''}`];
  if (workflow.timings.length) {
    lines.push(`Timings: ${workflow.timings.map((t) => `${t.phase} ${(Number(t.durationMs) / 1000).toFixed(1)}s`).join(', ')}`);
  }
  for (const line of workflow.summary) lines.push(`  ${line}`);
  return lines.join('\n');
}
