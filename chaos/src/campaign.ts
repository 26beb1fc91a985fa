/**
 * One campaign: start a lab, play the seeded schedule round by round, check the invariants
 * after each round's events and again after a recovery phase (heal, restart, wait for
 * convergence with a bound), record every finding with its history, and stop the lab
 * whatever happens.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HvctlError } from '@hvctl/common';
import { FAULT_NAMES, type ActionKind, type ChaosEvent, type LabModel, type LiveLab, type Resolved } from './catalogue.js';
import { noHang, persistent, runChecks, type CallRecord, type CheckJson, type Finding, type Phase, type Snapshot, type StatusJson, type WorkflowJson } from './checks.js';
import { createHvctl, parseHelpCommands, type CliResult, type Hvctl } from './hvctl.js';
import { labFault, labNow } from './lab-faults.js';
import { createObserver, type Observer } from './observer.js';
import { emptyTally, roundLine, type CampaignResult, type EventRecord, type RoundRecord, type ViolationRecord } from './report.js';
import { describeEvent, roundEvents, selectKinds } from './schedule.js';

export interface CampaignOptions {
  readonly seed: number;
  /** Rounds to play (at most; `minutes` may end it sooner). */
  readonly rounds: number;
  /** Stop starting rounds after this many minutes. */
  readonly minutes?: number;
  readonly faults: readonly string[];
  /** Lab directory (default: a new temporary one). */
  readonly dir?: string;
  readonly vms: number;
  /** One line per round and the progress of the campaign. */
  readonly out: (line: string) => void;
  /** Stops the campaign between events (SIGINT); the lab is still stopped. */
  readonly signal?: AbortSignal;
  /** How long the recovery phase may wait for convergence. */
  readonly recoveryBoundMs?: number;
}

/** The harness could not do its job (the lab would not start): not a finding about hvctl. */
export class HarnessError extends Error {}

const READ_BOUND_MS = 30_000;
const LAB_UP_BOUND_MS = 90_000;
const LAB_DOWN_BOUND_MS = 30_000;
/** Time between the two samples of a check: a finding must last that long to count. */
const CONFIRM_MS = 1000;
const POLL_MS = 500;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const lastLine = (text: string): string => text.trim().split('\n').filter(Boolean).at(-1)?.slice(0, 200) ?? '';

/** What an exit code of a workflow command means (docs/cli.md). */
export function outcomeOf(result: CliResult): string {
  if (result.hung) return 'HUNG';
  if (result.killed) return 'killed';
  return ({ 0: 'ok', 1: 'error', 2: 'invalid', 3: 'refused', 4: 'failed', 5: 'aborted', 6: 'violations' } as Record<number, string>)[result.exitCode ?? -1] ?? `exit ${result.exitCode}`;
}

/** The lab model the schedule draws from, read from the first `status --json`. */
export function modelFromStatus(status: StatusJson & { readonly sites: readonly { readonly name: string; readonly kind: string; readonly nodes: readonly string[] }[] }): LabModel {
  const mainSites = status.sites.filter((site) => site.kind === 'main');
  return {
    nodes: status.nodes.map((node) => node.name),
    mainNodes: mainSites.flatMap((site) => site.nodes),
    sites: status.sites.map((site) => site.name),
    mainSites: mainSites.map((site) => site.name),
    vms: status.vms.map((vm) => vm.name),
    disks: (status.resources ?? []).flatMap((resource) => resource.replicas.filter((replica) => !replica.witness).map((replica) => ({ node: replica.node, resource: resource.name }))),
  };
}

class Campaign {
  readonly hvctl: Hvctl;
  readonly calls: CallRecord[] = [];
  readonly workflows = new Map<string, { kind: string; state: string }>();
  readonly failedDisks = new Set<string>();
  /** Nodes whose links were slowed or migrations set to fail since the last recovery. */
  readonly tampered = new Map<string, Set<'slow' | 'fail-migrations'>>();
  readonly startedMs = Date.now();
  /** Set once the lab is up. */
  observer: Observer | undefined;

  constructor(
    readonly options: CampaignOptions,
    readonly dir: string,
  ) {
    this.hvctl = createHvctl(dir);
  }

