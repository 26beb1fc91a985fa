/** The brief's recovery point objective: at most one minute of writes lost. */
export const DEFAULT_RPO_TARGET_SECONDS = 60;

/**
 * Replication rate assumed when data is out of sync on a connected resource and DRBD gives
 * no resync estimate to derive the observed rate from (protocol A's send buffer draining,
 * for example): 10 MiB/s, a cautious figure for a shared inter-site link.
 */
export const FALLBACK_REPLICATION_BYTES_PER_SECOND = 10 * 1024 * 1024;

/** What the RPO estimate needs of one replica (a TopologyReplica has all of it). */
export interface RpoReplica {
  readonly node: string;
  readonly disk: string;
  /** True when this replica is connected to its diskful peer. */
  readonly peerReachable: boolean;
  readonly witness: boolean;
  /** True when the entry was derived from peers because its own node is unreachable. */
  readonly derived: boolean;
  readonly outOfSyncBytes: number;
  /** DRBD's estimate of the seconds a running resync still needs (0 when not syncing). */
  readonly syncEtaSeconds: number;
  /** Unix ms when the connection to the diskful peer last changed state (0 if unknown). */
  readonly connectionChangedUnixMs: number;
}

/**
 * Why the estimate is what it is:
 * - `in-sync`: connected, both disks UpToDate, nothing out of sync (RPO 0);
 * - `replicating`: connected but data out of sync (RPO = bytes / replication rate);
 * - `disconnected`: the replication link is broken (RPO = age of the break);
 * - `unknown`: no replica reports its own view, or a break of unknown age.
 */
export type RpoReason = 'in-sync' | 'replicating' | 'disconnected' | 'unknown';

export interface RpoEstimate {
  /** Estimated seconds of writes at risk now; null when it cannot be estimated. */
  readonly seconds: number | null;
  readonly reason: RpoReason;
  readonly targetSeconds: number;
  /** True when the estimate exceeds the target, or is unknown (nothing proves it is met). */
  readonly overTarget: boolean;
  /** The largest out-of-sync byte count any replica reports. */
  readonly outOfSyncBytes: number;
  /** The replication rate used for `replicating` (bytes/s), else 0. */
  readonly rateBytesPerSecond: number;
}

export interface RpoOptions {
  readonly nowMs: number;
  readonly targetSeconds?: number;
  readonly fallbackRateBytesPerSecond?: number;
}

/**
 * Estimates a DRBD resource's RPO from its replicas. A broken link puts at risk every
 * write since the break, so its age is the estimate (the earliest break any replica
 * reports). Out-of-sync data on a connected resource is at risk until it is sent: bytes
 * divided by the rate observed by DRBD's own resync estimate (out-of-sync / ETA), or by
 * FALLBACK_REPLICATION_BYTES_PER_SECOND when DRBD reports no resync. Witness replicas
 * hold no data and are ignored.
 */
export function estimateRpo(replicas: readonly RpoReplica[], options: RpoOptions): RpoEstimate {
  const targetSeconds = options.targetSeconds ?? DEFAULT_RPO_TARGET_SECONDS;
  const fallback = options.fallbackRateBytesPerSecond ?? FALLBACK_REPLICATION_BYTES_PER_SECOND;
  const diskful = replicas.filter((replica) => !replica.witness);
  const own = diskful.filter((replica) => !replica.derived);
  const outOfSyncBytes = Math.max(0, ...own.map((replica) => replica.outOfSyncBytes));
  const result = (seconds: number | null, reason: RpoReason, rateBytesPerSecond = 0): RpoEstimate => ({
    seconds,
    reason,
    targetSeconds,
    overTarget: seconds === null || seconds > targetSeconds,
    outOfSyncBytes,
    rateBytesPerSecond,
  });
  if (own.length === 0) return result(null, 'unknown');

  const broken = diskful.length < 2 || own.some((replica) => !replica.peerReachable);
  if (broken) {
    const since = own.filter((replica) => !replica.peerReachable && replica.connectionChangedUnixMs > 0).map((replica) => replica.connectionChangedUnixMs);
    if (since.length === 0) return result(null, 'disconnected');
    return result(Math.max(0, Math.round((options.nowMs - Math.min(...since)) / 1000)), 'disconnected');
  }

  const lagging = own.filter((replica) => replica.outOfSyncBytes > 0 || replica.disk !== 'UpToDate');
  if (lagging.length === 0 && diskful.every((replica) => replica.disk === 'UpToDate')) return result(0, 'in-sync');
  if (outOfSyncBytes === 0) return result(0, 'replicating', 0);
  const syncing = own.find((replica) => replica.outOfSyncBytes > 0 && replica.syncEtaSeconds > 0);
  const rate = syncing ? syncing.outOfSyncBytes / syncing.syncEtaSeconds : fallback;
  return result(Math.ceil(outOfSyncBytes / rate), 'replicating', rate);
}
