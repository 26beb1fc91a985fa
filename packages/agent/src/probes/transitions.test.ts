import type { Capability__Output } from '@hvctl/proto';
import { describe, expect, it } from 'vitest';
import { capabilityTransitions, describeTransition } from './transitions.js';

const cap = (area: string, available: boolean, detail: string): Capability__Output => ({ area, driver: 'real', available, detail });

describe('capabilityTransitions', () => {
  it('lists the areas whose availability or detail changed, nothing else', () => {
    const before = [cap('drbd', false, 'drbdadm not found'), cap('kvm', true, 'libvirt 9.0.0'), cap('routing', true, 'BIRD 2.0.12')];
    const after = [cap('drbd', true, 'drbd-utils 9.22.0'), cap('kvm', true, 'libvirt 9.0.0'), cap('routing', true, 'BIRD 2.15')];
    expect(capabilityTransitions(before, after)).toEqual([
      { area: 'drbd', wasAvailable: false, available: true, detail: 'drbd-utils 9.22.0' },
      { area: 'routing', wasAvailable: true, available: true, detail: 'BIRD 2.15' },
    ]);
    expect(capabilityTransitions(after, after)).toEqual([]);
  });

  it('treats an area not probed before as a transition', () => {
    expect(capabilityTransitions([], [cap('kvm', false, 'virsh not found')])).toEqual([{ area: 'kvm', wasAvailable: undefined, available: false, detail: 'virsh not found' }]);
  });
});

describe('describeTransition', () => {
  it('says which way the area went and why', () => {
    expect(describeTransition({ area: 'routing', wasAvailable: true, available: false, detail: 'BIRD is not reachable' })).toBe('routing became unavailable: BIRD is not reachable');
    expect(describeTransition({ area: 'drbd', wasAvailable: false, available: true, detail: 'drbd-utils 9.22.0' })).toBe('drbd became available: drbd-utils 9.22.0');
    expect(describeTransition({ area: 'routing', wasAvailable: true, available: true, detail: 'BIRD 2.15' })).toBe('routing still available: BIRD 2.15');
  });
});
