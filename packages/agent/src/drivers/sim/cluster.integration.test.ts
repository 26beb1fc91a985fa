import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CreateBackupResponse__Output, DemoteResponse__Output, FailMigrationsResponse__Output, GetDomainResponse__Output, GetInfoResponse__Output, GetResourceResponse__Output, ListNeighborsResponse__Output, ListSnapshotsResponse__Output, MigrateResponse__Output, PeerConnection__Output, PromoteResponse__Output, Resource__Output, SetAllowTwoPrimariesResponse__Output, SetPartitionResponse__Output } from '@hvctl/proto';
import { collectStream, deadline, unary, type AgentClient, type HvctlError } from '@hvctl/common';
import { WatchRecorder, sleep, waitFor } from '@hvctl/common/testing';
import { buildSeeds, Lab } from '../../testing/harness.js';

/**
 * The smallest real topology: msk-1 and spb-1 in two sites, each running one VM whose
 * disk is replicated to the other, and bak-1 (backup site) as diskless witness of both
 * and holder of the backup repository. Three real agents on loopback, a fresh cluster
 * for every test.
 */
const NODES = ['msk-1', 'spb-1', 'bak-1'];
const SEEDS = buildSeeds(
  NODES,
  [
    { name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
    { name: 'vm-b', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
  ],
  'bak-1',
);

describe('simulated cluster (msk-1, spb-1, witness bak-1)', () => {
  let lab: Lab;
  let recorders: WatchRecorder[] = [];
  const client = (node: string): AgentClient => lab.client(node);
  const watch = (node: string): WatchRecorder => {
    const recorder = new WatchRecorder(client(node));
    recorders.push(recorder);
    return recorder;
  };

  const getResource = async (node: string, name: string): Promise<Resource__Output> =>
    (await unary<GetResourceResponse__Output>('GetResource', (cb) => client(node).drbd.getResource({ name }, deadline(), cb))).resource!;
  const peerOf = (resource: Resource__Output, node: string): PeerConnection__Output | undefined => resource.peers.find((peer) => peer.node === node);
  const domainState = async (node: string, name: string): Promise<string> =>
    (await unary<GetDomainResponse__Output>('GetDomain', (cb) => client(node).kvm.getDomain({ name }, deadline(), cb))).domain!.state;

  /** Both replicas UpToDate, connected and in sync, seen from both sides. */
  const inSync = async (name: string, a: string, b: string): Promise<boolean> => {
    for (const [self, other] of [
      [a, b],
      [b, a],
    ] as const) {
      const resource = await getResource(self, name);
      const peer = peerOf(resource, other);
      if (resource.diskState !== 'UpToDate' || peer?.connectionState !== 'Connected' || peer.replicationState !== 'Established' || peer.peerDiskState !== 'UpToDate') return false;
      if (Number(peer.outOfSyncBytes) !== 0) return false;
    }
    return true;
  };

  const setAllowTwoPrimaries = (node: string, name: string, allow: boolean): Promise<unknown> =>
    unary<SetAllowTwoPrimariesResponse__Output>('SetAllowTwoPrimaries', (cb) => client(node).drbd.setAllowTwoPrimaries({ name, allow }, deadline(), cb));

  /** Allows two primaries for `name` on both nodes and promotes `target` (once the peer's option reached it). */
  async function dualPrimary(name: string, source: string, target: string): Promise<void> {
    await setAllowTwoPrimaries(source, name, true);
    await setAllowTwoPrimaries(target, name, true);
    await waitFor(`${target} to accept promotion of ${name}`, () => unary<PromoteResponse__Output>('Promote', (cb) => client(target).drbd.promote({ name }, deadline(), cb)), { timeoutMs: 3000 });
  }

  const migrate = (node: string, name: string, targetNode: string, requestId = '', onMessage?: (message: MigrateResponse__Output) => void): Promise<MigrateResponse__Output[]> =>
    collectStream('Migrate', client(node).kvm.migrate({ name, targetNode, requestId }, deadline(15_000)), onMessage);

  const failure = (promise: Promise<unknown>): Promise<HvctlError | undefined> =>
    promise.then(
      () => undefined,
      (error: HvctlError) => error,
    );

  beforeEach(async () => {
    lab = await Lab.start({ nodes: [{ name: 'msk-1', site: 'msk' }, { name: 'spb-1', site: 'spb' }, { name: 'bak-1', site: 'bak', siteKind: 'backup' }], seeds: SEEDS });
    // Given a healthy cluster: every link up (the witness's too), both VMs' replicas in sync
    await lab.waitAllConnected();
    await waitFor('vm-a and vm-b in sync', async () => (await inSync('vm-a', 'msk-1', 'spb-1')) && (await inSync('vm-b', 'spb-1', 'msk-1')));
  });

  afterEach(async () => {
    for (const recorder of recorders) recorder.close();
    recorders = [];
    await lab?.close();
  });

  it('refuses to promote the Secondary while the peer is Primary, unless both allow two primaries', async () => {
    // When spb-1 is promoted for vm-a, which is Primary on msk-1
    const refused = await failure(unary<PromoteResponse__Output>('Promote', (cb) => client('spb-1').drbd.promote({ name: 'vm-a' }, deadline(), cb)));
    // Then it is FAILED_PRECONDITION and spb-1 stays Secondary; force does not change that
    expect(refused?.code).toBe('FAILED_PRECONDITION');
    expect(refused?.message).toMatch(/msk-1 is Primary/);
    expect(await failure(unary<PromoteResponse__Output>('Promote', (cb) => client('spb-1').drbd.promote({ name: 'vm-a', force: true }, deadline(), cb)))).toMatchObject({ code: 'FAILED_PRECONDITION' });
    expect((await getResource('spb-1', 'vm-a')).role).toBe('Secondary');

    // When only spb-1 allows two primaries: still refused, even after msk-1 had time to tell it its options
    await setAllowTwoPrimaries('spb-1', 'vm-a', true);
    await sleep(700);
    expect(await failure(unary<PromoteResponse__Output>('Promote', (cb) => client('spb-1').drbd.promote({ name: 'vm-a' }, deadline(), cb)))).toMatchObject({ code: 'FAILED_PRECONDITION' });

    // When msk-1 allows it too, Then spb-1 can be promoted: two Primaries, each seeing the other
    await setAllowTwoPrimaries('msk-1', 'vm-a', true);
    await waitFor('spb-1 promoted', () => unary<PromoteResponse__Output>('Promote', (cb) => client('spb-1').drbd.promote({ name: 'vm-a' }, deadline(), cb)), { timeoutMs: 3000 });
    await waitFor('msk-1 to see spb-1 Primary', async () => peerOf(await getResource('msk-1', 'vm-a'), 'spb-1')?.peerRole === 'Primary');
    expect((await getResource('spb-1', 'vm-a')).role).toBe('Primary');

    // And two primaries cannot be forbidden again while both are Primary
    expect(await failure(setAllowTwoPrimaries('msk-1', 'vm-a', false))).toMatchObject({ code: 'FAILED_PRECONDITION' });
    // After spb-1 demotes, they can
    await unary<DemoteResponse__Output>('Demote', (cb) => client('spb-1').drbd.demote({ name: 'vm-a' }, deadline(), cb));
    await waitFor('msk-1 to see spb-1 Secondary', async () => peerOf(await getResource('msk-1', 'vm-a'), 'spb-1')?.peerRole === 'Secondary');
    await setAllowTwoPrimaries('msk-1', 'vm-a', false);
    await setAllowTwoPrimaries('spb-1', 'vm-a', false);
    expect((await getResource('msk-1', 'vm-a')).allowTwoPrimaries).toBe(false);
  });

  it('refuses a live migration while the target is not Primary, changing nothing', async () => {
    // When vm-a is migrated to spb-1 where its disk is Secondary
    const refused = await failure(migrate('msk-1', 'vm-a', 'spb-1'));
    // Then it is FAILED_PRECONDITION, naming dual-primary
    expect(refused?.code).toBe('FAILED_PRECONDITION');
    expect(refused?.message).toMatch(/Secondary on spb-1.*dual-primary/);
    // And vm-a still runs on msk-1 only, not marked migrating
    const source = (await unary<GetDomainResponse__Output>('GetDomain', (cb) => client('msk-1').kvm.getDomain({ name: 'vm-a' }, deadline(), cb))).domain!;
    expect(source).toMatchObject({ state: 'DOMAIN_STATE_RUNNING', migrating: false });
    expect(await domainState('spb-1', 'vm-a')).toBe('DOMAIN_STATE_SHUTOFF');
  });

  it('live-migrates a running VM with dual-primary: progress grows, the VM never runs twice, one Primary after the workflow', async () => {
    // Given dual-primary for vm-a and watchers on both nodes
    await dualPrimary('vm-a', 'msk-1', 'spb-1');
    const source = watch('msk-1');
    const target = watch('spb-1');
    await source.until('snapshot', (w) => w.view !== undefined);
    await target.until('snapshot', (w) => w.view !== undefined);

    // When vm-a is migrated to spb-1
    const messages = await migrate('msk-1', 'vm-a', 'spb-1');

    // Then progress came first, ordered by phase, with growing percent, and the stream ended with `done`
    const progress = messages.filter((message) => message.event === 'progress').map((message) => message.progress!);
    const phases = progress.map((p) => p.phase).filter((phase, index, all) => all.indexOf(phase) === index);
    expect(phases).toEqual(['prepare', 'memory', 'switchover', 'finish']);
    const memory = progress.filter((p) => p.phase === 'memory');
    expect(memory.length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < progress.length; i += 1) expect(progress[i]!.percent).toBeGreaterThanOrEqual(progress[i - 1]!.percent);
    for (let i = 1; i < memory.length; i += 1) expect(Number(memory[i]!.processedBytes)).toBeGreaterThan(Number(memory[i - 1]!.processedBytes));
    expect(memory.at(-1)?.percent).toBe(100);
    expect(messages.at(-1)?.event).toBe('done');
    expect(messages.at(-1)?.done).toMatchObject({ name: 'vm-a', state: 'DOMAIN_STATE_RUNNING' });

    // And vm-a runs on spb-1, and is shut off on msk-1
    expect(await domainState('spb-1', 'vm-a')).toBe('DOMAIN_STATE_RUNNING');
    expect(await domainState('msk-1', 'vm-a')).toBe('DOMAIN_STATE_SHUTOFF');

    // And it never ran on both: msk-1 paused it before spb-1 reported it running
    await target.until('vm-a running on spb-1', (w) => w.view?.domains.get('vm-a')?.state === 'DOMAIN_STATE_RUNNING');
    await source.until('vm-a shut off on msk-1', (w) => w.view?.domains.get('vm-a')?.state === 'DOMAIN_STATE_SHUTOFF');
    const at = (recorder: WatchRecorder, state: string): number =>
      Number(recorder.messages.find((m) => m.change?.domain?.name === 'vm-a' && m.change.domain.state === state)?.sentUnixMs ?? NaN);
    expect(at(source, 'DOMAIN_STATE_PAUSED')).toBeLessThanOrEqual(at(target, 'DOMAIN_STATE_RUNNING'));
    const sourceStates = source.messages.flatMap((m) => (m.change?.domain?.name === 'vm-a' ? [m.change.domain.state] : []));
    expect(sourceStates.filter((state, index) => state !== sourceStates[index - 1])).toEqual(['DOMAIN_STATE_RUNNING', 'DOMAIN_STATE_PAUSED', 'DOMAIN_STATE_SHUTOFF']);

    // When the workflow finishes: demote the source, forbid two primaries again
    await unary<DemoteResponse__Output>('Demote', (cb) => client('msk-1').drbd.demote({ name: 'vm-a' }, deadline(), cb));
    await waitFor('spb-1 to see msk-1 Secondary', async () => peerOf(await getResource('spb-1', 'vm-a'), 'msk-1')?.peerRole === 'Secondary');
    await setAllowTwoPrimaries('spb-1', 'vm-a', false);
    await setAllowTwoPrimaries('msk-1', 'vm-a', false);
    // Then exactly one Primary remains, on the node where the VM runs
    expect([(await getResource('msk-1', 'vm-a')).role, (await getResource('spb-1', 'vm-a')).role]).toEqual(['Secondary', 'Primary']);
    expect(source.violations).toEqual([]);
    expect(target.violations).toEqual([]);
  });

  it('keeps the VM running on the source, and nowhere else, when the migration fails midway', async () => {
    // Given dual-primary and the next migration from msk-1 armed to fail
    await dualPrimary('vm-a', 'msk-1', 'spb-1');
    await unary<FailMigrationsResponse__Output>('FailMigrations', (cb) => client('msk-1').faults.failMigrations({ count: 1 }, deadline(), cb));
    // When vm-a is migrated
    const progress: MigrateResponse__Output[] = [];
    const failed = await failure(migrate('msk-1', 'vm-a', 'spb-1', '', (message) => progress.push(message)));
    // Then it fails after some progress, saying where the VM runs
    expect(failed?.code).toBe('ABORTED');
    expect(failed?.message).toMatch(/keeps running on msk-1/);
    expect(progress.some((m) => m.progress?.phase === 'memory')).toBe(true);
    expect(progress.some((m) => m.event === 'done')).toBe(false);
    // And vm-a runs on msk-1 only, no longer migrating
    const domain = (await unary<GetDomainResponse__Output>('GetDomain', (cb) => client('msk-1').kvm.getDomain({ name: 'vm-a' }, deadline(), cb))).domain!;
    expect(domain).toMatchObject({ state: 'DOMAIN_STATE_RUNNING', migrating: false });
    expect(await domainState('spb-1', 'vm-a')).toBe('DOMAIN_STATE_SHUTOFF');

    // And the fault was used up: the next attempt moves it
    const retried = await migrate('msk-1', 'vm-a', 'spb-1');
    expect(retried.at(-1)?.event).toBe('done');
    expect(await domainState('spb-1', 'vm-a')).toBe('DOMAIN_STATE_RUNNING');
    expect(await domainState('msk-1', 'vm-a')).toBe('DOMAIN_STATE_SHUTOFF');
  });

  it('attaches a Migrate with a repeated request id to the running migration', async () => {
    // Given dual-primary and a migration with request id mig-1 under way
    await dualPrimary('vm-a', 'msk-1', 'spb-1');
    const log = watch('msk-1');
    await log.until('snapshot', (w) => w.view !== undefined);
    let firstProgress!: () => void;
    const started = new Promise<void>((resolve) => (firstProgress = resolve));
    const first = migrate('msk-1', 'vm-a', 'spb-1', 'mig-1', (message) => {
      if (message.progress?.phase === 'memory') firstProgress();
    });
    await started;
    // When the same request comes again (a client that reconnected)
    const second = migrate('msk-1', 'vm-a', 'spb-1', 'mig-1');
    const [one, two] = await Promise.all([first, second]);
    // Then both streams carry the same messages, ending with the same `done`
    expect(one.at(-1)?.event).toBe('done');
    expect(two).toEqual(one);
    // And there was only one migration
    await log.until('the migration to be logged as completed', (w) => w.logMessages().some((m) => m.includes('live migration to spb-1 completed')));
    expect(log.logMessages().filter((m) => m.includes('live migration to spb-1 started'))).toHaveLength(1);
    expect(await domainState('spb-1', 'vm-a')).toBe('DOMAIN_STATE_RUNNING');
  });

  it('SetPartition on both sides: each sees the other lost while both live; healed, they reconnect and resync', async () => {
    // When msk-1 and spb-1 are cut from each other (bak-1 still sees both)
    await unary<SetPartitionResponse__Output>('SetPartition', (cb) => client('msk-1').faults.setPartition({ unreachableSites: ['spb'] }, deadline(), cb));
    await unary<SetPartitionResponse__Output>('SetPartition', (cb) => client('spb-1').faults.setPartition({ unreachableSites: ['msk'] }, deadline(), cb));
    // Then within 3 s each reports the other Connecting, role Unknown, for both resources
    for (const [self, other] of [
      ['msk-1', 'spb-1'],
      ['spb-1', 'msk-1'],
    ] as const) {
      await waitFor(`${self} to lose ${other}`, async () => {
        const peers = await Promise.all(['vm-a', 'vm-b'].map(async (name) => peerOf(await getResource(self, name), other)));
        return peers.every((peer) => peer?.connectionState === 'Connecting' && peer.peerRole === 'Unknown');
      }, { timeoutMs: 3000 });
      const neighbors = (await unary<ListNeighborsResponse__Output>('ListNeighbors', (cb) => client(self).routing.listNeighbors({}, deadline(), cb))).neighbors;
      expect(neighbors.find((n) => n.protocol === 'ospf' && n.name === other)).toMatchObject({ up: false });
    }
    // And both processes live and keep quorum through the witness, which still sees both
    for (const node of NODES) await unary<GetInfoResponse__Output>('GetInfo', (cb) => client(node).node.getInfo({}, deadline(), cb));
    expect(await getResource('msk-1', 'vm-a')).toMatchObject({ quorum: true });
    expect(await getResource('spb-1', 'vm-b')).toMatchObject({ quorum: true });
    const witnessView = await getResource('bak-1', 'vm-a');
    expect(witnessView.peers.map((peer) => peer.connectionState)).toEqual(['Connected', 'Connected']);
    // The running VMs keep writing: msk-1 counts what spb-1 misses
    await waitFor('msk-1 to count out-of-sync data for spb-1', async () => Number(peerOf(await getResource('msk-1', 'vm-a'), 'spb-1')?.outOfSyncBytes) > 0);

    // When the cut is healed on both sides
    const msk = watch('msk-1');
    await msk.until('snapshot', (w) => w.view !== undefined);
    await unary<SetPartitionResponse__Output>('SetPartition', (cb) => client('msk-1').faults.setPartition({ unreachableSites: [] }, deadline(), cb));
    await unary<SetPartitionResponse__Output>('SetPartition', (cb) => client('spb-1').faults.setPartition({ unreachableSites: [] }, deadline(), cb));
    // Then they reconnect, resync (msk-1 the source for vm-a) and end in sync
    await waitFor('msk-1 and spb-1 to reconnect', async () => peerOf(await getResource('msk-1', 'vm-a'), 'spb-1')?.connectionState === 'Connected', { timeoutMs: 3000 });
    await waitFor('vm-a and vm-b back in sync', async () => (await inSync('vm-a', 'msk-1', 'spb-1')) && (await inSync('vm-b', 'spb-1', 'msk-1')), { timeoutMs: 8000 });
    expect(msk.messages.some((m) => m.change?.resource?.name === 'vm-a' && peerOf(m.change.resource, 'spb-1')?.replicationState === 'SyncSource')).toBe(true);
    expect([(await getResource('msk-1', 'vm-a')).role, (await getResource('spb-1', 'vm-a')).role]).toEqual(['Primary', 'Secondary']);
  });

  it('a Primary cut off from its peer and the witness loses quorum; the other side keeps it', async () => {
    // When msk-1 is cut from both other sites
    await unary<SetPartitionResponse__Output>('SetPartition', (cb) => client('msk-1').faults.setPartition({ unreachableSites: ['spb', 'bak'] }, deadline(), cb));
    // Then within 3 s msk-1 reports no quorum for vm-a (where it is Primary)
    await waitFor('msk-1 without quorum', async () => (await getResource('msk-1', 'vm-a')).quorum === false, { timeoutMs: 3000 });
    // And its writes freeze: what spb-1 misses stops growing
    const frozen = Number(peerOf(await getResource('msk-1', 'vm-a'), 'spb-1')?.outOfSyncBytes);
    await sleep(300);
    expect(Number(peerOf(await getResource('msk-1', 'vm-a'), 'spb-1')?.outOfSyncBytes)).toBe(frozen);
    // And spb-1, still with the witness, keeps quorum and sees msk-1 lost
    await waitFor('spb-1 to lose msk-1', async () => peerOf(await getResource('spb-1', 'vm-a'), 'msk-1')?.connectionState === 'Connecting', { timeoutMs: 3000 });
    expect((await getResource('spb-1', 'vm-a')).quorum).toBe(true);
    // So the survivors could fail vm-a over (spb-1 may promote), while msk-1 may not promote vm-b without force
    const refused = await failure(unary<PromoteResponse__Output>('Promote', (cb) => client('msk-1').drbd.promote({ name: 'vm-b' }, deadline(), cb)));
    expect(refused?.code).toBe('FAILED_PRECONDITION');
    expect(refused?.message).toMatch(/quorum/);
    expect((await getResource('msk-1', 'vm-b')).role).toBe('Secondary');
  });

  it('backs up a VM where it is Primary into bak-1, and refuses where it is Secondary', async () => {
    // Given a watcher on bak-1, the repository
    const repository = watch('bak-1');
    await repository.until('snapshot', (w) => w.view !== undefined);
    // When vm-a is backed up on msk-1, where it is Primary
    const messages: CreateBackupResponse__Output[] = await collectStream('CreateBackup', client('msk-1').backup.createBackup({ vm: 'vm-a' }, deadline(15_000)));
    // Then progress streams (snapshot, upload..., release), growing, and the stored snapshot ends the stream
    const progress = messages.filter((m) => m.event === 'progress').map((m) => m.progress!);
    expect(progress[0]?.phase).toBe('snapshot');
    expect(progress.at(-1)?.phase).toBe('release');
    expect(progress.filter((p) => p.phase === 'upload').length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < progress.length; i += 1) expect(Number(progress[i]!.bytesDone)).toBeGreaterThanOrEqual(Number(progress[i - 1]!.bytesDone));
    const done = messages.at(-1)?.done;
    expect(done).toMatchObject({ vm: 'vm-a', resource: 'vm-a', sourceNode: 'msk-1' });
    // And the snapshot is listed on bak-1 (and through msk-1), and bak-1's watchers were told
    const onBak = await unary<ListSnapshotsResponse__Output>('ListSnapshots', (cb) => client('bak-1').backup.listSnapshots({ vm: 'vm-a' }, deadline(), cb));
    expect(onBak.snapshots.map((s) => s.id)).toEqual([done!.id]);
    const viaMsk = await unary<ListSnapshotsResponse__Output>('ListSnapshots', (cb) => client('msk-1').backup.listSnapshots({}, deadline(), cb));
    expect(viaMsk.snapshots.map((s) => s.id)).toEqual([done!.id]);
    await repository.until('the snapshot delta', (w) => w.view?.snapshots.has(done!.id) === true);
    expect(repository.messages.some((m) => m.change?.snapshot?.id === done!.id)).toBe(true);

    // When vm-a is backed up on spb-1, where it is Secondary
    const refused = await failure(collectStream('CreateBackup', client('spb-1').backup.createBackup({ vm: 'vm-a' }, deadline())));
    // Then it is FAILED_PRECONDITION and nothing new is stored
    expect(refused?.code).toBe('FAILED_PRECONDITION');
    expect(refused?.message).toMatch(/not Primary on spb-1/);
    const after = await unary<ListSnapshotsResponse__Output>('ListSnapshots', (cb) => client('bak-1').backup.listSnapshots({}, deadline(), cb));
    expect(after.snapshots).toHaveLength(1);
  });
});
