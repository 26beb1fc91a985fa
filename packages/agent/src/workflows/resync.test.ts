import { describe, expect, it } from 'vitest';
import type { PeerConnection__Output, Resource__Output } from '@hvctl/proto';
import { GONE_GRACE_MS, LINK_GRACE_MS, RESYNC_MARGIN_MS, STALL_MS, assessWait, classifyReplica, clock, splitBrain, type WaitMemo } from './resync.js';

const T0 = Date.UTC(2026, 11, 7, 12, 1, 3);

const peer = (node: string, connectionState: string, extra: Partial<PeerConnection__Output> = {}): PeerConnection__Output => ({
  node,
  connectionState,
  peerRole: connectionState === 'Connected' ? 'Primary' : 'Unknown',
  peerDiskState: connectionState === 'Connected' ? 'UpToDate' : 'DUnknown',
  replicationState: connectionState === 'Connected' ? 'Established' : 'Off',
  outOfSyncBytes: 0,
  syncPercent: 0,
  syncEtaSeconds: 0,
  peerClient: node.startsWith('bak'),
  connectionChangedUnixMs: T0,
  ...extra,
});

const resource = (role: string, peers: PeerConnection__Output[], extra: Partial<Resource__Output> = {}): Resource__Output => ({
  name: 'web-1',
  role,
  diskState: 'UpToDate',
  quorum: true,
  allowTwoPrimaries: false,
  protocol: 'C',
  sizeBytes: 1024 ** 3,
  minor: 1000,
  client: false,
  peers,
  vm: 'web-1',
  suspended: 'no',
  mayPromote: false,
  promotionScore: 0,
  ...extra,
});

const witness = peer('bak-1', 'Connected', { peerRole: 'Secondary', peerDiskState: 'Diskless' });
const syncing = (percent: number, eta: number): Resource__Output =>
  resource('Secondary', [peer('spb-1', 'Connected', { replicationState: 'SyncTarget', syncPercent: percent, syncEtaSeconds: eta }), witness], { diskState: 'Inconsistent' });
const theirs = resource('Primary', [peer('msk-1', 'Connecting', { peerRole: 'Unknown' })]);

describe('splitBrain', () => {
  it('sees a split brain when both sides are Primary, refused each other, or both wrote while apart', () => {
    const secondary = resource('Secondary', [peer('msk-1', 'Connecting')]);
    const primary = resource('Primary', [peer('spb-1', 'Connecting', { outOfSyncBytes: 100 })]);
    expect(splitBrain('spb-1', secondary, 'msk-1', primary)).toBeUndefined();
    expect(splitBrain('spb-1', { ...secondary, role: 'Primary' }, 'msk-1', primary)).toBe('web-1 is Primary on both spb-1 and msk-1');
    const standAlone = (r: Resource__Output, node: string): Resource__Output => ({ ...r, peers: [peer(node, 'StandAlone')] });
    expect(splitBrain('spb-1', standAlone(secondary, 'msk-1'), 'msk-1', standAlone(primary, 'spb-1'))).toMatch(/StandAlone on both/);
    const wroteToo = resource('Secondary', [peer('msk-1', 'Connecting', { outOfSyncBytes: 7 })]);
    expect(splitBrain('spb-1', wroteToo, 'msk-1', primary)).toBe('web-1: both spb-1 and msk-1 wrote while apart (split brain on reconnect)');
  });
});

