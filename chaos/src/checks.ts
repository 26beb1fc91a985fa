/**
 * The invariants, checked from outside on what the CLI prints: the rules of `hvctl check`
 * (its --json report, passed through), plus what `check` cannot know alone — every VM that
 * existed at the start is still listed, none runs on two nodes, every VM intended running
 * runs exactly once after recovery, every workflow ended or is resumable, no CLI hung past
 * its bound. Each check is a small named pure function over one snapshot; add one to CHECKS.
 */

/** The parts of `hvctl status --json` the checks read (extra fields are ignored). */
export interface StatusJson {
  readonly nodes: readonly { readonly name: string; readonly reachable: boolean }[];
  readonly vms: readonly { readonly name: string; readonly node: string; readonly state: string; readonly runningOn: readonly string[]; readonly intent?: string }[];
  readonly resources?: readonly { readonly name: string; readonly replicas: readonly { readonly node: string; readonly replication?: string; readonly witness?: boolean }[] }[];
}

/** The parts of `hvctl workflows --json` the checks read. */
export interface WorkflowJson {
  readonly id: string;
  readonly state: string;
  readonly orphaned?: boolean;
  readonly coordinator?: string;
  readonly createdUnixMs?: number | string;
  readonly spec?: { readonly kind?: string };
}

/** `hvctl check --json`. */
export interface CheckJson {
  readonly ok: boolean;
  readonly violations: readonly { readonly rule: string; readonly subject: string; readonly message: string; readonly severity?: string }[];
  readonly unchecked?: readonly string[];
}

/** A CLI call the campaign made, as the checks see it. */
export interface CallRecord {
  readonly command: string;
  readonly hung: boolean;
  readonly boundMs: number;
  readonly durationMs: number;
}

/** When the snapshot was taken: right after a round's events, or after the recovery phase. */
export type Phase = 'round' | 'recovered';

export interface Snapshot {
  readonly phase: Phase;
  /** undefined when `status --json` gave nothing (itself a finding). */
  readonly status: StatusJson | undefined;
  readonly check: CheckJson | undefined;
  readonly workflows: readonly WorkflowJson[] | undefined;
  /** CLI calls since the previous snapshot. */
  readonly calls: readonly CallRecord[];
  /** VM names listed at the start of the campaign. */
  readonly initialVms: readonly string[];
}

export interface Finding {
  readonly rule: string;
  readonly subject: string;
  readonly message: string;
  /** A violation fails the campaign; info is counted and reported. */
  readonly severity: 'violation' | 'info';
}

export type Check = (snapshot: Snapshot) => Finding[];

const violation = (rule: string, subject: string, message: string): Finding => ({ rule, subject, message, severity: 'violation' });
const info = (rule: string, subject: string, message: string): Finding => ({ rule, subject, message, severity: 'info' });

/** The CLI's read commands must always answer, even with nodes down. */
export const readsAnswered: Check = (snapshot) => [
  ...(snapshot.status ? [] : [violation('read-failed', 'status', '`hvctl status --json` printed no topology')]),
  ...(snapshot.check ? [] : [violation('read-failed', 'check', '`hvctl check --json` printed no report')]),
  ...(snapshot.workflows ? [] : [violation('read-failed', 'workflows', '`hvctl workflows --json` printed no list')]),
];

/** Every rule of `hvctl check`, as it reports them. */
export const hvctlCheck: Check = (snapshot) =>
  (snapshot.check?.violations ?? []).map((found) =>
    // An outage (a VM intended running that runs nowhere, the public block unannounced) is expected while faults are in
    // play and reported by `check`; it is a violation only when it outlasts the recovery bound.
    found.severity === 'outage' && snapshot.phase !== 'recovered' ? info(found.rule, found.subject, found.message) : violation(found.rule, found.subject, found.message),
  );

