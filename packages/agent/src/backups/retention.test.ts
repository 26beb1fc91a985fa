import { describe, expect, it } from 'vitest';
import { applyRetention, isoWeek } from './retention.js';

const at = (iso: string): number => Date.parse(iso);
const day = (ms: number): string => new Date(ms).toISOString().slice(0, 10);

/** One snapshot every day of 2023 at 02:00 UTC, as a daily schedule would make them. */
function dailyYear(): { id: string; timeUnixMs: number }[] {
  const out: { id: string; timeUnixMs: number }[] = [];
  for (let t = at('2023-01-01T02:00:00Z'); t <= at('2023-12-31T02:00:00Z'); t += 86_400_000) out.push({ id: day(t), timeUnixMs: t });
  return out;
}

describe('applyRetention (restic forget semantics)', () => {
  it('keeps exactly what the policy says over a simulated year of daily backups', () => {
    // Given a year of daily snapshots (2023-12-31 is a Sunday, the end of ISO week 52)
    const year = dailyYear();
    expect(year).toHaveLength(365);
    // When keep-last 2, keep-daily 7, keep-weekly 4, keep-monthly 6 is applied
    const decision = applyRetention(year, { keepLast: 2, keepDaily: 7, keepWeekly: 4, keepMonthly: 6 });
    // Then the last 7 days, the Sundays ending the 3 weeks before, and the last day of the 5 months before are kept
    expect(decision.keep).toEqual([
      '2023-12-31', '2023-12-30', '2023-12-29', '2023-12-28', '2023-12-27', '2023-12-26', '2023-12-25',
      '2023-12-24', '2023-12-17', '2023-12-10',
      '2023-11-30', '2023-10-31', '2023-09-30', '2023-08-31', '2023-07-31',
    ]);
    expect(decision.forget).toHaveLength(365 - 15);
    expect(decision.reasons.get('2023-12-31')).toEqual(['last 1', 'daily 1', 'weekly 1', 'monthly 1']);
    expect(decision.reasons.get('2023-07-31')).toEqual(['monthly 6']);
  });

  it('counts only periods that hold a snapshot, and keeps the newest of a period', () => {
    // Given two backups a day with a gap of a whole week (12-11 .. 12-17 missing)
    const times = ['2023-12-20T22:00:00Z', '2023-12-20T10:00:00Z', '2023-12-19T10:00:00Z', '2023-12-10T23:00:00Z', '2023-12-10T01:00:00Z', '2023-12-03T12:00:00Z'];
    const snapshots = times.map((time) => ({ id: time, timeUnixMs: at(time) }));
    // When keep-daily 3 and keep-weekly 3 apply
    const decision = applyRetention(snapshots, { keepDaily: 3, keepWeekly: 3 });
    // Then the newest of each of the 3 newest days, and of each of the 3 newest weeks holding one, are kept
    expect(decision.keep).toEqual(['2023-12-20T22:00:00Z', '2023-12-19T10:00:00Z', '2023-12-10T23:00:00Z', '2023-12-03T12:00:00Z']);
    expect(decision.forget).toEqual(['2023-12-20T10:00:00Z', '2023-12-10T01:00:00Z']);
  });

  it('keeps everything when no rule is set, and only the newest N with keep-last', () => {
    const snapshots = dailyYear().slice(0, 10);
    expect(applyRetention(snapshots, {}).forget).toEqual([]);
    expect(applyRetention(snapshots, { keepLast: 3 }).keep).toEqual(['2023-01-10', '2023-01-09', '2023-01-08']);
  });

  it('numbers ISO weeks like Go (restic): 2021-01-03 is in week 53 of 2020', () => {
    expect(isoWeek(at('2021-01-03T12:00:00Z'))).toEqual({ year: 2020, week: 53 });
    expect(isoWeek(at('2021-01-04T00:00:00Z'))).toEqual({ year: 2021, week: 1 });
    expect(isoWeek(at('2023-12-31T02:00:00Z'))).toEqual({ year: 2023, week: 52 });
  });
});
