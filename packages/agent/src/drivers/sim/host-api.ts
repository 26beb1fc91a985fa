import type { Announcement__Output, Domain__Output, Neighbor__Output, Resource__Output, Snapshot__Output } from '@hvctl/proto';
import type { FaultTarget } from '../../services/faults.js';
import type { BackupDriver, DrbdDriver, DriverChange, HostDriver, KvmDriver, RoutingDriver } from '../types.js';

/**
 * What a simulated host process serves its agent (and the lab) over the host channel:
 * every method of the driver interfaces and of the fault target, called as
 * "<area>.<method>" with the interface's arguments.
 */
export const HOST_API = {
  drbd: ['probe', 'list', 'promote', 'demote', 'connect', 'disconnect', 'setAllowTwoPrimaries'],
  kvm: ['probe', 'list', 'start', 'shutdown', 'destroy', 'migrate', 'setIntent'],
  routing: ['probe', 'listRoutes', 'listAnnouncements', 'announce', 'withdraw', 'listNeighbors'],
  backup: ['probe', 'listSnapshots', 'localSnapshots', 'createBackup', 'restore', 'snapshotVolume', 'releaseVolumeSnapshots', 'listVolumeSnapshots', 'applyRetention', 'verify'],
  host: ['probe', 'facts'],
  faults: ['setPartition', 'failDisk', 'setLinkDelay', 'failMigrations', 'corruptBackup'],
} as const;

export type HostArea = keyof typeof HOST_API;

/** Compile-time check that HOST_API lists every method of each interface, no more and no less. */
type Exactly<T, L extends readonly PropertyKey[]> = [Exclude<keyof T, L[number]>, Exclude<L[number], keyof T>] extends [never, never] ? true : never;
const complete: [
  Exactly<DrbdDriver, typeof HOST_API.drbd>,
  Exactly<KvmDriver, typeof HOST_API.kvm>,
  Exactly<RoutingDriver, typeof HOST_API.routing>,
  Exactly<BackupDriver, typeof HOST_API.backup>,
  Exactly<HostDriver, typeof HOST_API.host>,
  Exactly<FaultTarget, typeof HOST_API.faults>,
] = [true, true, true, true, true, true];
void complete;

/** Methods whose last argument carries `onProgress` and `signal`: they cross as progress frames and cancels. */
export const PROGRESS_METHODS: ReadonlySet<string> = new Set(['kvm.migrate', 'backup.createBackup']);

/** The agent subscribes: the answer is the host's state now, changes follow on the same connection. */
export const SUBSCRIBE = 'host.subscribe';
/** Liveness check (the lab waits for it after starting a host). */
export const PING = 'host.ping';
/** Asked of the connected agent by the host before it takes an incoming migration. */
export const REFUSE_INCOMING = 'agent.refuseIncoming';

/** Everything a host's drivers list, read at one instant. */
export interface HostSnapshot {
  readonly resources: Resource__Output[];
  readonly domains: Domain__Output[];
  readonly announcements: Announcement__Output[];
  readonly neighbors: Neighbor__Output[];
  readonly snapshots: Snapshot__Output[];
  /** Event-log lines the host recorded while no agent was connected (a crash report, faults). */
  readonly log: readonly DriverChange[];
}
