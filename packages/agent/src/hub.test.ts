import { describe, expect, it } from 'vitest';
import type { NodeState__Output, StateChange__Output, WatchResponse__Output } from '@hvctl/proto';
import { fakeDomain, fakeNodeInfo, fakeResource } from '@hvctl/common/testing';
import { EventHub } from './hub.js';

function initial(): NodeState__Output {
  return { node: fakeNodeInfo('msk-1', 'msk'), resources: [fakeResource('vm-a')], domains: [fakeDomain('vm-a')], announcements: [], neighbors: [], snapshots: [], log: [], knownVms: [] };
}

const resourceChange = (role: string): StateChange__Output => ({ change: 'resource', resource: fakeResource('vm-a', { role }) });

function hub(options: { bufferSize?: number } = {}): EventHub {
  return new EventHub(initial(), { epoch: 'e1', now: () => 42, ...options });
}

describe('EventHub', () => {
  it('gives every change the next revision and tells every subscriber', () => {
    // Given a hub with two subscribers
    const events = hub();
    const first: WatchResponse__Output[] = [];
    const second: WatchResponse__Output[] = [];
    events.subscribe((message) => first.push(message));
    events.subscribe((message) => second.push(message));
    // When three changes are applied
    events.apply(resourceChange('Primary'));
    events.log({ level: 'info', area: 'node', message: 'hello' });
    events.apply(resourceChange('Secondary'));
    // Then revisions are 1, 2, 3 in order, with the hub's epoch, and both subscribers saw them
    expect(first.map((message) => message.revision)).toEqual([1, 2, 3]);
    expect(first.every((message) => message.epoch === 'e1' && message.event === 'change')).toBe(true);
    expect(second).toEqual(first);
    expect(events.currentRevision()).toBe(3);
    expect(events.state().resources.get('vm-a')?.role).toBe('Secondary');
    expect(events.state().log.at(-1)).toMatchObject({ message: 'hello', timeUnixMs: 42 });
  });

  it('snapshots and heartbeats carry the current revision', () => {
    const events = hub();
    expect(events.snapshotMessage()).toMatchObject({ epoch: 'e1', revision: 0, event: 'snapshot' });
    events.apply(resourceChange('Primary'));
    const snapshot = events.snapshotMessage();
    expect(snapshot).toMatchObject({ revision: 1, event: 'snapshot' });
    expect(snapshot.snapshot?.resources[0]?.role).toBe('Primary');
    expect(events.heartbeatMessage()).toMatchObject({ epoch: 'e1', revision: 1, event: 'heartbeat' });
  });

  it('returns exactly the deltas a resuming watcher missed', () => {
    // Given a watcher that saw revisions up to 2 of 5
    const events = hub();
    const all: WatchResponse__Output[] = [];
    events.subscribe((message) => all.push(message));
    for (let i = 0; i < 5; i += 1) events.apply(resourceChange(i % 2 ? 'Primary' : 'Secondary'));
    // When it resumes from revision 2
    const missed = events.missedSince('e1', 2);
    // Then it gets revisions 3, 4, 5: the same messages the live subscriber got
    expect(missed?.map((message) => message.revision)).toEqual([3, 4, 5]);
    expect(missed).toEqual(all.slice(2));
    // A watcher that is up to date gets nothing; one that saw only the snapshot at 0 gets everything
    expect(events.missedSince('e1', 5)).toEqual([]);
    expect(events.missedSince('e1', 0)).toEqual(all);
  });

  it('asks for a snapshot for another epoch, a revision no longer buffered, or a future revision', () => {
    // Given a hub keeping only 3 deltas, at revision 6
    const events = hub({ bufferSize: 3 });
    for (let i = 0; i < 6; i += 1) events.apply(resourceChange('Primary'));
    // Then a watcher from another agent process (epoch) needs a snapshot
    expect(events.missedSince('other-epoch', 5)).toBeUndefined();
    expect(events.missedSince('', 0)).toBeUndefined();
    // And one whose next revision (3) was dropped from the buffer needs a snapshot
    expect(events.missedSince('e1', 2)).toBeUndefined();
    // The oldest resumable point is just before the oldest buffered delta (4)
    expect(events.missedSince('e1', 3)?.map((message) => message.revision)).toEqual([4, 5, 6]);
    // And a revision this hub never reached needs a snapshot
    expect(events.missedSince('e1', 7)).toBeUndefined();
  });

  it('keeps deltas for resuming only while they are younger than the maximum age', () => {
    // Given a hub keeping deltas for 10 s, with changes at 0, 4, 8 and 12 s
    let now = 0;
    const events = new EventHub(initial(), { epoch: 'e1', now: () => now, bufferMaxAgeMs: 10_000 });
    for (const at of [0, 4000, 8000, 12_000]) {
      now = at;
      events.apply(resourceChange('Primary'));
    }
    // Then the one from 0 s has expired: a watcher that missed it gets a snapshot
    expect(events.missedSince('e1', 0)).toBeUndefined();
    // And one that saw it resumes with the other three
    expect(events.missedSince('e1', 1)?.map((message) => message.revision)).toEqual([2, 3, 4]);
    // And after a quiet minute only the newest change is left to resume from
    now = 72_000;
    events.apply(resourceChange('Secondary'));
    expect(events.missedSince('e1', 3)).toBeUndefined();
    expect(events.missedSince('e1', 4)?.map((message) => message.revision)).toEqual([5]);
  });

  it('stops telling a subscriber once it unsubscribed', () => {
    const events = hub();
    const seen: number[] = [];
    const unsubscribe = events.subscribe((message) => seen.push(Number(message.revision)));
    events.apply(resourceChange('Primary'));
    expect(events.watcherCount()).toBe(1);
    unsubscribe();
    events.apply(resourceChange('Secondary'));
    expect(seen).toEqual([1]);
    expect(events.watcherCount()).toBe(0);
  });
});
