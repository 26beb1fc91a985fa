import { silentLogger } from '@hvctl/common';
import { fakeDomain, fakePeer, fakeResource } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { bootReconcile, type BootReconcileDeps } from './boot-reconcile.js';
import type { AnnouncementRecord } from './drivers/real/routing/bird-config.js';

const BLOCK: AnnouncementRecord = { prefix: '203.0.113.0/24', kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceUnixMs: 1 };
const WEB: AnnouncementRecord = { prefix: '10.20.0.11/32', kind: 'ANNOUNCEMENT_KIND_VM', vm: 'web-1', sinceUnixMs: 1 };

/** An include file in memory; counts the rewrites. */
function fakeRouting(records: AnnouncementRecord[]): BootReconcileDeps['routing'] & { records: AnnouncementRecord[]; writes: number } {
  const routing = {
    records,
    writes: 0,
    reconcile: async (keep: (record: AnnouncementRecord) => boolean) => {
      const kept = routing.records.filter((record) => keep(record));
      const withdrawn = routing.records.filter((record) => !kept.includes(record));
      if (withdrawn.length) routing.writes += 1;
      routing.records = kept;
      return { kept, withdrawn, bird: withdrawn.length ? ('reconfigured' as const) : ('unchanged' as const) };
    },
  };
  return routing;
}

const kvm = { list: async () => [fakeDomain('web-1')] };
/** A DRBD whose resource gains quorum after `afterPolls` reads. */
const drbdQuorateAfter = (afterPolls: number) => {
  let polls = 0;
  return { list: async () => [fakeResource('web-1', { quorum: (polls += 1) > afterPolls, peers: [fakePeer('spb-1')] })] };
};
const noSleep = async (): Promise<void> => undefined;

describe('bootReconcile: the public block and DRBD quorum', () => {
  it('keeps the block when quorum comes within the wait (DRBD still connecting after a boot)', async () => {
    const routing = fakeRouting([WEB, BLOCK]);
    const report = await bootReconcile({ routing, kvm, drbd: drbdQuorateAfter(3), quorumWaitMs: 15_000, sleep: noSleep, logger: silentLogger() });
    expect(report.withdrawn).toEqual([]);
    expect(routing.records).toEqual([WEB, BLOCK]);
  });

  it('withdraws it when quorum does not come within the wait, saying why', async () => {
    const routing = fakeRouting([WEB, BLOCK]);
    const report = await bootReconcile({ routing, kvm, drbd: drbdQuorateAfter(100), quorumWaitMs: 5000, sleep: noSleep, logger: silentLogger() });
    expect(report.withdrawn).toEqual([{ prefix: BLOCK.prefix, reason: 'public block: no quorum yet for web-1' }]);
    expect(routing.records).toEqual([WEB]);
  });

  it('withdraws it without a DRBD driver to ask, and keeps it with the lab\'s simulated DRBD', async () => {
    const none = fakeRouting([BLOCK]);
    expect((await bootReconcile({ routing: none, kvm, drbd: undefined, logger: silentLogger() })).withdrawn).toEqual([
      { prefix: BLOCK.prefix, reason: 'public block: this node has no DRBD driver to confirm quorum' },
    ]);
    const simulated = fakeRouting([BLOCK]);
    expect((await bootReconcile({ routing: simulated, kvm, drbd: 'simulated', logger: silentLogger() })).withdrawn).toEqual([]);
  });

  it('withdraws every /32 when the KVM driver cannot say what runs here', async () => {
    const routing = fakeRouting([WEB]);
    const broken = { list: async () => Promise.reject(new Error('libvirt is unreachable')) };
    const report = await bootReconcile({ routing, kvm: broken, drbd: 'simulated', logger: silentLogger() });
    expect(report.withdrawn).toEqual([{ prefix: WEB.prefix, reason: 'web-1: the KVM driver cannot list domains (libvirt is unreachable)' }]);
  });

  it('turns libvirt autostart off for each domain that has it', async () => {
    const disabled: string[] = [];
    const report = await bootReconcile({
      routing: fakeRouting([]),
      kvm,
      drbd: 'simulated',
      autostart: { autostartDomains: async () => ['web-1'], disableAutostart: async (name) => void disabled.push(name) },
      logger: silentLogger(),
    });
    expect(disabled).toEqual(['web-1']);
    expect(report.autostartDisabled).toEqual(['web-1']);
  });
});
