/** What a campaign records and how it reads: a line per round, a summary, the JSON file. */
import type { Finding, Phase } from './checks.js';

export interface EventRecord {
  /** The event as scheduled (`kill msk-1`, `drain spb-2 (bg)`). */
  readonly event: string;
  readonly kind: 'fault' | 'op' | 'recovery';
  readonly name: string;
  /** The hvctl command line it ran (without the lab location). */
  readonly argv?: string;
  /** Why it did nothing (no site was cut to heal). */
  readonly skipped?: string;
  /** ok, refused, failed, aborted, error, killed, HUNG, skipped, ... */
  readonly outcome: string;
  readonly exitCode?: number | null;
  readonly durationMs: number;
  /** Last line the CLI printed. */
  readonly detail?: string;
}

export interface RoundRecord {
  readonly round: number;
  readonly durationMs: number;
  /** The round's events, then the recovery phase's actions. */
  readonly events: readonly EventRecord[];
  readonly findings: { readonly round: readonly Finding[]; readonly recovered: readonly Finding[] };
}

export interface ViolationRecord {
  readonly seed: number;
  readonly round: number;
  readonly phase: Phase;
  readonly rule: string;
  readonly subject: string;
  readonly message: string;
  /** This round's events with their results (and, after recovery, the recovery's actions). */
  readonly history: readonly string[];
  /** One compact line per earlier round. */
  readonly previous: readonly string[];
}

export interface CampaignResult {
  readonly seed: number;
  readonly roundsRequested: number;
  readonly roundsPlayed: number;
  /** Faults and operator actions the schedule drew from. */
  readonly inPlay: readonly string[];
  readonly lab: { readonly dir: string; readonly vms: number };
  readonly durationMs: number;
  readonly faultsByType: Record<string, number>;
  readonly opsByType: Record<string, number>;
  readonly workflowsByOutcome: Record<string, number>;
  readonly violationsByRule: Record<string, number>;
  readonly infoByRule: Record<string, number>;
  /** Invariant checks made (one after each round's events, one after each recovery). */
  readonly checks: number;
  readonly rounds: readonly RoundRecord[];
  readonly violations: readonly ViolationRecord[];
  /** The command that replays this campaign. */
  readonly replay: string;
}

export function emptyTally(): { faults: Record<string, number>; ops: Record<string, number>; workflows: Record<string, number> } {
  return { faults: {}, ops: {}, workflows: {} };
}

const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
const counts = (record: Record<string, number>): string =>
  Object.entries(record)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([key, value]) => `${key} ${value}`)
    .join(', ') || 'none';

function findingsText(findings: readonly Finding[]): string {
  const bad = findings.filter((finding) => finding.severity === 'violation');
  if (!bad.length) return 'ok';
  return `${bad.length} VIOLATION(S) ${bad.map((finding) => `[${finding.rule} ${finding.subject}]`).join(' ')}`;
}

/** `round 3/10 12.3 s: kill msk-1 ok · drain spb-2 (bg) refused | after round: ok | recovered: 1 VIOLATION(S) [vm-twice dns-1]` */
export function roundLine(record: RoundRecord, of: number): string {
  const events = record.events.filter((event) => event.kind !== 'recovery').map((event) => `${event.event} ${event.outcome}`);
  const recovery = record.events.filter((event) => event.kind === 'recovery').length;
  return `round ${record.round}/${of} ${seconds(record.durationMs)}: ${events.join(' · ') || 'no events'} | after round: ${findingsText(record.findings.round)} | recovery (${recovery} action(s)): ${findingsText(record.findings.recovered)}`;
}

/** The summary printed at the end. */
export function summaryLines(result: CampaignResult): string[] {
  const perRound = result.rounds.map((record) => record.durationMs).sort((a, b) => a - b);
  const median = perRound.length ? (perRound[Math.floor((perRound.length - 1) / 2)] ?? 0) : 0;
  const lines = [
    '',
    `seed ${result.seed}: ${result.roundsPlayed} of ${result.roundsRequested} round(s) in ${seconds(result.durationMs)} (round median ${seconds(median)}, max ${seconds(perRound.at(-1) ?? 0)}), ${result.checks} invariant checks`,
    `faults: ${counts(result.faultsByType)}`,
    `operator actions: ${counts(result.opsByType)}`,
    `workflows by outcome: ${counts(result.workflowsByOutcome)}`,
    `info: ${counts(result.infoByRule)}`,
    `violations: ${result.violations.length}${result.violations.length ? ` (${counts(result.violationsByRule)})` : ''}`,
  ];
  const groups = new Map<string, ViolationRecord[]>();
  for (const found of result.violations) {
    const key = `${found.round}|${found.phase}`;
    groups.set(key, [...(groups.get(key) ?? []), found]);
  }
  for (const found of groups.values()) {
    const first = found[0];
    if (!first) continue;
    lines.push('', `seed ${first.seed} round ${first.round}, ${first.phase === 'round' ? 'after the round' : 'after recovery'}: ${found.length} violation(s)`);
    for (const one of found) lines.push(`  VIOLATION [${one.rule}] ${one.subject}: ${one.message}`);
    lines.push('  history:');
    for (const line of first.history) lines.push(`    ${line}`);
    if (first.previous.length) lines.push(`    earlier: ${first.previous.length > 3 ? '… | ' : ''}${first.previous.slice(-3).join(' | ')}`);
  }
  if (result.violations.length) lines.push('', `replay: ${result.replay}`);
  return lines;
}
