import { describe, expect, it } from 'vitest';
import {
  connectionOf,
  forcedSecondary,
  handshake,
  hasQuorum,
  outdatesOnQuorumLoss,
  outvoted,
  promoteRefusal,
  promotionOf,
  resourceView,
  suspendedOf,
  witnessMemory,
  type ConnectionView,
  type PeerInput,
} from './drbd-model.js';
import type { PeerResourceState, SimResourceRecord } from './records.js';

const GIB = 1024 ** 3;

/** msk-1's record of vm-a, paired with spb-1 and witnessed by the diskless bak-1. */
function record(overrides: Partial<SimResourceRecord> = {}): SimResourceRecord {
  return {
    name: 'vm-a',
    vm: 'vm-a',
    minor: 1000,
    sizeBytes: GIB,
    protocol: 'C',
    role: 'Secondary',
    disk: 'UpToDate',
    client: false,
    allowTwoPrimaries: false,
    standAlone: false,
    standAloneReason: '',
    discardMyData: false,
    peers: [
      { node: 'spb-1', client: false },
      { node: 'bak-1', client: true },
    ],
    outOfSync: {},
    ...overrides,
  };
}

function peerState(overrides: Partial<PeerResourceState> = {}): PeerResourceState {
  return { role: 'Secondary', disk: 'UpToDate', client: false, allowTwoPrimaries: false, standAlone: false, discardMyData: false, outOfSync: {}, connectedTo: [], ...overrides };
}

const up = (state: PeerResourceState, syncTotalBytes = 0): PeerInput => ({ reachable: true, state, changedMs: 1, syncTotalBytes });
const down: PeerInput = { reachable: false, state: undefined, changedMs: 2, syncTotalBytes: 0 };
const witness = up(peerState({ client: true, disk: 'Diskless' }));

/** msk-1's connections to spb-1 and bak-1 for the given inputs. */
function connections(self: SimResourceRecord, spb: PeerInput, bak: PeerInput = witness): ConnectionView[] {
  return [connectionOf('msk-1', self, { node: 'spb-1', client: false }, spb), connectionOf('msk-1', self, { node: 'bak-1', client: true }, bak)];
}

describe('connectionOf', () => {
  it('reports an unreachable peer as Connecting with an Unknown role', () => {
    // Given a peer whose link is down
    // When the connection is computed
    const [spb] = connections(record(), down);
    // Then it is Connecting, not connected, role Unknown, disk DUnknown
    expect(spb).toMatchObject({ connected: false, connectionState: 'Connecting', replicationState: 'Off', peerRole: 'Unknown', peerDisk: 'DUnknown' });
  });

  it('reports StandAlone when this side disconnected, whatever the peer does', () => {
    // Given a record disconnected by request and a reachable peer
    const [spb] = connections(record({ standAlone: true, standAloneReason: 'disconnect' }), up(peerState({ role: 'Primary' })));
    // Then the connection is StandAlone
    expect(spb).toMatchObject({ connected: false, connectionState: 'StandAlone', peerRole: 'Unknown' });
  });

  it('reports a reachable peer that is StandAlone as Connecting', () => {
    const [spb] = connections(record(), up(peerState({ standAlone: true })));
    expect(spb).toMatchObject({ connected: false, connectionState: 'Connecting' });
  });

  it('passes the peer role, disk and allow-two-primaries through when connected', () => {
    const [spb] = connections(record(), up(peerState({ role: 'Primary', allowTwoPrimaries: true })));
    expect(spb).toMatchObject({ connected: true, connectionState: 'Connected', replicationState: 'Established', peerRole: 'Primary', peerDisk: 'UpToDate', peerAllowsTwoPrimaries: true });
  });

  it('makes the side with the changes SyncSource and the other SyncTarget', () => {
    // Given msk-1 holds 100 MiB that spb-1 lacks
    const mine = record({ role: 'Primary', outOfSync: { 'spb-1': 100 * 1024 ** 2 } });
    // When both compute their connection
    const [source] = connections(mine, up(peerState()));
    const target = connectionOf('spb-1', record({ peers: [{ node: 'msk-1', client: false }] }), { node: 'msk-1', client: false }, up(peerState({ role: 'Primary', outOfSync: { 'spb-1': 100 * 1024 ** 2 } })));
    // Then msk-1 is SyncSource (the peer's disk Inconsistent) and spb-1 is SyncTarget
    expect(source).toMatchObject({ replicationState: 'SyncSource', peerDisk: 'Inconsistent', mineAhead: 100 * 1024 ** 2 });
    expect(target).toMatchObject({ replicationState: 'SyncTarget', theirsAhead: 100 * 1024 ** 2 });
  });

  it('never syncs with a diskless witness', () => {
    const self = record({ outOfSync: { 'bak-1': 5 } });
    const [, bak] = connections(self, up(peerState()));
    expect(bak?.replicationState).toBe('Established');
  });
});

