import type { PlanStep__Output, Plan__Output, StepState__Output, Workflow__Output } from '@hvctl/proto';
import { fit, formatSeconds, seg, wrapText, type Line, type Segment, type Tone } from '../../state/format.js';
import { WIDE_COLUMNS } from '../../state/layout.js';
import { isRunning, stepTitle, type Execution, type PlanScreen, type WorkflowProblem } from '../../state/workflow.js';

/**
 * What the plan screen and the execution view draw, as plain lines (tested without
 * rendering). `frame` is the spinner's current glyph, so these stay pure.
 */

const line = (...segments: Segment[]): Line => ({ segments });
const blank: Line = { segments: [] };

/** Text wrapped under a prefix: the first line starts with `first`, the rest are indented as wide. */
function wrapped(first: readonly Segment[], text: string, tone: Tone, width: number, bold = false): Line[] {
  const indent = first.reduce((sum, entry) => sum + [...entry.text].length, 0);
  const parts = wrapText(text, Math.max(8, width - indent));
  return parts.map((part, index) => line(...(index === 0 ? first : [seg(' '.repeat(indent))]), seg(part, tone, bold)));
}

const PROBLEM_HEADINGS: Readonly<Record<string, string>> = {
  FAILED_PRECONDITION: 'Refused',
  INVALID_ARGUMENT: 'Refused: invalid request',
  NOT_FOUND: 'Refused: not found',
  ALREADY_EXISTS: 'Refused: already exists',
  PERMISSION_DENIED: 'Refused: not allowed',
  UNAUTHENTICATED: 'Refused: not authenticated',
  UNIMPLEMENTED: 'Not supported by the coordinator',
  UNAVAILABLE: 'Coordinator unavailable',
  DEADLINE_EXCEEDED: 'No answer from the coordinator',
};

/** A refusal or failure: heading, message, what was left unchanged, next steps. */
export function problemLines(problem: WorkflowProblem, coordinator: string | undefined, width: number): Line[] {
  const heading = `${PROBLEM_HEADINGS[problem.code] ?? 'Error'}${coordinator ? ` (coordinator ${coordinator})` : ''}`;
  const lines = [line(seg(`✗ ${heading}`, 'bad', true)), ...wrapped([seg('  ')], problem.message, 'bad', width)];
  lines.push(
    problem.unchanged
      ? line(seg('  Nothing was changed.', 'ok', true))
      : line(seg('  The cluster may have changed: the coordinator did not confirm.', 'warn', true)),
  );
  for (const step of problem.nextSteps) lines.push(...wrapped([seg('  Next: ', 'muted')], step, 'normal', width));
  return lines;
}

function stepLines(step: PlanStep__Output, index: number, numberWidth: number, phaseWidth: number, width: number): Line[] {
  const number = seg(`${String(index + 1).padStart(numberWidth)} `, 'muted');
  const phase = seg(`${fit(step.phase, phaseWidth)} `, 'accent');
  const indent = numberWidth + 1 + phaseWidth + 1;
  const pad = seg(' '.repeat(indent));
  const lines = wrapped([number, phase], step.title, 'normal', width, true);
  // The exact command an operator would type, prefixed with where: `spb-1 $ drbdadm primary r-web-1`.
  lines.push(...wrapped([pad, seg(`${step.node} $ `, 'info')], step.command || '(no command: reads state only)', 'normal', width));
  if (width >= WIDE_COLUMNS) {
    if (step.preconditions.length) lines.push(...wrapped([pad, seg('requires: ', 'muted')], step.preconditions.join('; '), 'muted', width));
    if (step.verify) lines.push(...wrapped([pad, seg('verifies: ', 'muted')], step.verify, 'muted', width));
  }
  return lines;
}

/**
 * A plan for people: title, coordinator, evidence, warnings, then every step with its
 * command. A failover's evidence is marked for or against the loss; other workflows'
 * evidence (a failback's record of the failover) is just listed.
 */
