import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { mergeEventLog } from './event-log.js';

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
});