describe('hasQuorum', () => {
  it('holds with the peer or the witness, and is lost without both', () => {
    const self = record({ role: 'Primary' });
    // Given three members (msk-1, spb-1, bak-1)
    expect(hasQuorum(self, connections(self, up(peerState()), witness))).toBe(true);
    expect(hasQuorum(self, connections(self, down, witness))).toBe(true);
    expect(hasQuorum(self, connections(self, up(peerState()), down))).toBe(true);
    // When msk-1 is cut off from both
    // Then it has no quorum
    expect(hasQuorum(self, connections(self, down, down))).toBe(false);
  });

  it('always holds for a plain pair without a witness (quorum off)', () => {
    const pair = record({ peers: [{ node: 'spb-1', client: false }] });
    expect(hasQuorum(pair, [connectionOf('msk-1', pair, { node: 'spb-1', client: false }, down)])).toBe(true);
  });
});

describe('handshake', () => {
  it('refuses two Primaries unless both sides allow two primaries', () => {
    // Given both sides Primary
    const self = record({ role: 'Primary' });
    expect(handshake('msk-1', self, 'spb-1', peerState({ role: 'Primary' }))).toBe('two-primaries');
    // Only one side allowing is not enough
    expect(handshake('msk-1', record({ role: 'Primary', allowTwoPrimaries: true }), 'spb-1', peerState({ role: 'Primary' }))).toBe('two-primaries');
    expect(handshake('msk-1', self, 'spb-1', peerState({ role: 'Primary', allowTwoPrimaries: true }))).toBe('two-primaries');
    // Both allowing is fine
    expect(handshake('msk-1', record({ role: 'Primary', allowTwoPrimaries: true }), 'spb-1', peerState({ role: 'Primary', allowTwoPrimaries: true }))).toBe('ok');
  });

  it('detects a split brain when both sides hold changes the other lacks', () => {
    // Given msk-1 and spb-1 both wrote while apart
    const self = record({ outOfSync: { 'spb-1': 10 } });
    const peer = peerState({ outOfSync: { 'msk-1': 20 } });
    // Then the handshake reports split brain
    expect(handshake('msk-1', self, 'spb-1', peer)).toBe('split-brain');
    // Only one side ahead is a plain resync
    expect(handshake('msk-1', record({ outOfSync: { 'spb-1': 10 } }), 'spb-1', peerState())).toBe('ok');
    expect(handshake('msk-1', record(), 'spb-1', peer)).toBe('ok');
  });

  it('avoids the split brain when either side agreed to discard its data', () => {
    const peer = peerState({ outOfSync: { 'msk-1': 20 } });
    expect(handshake('msk-1', record({ outOfSync: { 'spb-1': 10 }, discardMyData: true }), 'spb-1', peer)).toBe('ok');
    expect(handshake('msk-1', record({ outOfSync: { 'spb-1': 10 } }), 'spb-1', { ...peer, discardMyData: true })).toBe('ok');
  });

  it('is always ok with a diskless witness', () => {
    expect(handshake('msk-1', record({ role: 'Primary' }), 'bak-1', peerState({ client: true, role: 'Primary' }))).toBe('ok');
  });
});