describe('classifyReplica', () => {
  const classify = (mine: Resource__Output, answered: Resource__Output | undefined, nowMs = T0 + 1000) =>
    classifyReplica('msk-1', mine, answered ? { reachable: true, theirs: answered } : { reachable: false }, nowMs);

  it('tells in-sync, resyncable, peer gone, cut link, split brain and failed disk apart', () => {
    expect(classify(resource('Secondary', [peer('spb-1', 'Connected'), witness]), theirs)).toMatchObject({ class: 'in-sync', peer: 'spb-1', role: 'Secondary', peerRole: 'Primary' });
    expect(classify(syncing(42, 12), theirs)).toMatchObject({ class: 'resync', etaSeconds: 12, reason: "web-1: SyncTarget 42%, ~12 s left by DRBD's estimate" });
    // A link just down while the peer answers: connecting, waited for
    expect(classify(resource('Secondary', [peer('spb-1', 'Connecting'), witness]), theirs)).toMatchObject({ class: 'resync', reason: 'web-1: Connecting to spb-1 since 12:01:03' });
    // StandAlone without a split brain: the wait reconnects it
    expect(classify(resource('Secondary', [peer('spb-1', 'StandAlone'), witness]), theirs, T0 + LINK_GRACE_MS * 10)).toMatchObject({ class: 'resync' });
    // The peer's agent is silent and the link down: gone
    expect(classify(resource('Secondary', [peer('spb-1', 'Connecting'), witness]), undefined)).toMatchObject({
      class: 'peer-gone',
      reason: 'web-1: peer spb-1 unreachable since 12:01:03 (its agent does not answer, DRBD link Connecting)',
    });
    // The peer answers but the link stayed down past the grace: cut
    expect(classify(resource('Secondary', [peer('spb-1', 'Connecting'), witness]), theirs, T0 + LINK_GRACE_MS)).toMatchObject({
      class: 'peer-gone',
      reason: 'web-1: DRBD link to spb-1 Connecting since 12:01:03 while its agent answers (the replication link is cut)',
    });
    // A silent agent with the link still up is not gone: the data path decides
    expect(classify(syncing(10, 5), undefined)).toMatchObject({ class: 'resync' });
    const split = classify(resource('Primary', [peer('spb-1', 'StandAlone'), witness]), resource('Primary', [peer('msk-1', 'Connecting')]));
    expect(split).toMatchObject({ class: 'split-brain', reason: 'web-1 is Primary on both msk-1 and spb-1' });
    expect(split.fix[0]).toContain('drbdadm connect --discard-my-data web-1');
    const disk = classify(resource('Secondary', [peer('spb-1', 'Connected'), witness], { diskState: 'Diskless' }), theirs);
    expect(disk).toMatchObject({ class: 'disk-failed' });
    expect(disk.fix).toEqual(['replace the failed backing disk of web-1 on msk-1, then on msk-1: `drbdadm create-md web-1; drbdadm attach web-1` (a full resync from the peer follows)']);
  });
});

