import { invalidArgument } from './errors.js';
import { validateResourceName } from './validation.js';

/** Which snapshots to keep (restic `forget --keep-*` semantics); absent rules keep nothing by themselves. */
export interface RetentionRules {
  readonly keepLast?: number;
  readonly keepHourly?: number;
  readonly keepDaily?: number;
  readonly keepWeekly?: number;
  readonly keepMonthly?: number;
  readonly keepYearly?: number;
}

export const RETENTION_RULES = ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly'] as const;

/** One backup policy of the cluster file: which VMs, when, how many to keep, how old is too old. */
export interface BackupPolicy {
  readonly name: string;
  /** VM names, or ["*"] for every VM no other policy names. */
  readonly vms: readonly string[];
  /** Cron expression (5 fields, or 6 with seconds first), evaluated in UTC. */
  readonly schedule: string;
  readonly retention: RetentionRules;
  /** A VM whose newest backup is older than this is flagged (seconds). */
  readonly maxAgeSeconds: number;
}

/** The cluster file's optional `backups:` section. */
export interface BackupsSection {
  readonly policies: readonly BackupPolicy[];
}

/** Default `maxAge`: a daily schedule plus two hours of slack. */
export const DEFAULT_MAX_AGE_SECONDS = 26 * 3600;

const DURATION = /^(\d+)([smhd])$/;
const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86_400 };
const CRON_FIELD = /^[\d*,/\-A-Za-z?LW#]+$/;

/** Parses "90s", "30m", "26h", "8d" into seconds. */
export function parseDuration(value: string, field: string): number {
  const match = DURATION.exec(value);
  if (!match) throw invalidArgument(`${field}: "${value.slice(0, 40)}" is not a duration like 30m, 26h or 8d`);
  const seconds = Number(match[1]) * (UNIT_SECONDS[match[2] as string] as number);
  if (seconds <= 0) throw invalidArgument(`${field} must be positive`);
  return seconds;
}

/** Checks the shape of a cron expression (the agent's scheduler parses it fully when it loads the policy). */
export function validateCron(value: string, field: string): string {
  const fields = value.trim().split(/\s+/);
  if (fields.length < 5 || fields.length > 6 || !fields.every((part) => CRON_FIELD.test(part))) {
    throw invalidArgument(`${field}: "${value.slice(0, 60)}" is not a cron expression (5 fields "m h dom mon dow", or 6 with seconds first)`);
  }
  return fields.join(' ');
}

function parseRetention(raw: unknown, field: string): RetentionRules {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidArgument(`${field} must be a mapping of keepLast/keepHourly/keepDaily/keepWeekly/keepMonthly/keepYearly`);
  const rules: Record<string, number> = {};
  for (const [key, value] of Object.entries(raw)) {
    if (!(RETENTION_RULES as readonly string[]).includes(key)) throw invalidArgument(`${field}.${key} is not a retention rule (${RETENTION_RULES.join(', ')})`);
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 10_000) throw invalidArgument(`${field}.${key} must be an integer from 1 to 10000`);
    rules[key] = value;
  }
  if (Object.keys(rules).length === 0) throw invalidArgument(`${field} needs at least one rule; an empty policy would keep nothing`);
  return rules as RetentionRules;
}

/**
 * Validates the cluster file's `backups:` section strictly: unknown keys, a VM named by
 * two policies, a bad schedule, duration or retention rule are errors naming the entry.
 */
export function parseBackupsSection(raw: unknown): BackupsSection {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw invalidArgument('backups must be a mapping with a `policies:` list');
  const doc = raw as Record<string, unknown>;
  for (const key of Object.keys(doc)) if (key !== 'policies') throw invalidArgument(`backups.${key} is not a known key (policies)`);
  if (!Array.isArray(doc['policies'])) throw invalidArgument('backups.policies must be a list');
  const names = new Set<string>();
  const owners = new Map<string, string>();
  const policies = (doc['policies'] as unknown[]).map((entry, index): BackupPolicy => {
    const field = `backups.policies[${index}]`;
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalidArgument(`${field} must be a mapping`);
    const policy = entry as Record<string, unknown>;
    for (const key of Object.keys(policy)) {
      if (!['name', 'vms', 'schedule', 'retention', 'maxAge'].includes(key)) throw invalidArgument(`${field}.${key} is not a known key (name, vms, schedule, retention, maxAge)`);
    }
    const name = validateResourceName(String(policy['name'] ?? ''), `${field}.name`);
    if (names.has(name)) throw invalidArgument(`${field}: policy "${name}" is defined twice`);
    names.add(name);
    if (!Array.isArray(policy['vms']) || policy['vms'].length === 0) throw invalidArgument(`${field}.vms must be a non-empty list of VM names, or ["*"]`);
    const vms = (policy['vms'] as unknown[]).map((vm, vmIndex) => (vm === '*' ? '*' : validateResourceName(String(vm), `${field}.vms[${vmIndex}]`)));
    for (const vm of vms) {
      const other = owners.get(vm);
      if (other) throw invalidArgument(`${field}: ${vm === '*' ? 'the wildcard "*"' : `VM ${vm}`} is already covered by policy "${other}"`);
      owners.set(vm, name);
    }
    if (typeof policy['schedule'] !== 'string') throw invalidArgument(`${field}.schedule must be a cron expression string`);
    const schedule = validateCron(policy['schedule'], `${field}.schedule`);
    const retention = parseRetention(policy['retention'], `${field}.retention`);
    const maxAgeSeconds = policy['maxAge'] === undefined ? DEFAULT_MAX_AGE_SECONDS : parseDuration(String(policy['maxAge']), `${field}.maxAge`);
    return { name, vms, schedule, retention, maxAgeSeconds };
  });
  return { policies };
}

/** The policy that covers a VM: the one naming it, else the wildcard policy, else none. */
export function policyFor(section: BackupsSection | undefined, vm: string): BackupPolicy | undefined {
  const policies = section?.policies ?? [];
  return policies.find((policy) => policy.vms.includes(vm)) ?? policies.find((policy) => policy.vms.includes('*'));
}

/** The section as the cluster file writes it (durations as text), so that it parses back to the same. */
export function formatBackupsSection(section: BackupsSection): Record<string, unknown> {
  return {
    policies: section.policies.map((policy) => ({
      name: policy.name,
      vms: [...policy.vms],
      schedule: policy.schedule,
      retention: { ...policy.retention },
      maxAge: policy.maxAgeSeconds % 3600 === 0 ? `${policy.maxAgeSeconds / 3600}h` : `${policy.maxAgeSeconds}s`,
    })),
  };
}
