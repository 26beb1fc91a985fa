import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { toResource } from './model.js';
import { Events2State, parseEvents2Line } from './parse-events2.js';
import { DrbdStatusFormatError, parseDrbdShow, parseDrbdStatus } from './parse-status.js';

const fixture = (name: string): string => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
const status = (name: string) => parseDrbdStatus(fixture(name)).map((state) => toResource(state));

describe('parseDrbdStatus (drbdsetup status --json)', () => {
  it('reads a resource mid-resync: KiB units, progress and ETA', () => {
    // Given the status of a SyncSource with 4 GiB out of sync, 60 % done
    const [resource] = status('status-mid-resync.json');
    // Then sizes are bytes, and the peer shows the resync
    expect(resource).toMatchObject({ name: 'r0', role: 'Primary', diskState: 'UpToDate', quorum: true, minor: 1, client: false, sizeBytes: 10485404 * 1024 });
    expect(resource?.peers).toEqual([
      {
        node: 'beta',
        connectionState: 'Connected',
        peerRole: 'Secondary',
        peerDiskState: 'Inconsistent',
        replicationState: 'SyncSource',
        outOfSyncBytes: 4194304 * 1024,
        syncPercent: 60,
        syncEtaSeconds: 272,
        peerClient: false,
        connectionChangedUnixMs: 0,
      },
    ]);
  });

  it('reads several healthy resources', () => {
    const resources = status('status-healthy-two.json');
    expect(resources.map((r) => [r.name, r.role, r.peers[0]?.peerRole, r.peers[0]?.replicationState, r.peers[0]?.syncPercent])).toEqual([
      ['vm-web-1', 'Primary', 'Secondary', 'Established', 0],
      ['vm-db-1', 'Secondary', 'Primary', 'Established', 0],
    ]);
  });

  it('reads a StandAlone resource after disconnect', () => {
    const [resource] = status('status-standalone.json');
    expect(resource?.peers[0]).toMatchObject({ connectionState: 'StandAlone', peerRole: 'Unknown', peerDiskState: 'DUnknown', replicationState: 'Off', outOfSyncBytes: 0 });
  });

  it('reads the split-brain picture: UpToDate here, StandAlone, peer DUnknown, changes out of sync', () => {
    const [resource] = status('status-split-brain.json');
    expect(resource).toMatchObject({ role: 'Primary', diskState: 'UpToDate' });
    expect(resource?.peers[0]).toMatchObject({ connectionState: 'StandAlone', peerDiskState: 'DUnknown', outOfSyncBytes: 4412 * 1024, syncPercent: 0 });
  });

  it('reads a diskless tie-breaker with one peer connected and one connecting', () => {
    const [resource] = status('status-diskless-tiebreaker.json');
    expect(resource).toMatchObject({ diskState: 'Diskless', client: true, quorum: true });
    expect(resource?.peers.map((peer) => [peer.node, peer.connectionState, peer.peerRole])).toEqual([
      ['msk-1', 'Connected', 'Primary'],
      ['spb-1', 'Connecting', 'Unknown'],
    ]);
  });

  it('accepts the keys of newer utils (paths, tls, open) and shows the worst of several volumes', () => {
    const [state] = parseDrbdStatus(fixture('status-newer-utils.json'));
    expect(state?.suspended).toBe('quorum');
    expect(state?.devices.map((device) => device.open)).toEqual([false, true]);
    const resource = toResource(state!);
    expect(resource).toMatchObject({ diskState: 'Outdated', quorum: false, minor: 1, sizeBytes: (10485404 + 1048576) * 1024 });
    // And the suspension reaches the wire (status --json carries no may_promote: it reads as "may not")
    expect(resource).toMatchObject({ suspended: 'quorum', mayPromote: false, promotionScore: 0 });
    expect(resource.peers[0]).toMatchObject({ connectionState: 'Connecting', outOfSyncBytes: 2048 * 1024 });
  });

  it('reads the empty array printed for a missing resource (the driver checks exit 10 first)', () => {
    expect(parseDrbdStatus(fixture('status-no-such-resource.stdout'))).toEqual([]);
  });

  it('rejects output that is not the documented shape', () => {
    expect(() => parseDrbdStatus('[')).toThrow(DrbdStatusFormatError);
    expect(() => parseDrbdStatus('{"name":"r0"}')).toThrow(/did not print an array/);
    expect(() => parseDrbdStatus('[{"role":"Primary"}]')).toThrow(/no "name"/);
  });

  it('ignores the "no ETA yet" marker', () => {
    const text = fixture('status-mid-resync.json').replace('"estimated-seconds-to-finish": 272', '"estimated-seconds-to-finish": 987654321');
    expect(toResource(parseDrbdStatus(text)[0]!).peers[0]?.syncEtaSeconds).toBe(0);
  });
});