  /** The cluster as `status`/`check`/`workflows --json` show it, read in-process (see observer.ts); undefined parts when the read failed. */
  async observe(): Promise<{ status: StatusJson | undefined; check: CheckJson | undefined; workflows: WorkflowJson[] | undefined }> {
    try {
      const seen = await (this.observer as Observer).observe();
      this.note(seen.workflows);
      return { status: seen.status, check: seen.check, workflows: [...seen.workflows] };
    } catch {
      return { status: undefined, check: undefined, workflows: undefined };
    }
  }

  /** The topology once every node answers (the lab has just started), or undefined past the bound. */
  async firstTopology(): Promise<Parameters<typeof modelFromStatus>[0] | undefined> {
    const until = Date.now() + LAB_UP_BOUND_MS;
    while (Date.now() < until) {
      const seen = await (this.observer as Observer).observe().catch(() => undefined);
      if (seen && seen.status.nodes.every((node) => node.reachable)) return seen.status;
      await sleep(POLL_MS);
    }
    return undefined;
  }

  /** Tallies the workflows the campaign started (created after it began), by their latest state. */
  note(workflows: readonly WorkflowJson[] | undefined): void {
    for (const workflow of workflows ?? []) {
      if (Number(workflow.createdUnixMs ?? 0) < this.startedMs) continue;
      this.workflows.set(workflow.id, { kind: workflow.spec?.kind ?? '?', state: workflow.state });
    }
  }

  async cli(argv: readonly string[], boundMs: number, killAfterMs?: number): Promise<CliResult> {
    const fault = labFault(argv);
    const result = fault ? await this.inProcess(argv, boundMs, () => fault(this.dir)) : await this.hvctl.run(argv, { boundMs, ...(killAfterMs !== undefined ? { killAfterMs } : {}) });
    this.calls.push({ command: argv.join(' '), hung: result.hung, boundMs, durationMs: result.durationMs });
    return result;
  }

  /** A lab fault run by the lab's own function, bounded like a CLI (it goes on in the background past its bound). */
  async inProcess(argv: readonly string[], boundMs: number, act: () => Promise<string>): Promise<CliResult> {
    const started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<'hung'>((resolve) => {
      timer = setTimeout(() => resolve('hung'), boundMs);
    });
    const base = { argv, killed: false, boundMs };
    try {
      const outcome = await Promise.race([act(), bound]);
      if (outcome === 'hung') return { ...base, exitCode: null, durationMs: Date.now() - started, stdout: '', stderr: '', hung: true };
      return { ...base, exitCode: 0, durationMs: Date.now() - started, stdout: outcome, stderr: '', hung: false };
    } catch (error) {
      const code = error instanceof HvctlError ? error.code : 'INTERNAL';
      const exitCode = code === 'FAILED_PRECONDITION' ? 3 : code === 'INVALID_ARGUMENT' || code === 'NOT_FOUND' ? 2 : 1;
      return { ...base, exitCode, durationMs: Date.now() - started, stdout: '', stderr: (error as Error).message, hung: false };
    } finally {
      clearTimeout(timer);
    }
  }

  async json<T>(argv: readonly string[]): Promise<T | undefined> {
    const { result, value } = await this.hvctl.json<T>(argv, READ_BOUND_MS);
    this.calls.push({ command: argv.join(' '), hung: result.hung, boundMs: READ_BOUND_MS, durationMs: result.durationMs });
    return value;
  }

  async listWorkflows(): Promise<WorkflowJson[] | undefined> {
    return (await this.observe()).workflows;
  }

  /**
   * Which nodes are down and which sites cut: kept by the harness as its fault commands
   * succeed (it is the only one injecting faults), and read again from `lab status --json`
   * when a fault command did not succeed and at every recovery.
   */
  readonly dead = new Set<string>();
  readonly cut = new Set<string>();

  async syncLab(): Promise<void> {
    const lab = await labNow(this.dir).catch(() => undefined);
    if (!lab) return;
    this.dead.clear();
    this.cut.clear();
    for (const node of lab.nodes) if (!node.running) this.dead.add(node.name);
    for (const site of lab.cutSites) this.cut.add(site);
  }