export function planContentLines(plan: Plan__Output, coordinator: string | undefined, width: number, failover = false): Line[] {
  const lines: Line[] = [...wrapped([], plan.title, 'normal', width, true)];
  const leases = [...plan.nodes.map((node) => `node/${node}`), ...plan.resources.map((resource) => `resource/${resource}`)];
  const facts = [coordinator ? `coordinator ${coordinator}` : '', `${plan.steps.length} steps`, leases.length ? `leases ${leases.join(' ')}` : ''].filter(Boolean);
  lines.push(...wrapped([], facts.join(' · '), 'muted', width));
  if (plan.evidence.length) {
    lines.push(blank, line(seg('Evidence', 'accent', true), seg(failover ? '  (+ supports the loss, - speaks against it)' : '', 'muted')));
    for (const item of plan.evidence) {
      const mark = failover ? seg(item.supportsLoss ? '  + ' : '  - ', item.supportsLoss ? 'warn' : 'ok', true) : seg('  · ', 'muted');
      lines.push(...wrapped([mark, seg(`${item.source}: `, 'muted')], item.fact, 'normal', width));
    }
  }
  if (plan.warnings.length) {
    lines.push(blank, line(seg('Warnings', 'warn', true)));
    for (const warning of plan.warnings) lines.push(...wrapped([seg('  ! ', 'warn', true)], warning, 'warn', width));
  }
  lines.push(blank, line(seg('Steps', 'accent', true), seg('  (phase, what, then where and the command it maps to)', 'muted')));
  const numberWidth = String(plan.steps.length).length + 2;
  const phaseWidth = Math.min(10, Math.max(5, ...plan.steps.map((step) => step.phase.length)));
  plan.steps.forEach((step, index) => lines.push(...stepLines(step, index, numberWidth, phaseWidth, width)));
  return lines;
}

/** The plan screen's scrolling part. */
export function planLines(screen: PlanScreen, width: number, frame: string): Line[] {
  const lines: Line[] = [];
  if (screen.status === 'loading') {
    lines.push(line(seg(`${frame} `, 'accent', true), seg(`Planning: ${screen.request.label}…`, 'normal', true)));
    lines.push(...wrapped([seg('  ')], 'The coordinator reads live state and plans; nothing changes until you run the plan.', 'muted', width));
    return lines;
  }
  if (screen.problem) lines.push(...problemLines(screen.problem, screen.coordinator, width));
  if (screen.plan) {
    if (lines.length) lines.push(blank);
    lines.push(...planContentLines(screen.plan, screen.coordinator, width, screen.request.kind === 'failover'));
  }
  return lines;
}

/** The plan screen's bottom line: what Enter and Esc do now. */
export function planBar(screen: PlanScreen, frame: string, position: string): Line {
  const where = position ? seg(`  ${position}`, 'muted') : seg('');
  switch (screen.status) {
    case 'loading':
      return line(seg('[ Esc Cancel ]', 'normal', true));
    case 'submitting':
      return line(seg(`${frame} `, 'accent', true), seg(`submitting to ${screen.coordinator ?? 'the coordinator'}…`, 'accent'));
    case 'refused':
      return line(seg('[ Esc Close ]', 'normal', true), seg('  nothing was run', 'muted'), where);
    case 'ready': {
      const run = screen.request.dangerous ? `[ Enter Run… type ${screen.request.target.name} ]` : '[ Enter Run ]';
      const note = screen.note ? [seg(`${screen.note}  `, 'warn', true)] : [];
      return line(...note, seg(run, screen.request.dangerous ? 'bad' : 'ok', true), seg('  '), seg('[ Esc Cancel ]', 'normal', true), seg('  ↑↓ PgUp PgDn scroll', 'muted'), where);
    }
  }
}

const MARKS: Readonly<Record<string, { readonly mark: string; readonly tone: Tone }>> = {
  done: { mark: '✓', tone: 'ok' },
  failed: { mark: '✗', tone: 'bad' },
  skipped: { mark: '-', tone: 'muted' },
  rolled_back: { mark: '↺', tone: 'warn' },
};

const isFinished = (step: StepState__Output): boolean => MARKS[step.state] !== undefined;