describe('parseDrbdShow (drbdsetup show all)', () => {
  it('reads allow-two-primaries and the protocol per resource', () => {
    const options = parseDrbdShow(fixture('show-all.txt'));
    expect(Object.fromEntries(options)).toEqual({
      'vm-web-1': { allowTwoPrimaries: true, protocol: 'C' },
      'vm-db-1': { allowTwoPrimaries: false, protocol: 'A' },
    });
  });
});

describe('parseEvents2Line', () => {
  it('splits tokens at the first colon only', () => {
    expect(parseEvents2Line('create path name:r0 peer-node-id:1 conn-name:beta local:ipv4:1.2.3.4:7789 peer:ipv4:5.6.7.8:7790 established:no')).toEqual({
      action: 'create',
      object: 'path',
      fields: { name: 'r0', 'peer-node-id': '1', 'conn-name': 'beta', local: 'ipv4:1.2.3.4:7789', peer: 'ipv4:5.6.7.8:7790', established: 'no' },
    });
  });

  it('reads the --timestamps prefix (microseconds, offset)', () => {
    const line = parseEvents2Line('2026-11-23T13:28:04.101234+02:00 exists -');
    expect(line).toEqual({ timeMs: Date.parse('2026-11-23T11:28:04.101Z'), action: 'exists', object: '-', fields: {} });
  });

  it('keeps the new value of --diff pairs', () => {
    expect(parseEvents2Line('change resource name:r0 role:Secondary->Primary')?.fields['role']).toBe('Primary');
  });

  it('returns undefined for blank and non-event lines', () => {
    expect(parseEvents2Line('')).toBeUndefined();
    expect(parseEvents2Line('Failed to modprobe drbd (No such file or directory)')).toBeUndefined();
  });
});

function replay(name: string): { state: Events2State; effects: ReturnType<Events2State['apply']>[] } {
  const state = new Events2State();
  const effects = fixture(name)
    .split('\n')
    .map(parseEvents2Line)
    .filter((line) => line !== undefined)
    .map((line) => state.apply(line));
  return { state, effects };
}

