import type { PeerConnection__Output, Resource__Output } from '@hvctl/proto';

/**
 * One DRBD resource as drbdsetup reports it, in one shape for both sources
 * (`status --json` and the events2 stream). Units are DRBD's: KiB.
 */
export interface DrbdResourceState {
  readonly name: string;
  /** "Primary", "Secondary" or "Unknown". */
  readonly role: string;
  /** "no" or a comma-joined reason list (user, no-data, fencing, quorum). */
  readonly suspended: string;
  readonly mayPromote?: boolean;
  readonly promotionScore?: number;
  readonly devices: readonly DrbdDeviceState[];
  readonly connections: readonly DrbdConnectionState[];
}

export interface DrbdDeviceState {
  readonly volume: number;
  readonly minor: number;
  readonly diskState: string;
  /** Intentionally diskless (a tie-breaker). */
  readonly client: boolean;
  readonly quorum: boolean;
  /** Present with statistics. */
  readonly sizeKiB?: number;
  /** Opened by someone (utils >= 9.29 only). */
  readonly open?: boolean;
}

export interface DrbdConnectionState {
  readonly peerNodeId: number;
  /** The peer's host name from the config (conn-name). */
  readonly name: string;
  readonly connectionState: string;
  readonly peerRole: string;
  readonly peerDevices: readonly DrbdPeerDeviceState[];
}

export interface DrbdPeerDeviceState {
  readonly volume: number;
  readonly replicationState: string;
  readonly peerDiskState: string;
  readonly peerClient: boolean;
  readonly resyncSuspended: string;
  readonly outOfSyncKiB?: number;
  /** Resync/verify progress in percent, while one runs. */
  readonly percentDone?: number;
  readonly etaSeconds?: number;
}

/** drbdsetup prints this ETA before it has measured any throughput. */
export const NO_ETA = 987654321;

const SYNCING = new Set(['SyncSource', 'SyncTarget', 'PausedSyncS', 'PausedSyncT', 'VerifyS', 'VerifyT', 'StartingSyncS', 'StartingSyncT', 'WFBitMapS', 'WFBitMapT', 'WFSyncUUID']);

/** True while a resync or an online verify runs (or is paused) on this peer device. */
export const isSyncing = (replication: string): boolean => SYNCING.has(replication);

/** Disk states from worst to best; a multi-volume resource shows its worst volume. */
const DISK_RANK = ['Failed', 'Diskless', 'Detaching', 'Attaching', 'Negotiating', 'Inconsistent', 'Outdated', 'DUnknown', 'Consistent', 'UpToDate'];
const rank = (state: string): number => DISK_RANK.indexOf(state);

export function worstDiskState(states: readonly string[]): string {
  if (states.length === 0) return 'Diskless';
  // Unknown values ("?" from newer kernels) rank below everything: shown rather than hidden.
  return states.reduce((worst, state) => (rank(state) < rank(worst) ? state : worst));
}

/** What status/events2 do not carry, supplied by the driver. */
export interface ResourceExtras {
  /** allow-two-primaries from `drbdsetup show` (runtime net options). */
  readonly allowTwoPrimaries?: boolean;
  /** Replication protocol from `drbdsetup show` or the config. */
  readonly protocol?: string;
  /** When the connection to `peer` last changed state (Unix ms). */
  readonly connectionChangedMs?: (peer: string) => number;
  /** The VM using this resource, when known. */
  readonly vm?: string;
}

/** The peer device that says most about the connection: a syncing one, else the first. */
function representative(devices: readonly DrbdPeerDeviceState[]): DrbdPeerDeviceState | undefined {
  return devices.find((device) => isSyncing(device.replicationState)) ?? devices.find((device) => device.replicationState !== 'Established') ?? devices[0];
}

function peerView(connection: DrbdConnectionState, extras: ResourceExtras): PeerConnection__Output {
  const main = representative(connection.peerDevices);
  const syncing = main !== undefined && isSyncing(main.replicationState);
  const eta = main?.etaSeconds;
  return {
    node: connection.name,
    connectionState: connection.connectionState,
    peerRole: connection.peerRole,
    peerDiskState: worstDiskState(connection.peerDevices.map((device) => device.peerDiskState)) || 'DUnknown',
    replicationState: main?.replicationState ?? 'Off',
    outOfSyncBytes: connection.peerDevices.reduce((sum, device) => sum + (device.outOfSyncKiB ?? 0) * 1024, 0),
    syncPercent: syncing ? (main?.percentDone ?? 0) : 0,
    syncEtaSeconds: syncing && eta !== undefined && eta !== NO_ETA && eta >= 0 ? Math.round(eta) : 0,
    peerClient: connection.peerDevices.length > 0 && connection.peerDevices.every((device) => device.peerClient),
    connectionChangedUnixMs: extras.connectionChangedMs?.(connection.name) ?? 0,
  };
}

/** The wire view of a resource. */
export function toResource(state: DrbdResourceState, extras: ResourceExtras = {}): Resource__Output {
  const devices = [...state.devices].sort((a, b) => a.volume - b.volume);
  return {
    name: state.name,
    role: state.role,
    diskState: worstDiskState(devices.map((device) => device.diskState)),
    quorum: devices.length > 0 && devices.every((device) => device.quorum),
    suspended: state.suspended,
    // `status --json` does not carry these (events2 does): unknown reads as "may not".
    mayPromote: state.mayPromote ?? false,
    promotionScore: state.promotionScore ?? 0,
    allowTwoPrimaries: extras.allowTwoPrimaries ?? false,
    protocol: extras.protocol ?? 'C',
    sizeBytes: devices.reduce((sum, device) => sum + (device.sizeKiB ?? 0) * 1024, 0),
    minor: devices[0]?.minor ?? -1,
    client: devices.length > 0 && devices.every((device) => device.client),
    peers: [...state.connections].sort((a, b) => a.name.localeCompare(b.name)).map((connection) => peerView(connection, extras)),
    vm: extras.vm ?? '',
  };
}