  /** Updates the harness's view after a fault command ended. */
  async afterFault(argv: readonly string[], result: CliResult): Promise<void> {
    if (argv[0] !== 'lab') return;
    if (result.exitCode !== 0) return this.syncLab();
    const [verb, target = ''] = [argv[2], argv[3]];
    if (verb === 'kill') this.dead.add(target);
    if (verb === 'restart') this.dead.delete(target);
    if (verb === 'cut') this.cut.add(target);
    if (verb === 'heal') this.cut.delete(target);
  }

  async live(needsWorkflows: boolean): Promise<LiveLab> {
    const workflows = needsWorkflows ? await this.listWorkflows() : [];
    const running = (workflows ?? []).filter((workflow) => workflow.state === 'running');
    return {
      deadNodes: [...this.dead].sort(),
      cutSites: [...this.cut].sort(),
      runningWorkflows: running.filter((workflow) => !workflow.orphaned).map((workflow) => workflow.id),
      orphanedWorkflows: running.filter((workflow) => workflow.orphaned).map((workflow) => workflow.id),
      failedDiskResources: [...this.failedDisks],
    };
  }

  /** Plays one event; background operator actions resolve later. */
  async play(event: ChaosEvent, kind: ActionKind): Promise<() => Promise<EventRecord>> {
    if (event.pauseMs) await sleep(event.pauseMs);
    const resolved: Resolved = kind.resolve(event, await this.live(event.name === 'abort' || event.name === 'resume'));
    const base = { event: describeEvent(event), kind: event.kind, name: event.name };
    if ('skip' in resolved) return () => Promise.resolve({ ...base, skipped: resolved.skip, outcome: 'skipped', durationMs: 0 });
    if (event.name === 'disk') this.failedDisks.add(event.args[1] ?? '');
    if (event.name === 'slow' || event.name === 'fail-migrations') {
      const node = event.args[0] ?? '';
      this.tampered.set(node, (this.tampered.get(node) ?? new Set()).add(event.name));
    }
    const running = this.cli(resolved.argv, resolved.boundMs, resolved.killAfterMs).then(async (result): Promise<EventRecord> => {
      await this.afterFault(resolved.argv, result);
      return { ...base, argv: resolved.argv.join(' '), outcome: outcomeOf(result), exitCode: result.exitCode, durationMs: result.durationMs, detail: lastLine(result.stderr || result.stdout) };
    });
    if (event.background) return () => running;
    const record = await running;
    return () => Promise.resolve(record);
  }

  /** One sample of the cluster; `viaCli` reads it with the real `hvctl ... --json` commands instead. */
  async sample(phase: Phase, viaCli = false): Promise<Snapshot> {
    if (!viaCli) return { phase, ...(await this.observe()), calls: [], initialVms: this.initialVms };
    const [status, check, workflows] = await Promise.all([
      this.json<StatusJson>(['status', '--json']),
      this.json<CheckJson>(['check', '--json']),
      this.json<WorkflowJson[]>(['workflows', '--json']),
    ]);
    this.note(workflows);
    return { phase, status, check, workflows, calls: [], initialVms: this.initialVms };
  }

  initialVms: readonly string[] = [];

  /**
   * Findings that hold in two samples CONFIRM_MS apart (a first sample without violations
   * needs no second), plus the hangs of the calls since `fromCall`.
   */
  async checkNow(phase: Phase, fromCall: number, viaCli = false): Promise<Finding[]> {
    const first = runChecks(await this.sample(phase, viaCli));
    let lasting = first;
    if (first.some((finding) => finding.severity === 'violation')) {
      await sleep(CONFIRM_MS);
      lasting = persistent(first, runChecks(await this.sample(phase, viaCli)));
    }
    const calls = this.calls.slice(fromCall);
    return [...lasting, ...noHang({ phase, status: undefined, check: undefined, workflows: undefined, calls, initialVms: [] })];
  }