describe('promoteRefusal', () => {
  it('refuses while the peer is Primary unless both sides allow two primaries', () => {
    const peerPrimary = (allow: boolean): PeerInput => up(peerState({ role: 'Primary', allowTwoPrimaries: allow }));
    // Given spb-1 is Primary and connected
    // When msk-1 is promoted without allow-two-primaries anywhere
    expect(promoteRefusal(record(), connections(record(), peerPrimary(false)), false)).toMatch(/spb-1 is Primary.*two primaries are not allowed/);
    // Then force does not help
    expect(promoteRefusal(record(), connections(record(), peerPrimary(false)), true)).toMatch(/spb-1 is Primary/);
    // Allowing on one side only is not enough
    const allowing = record({ allowTwoPrimaries: true });
    expect(promoteRefusal(allowing, connections(allowing, peerPrimary(false)), false)).toMatch(/spb-1 is Primary/);
    expect(promoteRefusal(record(), connections(record(), peerPrimary(true)), false)).toMatch(/spb-1 is Primary/);
    // Allowing on both sides lets it through
    expect(promoteRefusal(allowing, connections(allowing, peerPrimary(true)), false)).toBeUndefined();
  });

  it('refuses without UpToDate data unless forced', () => {
    for (const disk of ['Outdated', 'Inconsistent'] as const) {
      const self = record({ disk });
      expect(promoteRefusal(self, connections(self, down), false)).toMatch(/no UpToDate data/);
      expect(promoteRefusal(self, connections(self, down), true)).toBeUndefined();
    }
  });

  it('refuses without quorum unless forced', () => {
    // Given msk-1 is cut off from its peer and the witness
    const self = record();
    const isolated = connections(self, down, down);
    // Then only force promotes it
    expect(promoteRefusal(self, isolated, false)).toMatch(/no quorum/);
    expect(promoteRefusal(self, isolated, true)).toBeUndefined();
    // With the witness alone it has quorum (the peer may be dead): allowed
    expect(promoteRefusal(self, connections(self, down, witness), false)).toBeUndefined();
  });

  it('never promotes a diskless witness or a failed disk, even forced', () => {
    const bak = record({ client: true, disk: 'Diskless' });
    expect(promoteRefusal(bak, connections(bak, up(peerState())), true)).toMatch(/no local disk/);
    const failed = record({ disk: 'Diskless' });
    expect(promoteRefusal(failed, connections(failed, up(peerState())), true)).toMatch(/no local disk/);
  });

  it('allows a healthy Secondary whose peer is Secondary', () => {
    expect(promoteRefusal(record(), connections(record(), up(peerState())), false)).toBeUndefined();
  });
});

describe('resourceView', () => {
  const inputs = (spb: PeerInput): ReadonlyMap<string, PeerInput> => new Map([['spb-1', spb], ['bak-1', witness]]);

  it('reports sync direction, percent of the resync and ETA on the source', () => {
    // Given a resync of 1 GiB to spb-1 of which a quarter is left, running at 64 MiB/s
    const self = record({ role: 'Primary', outOfSync: { 'spb-1': GIB / 4 } });
    const spb = up(peerState(), GIB);
    // When the view is built
    const view = resourceView(self, connections(self, spb), inputs(spb), 64 * 1024 ** 2);
    // Then spb-1 shows SyncSource at 75 %, 4 s to go, and the bytes it lacks
    expect(view.peers[0]).toMatchObject({ node: 'spb-1', replicationState: 'SyncSource', peerDiskState: 'Inconsistent', syncPercent: 75, syncEtaSeconds: 4, outOfSyncBytes: GIB / 4, connectionChangedUnixMs: 1 });
    expect(view.peers[1]).toMatchObject({ node: 'bak-1', replicationState: 'Established', syncPercent: 0, peerClient: true });
    expect(view).toMatchObject({ name: 'vm-a', role: 'Primary', quorum: true, diskState: 'UpToDate' });
  });

  it('starts a resync at 0 % when its starting size is not known yet', () => {
    const self = record({ role: 'Primary', outOfSync: { 'spb-1': 1000 } });
    const spb = up(peerState());
    expect(resourceView(self, connections(self, spb), inputs(spb), 1).peers[0]).toMatchObject({ replicationState: 'SyncSource', syncPercent: 0 });
  });

  it('reports the target side from what the peer says this node lacks', () => {
    // Given spb-1 says msk-1 lacks 100 MiB of a 1000 MiB resync
    const self = record({ disk: 'Inconsistent', peers: [{ node: 'spb-1', client: false }] });
    const spb = up(peerState({ role: 'Primary', outOfSync: { 'msk-1': 100 * 1024 ** 2 } }), 1000 * 1024 ** 2);
    const view = resourceView(self, [connectionOf('msk-1', self, { node: 'spb-1', client: false }, spb)], new Map([['spb-1', spb]]), 0);
    expect(view.peers[0]).toMatchObject({ replicationState: 'SyncTarget', syncPercent: 90, syncEtaSeconds: 0, outOfSyncBytes: 0, peerRole: 'Primary' });
  });

  it('shows no sync progress when not syncing and no quorum when isolated', () => {
    const self = record({ role: 'Primary', outOfSync: { 'spb-1': 1000 } });
    const view = resourceView(self, connections(self, down, down), new Map([['spb-1', down], ['bak-1', down]]), 1);
    expect(view.quorum).toBe(false);
    expect(view.peers[0]).toMatchObject({ connectionState: 'Connecting', syncPercent: 0, syncEtaSeconds: 0, outOfSyncBytes: 1000, connectionChangedUnixMs: 2 });
  });
});

