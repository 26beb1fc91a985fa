import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Announcement__Output, AnnouncementKind, Resource__Output } from '@hvctl/proto';
import { silentLogger } from '@hvctl/common';
import { fakePeer, fakeResource } from '@hvctl/common/testing';
import { QuorumGuard, lostQuorumEverywhere, routingTrackedBy } from './quorum-guard.js';

const BLOCK = '203.0.113.0/24';

/** A node with two replicated resources (peer + witness) and the routes it announces. */
function node() {
  const state = {
    quorum: { 'vm-a': true, 'vm-b': true } as Record<string, boolean>,
    announced: new Map<string, Announcement__Output>([
      [BLOCK, { prefix: BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', node: 'msk-1', vm: '', sinceUnixMs: 0 }],
      ['10.20.0.10/32', { prefix: '10.20.0.10/32', kind: 'ANNOUNCEMENT_KIND_VM', node: 'msk-1', vm: 'vm-a', sinceUnixMs: 0 }],
    ]),
  };
  const resources = (): Resource__Output[] =>
    Object.entries(state.quorum).map(([name, quorum]) => fakeResource(name, { role: 'Primary', quorum, peers: [fakePeer('spb-1'), fakePeer('bak-1', { peerClient: true })] }));
  const routing = {
    withdraw: vi.fn(async (prefix: string) => state.announced.delete(prefix)),
    announce: vi.fn(async (prefix: string, kind: AnnouncementKind, vm: string) => {
      const announcement: Announcement__Output = { prefix, kind: kind as Announcement__Output['kind'], node: 'msk-1', vm, sinceUnixMs: 1 };
      state.announced.set(prefix, announcement);
      return announcement;
    }),
  };
  const lines: string[] = [];
  const guard = new QuorumGuard({
    read: () => ({ resources: resources(), announcements: state.announced.values() }),
    routing,
    log: (level, message) => lines.push(`${level}: ${message}`),
    logger: silentLogger(),
    graceMs: 1000,
  });
  return { state, routing, lines, guard };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('lostQuorumEverywhere', () => {
  it('is true only when every replicated resource lacks quorum', () => {
    const peers = [fakePeer('spb-1')];
    expect(lostQuorumEverywhere([fakeResource('a', { quorum: false, peers }), fakeResource('b', { quorum: false, peers })])).toBe(true);
    expect(lostQuorumEverywhere([fakeResource('a', { quorum: false, peers }), fakeResource('b', { quorum: true, peers })])).toBe(false);
    // A witness's diskless replicas and unreplicated resources do not count; nothing replicated is not a loss
    expect(lostQuorumEverywhere([fakeResource('a', { quorum: false, client: true, peers }), fakeResource('b', { quorum: false })])).toBe(false);
  });
});

describe('QuorumGuard', () => {
  it('withdraws the public block (not the /32s) once quorum is lost everywhere for the grace period, and announces it again when quorum returns', async () => {
    vi.useFakeTimers();
    const { state, routing, lines, guard } = node();
    // Given msk-1 loses quorum on both resources
    state.quorum = { 'vm-a': false, 'vm-b': false };
    guard.changed();
    // Then nothing happens within the grace period
    await vi.advanceTimersByTimeAsync(900);
    expect(routing.withdraw).not.toHaveBeenCalled();
    // When the loss lasts past it
    await vi.advanceTimersByTimeAsync(200);
    await guard.settled();
    // Then the block is withdrawn, the VM's /32 stays, and the operator is told
    expect([...state.announced.keys()]).toEqual(['10.20.0.10/32']);
    expect(guard.holding()).toEqual([BLOCK]);
    expect(lines).toEqual([expect.stringMatching(/^error: lost quorum on every replicated resource for 1\.0 s: withdrew the public block 203\.0\.113\.0\/24/)]);
    // When quorum returns on one resource
    state.quorum = { 'vm-a': true, 'vm-b': false };
    guard.changed();
    await guard.settled();
    // Then it announces the block again, by BGP
    expect(routing.announce).toHaveBeenCalledWith(BLOCK, 'ANNOUNCEMENT_KIND_BGP', '');
    expect(state.announced.has(BLOCK)).toBe(true);
    expect(guard.holding()).toEqual([]);
    expect(lines.at(-1)).toMatch(/^info: quorum regained: announcing the public block 203\.0\.113\.0\/24 again/);
  });

  it('ignores a loss shorter than the grace period', async () => {
    vi.useFakeTimers();
    const { state, routing, guard } = node();
    state.quorum = { 'vm-a': false, 'vm-b': false };
    guard.changed();
    await vi.advanceTimersByTimeAsync(500);
    state.quorum = { 'vm-a': true, 'vm-b': false };
    guard.changed();
    await vi.advanceTimersByTimeAsync(2000);
    await guard.settled();
    expect(routing.withdraw).not.toHaveBeenCalled();
    expect(state.announced.has(BLOCK)).toBe(true);
  });

  it('does not announce again what a workflow or an operator withdrew or announced explicitly meanwhile', async () => {
    vi.useFakeTimers();
    const { state, routing, guard } = node();
    state.quorum = { 'vm-a': false, 'vm-b': false };
    guard.changed();
    await vi.advanceTimersByTimeAsync(1100);
    await guard.settled();
    expect(guard.holding()).toEqual([BLOCK]);
    // When a failover's fence withdraws the block through the RPC path
    await routingTrackedBy(routing, guard).withdraw(BLOCK);
    // Then the guard forgets it, and quorum returning announces nothing
    state.quorum = { 'vm-a': true, 'vm-b': true };
    guard.changed();
    await guard.settled();
    expect(routing.announce).not.toHaveBeenCalled();
    expect(state.announced.has(BLOCK)).toBe(false);
  });
});
