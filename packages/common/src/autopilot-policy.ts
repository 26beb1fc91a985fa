import { invalidArgument } from './errors.js';

/**
 * What the autopilot (run by the backup site's agent, docs/autopilot.md) does with what it
 * decides: `act` submits the workflows, `observe` only logs and alerts what it would do,
 * `off` decides nothing.
 */
export type AutopilotMode = 'act' | 'observe' | 'off';

export const AUTOPILOT_MODES: readonly AutopilotMode[] = ['act', 'observe', 'off'];

/** The cluster file's `autopilot:` section. */
export interface AutopilotPolicy {
  readonly mode: AutopilotMode;
  /** How long every vantage point must agree that a node is lost before it is failed over. */
  readonly graceSeconds: number;
  /** Automatic failovers per site in any hour; then the autopilot stops and alerts. */
  readonly maxFailoversPerSitePerHour: number;
  /** At most one automatic start of a VM in this window; then it stops and alerts. */
  readonly restartWindowMinutes: number;
  /** After a node returns, this long before a new loss of it counts (a flapping link moves at most once). */
  readonly holdDownSeconds: number;
}

/**
 * The production default: observe only until an operator chooses `act` (a new cluster's
 * DRBD quorum settings are checked first, docs/autopilot.md), with a 20 s grace — longer
 * than a DRBD ping timeout and a control-plane hiccup, far below the RTO.
 */
export const DEFAULT_AUTOPILOT_POLICY: AutopilotPolicy = {
  mode: 'observe',
  graceSeconds: 20,
  maxFailoversPerSitePerHour: 2,
  restartWindowMinutes: 60,
  holdDownSeconds: 120,
};

/** The lab's policy (written by `hvctl lab up`): acts, with a short grace, so `lab fault kill NODE` alone fails over. */
export const LAB_AUTOPILOT_POLICY: AutopilotPolicy = {
  mode: 'act',
  graceSeconds: 5,
  maxFailoversPerSitePerHour: 2,
  restartWindowMinutes: 10,
  holdDownSeconds: 30,
};

const KEYS = ['mode', 'graceSeconds', 'maxFailoversPerSitePerHour', 'restartWindowMinutes', 'holdDownSeconds'];

/** Validates the `autopilot:` mapping (absent: the production default); throws INVALID_ARGUMENT naming the bad key. */
export function parseAutopilotPolicy(raw: unknown): AutopilotPolicy {
  if (raw === undefined || raw === null) return DEFAULT_AUTOPILOT_POLICY;
  if (typeof raw !== 'object' || Array.isArray(raw)) throw invalidArgument('autopilot must be a mapping');
  const doc = raw as Record<string, unknown>;
  const unknown = Object.keys(doc).filter((key) => !KEYS.includes(key));
  if (unknown.length) throw invalidArgument(`autopilot: unknown key ${unknown.join(', ')} (known: ${KEYS.join(', ')})`);
  const mode = doc['mode'] ?? DEFAULT_AUTOPILOT_POLICY.mode;
  if (!AUTOPILOT_MODES.includes(mode as AutopilotMode)) throw invalidArgument(`autopilot.mode must be one of ${AUTOPILOT_MODES.join(', ')}`);
  const number = (key: keyof AutopilotPolicy, min: number, max: number): number => {
    const value = doc[key] ?? DEFAULT_AUTOPILOT_POLICY[key];
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) throw invalidArgument(`autopilot.${key} must be a whole number from ${min} to ${max}`);
    return value;
  };
  return {
    mode: mode as AutopilotMode,
    // A grace under 2 s would act on one missed DRBD ping.
    graceSeconds: number('graceSeconds', 2, 3600),
    maxFailoversPerSitePerHour: number('maxFailoversPerSitePerHour', 0, 100),
    restartWindowMinutes: number('restartWindowMinutes', 1, 7 * 24 * 60),
    holdDownSeconds: number('holdDownSeconds', 0, 24 * 3600),
  };
}