describe('quorum with a diskless tie-breaker that still sees the lost peer', () => {
  it('lets the Primary keep quorum but does not hand it to the Secondary (no split brain when only the inter-site link breaks)', () => {
    // Given the msk-spb link is cut while bak-1 still sees both sides
    const witnessSeesBoth = up(peerState({ client: true, disk: 'Diskless', connectedTo: ['msk-1', 'spb-1'] }));
    const primary = record({ role: 'Primary' });
    const secondary = record({ role: 'Secondary' });
    // Then the Primary keeps quorum and the Secondary, which could otherwise be promoted, has none
    expect(hasQuorum(primary, connections(primary, down, witnessSeesBoth))).toBe(true);
    expect(hasQuorum(secondary, connections(secondary, down, witnessSeesBoth))).toBe(false);
    expect(promoteRefusal(secondary, connections(secondary, down, witnessSeesBoth), false)).toMatch(/no quorum/);
  });

  it('gives the survivor quorum once the witness has lost the peer too (the peer is really gone)', () => {
    const witnessLostPeer = up(peerState({ client: true, disk: 'Diskless', connectedTo: ['msk-1'] }));
    const secondary = record({ role: 'Secondary' });
    expect(hasQuorum(secondary, connections(secondary, down, witnessLostPeer))).toBe(true);
    expect(promoteRefusal(secondary, connections(secondary, down, witnessLostPeer), false)).toBeUndefined();
  });
});

describe('a Secondary that loses quorum is Outdated', () => {
  it('outdates an UpToDate Secondary that lost the majority of its connections, once it had quorum', () => {
    // Given msk-1, Secondary, cut off from spb-1 and the witness
    const self = record();
    const isolated = connections(self, down, down);
    // Then it is outvoted and outdates its disk (it had quorum before)
    expect(outvoted(self, isolated)).toBe(true);
    expect(outdatesOnQuorumLoss(self, isolated, true)).toBe(true);
    // But not before its connections ever came up (boot), nor a Primary (suspended instead), nor an Inconsistent disk
    expect(outdatesOnQuorumLoss(self, isolated, false)).toBe(false);
    expect(outdatesOnQuorumLoss(record({ role: 'Primary' }), isolated, true)).toBe(false);
    expect(outdatesOnQuorumLoss(record({ disk: 'Inconsistent' }), isolated, true)).toBe(false);
  });

  it('does not outdate a Secondary that keeps the witness (the Primary died; the witness may not have noticed yet)', () => {
    // Given spb-1 (Primary) is dead and bak-1 still reports it connected for a heartbeat
    const self = record();
    const witnessStillSeesPeer = up(peerState({ client: true, disk: 'Diskless', connectedTo: ['msk-1', 'spb-1'] }));
    const view = connections(self, down, witnessStillSeesPeer);
    // Then it has no quorum for that moment, but it is not outvoted, so it is not outdated
    expect(hasQuorum(self, view)).toBe(false);
    expect(outdatesOnQuorumLoss(self, view, true)).toBe(false);
  });

  it('stays Outdated when it reconnects to the witness alone: promotion needs --force', () => {
    const self = record({ disk: 'Outdated' });
    const witnessLostPeer = up(peerState({ client: true, disk: 'Diskless', connectedTo: ['msk-1'] }));
    const view = connections(self, down, witnessLostPeer);
    expect(hasQuorum(self, view)).toBe(true);
    expect(promoteRefusal(self, view, false)).toMatch(/disk Outdated: it lost quorum while a peer may have gone on writing\); drbdadm exit 17/);
    expect(promotionOf(self, view)).toEqual({ mayPromote: false, promotionScore: 0 });
  });
});

