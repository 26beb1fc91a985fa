import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import type {
  AutopilotAction__Output,
  AutopilotDecision__Output,
  AutopilotPause__Output,
  AutopilotServiceExplainResponse__Output,
  AutopilotServiceGetStatusResponse__Output,
} from '@hvctl/proto';
import { AUTOPILOT_MODES, clusterConnector, deadline, HvctlError, unary, validateNodeName, type AgentClient, type ClusterFile } from '@hvctl/common';
import { loadCluster } from './cluster.js';
import { table } from './format.js';
import { watcherNodes } from './sla-command.js';

/** Parses "90s", "30m", "2h", "1d" (or plain seconds) into seconds: 1 s to 30 days. */
export function parseDuration(value: string): number {
  const match = /^(\d{1,7})([smhd]?)$/.exec(value.trim());
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86_400 }[match?.[2] ?? ''] ?? 1;
  const seconds = match ? Number(match[1]) * unit : NaN;
  if (!(seconds >= 1 && seconds <= 30 * 86_400)) throw new InvalidArgumentError('expected a duration like 90s, 30m, 2h or 1d (at most 30 days)');
  return seconds;
}

const name = (value: string): string => {
  try {
    return validateNodeName(value, 'name');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

const time = (unixMs: number | string): string => new Date(Number(unixMs)).toISOString().replace(/\.\d+Z$/, 'Z');
const ago = (nowMs: number, unixMs: number | string): string => `${Math.max(0, Math.round((nowMs - Number(unixMs)) / 1000))} s ago`;

function pauseLine(pause: AutopilotPause__Output): string {
  return `paused${pause.subject ? ` for ${pause.subject}` : ''} ${Number(pause.untilUnixMs) ? `until ${time(pause.untilUnixMs)}` : 'until resumed'} (by ${pause.by || 'unknown'} at ${time(pause.sinceUnixMs)})`;
}

function actionRows(actions: readonly AutopilotAction__Output[]): string[][] {
  return actions.map((action) => [time(action.atUnixMs), action.kind, action.subject, action.coordinator || '-', action.workflowId || '-', action.outcome, action.detail || '']);
}

/** The readable status: mode, policy, what it watches, decisions with countdowns, recent actions. */
export function formatAutopilotStatus(status: AutopilotServiceGetStatusResponse__Output): string {
  const policy = status.policy;
  const nowMs = Number(status.nowUnixMs);
  const lines = [
    `autopilot on ${status.watcher}: mode ${status.mode} (${status.modeSetBy === 'cluster file' ? 'from the cluster file' : `set by ${status.modeSetBy}`})${status.pauses.length ? `, ${status.pauses.map(pauseLine).join('; ')}` : ''}`,
  ];
  if (policy) {
    lines.push(
      `policy: grace ${policy.graceSeconds} s, at most ${policy.maxFailoversPerSitePerHour} failovers per site per hour, one restart per VM per ${policy.restartWindowMinutes} min, hold-down ${policy.holdDownSeconds} s; never --force, never fails back`,
    );
  }
  lines.push(`watching: ${status.watching.join(', ') || 'no main-site node'}; can submit: ${status.canSubmit.join(', ')}${status.canSubmit.includes('start') ? '' : ' (start: not until the agents run a start workflow)'}`);
  lines.push('');
  const decisions = [...status.decisions].sort((a, b) => Number(b.countdownMs > 0) - Number(a.countdownMs > 0) || a.subject.localeCompare(b.subject));
  if (!decisions.length) lines.push(status.mode === 'off' ? 'mode off: nothing is decided' : 'no decision yet (the watcher is settling)');
  else lines.push(table(['SUBJECT', 'OUTCOME', 'SINCE', 'DECISION'], decisions.map((decision) => [decision.subject, decision.outcome, ago(nowMs, decision.sinceUnixMs), decision.summary])));
  if (status.actions.length) {
    lines.push('', 'recent actions:', table(['AT', 'KIND', 'SUBJECT', 'COORDINATOR', 'WORKFLOW', 'OUTCOME', 'DETAIL'], actionRows(status.actions)));
  }
  return lines.join('\n');
}

function decisionLines(decision: AutopilotDecision__Output, nowMs: number): string[] {
  const lines = [`${decision.summary}`, `  outcome ${decision.outcome} (${decision.code}) since ${time(decision.sinceUnixMs)} (${ago(nowMs, decision.sinceUnixMs)}), last decided ${time(decision.decidedUnixMs)}`];
  if (Number(decision.lostForMs)) lines.push(`  lost for ${Math.floor(Number(decision.lostForMs) / 1000)} s${Number(decision.countdownMs) ? `, acting in ${Math.ceil(Number(decision.countdownMs) / 1000)} s` : ''}`);
  return lines;
}

/** The readable explanation: the last decision, the evidence, the timings, the history and the actions. */
export function formatAutopilotExplain(subject: string, explained: AutopilotServiceExplainResponse__Output, nowMs = Date.now()): string {
  const lines = [`${subject} (autopilot mode ${explained.mode}${explained.pause ? `, ${pauseLine(explained.pause)}` : ''})`];
  if (explained.decision) {
    lines.push('', 'last decision:', ...decisionLines(explained.decision, nowMs).map((line) => `  ${line}`), '', 'evidence:', ...explained.decision.evidence.map((fact) => `  ${fact}`));
  }
  const earlier = explained.history.slice(0, -1);
  if (earlier.length) lines.push('', 'before that:', ...earlier.map((decision) => `  ${time(decision.sinceUnixMs)} ${decision.outcome}: ${decision.summary}`));
  if (explained.actions.length) lines.push('', 'actions:', table(['AT', 'KIND', 'SUBJECT', 'COORDINATOR', 'WORKFLOW', 'OUTCOME', 'DETAIL'], actionRows(explained.actions)));
  return lines.join('\n');
}

interface Global {
  readonly cluster?: string;
}

/** Calls the first backup-site agent that answers (the autopilot runs there). */
async function onWatcher<T>(cluster: ClusterFile, what: string, call: (client: AgentClient) => Promise<T>, connect: (address: string) => AgentClient = clusterConnector(cluster)): Promise<T> {
  const watchers = watcherNodes(cluster);
  if (!watchers.length) {
    throw new HvctlError('NOT_FOUND', `cluster ${cluster.name} has no backup site, so no autopilot runs`, { nextSteps: ['add a site with kind: backup and a node with monitor: enabled in its agent.yaml'] });
  }
  const failures: string[] = [];
  for (const node of watchers) {
    const client = connect(node.address);
    try {
      return await call(client);
    } catch (error) {
      if (!(error instanceof HvctlError) || !['UNAVAILABLE', 'DEADLINE_EXCEEDED', 'FAILED_PRECONDITION'].includes(error.code)) throw error;
      failures.push(`${node.name}: ${error.message}`);
    } finally {
      client.close();
    }
  }
  throw new HvctlError('UNAVAILABLE', `no backup-site agent answered ${what}, so nothing was read or changed (${failures.join('; ')})`, {
    nextSteps: ["check that the backup site's agent runs (hvctl status) with `monitor: {enabled: true}`"],
  });
}

const TIMEOUT_MS = 5000;

/** `hvctl autopilot status|pause|resume|mode|explain`. */
export function autopilotCommand(): Command {
  const command = new Command('autopilot').description(
    "The backup site's autopilot: it fails over a lost node on agreeing evidence (witness, DRBD partner, quorum), within the cluster file's policy. See docs/autopilot.md.",
  );
  const cluster = (sub: Command): Promise<ClusterFile> => loadCluster(sub.optsWithGlobals<Global>().cluster);
  const print = (json: boolean | undefined, value: unknown, text: string): void => console.log(json ? JSON.stringify(value, null, 2) : text);

  command
    .command('status')
    .description('Mode, policy, what it watches, its decisions with countdowns, its recent actions.')
    .option('--json', 'machine-readable output (AutopilotService.GetStatus)')
    .action(async (options: { json?: boolean }, sub: Command) => {
      const status = await onWatcher(await cluster(sub), 'GetStatus', (client) =>
        unary<AutopilotServiceGetStatusResponse__Output>('GetStatus', (cb) => client.autopilot.getStatus({}, deadline(TIMEOUT_MS), cb)),
      );
      print(options.json, status, formatAutopilotStatus(status));
    });

  command
    .command('pause')
    .description('Stop automatic actions (decisions go on, and are logged), for a time or until resumed; everywhere or for one node or VM.')
    .option('--for <duration>', 'how long: 90s, 30m, 2h, 1d (default: until resumed)', parseDuration)
    .option('--node <name>', 'pause only for this node (or VM)', name)
    .option('--json', 'machine-readable output')
    .addHelpText('after', '\nExamples:\n  hvctl autopilot pause --for 2h\n  hvctl autopilot pause --node msk-1')
    .action(async (options: { for?: number; node?: string; json?: boolean }, sub: Command) => {
      const response = await onWatcher(await cluster(sub), 'Pause', (client) =>
        unary<{ pauses: AutopilotPause__Output[] }>('Pause', (cb) => client.autopilot.pause({ forSeconds: options.for ?? 0, subject: options.node ?? '', requestId: randomUUID() }, deadline(TIMEOUT_MS), cb)),
      );
      print(options.json, response, response.pauses.map(pauseLine).join('\n'));
    });

  command
    .command('resume')
    .description('Lift every pause, or the pause of one node or VM.')
    .option('--node <name>', "lift only this node's (or VM's) pause", name)
    .option('--json', 'machine-readable output')
    .action(async (options: { node?: string; json?: boolean }, sub: Command) => {
      const response = await onWatcher(await cluster(sub), 'Resume', (client) =>
        unary<{ pauses: AutopilotPause__Output[] }>('Resume', (cb) => client.autopilot.resume({ subject: options.node ?? '', requestId: randomUUID() }, deadline(TIMEOUT_MS), cb)),
      );
      print(options.json, response, response.pauses.length ? `still ${response.pauses.map(pauseLine).join('; ')}` : 'autopilot resumed: no pause in force');
    });

  command
    .command('mode')
    .description("Set the mode: act (submit workflows), observe (only say what it would do), off; `default` returns to the cluster file's.")
    .argument('<mode>', `${AUTOPILOT_MODES.join('|')}|default`, (value: string) => {
      if (value !== 'default' && !AUTOPILOT_MODES.includes(value as never)) throw new InvalidArgumentError(`expected one of ${AUTOPILOT_MODES.join(', ')}, default`);
      return value;
    })
    .option('--json', 'machine-readable output')
    .action(async (mode: string, options: { json?: boolean }, sub: Command) => {
      const response = await onWatcher(await cluster(sub), 'SetMode', (client) =>
        unary<{ mode: string; modeSetBy: string }>('SetMode', (cb) => client.autopilot.setMode({ mode: mode === 'default' ? '' : mode, requestId: randomUUID() }, deadline(TIMEOUT_MS), cb)),
      );
      print(options.json, response, `autopilot mode ${response.mode} (${response.modeSetBy === 'cluster file' ? "the cluster file's" : `set by ${response.modeSetBy}`})`);
    });

  command
    .command('explain')
    .description('Why the autopilot acted on a node or VM, or why it did not: its last decision, the evidence it saw, the timings.')
    .argument('<name>', 'node or VM', name)
    .option('--json', 'machine-readable output (AutopilotService.Explain)')
    .action(async (subject: string, options: { json?: boolean }, sub: Command) => {
      const explained = await onWatcher(await cluster(sub), 'Explain', (client) =>
        unary<AutopilotServiceExplainResponse__Output>('Explain', (cb) => client.autopilot.explain({ subject }, deadline(TIMEOUT_MS), cb)),
      );
      print(options.json, explained, formatAutopilotExplain(subject, explained));
    });
  return command;
}