/** Finished steps in the order they finished (plan order for ties), like lines printed as they happen. */
export function finishedSteps(workflow: Workflow__Output): StepState__Output[] {
  const order = new Map(workflow.steps.map((step, index) => [step.id, index]));
  return workflow.steps
    .filter(isFinished)
    .sort((a, b) => (Number(a.finishedUnixMs) || Infinity) - (Number(b.finishedUnixMs) || Infinity) || (order.get(a.id) ?? 0) - (order.get(b.id) ?? 0));
}

function finishedLine(workflow: Workflow__Output, step: StepState__Output): Line {
  const { mark, tone } = MARKS[step.state] ?? { mark: '?', tone: 'muted' as Tone };
  const took = step.startedUnixMs && step.finishedUnixMs ? `  ${formatSeconds(Number(step.finishedUnixMs) - Number(step.startedUnixMs))}` : '';
  const label = step.state === 'skipped' || step.state === 'rolled_back' ? ` (${step.state.replace('_', ' ')})` : '';
  return line(
    seg(`${mark} `, tone, true),
    seg(stepTitle(workflow, step.id), step.state === 'failed' ? 'bad' : 'normal'),
    seg(label, tone),
    seg(step.detail ? ` — ${step.detail}` : '', step.state === 'failed' ? 'bad' : 'muted'),
    seg(took, 'muted'),
  );
}

/** A progress bar: `█████░░░░░ 50%`. */
export function progressBar(percent: number, cells: number): Segment[] {
  const value = Math.max(0, Math.min(100, Number.isFinite(percent) ? percent : 0));
  const full = Math.round((value / 100) * cells);
  return [seg('█'.repeat(full), 'ok'), seg('░'.repeat(cells - full), 'muted'), seg(` ${String(Math.floor(value)).padStart(3)}%`, 'normal', true)];
}

/** A running step: spinner and title, then its progress bar once it reports one (a migration), or its last message. */
function runningLines(workflow: Workflow__Output, step: StepState__Output, width: number, frame: string): Line[] {
  const cells = width >= 100 ? 24 : 12;
  const lines = [line(seg(`${frame} `, 'accent', true), seg(stepTitle(workflow, step.id), 'normal', true))];
  if (step.percent > 0) lines.push(line(seg('  '), ...progressBar(step.percent, cells), seg(step.detail ? `  ${step.detail}` : '', 'muted')));
  else if (step.detail) lines.push(line(seg(`  ${step.detail}`, 'muted')));
  return lines;
}

const STATE_TONES: Readonly<Record<string, Tone>> = { succeeded: 'ok', failed: 'bad', refused: 'bad', aborted: 'warn', interrupted: 'warn' };

/** The end of a workflow: final state and duration, error, time per phase, summary lines (failover: RTO, RPO). */
export function summaryLines(workflow: Workflow__Output, width: number): Line[] {
  const tone = STATE_TONES[workflow.state] ?? 'normal';
  const done = workflow.steps.filter((step) => step.state === 'done').length;
  const took = workflow.finishedUnixMs && workflow.createdUnixMs ? ` in ${formatSeconds(Number(workflow.finishedUnixMs) - Number(workflow.createdUnixMs))}` : '';
  const lines = [line(seg(`${workflow.state === 'succeeded' ? '✔' : '✖'} ${workflow.state.toUpperCase()}`, tone, true), seg(`${took} · ${done}/${workflow.steps.length} steps done`, 'muted'))];
  if (workflow.error) lines.push(...wrapped([seg('  ')], workflow.error, 'bad', width));
  if (workflow.timings.length) {
    const timings = workflow.timings.map((timing) => `${timing.phase} ${formatSeconds(Number(timing.durationMs))}`).join(' · ');
    lines.push(...wrapped([seg('  time per phase: ', 'muted')], timings, 'normal', width));
  }
  for (const entry of workflow.summary) lines.push(...wrapped([seg('  ')], entry, 'normal', width));
  return lines;
}

export interface ExecutionLines {
  /** Exactly `height` lines (fewer only when there is less to show). */
  readonly lines: readonly Line[];
  /** Lines of the scrolling part in all (finished steps, and the summary once it ended), and how many fit: the scroll range. */
  readonly scrollCount: number;
  readonly scrollHeight: number;
}

