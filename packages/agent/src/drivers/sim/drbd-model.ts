import type { PeerConnection__Output, Resource__Output } from '@hvctl/proto';
import type { PeerResourceState, SimResourceRecord } from './records.js';

/** What this node knows about one peer of a resource right now. */
export interface PeerInput {
  /** The simulated link to the peer is up. */
  readonly reachable: boolean;
  /** The peer's last heartbeat entry for this resource (undefined if it has none). */
  readonly state: PeerResourceState | undefined;
  /** When the connection state last changed. */
  readonly changedMs: number;
  /** Bytes the running resync had to copy when it started (0 when not syncing). */
  readonly syncTotalBytes: number;
}

/** One connection of a resource as DRBD would report it. */
export interface ConnectionView {
  readonly node: string;
  readonly connected: boolean;
  readonly connectionState: 'Connected' | 'Connecting' | 'StandAlone';
  readonly replicationState: 'Established' | 'SyncSource' | 'SyncTarget' | 'Off';
  readonly peerRole: 'Primary' | 'Secondary' | 'Unknown';
  readonly peerDisk: string;
  readonly peerClient: boolean;
  /** The peer has allow-two-primaries set. */
  readonly peerAllowsTwoPrimaries: boolean;
  /** Nodes the peer reports being connected to for this resource. */
  readonly peerSees: readonly string[];
  /** Bytes the peer lacks (this node is the sync source for them). */
  readonly mineAhead: number;
  /** Bytes this node lacks (the peer is the sync source). */
  readonly theirsAhead: number;
}

/** The connection of `record` to `peer`, from the local record and the peer's heartbeat. */
export function connectionOf(self: string, record: SimResourceRecord, peer: { node: string; client: boolean }, input: PeerInput): ConnectionView {
  const base = { node: peer.node, peerClient: peer.client, peerAllowsTwoPrimaries: false, peerSees: [] as readonly string[], mineAhead: record.outOfSync[peer.node] ?? 0, theirsAhead: 0 };
  if (record.standAlone) {
    return { ...base, connected: false, connectionState: 'StandAlone', replicationState: 'Off', peerRole: 'Unknown', peerDisk: 'DUnknown' };
  }
  const state = input.state;
  if (!input.reachable || !state || state.standAlone) {
    return { ...base, connected: false, connectionState: 'Connecting', replicationState: 'Off', peerRole: 'Unknown', peerDisk: 'DUnknown' };
  }
  const theirsAhead = state.outOfSync[self] ?? 0;
  const diskless = record.client || state.client || record.disk === 'Diskless' || state.disk === 'Diskless';
  let replicationState: ConnectionView['replicationState'] = 'Established';
  let peerDisk: string = state.disk;
  if (!diskless && base.mineAhead > 0) {
    replicationState = 'SyncSource';
    peerDisk = 'Inconsistent';
  } else if (!diskless && theirsAhead > 0) {
    replicationState = 'SyncTarget';
  }
  return {
    ...base,
    peerAllowsTwoPrimaries: state.allowTwoPrimaries,
    peerSees: state.connectedTo ?? [],
    theirsAhead,
    connected: true,
    connectionState: 'Connected',
    replicationState,
    peerRole: state.role,
    peerDisk,
  };
}

/**
 * DRBD quorum with a diskless tie-breaker: a majority of the members, this node
 * included, must be connected. The tie-breaker can keep quorum for a side but not hand it
 * to a side that lost its diskful peer while the tie-breaker still sees that peer: so when
 * only the link between the two sites breaks, the Primary keeps quorum and the Secondary
 * cannot gain it (no split brain). A resource with a single peer and no witness has no
 * quorum rule (always true), like DRBD with quorum off.
 */
export function hasQuorum(record: SimResourceRecord, connections: readonly ConnectionView[]): boolean {
  const members = 1 + record.peers.length;
  if (members < 3) return true;
  const votes = 1 + connections.filter((connection) => connection.connected).length;
  if (votes * 2 <= members) return false;
  if (record.role === 'Primary') return true;
  const lostDiskful = connections.filter((connection) => !connection.peerClient && !connection.connected).map((connection) => connection.node);
  const witnesses = connections.filter((connection) => connection.peerClient && connection.connected);
  return !witnesses.some((witness) => lostDiskful.some((node) => witness.peerSees.includes(node)));
}