describe('assessWait', () => {
  const memo = (startedMs = T0): WaitMemo => ({ startedMs, lastProgressMs: startedMs, lastPercent: -1 });

  it('reports what it waits for while DRBD makes progress, and ends when in sync', () => {
    const m = memo();
    expect(assessWait('msk-1', 'spb-1', syncing(42, 12), undefined, m, T0 + 1000)).toEqual({ kind: 'waiting', percent: 42, detail: 'web-1: SyncTarget 42%, ~12 s left' });
    expect(m.lastProgressMs).toBe(T0 + 1000);
    expect(assessWait('msk-1', 'spb-1', resource('Secondary', [peer('spb-1', 'Connected'), witness]), undefined, m, T0 + 2000)).toEqual({ kind: 'done', detail: 'UpToDate on both sides' });
  });

  it('gives up when the resync makes no progress for twice DRBD estimate plus the margin', () => {
    const m = memo();
    assessWait('msk-1', 'spb-1', syncing(42, 12), undefined, m, T0);
    const bound = 2 * 12 * 1000 + RESYNC_MARGIN_MS;
    expect(assessWait('msk-1', 'spb-1', syncing(42, 12), undefined, m, T0 + bound).kind).toBe('waiting');
    const stalled = assessWait('msk-1', 'spb-1', syncing(42, 12), undefined, m, T0 + bound + 1);
    expect(stalled).toEqual({ kind: 'failed', message: "web-1 on msk-1 made no resync progress for 54 s (SyncTarget 42%; bound 54 s from DRBD's estimate of 12 s)" });
    // Progress moves the bound along
    expect(assessWait('msk-1', 'spb-1', syncing(43, 11), undefined, m, T0 + bound + 2).kind).toBe('waiting');
    // A paused resync (DRBD gives no estimate) is shown as such and gets the stall bound
    const paused = resource('Secondary', [peer('spb-1', 'Connected', { replicationState: 'PausedSyncT', syncPercent: 30 }), witness], { diskState: 'Inconsistent' });
    expect(assessWait('msk-1', 'spb-1', paused, undefined, memo(), T0 + STALL_MS)).toEqual({ kind: 'waiting', percent: 30, detail: 'web-1: PausedSyncT 30%' });
    // Without an estimate, the stall bound applies
    const idle = resource('Secondary', [peer('spb-1', 'Connected', { peerDiskState: 'Outdated' }), witness]);
    expect(assessWait('msk-1', 'spb-1', idle, undefined, memo(), T0 + STALL_MS).kind).toBe('waiting');
    expect(assessWait('msk-1', 'spb-1', idle, undefined, memo(), T0 + STALL_MS + 1).kind).toBe('failed');
  });

  it('fails soon when the peer disappears, and after the grace when the link stays cut', () => {
    const down = resource('Secondary', [peer('spb-1', 'Connecting'), witness]);
    expect(assessWait('msk-1', 'spb-1', down, { reachable: false }, memo(), T0 + 1000)).toEqual({ kind: 'waiting', percent: 0, detail: 'web-1: peer spb-1 unreachable since 12:01:03' });
    expect(assessWait('msk-1', 'spb-1', down, { reachable: false }, memo(), T0 + GONE_GRACE_MS)).toEqual({
      kind: 'failed',
      message: 'web-1: peer spb-1 unreachable since 12:01:03 (its agent does not answer, DRBD link Connecting); the resync cannot finish until it returns',
    });
    expect(assessWait('msk-1', 'spb-1', down, { reachable: true, theirs }, memo(), T0 + LINK_GRACE_MS - 1).kind).toBe('waiting');
    expect(assessWait('msk-1', 'spb-1', down, { reachable: true, theirs }, memo(), T0 + LINK_GRACE_MS)).toMatchObject({
      kind: 'failed',
      message: expect.stringMatching(/^web-1: DRBD link to spb-1 Connecting since 12:01:03 while its agent answers \(the replication link is cut\)/),
    });
    // A link that went down before the wait began counts from the start of the wait
    expect(assessWait('msk-1', 'spb-1', down, { reachable: false }, memo(T0 + 60_000), T0 + 61_000).kind).toBe('waiting');
  });

  it('fails with the victim advice when a split brain appears, and on a failed disk', () => {
    const refused = resource('Secondary', [peer('spb-1', 'StandAlone', { outOfSyncBytes: 5 }), witness]);
    const other = resource('Primary', [peer('msk-1', 'Connecting', { outOfSyncBytes: 9 })]);
    const verdict = assessWait('msk-1', 'spb-1', refused, { reachable: true, theirs: other }, memo(), T0 + 1000);
    expect(verdict.kind === 'failed' && verdict.message).toMatch(/^web-1: both msk-1 and spb-1 wrote while apart .*drbdadm connect --discard-my-data web-1/);
    const failed = assessWait('msk-1', 'spb-1', { ...syncing(42, 12), diskState: 'Diskless' }, undefined, memo(), T0);
    expect(failed.kind === 'failed' && failed.message).toMatch(/^web-1: the local disk on msk-1 failed \(Diskless\); replace the failed backing disk/);
  });

  it('prints UTC times of day', () => {
    expect(clock(T0)).toBe('12:01:03');
  });
});
