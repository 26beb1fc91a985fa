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
} from '@hvctl/proto';

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

export interface KvmDriver extends Driver {
  list(): Promise<Domain__Output[]>;
  /** `virsh start NAME` */
  start(name: string): Promise<Domain__Output>;
  /** `virsh shutdown NAME`, waiting up to timeoutMs for the guest. */
  shutdown(name: string, timeoutMs: number): Promise<Domain__Output>;
  /** `virsh destroy NAME` */
  destroy(name: string): Promise<Domain__Output>;
  /** `virsh migrate --live --persistent --undefinesource NAME URI`; resolves with the domain on the target. */
  migrate(name: string, options: MigrateOptions): Promise<Domain__Output>;
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
}

export interface RestoreResult {
  readonly snapshot: Snapshot__Output;
  readonly targetResource: string;
  readonly bytesRestored: number;
}

export interface BackupDriver extends Driver {
  /** Snapshots in the repository, newest first. */
  listSnapshots(vm: string): Promise<Snapshot__Output[]>;
  /** Snapshots held on this node (the repository site), reported through watch. */
  localSnapshots(): Promise<Snapshot__Output[]>;
  createBackup(vm: string, options: BackupOptions): Promise<Snapshot__Output>;
  restore(snapshotId: string, targetResource: string, overwrite: boolean): Promise<RestoreResult>;
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