/**
 * Fewer than a majority of the members (this node included) are connected: DRBD's plain
 * vote count with `quorum majority`, without the tie-breaker refinement of hasQuorum. A
 * resource with fewer than three members has no quorum rule and is never outvoted.
 */
export function outvoted(record: SimResourceRecord, connections: readonly ConnectionView[]): boolean {
  const members = 1 + record.peers.length;
  if (members < 3) return false;
  const votes = 1 + connections.filter((connection) => connection.connected).length;
  return votes * 2 <= members;
}

/**
 * DRBD 9 with quorum enabled marks the disk of a Secondary that loses quorum Outdated: the
 * partition that kept quorum may go on writing without it, so this copy can no longer be
 * trusted to be current and `drbdadm primary` refuses it without --force. It stays
 * Outdated after quorum returns until a resync from an UpToDate peer brings it up to date
 * (see the tick in world.ts). The sim applies this when the node is outvoted (it lost the
 * majority of its connections), not on the tie-breaker refinement of hasQuorum: that one
 * follows a witness's heartbeat, which lags a Primary's death by a heartbeat timeout, and
 * a dead Primary outdates nobody. `wasQuorate` says whether the resource had quorum since
 * this host came up: like DRBD waiting for its first connections at boot, the sim does not
 * outdate a replica whose connections have not come up yet.
 */
export function outdatesOnQuorumLoss(record: SimResourceRecord, connections: readonly ConnectionView[], wasQuorate: boolean): boolean {
  return wasQuorate && !record.client && record.role === 'Secondary' && record.disk === 'UpToDate' && outvoted(record, connections);
}

/**
 * `on-suspended-primary-outdated force-secondary`: a Primary whose I/O was suspended for
 * lost quorum (`on-no-quorum suspend-io`) learns on reconnecting that the others went on
 * without it (the peer is Primary now, or holds writes this node lacks). DRBD then demotes
 * it to Secondary and marks its disk Outdated, so it rejoins as a resync target instead of
 * refusing the connection as a second Primary. Its suspended writes fail with I/O errors.
 */
export function forcedSecondary(self: string, record: SimResourceRecord, state: PeerResourceState): boolean {
  if (record.client || state.client || record.role !== 'Primary' || !record.ioSuspended) return false;
  return state.role === 'Primary' || (state.outOfSync[self] ?? 0) > 0;
}

/**
 * What the diskless witness remembers of the diskful members' lag. A tie-breaker holds no
 * data, but it stays connected to the partition that keeps quorum and learns there which
 * member fell behind (DRBD tells it through the UUIDs, so it still sees that member as
 * Outdated when it returns). The sim keeps the byte count the connected members report,
 * and keeps it while nobody who could update it is connected: so when the Primary that
 * wrote dies, the witness still knows what the surviving copy lacks. `reports` holds, per
 * connected diskful member, what it says each peer lacks.
 */
export function witnessMemory(
  previous: Readonly<Record<string, number>>,
  connections: readonly ConnectionView[],
  reports: ReadonlyMap<string, Readonly<Record<string, number>>>,
): Record<string, number> {
  const next: Record<string, number> = {};
  for (const connection of connections) {
    if (connection.peerClient) continue;
    const others = [...reports.entries()].filter(([node]) => node !== connection.node).map(([, lacks]) => lacks[connection.node] ?? 0);
    const reported = Math.max(0, ...others);
    next[connection.node] = connection.connected && others.length ? reported : Math.max(previous[connection.node] ?? 0, reported);
  }
  return next;
}

/** Result of the handshake when a connection comes up. */
export type Handshake = 'ok' | 'split-brain' | 'two-primaries';

/**
 * What DRBD decides when a connection is (re)established: two Primaries without
 * allow-two-primaries on both sides refuse to connect; both sides holding changes the
 * other lacks is a split brain (unless one side agreed to discard its data).
 */
export function handshake(self: string, record: SimResourceRecord, peer: string, state: PeerResourceState): Handshake {
  if (record.client || state.client) return 'ok';
  if (record.role === 'Primary' && state.role === 'Primary' && !(record.allowTwoPrimaries && state.allowTwoPrimaries)) {
    return 'two-primaries';
  }
  const mine = record.outOfSync[peer] ?? 0;
  const theirs = state.outOfSync[self] ?? 0;
  if (mine > 0 && theirs > 0 && !record.discardMyData && !state.discardMyData) return 'split-brain';
  return 'ok';
}