describe('Events2State (the follower)', () => {
  it('replays drbd-utils own expectation file: dump, create, change, helper, destroy', () => {
    const state = new Events2State();
    const lines = fixture('events2-utils-tests.txt').split('\n').map(parseEvents2Line).filter((line) => line !== undefined);
    // Given the initial dump
    expect(state.apply(lines[0]!)).toEqual({ kind: 'changed', resource: 'some-resource' });
    state.apply(lines[1]!);
    expect(state.ready).toBe(false);
    expect(state.apply(lines[2]!)).toEqual({ kind: 'dump-complete', resources: ['some-resource'] });
    expect(state.ready).toBe(true);
    // When the connection is created and comes up
    for (const line of lines.slice(3, 6)) state.apply(line);
    expect(toResource(state.resource('some-resource')!).peers[0]).toMatchObject({ node: 'some-peer', connectionState: 'StandAlone' });
    expect(state.apply(lines[6]!)).toEqual({ kind: 'connection', resource: 'some-resource', peer: 'some-peer', from: 'StandAlone', to: 'Connected' });
    state.apply(lines[7]!);
    state.apply(lines[8]!);
    // Then partial change lines are merged with what was known
    const resource = toResource(state.resource('some-resource')!);
    expect(resource).toMatchObject({ role: 'Primary', diskState: 'Diskless', minor: 1000, client: false });
    expect(resource.peers[0]).toMatchObject({ connectionState: 'Connected', peerRole: 'Secondary', peerDiskState: 'UpToDate', replicationState: 'Established' });
    expect(state.resource('some-resource')?.promotionScore).toBe(10102);
    expect(resource).toMatchObject({ suspended: 'no', promotionScore: 10102 });
    // Helpers are reported, not applied
    expect(state.apply(lines[9]!)).toMatchObject({ kind: 'helper', helper: 'before-resync-target', action: 'call' });
    expect(state.apply(lines[10]!)).toMatchObject({ kind: 'helper', action: 'response', fields: { status: '1' } });
    // And destroy removes peer device, connection, then the resource
    state.apply(lines[11]!);
    state.apply(lines[12]!);
    expect(state.resource('some-resource')?.connections).toEqual([]);
    expect(state.apply(lines[13]!)).toEqual({ kind: 'removed', resource: 'some-resource' });
    expect(state.resource('some-resource')).toBeUndefined();
  });

  it('follows a resync with timestamps, partial lines and unknown keys and objects', () => {
    const state = new Events2State();
    const lines = fixture('events2-timestamps-resync.txt').split('\n').map(parseEvents2Line).filter((line) => line !== undefined);
    for (const line of lines.slice(0, 6)) state.apply(line);
    const peer = () => toResource(state.resource('vm-web-1')!).peers[0];
    expect(toResource(state.resource('vm-web-1')!)).toMatchObject({ diskState: 'Inconsistent', sizeBytes: 20971520 * 1024 });
    expect(peer()).toMatchObject({ replicationState: 'SyncTarget', syncPercent: 12.5, syncEtaSeconds: 597, outOfSyncBytes: 18350080 * 1024 });
    state.apply(lines[6]!);
    expect(peer()).toMatchObject({ replicationState: 'SyncTarget', syncPercent: 60, syncEtaSeconds: 272 });
    // An unknown key is tolerated, an unknown object ignored
    expect(state.apply(lines[7]!)).toEqual({ kind: 'changed', resource: 'vm-web-1' });
    expect(peer()?.syncPercent).toBe(61.2);
    expect(state.apply(lines[8]!)).toBeUndefined();
    // When the resync ends, progress is cleared
    state.apply(lines[9]!);
    state.apply(lines[10]!);
    expect(toResource(state.resource('vm-web-1')!)).toMatchObject({ diskState: 'UpToDate' });
    expect(peer()).toMatchObject({ replicationState: 'Established', syncPercent: 0, syncEtaSeconds: 0, outOfSyncBytes: 0 });
    expect(lines[0]?.timeMs).toBe(Date.parse('2026-11-23T13:28:04.101Z'));
  });

  it('sees a split brain: the helper call, then StandAlone', () => {
    const { state, effects } = replay('events2-split-brain.txt');
    expect(effects.filter((effect) => effect?.kind === 'helper' && effect.action === 'call').map((effect) => effect?.kind === 'helper' && effect.helper)).toEqual([
      'initial-split-brain',
      'split-brain',
    ]);
    expect(effects.at(-1)).toEqual({ kind: 'connection', resource: 'vm-db-1', peer: 'spb-1', from: 'Disconnecting', to: 'StandAlone' });
    expect(toResource(state.resource('vm-db-1')!).peers[0]).toMatchObject({ connectionState: 'StandAlone', peerDiskState: 'DUnknown', peerRole: 'Unknown' });
  });

  it('reads --diff output', () => {
    const { state } = replay('events2-diff.txt');
    expect(state.resource('r0')).toMatchObject({ role: 'Primary' });
  });

  it('handles a rename', () => {
    const state = new Events2State();
    state.apply(parseEvents2Line('exists resource name:old role:Secondary')!);
    expect(state.apply(parseEvents2Line('rename resource name:old new_name:new')!)).toEqual({ kind: 'renamed', from: 'old', to: 'new' });
    expect(state.names()).toEqual(['new']);
  });
});