/** Every VM that existed at the start is still listed (state unknown is fine; vanishing is not). */
export const vmListed: Check = (snapshot) => {
  if (!snapshot.status) return [];
  const listed = new Set(snapshot.status.vms.map((vm) => vm.name));
  return snapshot.initialVms.filter((name) => !listed.has(name)).map((name) => violation('vm-missing', name, `${name} existed at the start and is no longer listed by \`hvctl status\``));
};

/** No VM runs on two nodes. */
export const vmOnce: Check = (snapshot) =>
  (snapshot.status?.vms ?? []).filter((vm) => vm.runningOn.length > 1).map((vm) => violation('vm-twice', vm.name, `${vm.name} runs on ${vm.runningOn.join(' and ')}`));

/**
 * After recovery every VM intended running runs exactly once. A VM that runs nowhere and
 * never had an intent recorded is counted as info, since nothing says it should run.
 */
export const vmIntent: Check = (snapshot) => {
  if (snapshot.phase !== 'recovered' || !snapshot.status) return [];
  return snapshot.status.vms.flatMap((vm) => {
    if (vm.intent === 'running' && vm.runningOn.length !== 1) {
      return [violation('vm-intent', vm.name, vm.runningOn.length === 0 ? `${vm.name} is intended running and runs nowhere (${vm.state} on ${vm.node})` : `${vm.name} is intended running and runs on ${vm.runningOn.join(' and ')}`)];
    }
    if (!vm.intent && vm.runningOn.length === 0) return [info('vm-down-no-intent', vm.name, `${vm.name} runs nowhere (${vm.state} on ${vm.node}) and no intent was ever recorded for it`)];
    return [];
  });
};

/** After recovery every workflow ended or is resumable (orphaned), none still running under a live coordinator. */
export const workflowsSettled: Check = (snapshot) => {
  if (snapshot.phase !== 'recovered') return [];
  return (snapshot.workflows ?? [])
    .filter((workflow) => workflow.state === 'running')
    .map((workflow) =>
      workflow.orphaned
        ? info('workflow-resumable', workflow.id, `${workflow.id} (${workflow.spec?.kind ?? '?'}) is orphaned: resumable with \`hvctl resume ${workflow.id}\``)
        : violation('workflow-stuck', workflow.id, `${workflow.id} (${workflow.spec?.kind ?? '?'}) on ${workflow.coordinator ?? '?'} is still running after the recovery bound`),
    );
};

/** After recovery every node answers again. */
export const nodesBack: Check = (snapshot) => {
  if (snapshot.phase !== 'recovered' || !snapshot.status) return [];
  return snapshot.status.nodes.filter((node) => !node.reachable).map((node) => violation('node-not-back', node.name, `${node.name} is still unreachable after the recovery phase`));
};

/** No CLI outlived its bound. */
export const noHang: Check = (snapshot) =>
  snapshot.calls.filter((call) => call.hung).map((call) => violation('hang', call.command, `\`hvctl ${call.command}\` was still running after its bound of ${Math.round(call.boundMs / 1000)} s (killed)`));

export const CHECKS: readonly Check[] = [readsAnswered, hvctlCheck, vmListed, vmOnce, vmIntent, workflowsSettled, nodesBack, noHang];

/** Runs every check; a rule+subject reported twice (by `check` and by our own) counts once. */
export function runChecks(snapshot: Snapshot, checks: readonly Check[] = CHECKS): Finding[] {
  const seen = new Set<string>();
  const findings: Finding[] = [];
  for (const check of checks) {
    for (const finding of check(snapshot)) {
      const key = `${finding.severity}|${finding.rule}|${finding.subject}`;
      if (seen.has(key)) continue;
      seen.add(key);
      findings.push(finding);
    }
  }
  return findings;
}

/** The findings of `later` that `earlier` also had (same rule and subject): what lasted between two samples. */
export function persistent(earlier: readonly Finding[], later: readonly Finding[]): Finding[] {
  const before = new Set(earlier.map((finding) => `${finding.severity}|${finding.rule}|${finding.subject}`));
  return later.filter((finding) => before.has(`${finding.severity}|${finding.rule}|${finding.subject}`));
}