/** Why `drbdadm primary` would fail, or undefined when it would succeed. */
export function promoteRefusal(record: SimResourceRecord, connections: readonly ConnectionView[], force: boolean): string | undefined {
  if (record.client || record.disk === 'Diskless' || record.disk === 'Failed') {
    return `${record.name} has no local disk here (${record.disk}); a diskless node cannot hold the VM's data`;
  }
  const otherPrimary = connections.find((connection) => connection.connected && connection.peerRole === 'Primary');
  if (otherPrimary && !(record.allowTwoPrimaries && otherPrimary.peerAllowsTwoPrimaries)) {
    return `${otherPrimary.node} is Primary for ${record.name} and two primaries are not allowed (drbdadm exit 11: State change failed: Multiple primaries not allowed by config)`;
  }
  if (record.disk !== 'UpToDate' && !force) {
    const why = record.disk === 'Outdated' ? ': it lost quorum while a peer may have gone on writing' : '';
    return `${record.name} has no UpToDate data here (disk ${record.disk}${why}); drbdadm exit 17: Need access to UpToDate data. Only --force promotes it, and then this copy wins over the peer's`;
  }
  if (!hasQuorum(record, connections) && !force) {
    return `${record.name} has no quorum here (the peer and the witness are unreachable); promoting could split the brain. Only --force overrides this`;
  }
  return undefined;
}

/**
 * DRBD's `suspended` field: "quorum" while a Primary has no quorum (hvctl expects
 * `on-no-quorum suspend-io`, so its I/O blocks instead of failing), otherwise "no". The
 * sim has no user, no-data or fencing suspension.
 */
export function suspendedOf(record: SimResourceRecord, connections: readonly ConnectionView[]): string {
  return record.role === 'Primary' && !hasQuorum(record, connections) ? 'quorum' : 'no';
}

/**
 * drbdsetup's `may_promote` (a promotion is expected to succeed) and `promotion_score`.
 * The score is the sim's approximation of drbdsetup's: 0 when it may not promote, else
 * 10000 for local UpToDate data plus 100 per connected UpToDate peer and 1 per connected
 * peer, so a better-connected replica ranks higher, as drbd-reactor's promoter expects.
 */
export function promotionOf(record: SimResourceRecord, connections: readonly ConnectionView[]): { mayPromote: boolean; promotionScore: number } {
  const mayPromote = record.role === 'Secondary' && promoteRefusal(record, connections, false) === undefined;
  if (!mayPromote) return { mayPromote, promotionScore: 0 };
  const connected = connections.filter((connection) => connection.connected);
  return { mayPromote, promotionScore: 10000 + 100 * connected.filter((connection) => connection.peerDisk === 'UpToDate').length + connected.length };
}

/** The Resource message for a record and its connections. */
export function resourceView(record: SimResourceRecord, connections: readonly ConnectionView[], inputs: ReadonlyMap<string, PeerInput>, resyncBytesPerSecond: number): Resource__Output {
  const peers: PeerConnection__Output[] = connections.map((connection) => {
    const syncing = connection.replicationState === 'SyncSource' || connection.replicationState === 'SyncTarget';
    const remaining = connection.replicationState === 'SyncTarget' ? connection.theirsAhead : connection.mineAhead;
    const total = Math.max(inputs.get(connection.node)?.syncTotalBytes ?? 0, remaining);
    const done = total > 0 ? Math.max(0, Math.min(100, 100 * (1 - remaining / total))) : 100;
    return {
      node: connection.node,
      connectionState: connection.connectionState,
      peerRole: connection.peerRole,
      peerDiskState: connection.peerDisk,
      replicationState: connection.replicationState,
      outOfSyncBytes: connection.mineAhead,
      syncPercent: syncing ? Math.floor(done * 100) / 100 : 0,
      syncEtaSeconds: syncing && resyncBytesPerSecond > 0 ? Math.ceil(remaining / resyncBytesPerSecond) : 0,
      peerClient: connection.peerClient,
      connectionChangedUnixMs: inputs.get(connection.node)?.changedMs ?? 0,
    };
  });
  return {
    name: record.name,
    role: record.role,
    diskState: record.disk,
    quorum: hasQuorum(record, connections),
    suspended: suspendedOf(record, connections),
    ...promotionOf(record, connections),
    allowTwoPrimaries: record.allowTwoPrimaries,
    protocol: record.protocol,
    sizeBytes: record.sizeBytes,
    minor: record.minor,
    client: record.client,
    peers,
    vm: record.vm,
  };
}