/**
 * The execution view below its title, `height` lines: the plan title; the finished steps
 * (newest last, `scroll` lines back); every running step with a spinner and its progress;
 * the keys last. Once the workflow ended, its summary follows the finished steps and
 * scrolls with them, so a long failover report stays readable on a small terminal.
 */
export function executionLines(execution: Execution, width: number, height: number, scroll: number, nowMs: number, frame: string): ExecutionLines {
  const { workflow } = execution;
  const running = isRunning(execution);
  const elapsed = running && workflow.createdUnixMs ? ` · ${formatSeconds(nowMs - Number(workflow.createdUnixMs))}` : '';
  const head = line(seg(workflow.plan?.title ?? execution.id, 'normal', true), seg(`  by ${workflow.owner || '?'} on ${execution.coordinator}${elapsed}`, 'muted'));

  // The live part, pinned under the scrolling one.
  const live: Line[] = [];
  for (const step of workflow.steps.filter((entry) => entry.state === 'running')) live.push(...runningLines(workflow, step, width, frame));
  const pending = workflow.steps.filter((entry) => entry.state === 'pending').length;
  if (running && pending) live.push(line(seg(`  … ${pending} more step${pending === 1 ? '' : 's'} to go`, 'muted')));
  if (running && execution.lost) {
    const text = execution.watching
      ? `lost the coordinator ${execution.coordinator} (${execution.lost}); re-attaching — the workflow is journaled and goes on when it is back`
      : `stopped following: ${execution.coordinator} did not answer (${execution.lost}). The workflow is journaled; w follows it again, or see hvctl workflows`;
    live.push(...wrapped([seg('⚠ ', 'warn', true)], text, 'warn', width));
  }
  if (execution.abort.status === 'sending') live.push(line(seg(`${frame} `, 'warn', true), seg('aborting: the coordinator stops and rolls back to a safe state…', 'warn')));
  if (execution.abort.status === 'failed') live.push(...wrapped([seg('✗ abort failed: ', 'bad', true)], execution.abort.message, 'bad', width));

  let keys: Line;
  if (execution.abort.status === 'asking') {
    keys = line(seg(`Abort ${execution.id}? It stops and rolls back to a safe state. `, 'bad', true), seg('y', 'bad', true), seg(' abort, any other key keeps it running', 'muted'));
  } else if (running) {
    keys = line(seg('a', 'normal', true), seg(' abort  ', 'muted'), seg('Esc', 'normal', true), seg(` detach (it goes on in ${execution.coordinator})  `, 'muted'), seg('↑↓', 'normal', true), seg(' scroll', 'muted'));
  } else {
    keys = line(seg('Esc', 'normal', true), seg(' close  ', 'muted'), seg('w', 'normal', true), seg(' reopens it  ', 'muted'), seg('↑↓', 'normal', true), seg(' scroll', 'muted'));
  }

  // The live part keeps its place (leaving the scrolling part at least a line); the scrolling part gets the rest.
  const room = Math.max(0, height - 2);
  const pinned = live.slice(0, Math.max(0, room - 1));
  const scrollHeight = Math.max(room - pinned.length, Math.min(1, room));
  const scrolling = finishedSteps(workflow).map((step) => finishedLine(workflow, step));
  if (!running) scrolling.push(...summaryLines(workflow, width));
  const end = Math.max(0, scrolling.length - Math.max(0, scroll));
  const window = scrolling.slice(Math.max(0, end - scrollHeight), end);
  // Like output printed as it happens: the lines so far, then the live part right below them.
  const filler = Array.from({ length: Math.max(0, scrollHeight - window.length) }, () => blank);
  const lines = [head, ...window, ...pinned, ...filler, keys].slice(0, Math.max(1, height));
  return { lines, scrollCount: scrolling.length, scrollHeight };
}

/** `wf-…` ids are long; the footer keeps their tail, which tells them apart. */
export function shortId(id: string, max = 22): string {
  return [...id].length <= max ? id : `…${[...id].slice(-(max - 1)).join('')}`;
}
