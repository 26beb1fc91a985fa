import * as grpc from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { AnnounceResponse__Output, CordonResponse__Output, DemoteResponse__Output, DisconnectResponse__Output, GetInfoResponse__Output, GetResourceResponse__Output, ListAnnouncementsResponse__Output, PromoteResponse__Output, UncordonResponse__Output, WatchResponse__Output, WithdrawResponse__Output } from '@hvctl/proto';
import { deadline, unary, type AgentClient } from '@hvctl/common';
import { WatchRecorder, sleep, waitFor } from '@hvctl/common/testing';
import { buildSeeds, Lab } from '../testing/harness.js';
import { WATCH_BACKLOG_LIMIT_MESSAGES, WATCH_STREAMS_PER_CLIENT } from './events.js';

/**
 * One agent (msk-1) with one VM whose disk pairs with an absent spb-1 (no witness, so
 * quorum is off): nothing changes unless a test changes it, so the stream is idle.
 */
describe('EventsService.Watch and request ids (one agent)', () => {
  let lab: Lab;
  let client: AgentClient;
  const recorders: WatchRecorder[] = [];
  const watch = (request = {}): WatchRecorder => {
    const recorder = new WatchRecorder(client, request);
    recorders.push(recorder);
    return recorder;
  };

  beforeEach(async () => {
    lab = await Lab.start({
      nodes: [{ name: 'msk-1', site: 'msk' }],
      seeds: buildSeeds(['msk-1'], [{ name: 'vm-a', home: 'msk-1', peer: 'spb-1', running: false }]),
      heartbeatMs: 150,
    });
    client = lab.client('msk-1');
  });

  afterEach(async () => {
    for (const recorder of recorders.splice(0)) recorder.close();
    await lab?.close();
  });

  it('sends a snapshot first, then one delta per change with the next revision', async () => {
    // Given a new watcher
    const watcher = watch();
    await watcher.until('the snapshot', (w) => w.messages.length >= 1);
    // Then the first message is a snapshot of the node's resources and domains
    const [first] = watcher.messages;
    expect(first?.event).toBe('snapshot');
    expect(first?.snapshot?.node?.name).toBe('msk-1');
    expect(first?.snapshot?.resources.map((r) => r.name)).toEqual(['vm-a']);
    expect(first?.snapshot?.domains.map((d) => d.name)).toEqual(['vm-a']);
    const base = Number(first?.revision);

    // When the node is cordoned and vm-a is disconnected
    await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ reason: 'kernel update' }, deadline(), cb));
    await watcher.until('the cordon', (w) => w.view?.node.flags?.cordoned === true);
    await unary<DisconnectResponse__Output>('Disconnect', (cb) => client.drbd.disconnect({ name: 'vm-a' }, deadline(), cb));
    await watcher.until('vm-a StandAlone', (w) => w.view?.resources.get('vm-a')?.peers[0]?.connectionState === 'StandAlone');

    // Then each change arrived as a delta whose revision is the previous one plus one
    const deltas = watcher.ofKind('change');
    expect(deltas.length).toBeGreaterThanOrEqual(2);
    expect(deltas.map((d) => Number(d.revision))).toEqual(deltas.map((_, index) => base + 1 + index));
    expect(watcher.violations).toEqual([]);
    expect(watcher.logMessages()).toContain('cordoned: kernel update');
  });

  it('resumes with exactly the missed deltas, and sends a snapshot for an unknown epoch or revision', async () => {
    // Given a watcher that stays connected (the reference) and one that disconnects at revision R
    const reference = watch();
    const leaving = watch();
    await leaving.until('the snapshot', (w) => w.view !== undefined);
    await reference.until('the snapshot', (w) => w.view !== undefined);
    const { epoch, revision } = leaving;
    leaving.close();
    await waitFor('the agent to drop the cancelled watcher', () => lab.node('msk-1').agent?.context.hub.watcherCount() === 1);

    // When changes happen while it is away
    await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ reason: 'away' }, deadline(), cb));
    await unary<DisconnectResponse__Output>('Disconnect', (cb) => client.drbd.disconnect({ name: 'vm-a' }, deadline(), cb));
    await reference.until('both changes', (w) => w.view?.resources.get('vm-a')?.peers[0]?.connectionState === 'StandAlone');
    const missed = reference.messages.filter((m) => m.event === 'change' && Number(m.revision) > revision);
    expect(missed.length).toBeGreaterThanOrEqual(2);

    // And it reconnects with its epoch and revision
    const resumed = watch({ resumeEpoch: epoch, resumeRevision: revision });
    await resumed.until('the missed deltas', (w) => w.messages.length >= missed.length);

    // Then it gets exactly the missed deltas, no snapshot
    expect(resumed.messages.slice(0, missed.length)).toEqual(missed);
    expect(resumed.ofKind('snapshot')).toEqual([]);
    expect(resumed.violations).toEqual([]);

    // And a watcher with another epoch, or a revision the agent never reached, gets a snapshot
    const stranger = watch({ resumeEpoch: 'deadbeef0000', resumeRevision: 1 });
    const future = watch({ resumeEpoch: epoch, resumeRevision: reference.revision + 1000 });
    for (const recorder of [stranger, future]) {
      await recorder.until('a message', (w) => w.messages.length >= 1);
      expect(recorder.messages[0]?.event).toBe('snapshot');
      expect(recorder.messages[0]?.epoch).toBe(epoch);
      expect(recorder.messages[0]?.snapshot?.node?.flags?.cordoned).toBe(true);
    }
  });

  it('sends heartbeats with the current revision while idle', async () => {
    // Given a watcher on an idle node (heartbeat every 150 ms)
    const watcher = watch();
    // When nothing changes for a while
    await watcher.until('three heartbeats', (w) => w.ofKind('heartbeat').length >= 3, 3000);
    // Then the heartbeats repeat the snapshot's epoch and revision
    const snapshot = watcher.messages[0];
    for (const heartbeat of watcher.ofKind('heartbeat')) {
      expect(heartbeat.epoch).toBe(snapshot?.epoch);
      expect(heartbeat.revision).toBe(watcher.revision);
    }
    expect(watcher.violations).toEqual([]);
  });

  it('drops the listener of a cancelled watch', async () => {
    const hub = lab.node('msk-1').agent!.context.hub;
    const watcher = watch();
    await watcher.until('the snapshot', (w) => w.view !== undefined);
    expect(hub.watcherCount()).toBe(1);
    watcher.close();
    await waitFor('the hub to have no watcher', () => hub.watcherCount() === 0, { timeoutMs: 3000 });
  });

  it('acts once per request id: Cordon, Promote and Announce', async () => {
    const watcher = watch();
    await watcher.until('the snapshot', (w) => w.view !== undefined);
    const log = (pattern: RegExp): number => watcher.logMessages().filter((message) => pattern.test(message)).length;

    // Given a Cordon with id c1 undone by an Uncordon, When c1 is sent again
    const first = await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ requestId: 'c1', reason: 'first' }, deadline(), cb));
    await unary<UncordonResponse__Output>('Uncordon', (cb) => client.node.uncordon({ requestId: 'u1' }, deadline(), cb));
    const again = await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ requestId: 'c1', reason: 'second' }, deadline(), cb));
    // Then the repeat returns the first result and does not cordon again
    expect(again).toEqual(first);
    const info = await unary<GetInfoResponse__Output>('GetInfo', (cb) => client.node.getInfo({}, deadline(), cb));
    expect(info.node?.flags?.cordoned).toBe(false);

    // Same for Promote (p1) undone by Demote
    const promoted = await unary<PromoteResponse__Output>('Promote', (cb) => client.drbd.promote({ requestId: 'p1', name: 'vm-a' }, deadline(), cb));
    expect(promoted.resource?.role).toBe('Primary');
    await unary<DemoteResponse__Output>('Demote', (cb) => client.drbd.demote({ requestId: 'd1', name: 'vm-a' }, deadline(), cb));
    const promotedAgain = await unary<PromoteResponse__Output>('Promote', (cb) => client.drbd.promote({ requestId: 'p1', name: 'vm-a' }, deadline(), cb));
    expect(promotedAgain).toEqual(promoted);
    const resource = await unary<GetResourceResponse__Output>('GetResource', (cb) => client.drbd.getResource({ name: 'vm-a' }, deadline(), cb));
    expect(resource.resource?.role).toBe('Secondary');

    // And for Announce (a1) undone by Withdraw
    const announce = { requestId: 'a1', prefix: '10.20.0.10/32', kind: 'ANNOUNCEMENT_KIND_VM' as const, vm: 'vm-a' };
    await unary<AnnounceResponse__Output>('Announce', (cb) => client.routing.announce(announce, deadline(), cb));
    await unary<WithdrawResponse__Output>('Withdraw', (cb) => client.routing.withdraw({ requestId: 'w1', prefix: '10.20.0.10/32' }, deadline(), cb));
    await unary<AnnounceResponse__Output>('Announce', (cb) => client.routing.announce(announce, deadline(), cb));
    const announcements = await unary<ListAnnouncementsResponse__Output>('ListAnnouncements', (cb) => client.routing.listAnnouncements({}, deadline(), cb));
    expect(announcements.announcements).toEqual([]);

    // The event log shows each action exactly once
    await watcher.until('the last withdraw in the log', (w) => w.logMessages().some((m) => m.startsWith('withdrew')));
    expect(log(/^cordoned/)).toBe(1);
    expect(log(/promoted to Primary/)).toBe(1);
    expect(log(/^announcing 10\.20\.0\.10\/32/)).toBe(1);
  });

  it('refuses a request id reused for another method and acts every time without an id', async () => {
    // Given id x1 used for Cordon
    await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ requestId: 'x1', reason: 'x' }, deadline(), cb));
    // When x1 comes with Uncordon
    const reuse = unary<UncordonResponse__Output>('Uncordon', (cb) => client.node.uncordon({ requestId: 'x1' }, deadline(), cb));
    // Then it is INVALID_ARGUMENT and the node stays cordoned
    await expect(reuse).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    let info = await unary<GetInfoResponse__Output>('GetInfo', (cb) => client.node.getInfo({}, deadline(), cb));
    expect(info.node?.flags?.cordoned).toBe(true);

    // And calls without an id always act
    await unary<UncordonResponse__Output>('Uncordon', (cb) => client.node.uncordon({}, deadline(), cb));
    await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ reason: 'again' }, deadline(), cb));
    info = await unary<GetInfoResponse__Output>('GetInfo', (cb) => client.node.getInfo({}, deadline(), cb));
    expect(info.node?.flags).toMatchObject({ cordoned: true, cordonReason: 'again' });
  });

  it('drops a watcher that stops reading, telling it so, and lets it resume from where it was', async () => {
    // Given a watcher that read the snapshot and then stopped reading
    const hub = lab.node('msk-1').agent!.context.hub;
    const stream = client.events.watch({});
    const received: WatchResponse__Output[] = [];
    const status = new Promise<grpc.StatusObject>((resolve) => stream.on('status', resolve));
    stream.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      stream.once('data', (message: WatchResponse__Output) => {
        received.push(message);
        stream.pause();
        resolve();
      });
    });
    // When the agent produces far more than it queues for one watcher (1.5 times the limit, ~1 KiB each)
    for (let i = 0; i < WATCH_BACKLOG_LIMIT_MESSAGES * 1.5; i += 1) hub.log({ level: 'info', area: 'node', message: `${i} ${'x'.repeat(1024)}` });
    // Then it drops that watcher
    await waitFor('the agent to drop the slow watcher', () => hub.watcherCount() === 0, { timeoutMs: 5000 });
    // And the watcher, reading again, gets what was already sent and then a RESOURCE_EXHAUSTED status
    stream.on('data', (message: WatchResponse__Output) => received.push(message));
    stream.resume();
    const ended = await Promise.race([status, sleep(10_000).then(() => undefined)]);
    expect(ended?.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    // And it can resume from the last revision it applied, missing nothing
    const last = received.at(-1)!;
    const resumed = watch({ resumeEpoch: last.epoch, resumeRevision: last.revision });
    await resumed.until('the rest of the deltas', (w) => w.revision === hub.currentRevision(), 10_000);
    expect(resumed.ofKind('snapshot')).toEqual([]);
    expect(resumed.violations).toEqual([]);
  });

  it(`refuses a client's watch stream beyond ${WATCH_STREAMS_PER_CLIENT} and accepts it again once one closes`, async () => {
    // Given a client holding the maximum number of watch streams
    const hub = lab.node('msk-1').agent!.context.hub;
    const held = Array.from({ length: WATCH_STREAMS_PER_CLIENT }, () => watch());
    for (const recorder of held) await recorder.until('the snapshot', (w) => w.view !== undefined);
    expect(hub.watcherCount()).toBe(WATCH_STREAMS_PER_CLIENT);
    // When it opens one more
    const extra = client.events.watch({});
    extra.on('data', () => undefined);
    extra.on('error', () => undefined);
    const status = await new Promise<grpc.StatusObject>((resolve) => extra.on('status', resolve));
    // Then that one is refused, and the others keep streaming
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toContain(`at most ${WATCH_STREAMS_PER_CLIENT}`);
    expect(hub.watcherCount()).toBe(WATCH_STREAMS_PER_CLIENT);
    // And after one closes, a new stream is accepted
    held[0]!.close();
    await waitFor('the agent to drop the closed watcher', () => hub.watcherCount() === WATCH_STREAMS_PER_CLIENT - 1);
    const again = watch();
    await again.until('the snapshot', (w) => w.view !== undefined);
  });
});
