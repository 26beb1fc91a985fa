import { estimateRpo, type TopologyReplica, type TopologyResource } from '@hvctl/common';
import { describe, expect, it } from 'vitest';
import { clipLine, fit, formatBytes, formatDuration, formatSeconds, lineText, replicationSummary, rolesSummary, seg, wrapSegments, wrapText } from './format.js';

const replica = (node: string, overrides: Partial<TopologyReplica> = {}): TopologyReplica => ({
  node,
  role: 'Secondary',
  disk: 'UpToDate',
  replication: 'Established',
  connection: 'Connected',
  peerReachable: true,
  witness: false,
  quorum: true,
  suspended: 'no',
  allowTwoPrimaries: false,
  syncPercent: 0,
  outOfSyncBytes: 0,
  syncEtaSeconds: 0,
  connectionChangedUnixMs: 0,
  derived: false,
  ...overrides,
});
const resource = (replicas: TopologyReplica[], degraded = false): TopologyResource => ({
  name: 'r',
  vm: 'r',
  replicas,
  primaries: replicas.filter((r) => r.role === 'Primary').map((r) => r.node),
  degraded,
  rpo: { seconds: 0, reason: 'in-sync', targetSeconds: 60, overTarget: false, outOfSyncBytes: 0, rateBytesPerSecond: 0 },
});

describe('formatting', () => {
  it('formats durations and sizes compactly', () => {
    expect([0, 42, 312, 3725, 90_000].map(formatDuration)).toEqual(['0s', '42s', '5m12s', '1h02m', '1d01h']);
    expect([0, 512, 1536, 3 * 2 ** 30].map(formatBytes)).toEqual(['0 B', '512 B', '1.5 KiB', '3.0 GiB']);
  });

  it('pads and cuts to a width', () => {
    expect(fit('abc', 5)).toBe('abc  ');
    expect(fit('abcdef', 4)).toBe('abc…');
    expect(lineText(clipLine({ segments: [seg('hello '), seg('world')] }, 8))).toBe('hello w…');
  });

  it('summarises roles and replication', () => {
    const healthy = resource([replica('msk-1', { role: 'Primary' }), replica('spb-1'), replica('bak-1', { witness: true, disk: 'Diskless' })]);
    expect(rolesSummary(healthy)).toBe('P msk-1 / S spb-1');
    expect(replicationSummary(healthy)).toEqual({ text: 'UpToDate/Established', tone: 'ok' });

    const syncing = resource([replica('msk-1', { role: 'Primary', replication: 'SyncSource', syncPercent: 42.9 }), replica('spb-1', { disk: 'Inconsistent', replication: 'SyncTarget', syncPercent: 42.9 })], true);
    expect(replicationSummary(syncing)).toEqual({ text: 'SyncTarget 42%', tone: 'warn' });

    const peerLost = resource([replica('msk-1', { role: 'Primary', connection: 'Connecting', replication: 'Off', peerReachable: false }), replica('spb-1', { role: 'Unknown', disk: 'DUnknown', derived: true, peerReachable: false })], true);
    expect(replicationSummary(peerLost)).toEqual({ text: 'UpToDate/Connecting', tone: 'warn' });
    expect(rolesSummary(peerLost)).toBe('P msk-1 / ? spb-1');

    const outdated = resource([replica('msk-1', { disk: 'Outdated', replication: 'Off' }), replica('spb-1', { disk: 'Outdated', replication: 'Off' })], true);
    expect(replicationSummary(outdated)).toEqual({ text: 'Outdated/Off', tone: 'bad' });

    // A Primary frozen by lost quorum is not healthy, whatever its disk says
    const frozen = resource([replica('msk-1', { role: 'Primary', quorum: false, suspended: 'quorum', connection: 'Connecting', replication: 'Off', peerReachable: false }), replica('spb-1', { role: 'Unknown', disk: 'DUnknown', derived: true, peerReachable: false, suspended: '' })], true);
    expect(replicationSummary(frozen)).toEqual({ text: 'I/O suspended (quorum) on msk-1', tone: 'bad' });
  });

  it('marks the RPO of a resource with data at risk, red over the target', () => {
    // Given a primary whose peer link broke 42 s ago, then one broken for 5 minutes
    const lost = (ageSeconds: number): TopologyResource => {
      const replicas = [
        replica('msk-1', { role: 'Primary', connection: 'Connecting', replication: 'Off', peerReachable: false, connectionChangedUnixMs: 1_000_000 - ageSeconds * 1000 }),
        replica('spb-1', { role: 'Unknown', disk: 'DUnknown', derived: true, peerReachable: false }),
      ];
      return { ...resource(replicas, true), rpo: estimateRpo(replicas, { nowMs: 1_000_000 }) };
    };
    // Then the summary carries the estimate, and turns bad once it exceeds the 60 s target
    expect(replicationSummary(lost(42))).toEqual({ text: 'UpToDate/Connecting RPO 42s', tone: 'warn' });
    expect(replicationSummary(lost(300))).toEqual({ text: 'UpToDate/Connecting RPO 5m00s', tone: 'bad' });
  });
});

describe('wrapping', () => {
  it('wraps words, cuts a word longer than the line, and keeps at least one line', () => {
    expect(wrapText('drbdadm status r-web-1; virsh domstate web-1', 20)).toEqual(['drbdadm status', 'r-web-1; virsh', 'domstate web-1']);
    expect(wrapText('abcdefghij', 4)).toEqual(['abcd', 'efgh', 'ij']);
    expect(wrapText('', 10)).toEqual(['']);
  });

  it('wraps segments under a prefix, keeping each one its look, never wider than the width', () => {
    const lines = wrapSegments([seg('  m  ')], [seg('Live-migrate the selected VM', 'normal'), seg('  (select a VM)', 'muted')], 24);
    expect(lines.map(lineText)).toEqual(['  m  Live-migrate the', '     selected VM', '     (select a VM)']);
    expect(lines[2]?.segments.at(-1)?.tone).toBe('muted');
    for (const line of wrapSegments([seg('> ')], [seg('x'.repeat(30))], 10)) expect(lineText(line).length).toBeLessThanOrEqual(10);
  });

  it('formats seconds', () => {
    expect(formatSeconds(400)).toBe('0.4s');
    expect(formatSeconds(12_345)).toBe('12.3s');
    expect(formatSeconds(125_000)).toBe('2m05s');
  });
});
