import type {
  Announcement__Output,
  AnnouncementKind,
  Domain__Output,
  HostFacts__Output,
  LogEntry__Output,
  MigrationProgress__Output,
  Neighbor__Output,
  BackupProgress__Output,
  Resource__Output,
  Route__Output,
  Snapshot__Output,
  StateChange__Output,
  VerifiedSnapshot__Output,
  VolumeSnapshot__Output,
} from '@hvctl/proto';
import type { RetentionRules } from '@hvctl/common';

/** A driver area; one driver per area per agent. */
export type Area = 'drbd' | 'kvm' | 'routing' | 'backup' | 'host';

/** What a driver's probe found: is the tool there and usable? */
export interface ProbeResult {
  readonly available: boolean;
  /** "sim" or "real". */
  readonly driver: 'sim' | 'real';
  /** The tool's version, or what is missing and how to fix it. */
  readonly detail: string;
}

/** A change a driver reports; the event hub turns it into a revisioned delta. */
export type DriverChange = StateChange__Output;

export type ChangeListener = (change: DriverChange) => void;
export type Unsubscribe = () => void;

/** Every driver can be probed. */
export interface Driver {
  probe(): Promise<ProbeResult>;
}

/**
 * A stream of changes to what drivers list. A real driver is usually its own source
 * (`drbdsetup events2`, `virsh event`); the simulation is one source for every area.
 */
export interface StateSource {
  watch(listener: ChangeListener): Unsubscribe;
}

export interface DrbdDriver extends Driver {
  list(): Promise<Resource__Output[]>;
  /** `drbdadm primary [--force] RES` */
  promote(name: string, options: { readonly force: boolean }): Promise<Resource__Output>;
  /** `drbdadm secondary RES` */
  demote(name: string): Promise<Resource__Output>;
  /** `drbdadm connect [--discard-my-data] RES` */
  connect(name: string, options: { readonly discardMyData: boolean }): Promise<Resource__Output>;
  /** `drbdadm disconnect RES` */
  disconnect(name: string): Promise<Resource__Output>;
  /** `drbdadm net-options --allow-two-primaries=yes|no RES` */
  setAllowTwoPrimaries(name: string, allow: boolean): Promise<Resource__Output>;
}

export interface MigrateOptions {
  readonly targetNode: string;
  readonly onProgress: (progress: MigrationProgress__Output) => void;
  readonly signal?: AbortSignal;
}

/** A VM's desired state as stored in its definition on one node. */
export interface IntentRecord {
  readonly intent: 'running' | 'stopped';
  /** Unix ms when it was decided; the newest wins. */
  readonly setUnixMs: number;
  readonly setBy: string;
}

export interface KvmDriver extends Driver {
  list(): Promise<Domain__Output[]>;
  /** `virsh start NAME` */
  start(name: string): Promise<Domain__Output>;
  /** `virsh shutdown NAME`, waiting up to timeoutMs for the guest. */
  shutdown(name: string, timeoutMs: number): Promise<Domain__Output>;
  /** `virsh destroy NAME` */
  destroy(name: string): Promise<Domain__Output>;
  /** `virsh migrate --live --persistent NAME URI` (the source keeps its definition); resolves with the domain on the target. */
  migrate(name: string, options: MigrateOptions): Promise<Domain__Output>;
  /**
   * Stores the intent in the domain's persistent definition (libvirt metadata) unless a
   * newer one is stored; resolves with the domain and whether this intent was applied.
   */
  setIntent(name: string, intent: IntentRecord): Promise<{ domain: Domain__Output; applied: boolean }>;
}

export interface RoutingDriver extends Driver {
  listRoutes(): Promise<Route__Output[]>;
  listAnnouncements(): Promise<Announcement__Output[]>;
  announce(prefix: string, kind: AnnouncementKind, vm: string): Promise<Announcement__Output>;
  /** Resolves true when something was withdrawn. */
  withdraw(prefix: string): Promise<boolean>;
  listNeighbors(): Promise<Neighbor__Output[]>;
}

export interface BackupOptions {
  readonly onProgress: (progress: BackupProgress__Output) => void;
  readonly signal?: AbortSignal;
  /** Copy this volume snapshot (from snapshotVolume) instead of taking and releasing one. */
  readonly volumeSnapshotId?: string;
}

export interface RestoreResult {
  readonly snapshot: Snapshot__Output;
  readonly targetResource: string;
  readonly bytesRestored: number;
  /** Checksum of the data restored ("sha256:<hex>"). */
  readonly checksum: string;
}

export interface VolumeSnapshotResult {
  readonly snapshot: VolumeSnapshot__Output;
  /** How the guest was handled (frozen and thawed, no guest agent, why freezing failed). */
  readonly freezeDetail: string;
}

export interface RetentionResult {
  readonly kept: readonly string[];
  readonly forgotten: readonly string[];
}

export interface VerifyResult {
  readonly ok: boolean;
  readonly checkMessage: string;
  readonly samples: readonly VerifiedSnapshot__Output[];
}

export interface BackupDriver extends Driver {
  /** Snapshots in the repository, newest first. */
  listSnapshots(vm: string): Promise<Snapshot__Output[]>;
  /** Snapshots held on this node (the repository site), reported through watch. */
  localSnapshots(): Promise<Snapshot__Output[]>;
  createBackup(vm: string, options: BackupOptions): Promise<Snapshot__Output>;
  restore(snapshotId: string, targetResource: string, overwrite: boolean): Promise<RestoreResult>;
  /** Snapshots a VM's volume on this node (its resource must be Primary here), freezing the guest where it can. */
  snapshotVolume(vm: string, owner: string): Promise<VolumeSnapshotResult>;
  /** Removes every backup volume snapshot of a VM on this node; returns the ids removed. Idempotent. */
  releaseVolumeSnapshots(vm: string): Promise<string[]>;
  /** Backup volume snapshots present on this node. */
  listVolumeSnapshots(): Promise<VolumeSnapshot__Output[]>;
  /** Forgets the snapshots of a VM the policy does not keep, in the repository this node uses. */
  applyRetention(vm: string, policy: RetentionRules, options: { readonly dryRun: boolean; readonly prune: boolean }): Promise<RetentionResult>;
  /** Checks the repository and test-restores `sample` snapshots, comparing checksums. */
  verify(sample: number): Promise<VerifyResult>;
}

export interface HostDriver {
  probe(): Promise<ProbeResult>;
  /** Host facts, cached: at most one measurement per refresh interval. */
  facts(): Promise<HostFacts__Output>;
}

/** Every driver an agent runs with. */
export interface Drivers {
  readonly drbd: DrbdDriver;
  readonly kvm: KvmDriver;
  readonly routing: RoutingDriver;
  readonly backup: BackupDriver;
  readonly host: HostDriver;
}

/** A log line for the node's event log. */
export type LogLine = Omit<LogEntry__Output, 'timeUnixMs'> & { readonly timeUnixMs?: number };
