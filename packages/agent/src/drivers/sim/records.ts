import type { AnnouncementKind, Snapshot__Output } from '@hvctl/proto';

/** DRBD disk states the simulation uses (a subset of drbd_strings.c). */
export type SimDiskState = 'UpToDate' | 'Outdated' | 'Inconsistent' | 'Diskless' | 'Failed';

/** One DRBD resource on this node: what DRBD's metadata and config would hold. */
export interface SimResourceRecord {
  name: string;
  vm: string;
  minor: number;
  sizeBytes: number;
  protocol: 'A' | 'B' | 'C';
  role: 'Primary' | 'Secondary';
  disk: SimDiskState;
  /** Intentionally diskless member (the witness). */
  client: boolean;
  allowTwoPrimaries: boolean;
  /** No connection attempts (after `disconnect`, a split brain or a refused handshake). */
  standAlone: boolean;
  standAloneReason: '' | 'disconnect' | 'split-brain' | 'two-primaries';
  /** Set by `connect --discard-my-data`: this node gives up its changes on the next handshake. */
  discardMyData: boolean;
  peers: { node: string; client: boolean }[];
  /**
   * Bytes each peer lacks (DRBD's bitmap per peer). On the diskless witness, which has no
   * bitmap, the sim keeps here what the diskful members last told it a peer lacks (see
   * witnessMemory in drbd-model.ts): the figure a failover states as the data at risk.
   */
  outOfSync: Record<string, number>;
  /**
   * I/O is suspended because this Primary lost quorum (`on-no-quorum suspend-io`): its VM's
   * writes block until quorum returns, or until it learns it is outdated and is demoted
   * (`on-suspended-primary-outdated force-secondary`). Absent: false.
   */
  ioSuspended?: boolean;
  /** Checksum of the volume's content (sim/content.ts); changes as the VM writes. Absent: derived from the name. */
  checksum?: string;
}

/** A backup volume snapshot (an LVM snapshot on a real node) held on this node. */
export interface SimVolumeSnapshotRecord {
  id: string;
  vm: string;
  resource: string;
  createdMs: number;
  consistency: 'application' | 'crash';
  /** The volume's content checksum when the snapshot was taken. */
  checksum: string;
  owner: string;
}

/** One libvirt domain defined on this node. */
export interface SimDomainRecord {
  name: string;
  vcpus: number;
  memoryBytes: number;
  ip: string;
  resources: string[];
  priority: number;
  state: 'running' | 'paused' | 'shutdown' | 'shut off' | 'crashed';
  reason: string;
  changedMs: number;
  /** The guest runs a QEMU guest agent: its file systems can be frozen for a backup. */
  guestAgent?: boolean;
  /** Desired state, persisted with the definition (libvirt keeps it in the domain's metadata). */
  intent?: 'running' | 'stopped';
  /** Unix ms when the intent was set; the newest wins. */
  intentSetMs?: number;
  /** Who set the intent. */
  intentSetBy?: string;
}

export interface SimAnnouncementRecord {
  prefix: string;
  kind: AnnouncementKind & string;
  vm: string;
  sinceMs: number;
}

/** Everything a simulated node persists; also the seed format `lab up` writes. */
export interface SimNodeRecord {
  resources: SimResourceRecord[];
  domains: SimDomainRecord[];
  announcements: SimAnnouncementRecord[];
  /** Present on the node that holds the backup repository (the `bak` site). */
  repository?: {
    snapshots: Snapshot__Output[];
    /** Ids of snapshots whose stored data is damaged (lab fault): a restore yields other bytes. */
    corrupted?: string[];
  };
  /** Backup volume snapshots present on this node. */
  volumeSnapshots?: SimVolumeSnapshotRecord[];
}

/** What a node tells its peers about one resource in every heartbeat. */
export interface PeerResourceState {
  role: 'Primary' | 'Secondary';
  disk: SimDiskState;
  client: boolean;
  allowTwoPrimaries: boolean;
  standAlone: boolean;
  discardMyData: boolean;
  /** Bytes each of its peers lacks, by peer name. */
  outOfSync: Record<string, number>;
  /** Peers this node is connected to for the resource (a witness's view decides quorum). */
  connectedTo: string[];
}

/** The heartbeat body a node sends its peers. */
export interface PeerHeartbeat {
  site: string;
  resources: Record<string, PeerResourceState>;
  announcements: { prefix: string; kind: string; vm: string }[];
  /** Domains running (or paused) on the node: what a disk lock manager (virtlockd) would know. */
  activeDomains: string[];
}
