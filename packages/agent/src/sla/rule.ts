/** How a kind of time that is neither plainly up nor plainly down enters the SLA. */
export type TimePolicy = 'exclude' | 'available' | 'down';

/** The availability guarantee and the credit it promises. */
export interface SlaRule {
  /** Monthly availability promised, in percent (default 99.5). */
  readonly guaranteePercent: number;
  /** Minutes of service credit per minute below the guarantee (default 2). */
  readonly creditMinutesPerMinuteShort: number;
  /** Planned maintenance (drains, declared windows): excluded from the month by default. */
  readonly maintenance: TimePolicy;
  /**
   * Time the watcher could not observe (it was down): counted as down by default, because
   * availability the provider cannot prove is not availability it can claim.
   */
  readonly unknown: TimePolicy;
}

export const DEFAULT_SLA_RULE: SlaRule = { guaranteePercent: 99.5, creditMinutesPerMinuteShort: 2, maintenance: 'exclude', unknown: 'down' };

const POLICIES: readonly TimePolicy[] = ['exclude', 'available', 'down'];

/** Validates an `sla:` mapping (agent config); absent keys take the defaults. `fail` throws. */
export function parseSlaRule(raw: unknown, fail: (message: string) => never): SlaRule {
  if (raw === undefined || raw === null) return DEFAULT_SLA_RULE;
  if (typeof raw !== 'object') fail('sla must be a mapping');
  const doc = raw as Record<string, unknown>;
  const guaranteePercent = Number(doc['guaranteePercent'] ?? DEFAULT_SLA_RULE.guaranteePercent);
  if (!(guaranteePercent > 0 && guaranteePercent <= 100)) fail('sla.guaranteePercent must be in (0, 100]');
  const creditMinutesPerMinuteShort = Number(doc['creditMinutesPerMinuteShort'] ?? DEFAULT_SLA_RULE.creditMinutesPerMinuteShort);
  if (!(creditMinutesPerMinuteShort >= 0)) fail('sla.creditMinutesPerMinuteShort must be 0 or more');
  const policy = (key: 'maintenance' | 'unknown'): TimePolicy => {
    const value = doc[key] ?? DEFAULT_SLA_RULE[key];
    if (!POLICIES.includes(value as TimePolicy)) fail(`sla.${key} must be one of ${POLICIES.join(', ')}`);
    return value as TimePolicy;
  };
  return { guaranteePercent, creditMinutesPerMinuteShort, maintenance: policy('maintenance'), unknown: policy('unknown') };
}
