/**
 * The campaign's schedule: rounds of events drawn from the seed alone (the lab model is
 * read-only names), so the same seed, rounds, fault list and lab size give the same events
 * in the same order. What an event then does depends on the live lab (a heal heals one of
 * the sites that are cut); that choice is drawn here too, as `pick`.
 */
import { FAULTS, OPS, type ActionKind, type ChaosEvent, type LabModel } from './catalogue.js';
import { createRng, type Rng } from './rng.js';

export interface ScheduleOptions {
  readonly seed: number;
  readonly rounds: number;
  /** The fault and operator kinds in play (already filtered by what the CLI offers). */
  readonly kinds: readonly ActionKind[];
  /** Events per round, both included. */
  readonly minEvents?: number;
  readonly maxEvents?: number;
}

/** The kinds a campaign uses: the named faults and every operator action, each only if the CLI has its command. */
export function selectKinds(faults: readonly string[], hasCommand: (path: readonly string[]) => boolean): ActionKind[] {
  const unknown = faults.filter((name) => !FAULTS.some((kind) => kind.name === name));
  if (unknown.length) throw new RangeError(`unknown fault ${unknown.join(', ')}; faults are ${FAULTS.map((kind) => kind.name).join(', ')}`);
  return [...FAULTS.filter((kind) => faults.includes(kind.name)), ...OPS].filter((kind) => hasCommand(kind.requires));
}

function drawEvent(rng: Rng, model: LabModel, kinds: readonly ActionKind[]): ChaosEvent {
  const kind = rng.weighted(kinds, kinds.map((candidate) => candidate.weight));
  const drawn = kind.draw(rng, model);
  return {
    kind: kind.kind,
    name: kind.name,
    args: drawn.args,
    pick: rng.int(1_000_000),
    pauseMs: rng.pick([0, 0, 250, 500, 1000, 2000]),
    // Operator actions sometimes run while the next faults land.
    background: kind.kind === 'op' && rng.chance(0.4),
    ...(drawn.killAfterMs !== undefined ? { killAfterMs: drawn.killAfterMs } : {}),
  };
}

/** Every round's events, in order. Round r uses its own stream (seed, r): adding rounds does not change earlier ones. */
export function buildSchedule(model: LabModel, options: ScheduleOptions): ChaosEvent[][] {
  if (options.kinds.length === 0) throw new RangeError('no fault or operator action is available to schedule');
  const min = options.minEvents ?? 2;
  const max = options.maxEvents ?? 5;
  return Array.from({ length: options.rounds }, (_, round) => roundEvents(model, options.seed, round, options.kinds, min, max));
}

export function roundEvents(model: LabModel, seed: number, round: number, kinds: readonly ActionKind[], min = 2, max = 5): ChaosEvent[] {
  const rng = createRng((Math.imul(seed >>> 0, 0x9e3779b1) + round) >>> 0);
  const count = rng.between(min, max);
  return Array.from({ length: count }, () => drawEvent(rng, model, kinds));
}

/** One event as a short line: `kill msk-1`, `drain spb-2 (bg)`, `cli-kill drain msk-2 @1200ms`. */
export function describeEvent(event: ChaosEvent): string {
  const args = event.args.filter((value) => value !== '').join(' ');
  const tail = event.killAfterMs !== undefined ? ` @${event.killAfterMs}ms` : event.background ? ' (bg)' : '';
  return `${event.name}${args ? ` ${args}` : ''}${tail}`;
}