  /** Heal, restart, undo slow links and failing migrations, resume orphans; wait for convergence within the bound. */
  async recover(): Promise<EventRecord[]> {
    const records: EventRecord[] = [];
    const act = async (name: string, argv: readonly string[], boundMs: number): Promise<void> => {
      const result = await this.cli(argv, boundMs);
      await this.afterFault(argv, result);
      records.push({ event: `${name} ${argv.slice(-1)[0] ?? ''}`.trim(), kind: 'recovery', name, argv: argv.join(' '), outcome: outcomeOf(result), exitCode: result.exitCode, durationMs: result.durationMs, detail: lastLine(result.stderr || result.stdout) });
    };
    await this.syncLab();
    const live = await this.live(false);
    for (const site of live.cutSites) await act('heal', ['lab', 'fault', 'heal', site], 25_000);
    for (const node of live.deadNodes) await act('restart', ['lab', 'fault', 'restart', node], 25_000);
    for (const [node, what] of this.tampered) {
      if (live.deadNodes.includes(node)) continue;
      if (what.has('slow')) await act('unslow', ['lab', 'fault', 'slow', node, '0'], 25_000);
      if (what.has('fail-migrations')) await act('unfail-migrations', ['lab', 'fault', 'fail-migrations', node, '0'], 25_000);
    }
    this.tampered.clear();
    const until = Date.now() + (this.options.recoveryBoundMs ?? 60_000);
    const resumed = new Set<string>();
    while (Date.now() < until) {
      const { status, workflows } = await this.observe();
      const orphans = (workflows ?? []).filter((workflow) => workflow.state === 'running' && workflow.orphaned && !resumed.has(workflow.id));
      for (const orphan of orphans) {
        resumed.add(orphan.id);
        await act('resume', ['resume', orphan.id], 60_000);
      }
      const allUp = status !== undefined && status.nodes.every((node) => node.reachable);
      const idle = workflows !== undefined && !workflows.some((workflow) => workflow.state === 'running');
      const synced = status !== undefined && !(status.resources ?? []).some((resource) => resource.replicas.some((replica) => replica.replication === 'SyncSource' || replica.replication === 'SyncTarget'));
      // The autopilot brings back what should run (a failover or a start): recovery waits for it within the bound.
      const restored = status !== undefined && !status.vms.some((vm) => vm.intent === 'running' && vm.runningOn.length === 0);
      if (allUp && idle && synced && restored) break;
      await sleep(POLL_MS);
    }
    return records;
  }
}

function violationRecords(seed: number, round: number, phase: Phase, findings: readonly Finding[], events: readonly EventRecord[], previous: readonly RoundRecord[]): ViolationRecord[] {
  return findings
    .filter((finding) => finding.severity === 'violation')
    .map((finding) => ({
      seed,
      round,
      phase,
      rule: finding.rule,
      subject: finding.subject,
      message: finding.message,
      history: events.map((event) => `${event.kind === 'recovery' ? 'recovery: ' : ''}${event.argv ? `hvctl ${event.argv}` : event.event} -> ${event.outcome}${event.detail ? ` (${event.detail})` : ''}`),
      previous: previous.map((record) => `r${record.round}: ${record.events.filter((event) => event.kind !== 'recovery').map((event) => `${event.event}=${event.outcome}`).join(', ')}`),
    }));
}

