import { round, summarise, type Summary } from './stats.js';

/** A target from issue #6: `value op limit`. */
export interface Target {
  readonly op: '<' | '<=' | '>' | '>=';
  readonly limit: number;
}

export type FigureStatus = 'ok' | 'MISSED' | 'skipped' | 'info' | 'error';

/** One line of the summary: `name value unit (target …) status — detail`. */
export interface Figure {
  readonly name: string;
  /** The statistic the target is checked on (NaN when skipped or failed). */
  readonly value: number;
  readonly unit: string;
  readonly target?: Target;
  /** Which statistic `value` is ("median of 5", "p99 of 4,000", "peak"). */
  readonly statistic: string;
  readonly status: FigureStatus;
  /** The other statistics and notes, for people. */
  readonly detail: string;
  /** The raw samples (written to the results file). */
  readonly samples?: readonly number[];
  /** For the scale table: the figure's family ("status-json") and the scale (agents). */
  readonly family?: string;
  readonly scale?: number;
}

export const meets = (value: number, target: Target): boolean => {
  if (!Number.isFinite(value)) return false;
  switch (target.op) {
    case '<':
      return value < target.limit;
    case '<=':
      return value <= target.limit;
    case '>':
      return value > target.limit;
    case '>=':
      return value >= target.limit;
  }
};

export interface FigureInput {
  readonly name: string;
  readonly unit: string;
  readonly samples: readonly number[];
  readonly target?: Target;
  /** Which statistic meets the target: the median (default), p99, max or mean. */
  readonly use?: 'median' | 'p99' | 'max' | 'mean';
  /** A problem that makes the measurement invalid (for example an incomplete status output). */
  readonly invalid?: string;
  readonly note?: string;
  readonly family?: string;
  readonly scale?: number;
}

/** A figure from repeated samples: the target is checked on `use`, the rest goes to the detail. */
export function figure(input: FigureInput): Figure {
  const use = input.use ?? 'median';
  const stats: Summary = summarise(input.samples);
  const value = stats[use];
  const status: FigureStatus = input.invalid ? 'error' : !input.target ? 'info' : meets(value, input.target) ? 'ok' : 'MISSED';
  // For "higher is better" targets the worst run is the slowest: show min instead of p99/max.
  const higherBetter = input.target?.op === '>' || input.target?.op === '>=';
  const keys = higherBetter ? (['median', 'min'] as const) : (['median', 'p99', 'max'] as const);
  const others = keys.filter((key) => key !== use && stats.n > 1).map((key) => `${key} ${round(stats[key])} ${input.unit}`);
  const detail = [
    `${use}${stats.n > 1 ? ` of ${stats.n.toLocaleString('en-US')}` : ''}`,
    ...others,
    ...(input.invalid ? [`INVALID: ${input.invalid}`] : []),
    ...(input.note ? [input.note] : []),
  ].join('; ');
  return {
    name: input.name,
    value,
    unit: input.unit,
    ...(input.target ? { target: input.target } : {}),
    statistic: use,
    status,
    detail,
    samples: input.samples,
    ...(input.family ? { family: input.family } : {}),
    ...(input.scale !== undefined ? { scale: input.scale } : {}),
  };
}

/** A figure that could not be measured (an optional part is missing). */
export function skipped(name: string, unit: string, reason: string, target?: Target): Figure {
  return { name, value: Number.NaN, unit, ...(target ? { target } : {}), statistic: '', status: 'skipped', detail: reason };
}

/** A figure whose measurement crashed: it fails the run. */
export function failed(name: string, unit: string, error: unknown, target?: Target): Figure {
  const message = error instanceof Error ? error.message : String(error);
  return { name, value: Number.NaN, unit, ...(target ? { target } : {}), statistic: '', status: 'error', detail: message.split('\n')[0] ?? message };
}

export const targetText = (target: Target | undefined, unit: string): string => (target ? `target ${target.op} ${target.limit} ${unit}` : 'no target');

/** `name value unit (target …) status — detail`, the issue's summary-line format. */
export function summaryLine(fig: Figure): string {
  const value = fig.status === 'skipped' ? 'skipped' : round(fig.value);
  const unit = fig.status === 'skipped' ? '' : ` ${fig.unit}`;
  const detail = fig.detail ? ` — ${fig.detail}` : '';
  if (fig.status === 'skipped') return `${fig.name} skipped (${fig.detail}) (${targetText(fig.target, fig.unit)})`;
  return `${fig.name} ${value}${unit} (${targetText(fig.target, fig.unit)}) ${fig.status}${detail}`;
}
