import type { Capability__Output } from '@hvctl/proto';

/** One capability whose availability (or driver detail) changed between two probes. */
export interface CapabilityTransition {
  readonly area: string;
  /** Availability before; undefined when the area was not probed before. */
  readonly wasAvailable: boolean | undefined;
  readonly available: boolean;
  readonly detail: string;
}

/**
 * What changed between two probe rounds: an area that became available or unavailable,
 * or whose detail changed (a tool upgraded, a different reason it is missing).
 */
export function capabilityTransitions(before: readonly Capability__Output[], after: readonly Capability__Output[]): CapabilityTransition[] {
  const previous = new Map(before.map((capability) => [capability.area, capability]));
  const transitions: CapabilityTransition[] = [];
  for (const capability of after) {
    const old = previous.get(capability.area);
    if (old && old.available === capability.available && old.detail === capability.detail && old.driver === capability.driver) continue;
    transitions.push({ area: capability.area, wasAvailable: old?.available, available: capability.available, detail: capability.detail });
  }
  return transitions;
}

/** A transition as one log line: "routing became available (BIRD 2.0.12, …)". */
export function describeTransition(transition: CapabilityTransition): string {
  if (transition.wasAvailable === transition.available) return `${transition.area} ${transition.available ? 'still available' : 'still unavailable'}: ${transition.detail}`;
  return `${transition.area} became ${transition.available ? 'available' : 'unavailable'}: ${transition.detail}`;
}