describe('a Primary that loses quorum', () => {
  it('is suspended while it has no quorum, and reports it', () => {
    const primary = record({ role: 'Primary' });
    const isolated = connections(primary, down, down);
    expect(suspendedOf(primary, isolated)).toBe('quorum');
    expect(suspendedOf(primary, connections(primary, down, witness))).toBe('no');
    expect(suspendedOf(record(), isolated)).toBe('no');
    const view = resourceView(primary, isolated, new Map([['spb-1', down], ['bak-1', down]]), 1);
    expect(view).toMatchObject({ quorum: false, suspended: 'quorum', mayPromote: false });
  });

  it('is forced Secondary when it returns to a peer that went on without it (on-suspended-primary-outdated force-secondary)', () => {
    const suspended = record({ role: 'Primary', ioSuspended: true });
    // Given the peer was promoted meanwhile, or wrote what this node lacks
    expect(forcedSecondary('msk-1', suspended, peerState({ role: 'Primary' }))).toBe(true);
    expect(forcedSecondary('msk-1', suspended, peerState({ outOfSync: { 'msk-1': 10 } }))).toBe(true);
    // Not when the peer has nothing new (quorum simply returns and I/O resumes), nor when I/O was not suspended, nor toward the witness
    expect(forcedSecondary('msk-1', suspended, peerState())).toBe(false);
    expect(forcedSecondary('msk-1', record({ role: 'Primary' }), peerState({ role: 'Primary' }))).toBe(false);
    expect(forcedSecondary('msk-1', suspended, peerState({ client: true, role: 'Primary' }))).toBe(false);
  });
});

describe('promotionOf', () => {
  it('scores a connected UpToDate Secondary above a lone one, and a Primary not at all', () => {
    const self = record();
    expect(promotionOf(self, connections(self, up(peerState())))).toEqual({ mayPromote: true, promotionScore: 10102 });
    expect(promotionOf(self, connections(self, down))).toEqual({ mayPromote: true, promotionScore: 10001 });
    expect(promotionOf(record({ role: 'Primary' }), connections(self, up(peerState())))).toEqual({ mayPromote: false, promotionScore: 0 });
  });
});

describe('witnessMemory', () => {
  /** bak-1's connections to msk-1 and spb-1. */
  const bak = record({ name: 'vm-a', client: true, disk: 'Diskless', peers: [{ node: 'msk-1', client: false }, { node: 'spb-1', client: false }] });
  const view = (msk: PeerInput, spb: PeerInput): ConnectionView[] => [
    connectionOf('bak-1', bak, { node: 'msk-1', client: false }, msk),
    connectionOf('bak-1', bak, { node: 'spb-1', client: false }, spb),
  ];

  it('remembers what the writing Primary said its cut-off peer lacks, after the Primary dies too', () => {
    // Given msk-1 is cut off and spb-1 (Primary) reports msk-1 lacks 5 MiB
    const during = witnessMemory({}, view(down, up(peerState({ role: 'Primary' }))), new Map([['spb-1', { 'msk-1': 5 * 1024 ** 2 }]]));
    expect(during).toEqual({ 'msk-1': 5 * 1024 ** 2, 'spb-1': 0 });
    // When spb-1 dies and msk-1 comes back to the witness alone
    const after = witnessMemory(during, view(up(peerState({ disk: 'Outdated' })), down), new Map([['msk-1', {}]]));
    // Then the witness still knows what msk-1 lacks
    expect(after['msk-1']).toBe(5 * 1024 ** 2);
    // And once spb-1 is back and reports msk-1 in sync, it forgets
    const synced = witnessMemory(after, view(up(peerState()), up(peerState())), new Map<string, Record<string, number>>([['msk-1', {}], ['spb-1', { 'msk-1': 0 }]]));
    expect(synced['msk-1']).toBe(0);
  });
});