export async function runCampaign(options: CampaignOptions): Promise<CampaignResult> {
  const dir = options.dir ?? (await mkdtemp(join(tmpdir(), 'hvctl-chaos-')));
  const campaign = new Campaign(options, dir);
  const out = options.out;
  const tally = emptyTally();
  const rounds: RoundRecord[] = [];
  const violations: ViolationRecord[] = [];
  let enabled: string[] = [];
  let ownsLab = false;
  out(`chaos: seed ${options.seed}, up to ${options.rounds} rounds${options.minutes ? ` or ${options.minutes} min` : ''}, lab in ${dir}`);
  try {
    const up = await campaign.cli(['lab', 'up', '--detach', '--vms', String(options.vms)], LAB_UP_BOUND_MS);
    // Refused (exit 3): a lab already runs in DIR; it is not ours to stop.
    ownsLab = up.exitCode !== 3;
    if (up.exitCode !== 0) throw new HarnessError(`the lab would not start in ${dir} (${outcomeOf(up)}): ${lastLine(up.stderr)}`);
    campaign.observer = await createObserver(join(dir, 'cluster.yaml'));
    const initial = await campaign.firstTopology();
    if (!initial) throw new HarnessError(`the lab started but not every node answered within ${LAB_UP_BOUND_MS / 1000} s`);
    campaign.initialVms = initial.vms.map((vm) => vm.name);
    const model = modelFromStatus(initial);

    const commands = new Map<string, string[]>();
    const helpOf = async (path: readonly string[]): Promise<string[]> => {
      const key = path.join(' ');
      if (!commands.has(key)) commands.set(key, parseHelpCommands((await campaign.cli([...path, '--help'], READ_BOUND_MS)).stdout));
      return commands.get(key) ?? [];
    };
    const top = await helpOf([]);
    const faultCommands = await helpOf(['lab', 'fault']);
    const hasCommand = (path: readonly string[]): boolean => (path[0] === 'lab' ? faultCommands.includes(path[2] ?? '') : top.includes(path[0] ?? ''));
    const kinds = selectKinds(options.faults, hasCommand);
    enabled = kinds.map((kind) => kind.name);
    out(`in play: ${enabled.join(', ')}`);
    const deadline = options.minutes ? Date.now() + options.minutes * 60_000 : Infinity;

    // Rounds are drawn one at a time (`--minutes` alone allows a million): the same as buildSchedule's.
    for (let index = 0; index < options.rounds; index += 1) {
      if (options.signal?.aborted || Date.now() >= deadline) break;
      const round = index + 1;
      const events = roundEvents(model, options.seed, index, kinds);
      const started = Date.now();
      const firstCall = campaign.calls.length;
      const pending: (() => Promise<EventRecord>)[] = [];
      for (const event of events) {
        if (options.signal?.aborted) break;
        const kind = kinds.find((candidate) => candidate.name === event.name);
        if (kind) pending.push(await campaign.play(event, kind));
      }
      const records = await Promise.all(pending.map((finish) => finish()));
      const roundFindings = await campaign.checkNow('round', firstCall);
      const recoveryCall = campaign.calls.length;
      const recovery = options.signal?.aborted ? [] : await campaign.recover();
      // The last check of the campaign reads through the CLI itself (`hvctl status/check/workflows --json`).
      const last = index === options.rounds - 1 || Date.now() >= deadline;
      const recoveredFindings = options.signal?.aborted ? [] : await campaign.checkNow('recovered', recoveryCall, last);
      const record: RoundRecord = { round, durationMs: Date.now() - started, events: [...records, ...recovery], findings: { round: roundFindings, recovered: recoveredFindings } };
      violations.push(...violationRecords(options.seed, round, 'round', roundFindings, records, rounds), ...violationRecords(options.seed, round, 'recovered', recoveredFindings, record.events, rounds));
      rounds.push(record);
      for (const event of records) {
        if (event.outcome === 'skipped') continue;
        const bucket = event.kind === 'fault' ? tally.faults : tally.ops;
        bucket[event.name] = (bucket[event.name] ?? 0) + 1;
      }
      out(roundLine(record, options.rounds));
    }
  } finally {
    const down = ownsLab ? await campaign.hvctl.run(['lab', 'down'], { boundMs: LAB_DOWN_BOUND_MS }) : undefined;
    if (down && down.exitCode !== 0) out(`warning: \`hvctl lab down --dir ${dir}\` ended ${outcomeOf(down)}: ${lastLine(down.stderr)}; run it again by hand`);
  }
  for (const { state } of campaign.workflows.values()) tally.workflows[state] = (tally.workflows[state] ?? 0) + 1;
  return {
    seed: options.seed,
    roundsRequested: options.rounds,
    roundsPlayed: rounds.length,
    inPlay: enabled,
    lab: { dir, vms: options.vms },
    durationMs: Date.now() - campaign.startedMs,
    faultsByType: tally.faults,
    opsByType: tally.ops,
    workflowsByOutcome: tally.workflows,
    violationsByRule: countBy(violations.map((found) => found.rule)),
    infoByRule: countBy(rounds.flatMap((record) => [...record.findings.round, ...record.findings.recovered]).filter((finding) => finding.severity === 'info').map((finding) => finding.rule)),
    checks: rounds.length * 2,
    rounds,
    violations,
    replay: `npm run chaos -- --seed ${options.seed} --rounds ${rounds.length}${FAULT_NAMES.every((name) => options.faults.includes(name)) ? '' : ` --faults ${options.faults.join(',')}`} --vms ${options.vms}`,
  };
}

function countBy(keys: readonly string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const key of keys) counts[key] = (counts[key] ?? 0) + 1;
  return counts;
}
