import type { Capability__Output } from '@hvctl/proto';
import { afterEach, describe, expect, it } from 'vitest';
import { CapabilityWatch, type ProbeTarget } from './capability-watch.js';
import type { CapabilityTransition } from './transitions.js';

/** A probe target whose next results the test sets; counts the probe rounds. */
class FakeTarget implements ProbeTarget {
  rounds = 0;
  next: Capability__Output[];
  private current: Capability__Output[];
  probeDelayMs = 0;

  constructor(initial: Capability__Output[]) {
    this.current = initial;
    this.next = initial;
  }

  currentCapabilities(): readonly Capability__Output[] {
    return this.current;
  }

  async probe(): Promise<Capability__Output[]> {
    this.rounds += 1;
    if (this.probeDelayMs) await new Promise((resolve) => setTimeout(resolve, this.probeDelayMs));
    this.current = this.next;
    return this.current;
  }
}

const cap = (area: string, available: boolean, detail = available ? 'ok' : 'missing'): Capability__Output => ({ area, driver: 'real', available, detail });
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until(what: string, check: () => boolean, timeoutMs = 2000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe('CapabilityWatch', () => {
  let watch: CapabilityWatch | undefined;
  afterEach(() => watch?.stop());

  it('probes every interval and reports a tool that appears, once', async () => {
    const target = new FakeTarget([cap('drbd', false), cap('routing', true)]);
    const changes: (readonly CapabilityTransition[])[] = [];
    watch = new CapabilityWatch({ target, intervalMs: 50, onChange: (transitions) => changes.push(transitions) });
    watch.start();
    await until('two rounds', () => target.rounds >= 2);
    expect(changes).toEqual([]);

    target.next = [cap('drbd', true, 'drbd-utils 9.22.0'), cap('routing', true)];
    await until('the change', () => changes.length === 1);
    expect(changes[0]).toEqual([{ area: 'drbd', wasAvailable: false, available: true, detail: 'drbd-utils 9.22.0' }]);
    const rounds = target.rounds;
    await until('more rounds', () => target.rounds >= rounds + 2);
    // Nothing changed since: no second report.
    expect(changes).toHaveLength(1);
  });

  it('probes soon after a call failed on an area reported available, not on one already unavailable', async () => {
    const target = new FakeTarget([cap('drbd', true), cap('routing', false)]);
    const changes: (readonly CapabilityTransition[])[] = [];
    watch = new CapabilityWatch({ target, intervalMs: 3_600_000, suspectGapMs: 0, onChange: (transitions) => changes.push(transitions) });
    watch.start();

    watch.suspect('routing');
    await sleep(100);
    expect(target.rounds).toBe(0);

    target.next = [cap('drbd', false, 'drbdadm not found'), cap('routing', false)];
    watch.suspect('drbd');
    await until('the change', () => changes.length === 1);
    expect(changes[0]).toEqual([{ area: 'drbd', wasAvailable: true, available: false, detail: 'drbdadm not found' }]);
    expect(target.rounds).toBe(1);
  });

  it('probes at once when a driver reached its tool again, only for an area reported unavailable', async () => {
    const target = new FakeTarget([cap('kvm', false, 'libvirtd down'), cap('drbd', true)]);
    const changes: (readonly CapabilityTransition[])[] = [];
    watch = new CapabilityWatch({ target, intervalMs: 3_600_000, onChange: (transitions) => changes.push(transitions) });
    watch.start();

    watch.recovered('drbd');
    await sleep(100);
    expect(target.rounds).toBe(0);

    target.next = [cap('kvm', true, 'virsh 9.0.0'), cap('drbd', true)];
    watch.recovered('kvm');
    await until('the change', () => changes.length === 1);
    expect(changes[0]).toEqual([{ area: 'kvm', wasAvailable: false, available: true, detail: 'virsh 9.0.0' }]);
  });

  it('never runs two probe rounds at once; a request during a round runs one more after it', async () => {
    const target = new FakeTarget([cap('kvm', true)]);
    target.probeDelayMs = 100;
    let overlapping = 0;
    let maxOverlap = 0;
    const probe = target.probe.bind(target);
    target.probe = async () => {
      overlapping += 1;
      maxOverlap = Math.max(maxOverlap, overlapping);
      try {
        return await probe();
      } finally {
        overlapping -= 1;
      }
    };
    watch = new CapabilityWatch({ target, intervalMs: 3_600_000, onChange: () => undefined });
    await Promise.all([watch.probeNow(), watch.probeNow(), watch.probeNow()]);
    await until('the follow-up round', () => target.rounds === 2);
    await sleep(150);
    expect({ rounds: target.rounds, maxOverlap }).toEqual({ rounds: 2, maxOverlap: 1 });
  });

  it('keeps the capabilities and reports nothing when a probe round throws', async () => {
    const target = new FakeTarget([cap('kvm', true)]);
    target.probe = async () => {
      throw new Error('boom');
    };
    const changes: unknown[] = [];
    watch = new CapabilityWatch({ target, onChange: (transitions) => changes.push(transitions) });
    expect(await watch.probeNow()).toEqual([]);
    expect(changes).toEqual([]);
  });

  it('stops probing once stopped', async () => {
    const target = new FakeTarget([cap('kvm', true)]);
    watch = new CapabilityWatch({ target, intervalMs: 30, onChange: () => undefined });
    watch.start();
    await until('a round', () => target.rounds >= 1);
    watch.stop();
    const rounds = target.rounds;
    await sleep(120);
    expect(target.rounds).toBe(rounds);
  });
});
