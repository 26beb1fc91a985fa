import { describe, expect, it } from 'vitest';
import { estimateRpo, FALLBACK_REPLICATION_BYTES_PER_SECOND, type RpoReplica } from './rpo.js';

const NOW = 1_800_000_000_000;
const MIB = 1024 * 1024;

const replica = (node: string, overrides: Partial<RpoReplica> = {}): RpoReplica => ({
  node,
  disk: 'UpToDate',
  peerReachable: true,
  witness: false,
  derived: false,
  outOfSyncBytes: 0,
  syncEtaSeconds: 0,
  connectionChangedUnixMs: NOW - 3_600_000,
  ...overrides,
});
const witness = replica('bak-1', { disk: 'Diskless', witness: true, peerReachable: false, connectionChangedUnixMs: NOW - 1000 });

describe('estimateRpo', () => {
  it('is 0 when both disks are UpToDate and connected (the witness does not count)', () => {
    const rpo = estimateRpo([replica('msk-1'), replica('spb-1'), witness], { nowMs: NOW });
    expect(rpo).toMatchObject({ seconds: 0, reason: 'in-sync', overTarget: false, targetSeconds: 60 });
  });

  it('turns out-of-sync bytes into seconds at the resync rate DRBD observes', () => {
    // Given 600 MiB out of sync that DRBD expects to resync in 30 s (20 MiB/s)
    const rpo = estimateRpo([replica('msk-1', { outOfSyncBytes: 600 * MIB, syncEtaSeconds: 30 }), replica('spb-1', { disk: 'Inconsistent' })], { nowMs: NOW });
    // Then the data at risk is 30 s of replication
    expect(rpo).toMatchObject({ seconds: 30, reason: 'replicating', overTarget: false, rateBytesPerSecond: 20 * MIB, outOfSyncBytes: 600 * MIB });
  });

  it('uses the fallback rate when DRBD gives no estimate, and compares with a configured target', () => {
    const bytes = 35 * FALLBACK_REPLICATION_BYTES_PER_SECOND + 1;
    const rpo = estimateRpo([replica('msk-1', { outOfSyncBytes: bytes }), replica('spb-1')], { nowMs: NOW, targetSeconds: 30 });
    expect(rpo).toMatchObject({ seconds: 36, reason: 'replicating', overTarget: true, targetSeconds: 30 });
  });

  it('is the age of the break when the link is down, from the earliest break reported', () => {
    // Given the primary lost its peer 90 s ago and the peer noticed 85 s ago
    const rpo = estimateRpo(
      [
        replica('msk-1', { peerReachable: false, connectionChangedUnixMs: NOW - 90_000 }),
        replica('spb-1', { peerReachable: false, connectionChangedUnixMs: NOW - 85_000 }),
      ],
      { nowMs: NOW },
    );
    expect(rpo).toMatchObject({ seconds: 90, reason: 'disconnected', overTarget: true });
  });

  it('reads the break from the surviving replica when the other node is unreachable', () => {
    const rpo = estimateRpo(
      [replica('msk-1', { peerReachable: false, connectionChangedUnixMs: NOW - 12_400 }), replica('spb-1', { disk: 'DUnknown', peerReachable: false, derived: true, connectionChangedUnixMs: 0 })],
      { nowMs: NOW },
    );
    expect(rpo).toMatchObject({ seconds: 12, reason: 'disconnected', overTarget: false });
  });

  it('is unknown (and over target) when no replica speaks for itself or the break has no time', () => {
    expect(estimateRpo([replica('msk-1', { derived: true }), replica('spb-1', { derived: true })], { nowMs: NOW })).toMatchObject({ seconds: null, reason: 'unknown', overTarget: true });
    expect(estimateRpo([replica('msk-1', { peerReachable: false, connectionChangedUnixMs: 0 }), replica('spb-1')], { nowMs: NOW })).toMatchObject({
      seconds: null,
      reason: 'disconnected',
      overTarget: true,
    });
  });

  it('treats a resource with a single diskful replica as broken', () => {
    const rpo = estimateRpo([replica('msk-1', { peerReachable: false, connectionChangedUnixMs: NOW - 5000 }), witness], { nowMs: NOW });
    expect(rpo).toMatchObject({ seconds: 5, reason: 'disconnected' });
  });
});
