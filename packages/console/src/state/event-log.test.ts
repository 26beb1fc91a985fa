import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import type { LogEntry__Output } from '@hvctl/proto';
import { mergeEventLog, type EventLine } from './event-log.js';
import type { ClusterSnapshot } from '@hvctl/common';

/** The definition: every line, stable-sorted by time (node order, then connection events), the newest `limit`. */
function reference(snapshot: ClusterSnapshot, limit: number): string[] {
  const all: EventLine[] = [];
  for (const connection of snapshot.nodes) {
    for (const entry of connection.state?.log ?? []) {
      all.push({ timeMs: Number(entry.timeUnixMs), node: connection.name, level: 'info', area: entry.area || 'agent', message: entry.message });
    }
  }
  for (const event of snapshot.connectionEvents) all.push({ timeMs: event.timeMs, node: event.node, level: event.level, area: 'conn', message: event.message });
  all.sort((a, b) => a.timeMs - b.timeMs);
  return all.slice(-limit).map((line) => `${line.timeMs} ${line.node} ${line.message}`);
}

/** A deterministic pseudo-random sequence (a test must not depend on luck). */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe('mergeEventLog', () => {
  it('merges every node log and the connection events, oldest first, each with its node', () => {
    // Given logs on two nodes and a connection event in between
    const states = fakeLabStates(1);
    states.get('msk-1')!.log = [
      { timeUnixMs: 1000, level: 'info', message: 'promoted vm-msk-1-1', area: 'drbd' },
      { timeUnixMs: 3000, level: 'error', message: 'disk failed', area: 'drbd' },
    ];
    states.get('spb-1')!.log = [{ timeUnixMs: 2000, level: 'warn', message: 'peer lost', area: 'peer' }];
    const snapshot = { ...fakeClusterSnapshot(states), connectionEvents: [{ timeMs: 2500, node: 'spb-2', level: 'error' as const, message: 'unreachable: refused' }] };

    // Then
    expect(mergeEventLog(snapshot).map((e) => `${e.timeMs} ${e.node} ${e.level} ${e.area} ${e.message}`)).toEqual([
      '1000 msk-1 info drbd promoted vm-msk-1-1',
      '2000 spb-1 warn peer peer lost',
      '2500 spb-2 error conn unreachable: refused',
      '3000 msk-1 error drbd disk failed',
    ]);
  });

  it('keeps only the newest entries beyond the limit and treats unknown levels as info', () => {
    const states = fakeLabStates(1);
    states.get('bak-1')!.log = Array.from({ length: 10 }, (_, i) => ({ timeUnixMs: i, level: 'debug', message: `m${i}`, area: '' }));
    const merged = mergeEventLog(fakeClusterSnapshot(states), 4);
    expect(merged.map((e) => e.message)).toEqual(['m6', 'm7', 'm8', 'm9']);
    expect(merged[0]).toMatchObject({ level: 'info', area: 'agent', node: 'bak-1' });
  });

  it('picks the same newest lines as a full stable sort, ties and unordered logs included', () => {
    for (const seed of [1, 2, 3, 4, 5, 6]) {
      // Given logs with many equal times (ordered, or for odd seeds one node out of order) and connection events
      const next = random(seed);
      const states = fakeLabStates(1);
      let counter = 0;
      for (const [node, state] of states) {
        let time = 0;
        state.log = Array.from({ length: 40 + Math.floor(next() * 40) }, (): LogEntry__Output => {
          time += Math.floor(next() * 3);
          counter += 1;
          return { timeUnixMs: time, level: 'info', message: `${node}#${counter}`, area: 'x' } as unknown as LogEntry__Output;
        });
      }
      if (seed % 2 === 1) states.get('spb-1')?.log.reverse();
      const events = Array.from({ length: 10 }, (_, i) => ({ timeMs: i * 7, node: 'msk-2', level: 'error' as const, message: `event ${i}` }));
      const snapshot = { ...fakeClusterSnapshot(states), connectionEvents: events };

      // When merged with a limit smaller and larger than the total, Then the result is the reference
      for (const limit of [25, 60, 1000]) {
        expect(mergeEventLog(snapshot, limit).map((line) => `${line.timeMs} ${line.node} ${line.message}`)).toEqual(reference(snapshot, limit));
      }
    }
  });
});
