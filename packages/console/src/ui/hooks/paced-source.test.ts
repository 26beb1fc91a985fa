import type { ClusterSnapshot } from '@hvctl/common';
import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { paceSnapshots, type SnapshotSource } from './paced-source.js';

const base = fakeClusterSnapshot(fakeLabStates(1, 0), [], 1);
const version = (n: number): ClusterSnapshot => ({ ...base, version: n });

/** A source the test publishes into, a fake clock and fake timers; snapshots from `settledFrom` on are complete. */
function setup(intervalMs = 100, settledFrom = 0) {
  let current = version(1);
  const sourceListeners = new Set<(snapshot: ClusterSnapshot) => void>();
  const source: SnapshotSource = {
    snapshot: () => current,
    subscribe: (listener) => {
      sourceListeners.add(listener);
      return () => sourceListeners.delete(listener);
    },
  };
  let clock = 1000;
  const timers = new Map<number, { at: number; callback: () => void }>();
  let nextTimer = 0;
  let workMs = 0;
  const paced = paceSnapshots(source, {
    intervalMs,
    settled: (snapshot) => snapshot.version >= settledFrom,
    // The listeners' work (a render) takes `workMs` of the fake clock.
    afterWork: (callback) => {
      clock += workMs;
      callback();
    },
    now: () => clock,
    setTimer: (callback, ms) => {
      nextTimer += 1;
      timers.set(nextTimer, { at: clock + ms, callback });
      return nextTimer;
    },
    clearTimer: (timer) => timers.delete(timer as number),
  });
  const seen: number[] = [];
  return {
    paced,
    seen,
    setWorkMs: (ms: number) => {
      workMs = ms;
    },
    timers,
    sourceListeners,
    listen: () => paced.subscribe(() => seen.push(paced.snapshot().version)),
    publish: (n: number) => {
      current = version(n);
      for (const listener of sourceListeners) listener(current);
    },
    advance: (ms: number) => {
      clock += ms;
      for (const [id, timer] of [...timers]) {
        if (timer.at <= clock) {
          timers.delete(id);
          timer.callback();
        }
      }
    },
  };
}

describe('paceSnapshots', () => {
  it('adopts a snapshot published after a quiet interval at once', () => {
    // Given a paced source that has been quiet
    const t = setup();
    t.listen();

    // When one snapshot is published
    t.publish(2);

    // Then it is adopted immediately
    expect(t.seen).toEqual([2]);
    expect(t.paced.snapshot().version).toBe(2);
  });

  it('adopts only the newest of a burst, at the end of the interval', () => {
    // Given a snapshot adopted just now
    const t = setup();
    t.listen();
    t.publish(2);

    // When three more arrive within the interval
    t.advance(10);
    t.publish(3);
    t.publish(4);
    t.advance(30);
    t.publish(5);

    // Then nothing is adopted until the interval is over, then only the newest
    expect(t.seen).toEqual([2]);
    expect(t.paced.snapshot().version).toBe(2);
    t.advance(59);
    expect(t.seen).toEqual([2]);
    t.advance(1);
    expect(t.seen).toEqual([2, 5]);
    expect(t.paced.snapshot().version).toBe(5);
  });

  it('adopts at most once per interval under a steady stream', () => {
    // Given a source publishing every 10 ms for one second
    const t = setup();
    t.listen();
    for (let n = 2; n <= 101; n += 1) {
      t.publish(n);
      t.advance(10);
    }
    t.advance(100);

    // Then about ten snapshots were adopted, the last one being the newest
    expect(t.seen.length).toBeGreaterThanOrEqual(10);
    expect(t.seen.length).toBeLessThanOrEqual(11);
    expect(t.seen.at(-1)).toBe(101);
  });

  it('stretches the interval to twice what a slow adoption cost', () => {
    // Given adoptions that each take 120 ms of work
    const t = setup();
    t.listen();
    t.setWorkMs(120);
    t.publish(2);

    // When the next snapshot is published right away
    t.publish(3);

    // Then it waits 240 ms after the previous adoption began (the clock already moved 120 ms)
    t.advance(119);
    expect(t.seen).toEqual([2]);
    t.advance(1);
    expect(t.seen).toEqual([2, 3]);
  });

  it('adopts at most every 500 ms while connecting, and the first complete snapshot at once', () => {
    // Given a cluster whose snapshots are complete from version 5 on
    const t = setup(100, 5);
    t.listen();
    t.publish(2);
    expect(t.seen).toEqual([2]);

    // When partial snapshots arrive every 100 ms
    t.advance(100);
    t.publish(3);
    t.advance(100);
    t.publish(4);
    t.advance(299);

    // Then the next is adopted only 500 ms after the previous one
    expect(t.seen).toEqual([2]);
    t.advance(1);
    expect(t.seen).toEqual([2, 4]);

    // When the first complete snapshot arrives right after
    t.advance(10);
    t.publish(5);

    // Then it is adopted without waiting
    expect(t.seen).toEqual([2, 4, 5]);
  });

  it('stops watching the source, and its timer, when the last listener leaves', () => {
    // Given a listener and a pending trailing adoption
    const t = setup();
    const unsubscribe = t.listen();
    t.publish(2);
    t.publish(3);
    expect(t.timers.size).toBe(1);

    // When the listener unsubscribes
    unsubscribe();

    // Then the source has no listener and no timer is left
    expect(t.sourceListeners.size).toBe(0);
    expect(t.timers.size).toBe(0);
  });

  it('picks up a snapshot published before the first listener subscribed', () => {
    // Given a snapshot published after the pacer was created but before anyone listened
    const t = setup();
    t.publish(2);

    // When the console subscribes
    t.listen();

    // Then it is adopted
    expect(t.paced.snapshot().version).toBe(2);
  });
});
