import { RETENTION_RULES, type RetentionRules } from '@hvctl/common';

/** What retention needs of a snapshot. */
export interface Dated {
  readonly id: string;
  readonly timeUnixMs: number;
}

export interface RetentionDecision {
  /** Ids kept, newest first. */
  readonly keep: readonly string[];
  /** Ids to forget, newest first. */
  readonly forget: readonly string[];
  /** Why each kept snapshot is kept ("last 1", "daily 2", ...). */
  readonly reasons: ReadonlyMap<string, readonly string[]>;
}

/** ISO-8601 week-numbering year and week of a UTC time (Go's time.ISOWeek, which restic uses). */
export function isoWeek(timeUnixMs: number): { year: number; week: number } {
  const date = new Date(timeUnixMs);
  const day = (date.getUTCDay() + 6) % 7; // Monday = 0
  const thursday = Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), date.getUTCDate() - day + 3);
  const year = new Date(thursday).getUTCFullYear();
  const week = 1 + Math.floor((thursday - Date.UTC(year, 0, 1)) / (7 * 86_400_000));
  return { year, week };
}

type Bucket = (timeUnixMs: number, index: number) => number;

/** The period a snapshot falls into per rule, as restic's `snapshot_policy.go` numbers them (UTC here). */
const BUCKETS: Record<(typeof RETENTION_RULES)[number], Bucket> = {
  keepLast: (_time, index) => index,
  keepHourly: (time) => {
    const d = new Date(time);
    return d.getUTCFullYear() * 1_000_000 + (d.getUTCMonth() + 1) * 10_000 + d.getUTCDate() * 100 + d.getUTCHours();
  },
  keepDaily: (time) => {
    const d = new Date(time);
    return d.getUTCFullYear() * 10_000 + (d.getUTCMonth() + 1) * 100 + d.getUTCDate();
  },
  keepWeekly: (time) => {
    const { year, week } = isoWeek(time);
    return year * 100 + week;
  },
  keepMonthly: (time) => {
    const d = new Date(time);
    return d.getUTCFullYear() * 100 + (d.getUTCMonth() + 1);
  },
  keepYearly: (time) => new Date(time).getUTCFullYear(),
};

const LABEL: Record<(typeof RETENTION_RULES)[number], string> = {
  keepLast: 'last',
  keepHourly: 'hourly',
  keepDaily: 'daily',
  keepWeekly: 'weekly',
  keepMonthly: 'monthly',
  keepYearly: 'yearly',
};

/** True when the policy has at least one rule (an empty policy must never forget everything). */
export function hasRules(policy: RetentionRules): boolean {
  return RETENTION_RULES.some((rule) => (policy[rule] ?? 0) > 0);
}

/**
 * restic's `forget` decision, pure: walking the snapshots newest first, each rule
 * "keep N" keeps the first (newest) snapshot of each new period until it has kept N; a
 * snapshot is kept when any rule keeps it. Periods are UTC hours, days, ISO weeks,
 * months and years. A policy without rules keeps everything.
 */
export function applyRetention(snapshots: readonly Dated[], policy: RetentionRules): RetentionDecision {
  const sorted = [...snapshots].sort((a, b) => b.timeUnixMs - a.timeUnixMs || (a.id < b.id ? -1 : 1));
  if (!hasRules(policy)) return { keep: sorted.map((s) => s.id), forget: [], reasons: new Map() };
  const state = RETENTION_RULES.map((rule) => ({ rule, left: policy[rule] ?? 0, last: Number.NaN, taken: 0 }));
  const keep: string[] = [];
  const forget: string[] = [];
  const reasons = new Map<string, string[]>();
  sorted.forEach((snapshot, index) => {
    const why: string[] = [];
    for (const entry of state) {
      if (entry.left <= 0) continue;
      const period = BUCKETS[entry.rule](snapshot.timeUnixMs, index);
      if (period === entry.last) continue;
      entry.last = period;
      entry.left -= 1;
      entry.taken += 1;
      why.push(`${LABEL[entry.rule]} ${entry.taken}`);
    }
    if (why.length) {
      keep.push(snapshot.id);
      reasons.set(snapshot.id, why);
    } else {
      forget.push(snapshot.id);
    }
  });
  return { keep, forget, reasons };
}
