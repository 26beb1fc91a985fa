import { afterEach, describe, expect, it } from 'vitest';
import type { GetDomainResponse__Output, GetInfoResponse__Output, GetResourceResponse__Output, ListAnnouncementsResponse__Output, PeerConnection__Output, Resource__Output } from '@hvctl/proto';
import { deadline, unary } from '@hvctl/common';
import { WatchRecorder, waitFor } from '@hvctl/common/testing';
import { buildSeeds, Lab } from '../../testing/harness.js';

/**
 * A node that dies hard: spb-1 runs as a child process (bin/hvctl-agent.js with a YAML
 * config) and is killed with SIGKILL, then started again on the same state directory.
 * msk-1 (vm-a Primary and running) and the witness bak-1 run in this process.
 */
describe('a killed node and its return', () => {
  let lab: Lab | undefined;
  const recorders: WatchRecorder[] = [];

  afterEach(async () => {
    for (const recorder of recorders.splice(0)) recorder.close();
    await lab?.close();
    lab = undefined;
  });

  it('is lost by its peers at once; it comes back crashed (Secondary, VMs off, reported) and resyncs from the survivor', async () => {
    lab = await Lab.start({
      nodes: [
        { name: 'msk-1', site: 'msk' },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
        { name: 'spb-1', site: 'spb', child: true },
      ],
      seeds: buildSeeds(
        ['msk-1', 'spb-1', 'bak-1'],
        [
          { name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
          { name: 'vm-b', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
        ],
        'bak-1',
      ),
    });
    const running = lab;
    const client = (node: string) => running.client(node);
    const getResource = async (node: string, name: string): Promise<Resource__Output> =>
      (await unary<GetResourceResponse__Output>('GetResource', (cb) => client(node).drbd.getResource({ name }, deadline(), cb))).resource!;
    const peerOf = (resource: Resource__Output | undefined, node: string): PeerConnection__Output | undefined => resource?.peers.find((peer) => peer.node === node);
    const synced = async (name: string, a: string, b: string): Promise<boolean> => {
      for (const [self, other] of [
        [a, b],
        [b, a],
      ]) {
        const resource = await getResource(self!, name);
        const peer = peerOf(resource, other!);
        if (resource.diskState !== 'UpToDate' || peer?.replicationState !== 'Established' || peer.peerDiskState !== 'UpToDate' || Number(peer.outOfSyncBytes) > 0) return false;
      }
      return true;
    };

    // Given a healthy pair: vm-a runs on msk-1, vm-b on spb-1, every link up, both in sync
    await lab.waitAllConnected();
    await waitFor('both VMs in sync', async () => (await synced('vm-a', 'msk-1', 'spb-1')) && (await synced('vm-b', 'spb-1', 'msk-1')), { timeoutMs: 8000 });
    const epochBefore = (await unary<GetInfoResponse__Output>('GetInfo', (cb) => client('spb-1').node.getInfo({}, deadline(), cb))).node!.agentEpoch;
    const survivor = new WatchRecorder(client('msk-1'));
    recorders.push(survivor);
    await survivor.until('snapshot', (w) => w.view !== undefined);

    // When spb-1 is killed with SIGKILL
    await lab.kill('spb-1');

    // Then within 3 s msk-1 and the witness see it lost: Connecting, role Unknown
    const lost = async (self: string, name: string): Promise<boolean> => {
      const peer = peerOf(await getResource(self, name), 'spb-1');
      return peer?.connectionState === 'Connecting' && peer.peerRole === 'Unknown' && peer.peerDiskState === 'DUnknown';
    };
    await waitFor('msk-1 to lose spb-1', async () => (await lost('msk-1', 'vm-a')) && (await lost('msk-1', 'vm-b')), { timeoutMs: 3000 });
    await waitFor('bak-1 to lose spb-1', () => lost('bak-1', 'vm-a'), { timeoutMs: 3000 });
    // And msk-1 keeps quorum through the witness, so vm-a keeps writing; spb-1 misses those writes
    expect((await getResource('msk-1', 'vm-a')).quorum).toBe(true);
    await waitFor('msk-1 to be 48 MiB ahead of spb-1', async () => Number(peerOf(await getResource('msk-1', 'vm-a'), 'spb-1')?.outOfSyncBytes) > 48 * 1024 ** 2);

    // When spb-1 starts again on the same state directory
    await lab.start('spb-1');
    const returning = new WatchRecorder(client('spb-1'));
    recorders.push(returning);
    await returning.until('snapshot', (w) => w.view !== undefined);

    // Then it is a new agent process (new epoch) that came back as after a crash:
    const info = (await unary<GetInfoResponse__Output>('GetInfo', (cb) => client('spb-1').node.getInfo({}, deadline(), cb))).node!;
    expect(info.agentEpoch).not.toBe(epochBefore);
    // vm-b, which ran there, is shut off (and not started anywhere), its disk Secondary, its /32 no longer announced
    expect((await getResource('spb-1', 'vm-b')).role).toBe('Secondary');
    const vmB = (await unary<GetDomainResponse__Output>('GetDomain', (cb) => client('spb-1').kvm.getDomain({ name: 'vm-b' }, deadline(), cb))).domain!;
    expect(vmB).toMatchObject({ state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'crashed' });
    const announced = (await unary<ListAnnouncementsResponse__Output>('ListAnnouncements', (cb) => client('spb-1').routing.listAnnouncements({}, deadline(), cb))).announcements;
    expect(announced.filter((a) => a.vm === 'vm-b')).toEqual([]);
    // and the stopped VM is reported in its event log, not left silently off
    expect(returning.logMessages(), JSON.stringify(returning.logMessages())).toEqual(expect.arrayContaining([expect.stringMatching(/restarted after a crash.*vm-b/)]));

    // And msk-1, the Primary that kept writing, resyncs spb-1: SyncSource there, SyncTarget on spb-1
    await survivor.until('msk-1 SyncSource to spb-1', (w) => peerOf(w.view?.resources.get('vm-a'), 'spb-1')?.replicationState === 'SyncSource');
    await returning.until('spb-1 SyncTarget from msk-1', (w) => {
      const resource = w.view?.resources.get('vm-a');
      return peerOf(resource, 'msk-1')?.replicationState === 'SyncTarget' && resource?.diskState === 'Inconsistent';
    });
    // Then both end UpToDate and Established, vm-a still Primary on msk-1 only
    await waitFor('vm-a and vm-b in sync again', async () => (await synced('vm-a', 'msk-1', 'spb-1')) && (await synced('vm-b', 'spb-1', 'msk-1')), { timeoutMs: 10_000 });
    expect([(await getResource('msk-1', 'vm-a')).role, (await getResource('spb-1', 'vm-a')).role]).toEqual(['Primary', 'Secondary']);
    expect(survivor.violations).toEqual([]);
    expect(returning.violations).toEqual([]);
  });

  it('comes back as after a crash even when killed before its first change', async () => {
    // Given a lone node whose VM runs on an unreplicated disk: nothing it does changes its state
    lab = await Lab.start({
      nodes: [{ name: 'msk-1', site: 'msk', child: true }],
      seeds: buildSeeds(['msk-1'], [{ name: 'vm-a', home: 'msk-1' }]),
    });
    const client = lab.client('msk-1');
    const vmA = async () => (await unary<GetDomainResponse__Output>('GetDomain', (cb) => client.kvm.getDomain({ name: 'vm-a' }, deadline(), cb))).domain!;
    expect((await vmA()).state).toBe('DOMAIN_STATE_RUNNING');
    // When it is killed at once and started again
    await lab.kill('msk-1');
    await lab.start('msk-1');
    // Then it did not boot from its seed again: vm-a is off and its disk Secondary, and the log says so
    expect(await vmA()).toMatchObject({ state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'crashed' });
    expect((await unary<GetResourceResponse__Output>('GetResource', (cb) => client.drbd.getResource({ name: 'vm-a' }, deadline(), cb))).resource?.role).toBe('Secondary');
    const watcher = new WatchRecorder(client);
    recorders.push(watcher);
    await watcher.until('the crash report', (w) => w.logMessages().some((m) => /restarted after a crash.*vm-a/.test(m)));
  });
});
