import { contentChecksum } from './content.js';
import type { SimDomainRecord, SimNodeRecord, SimResourceRecord } from './records.js';

const GIB = 1024 ** 3;

/** One VM of a generated cluster: its disk paired between two nodes, with a diskless witness. */
export interface PairedVm {
  /** Position in the cluster: sizes, minor and backup id derive from it. */
  readonly index: number;
  readonly vm: string;
  readonly ip: string;
  /** Node where the VM runs and its resource is Primary. */
  readonly home: string;
  /** The other node of the DRBD pair (Secondary, VM defined but shut off). */
  readonly partner: string;
  /** Diskless tie-breaker of the resource. */
  readonly witness: string;
  /** Node holding the backup repository (gets one snapshot of the VM). */
  readonly repositoryNode: string;
  readonly priority: number;
  readonly nowMs: number;
}

/**
 * Adds one VM to generated seeds the way the lab lays it out: the resource Primary on
 * `home`, Secondary on `partner`, diskless on `witness`; the domain running on `home` and
 * defined on `partner`, intended running on both; its /32 announced from `home`; one
 * backup a few hours old.
 */
export function seedPairedVm(seed: (node: string) => SimNodeRecord, spec: PairedVm): void {
  const { index, vm, ip, home, partner, witness, nowMs } = spec;
  const sizeBytes = (20 + (index % 4) * 10) * GIB;
  const resource = (role: SimResourceRecord['role'], other: string): SimResourceRecord => ({
    name: vm,
    vm,
    minor: 1000 + index,
    sizeBytes,
    protocol: 'C',
    role,
    disk: 'UpToDate',
    client: false,
    allowTwoPrimaries: false,
    standAlone: false,
    standAloneReason: '',
    discardMyData: false,
    peers: [
      { node: other, client: false },
      { node: witness, client: true },
    ],
    outOfSync: { [other]: 0 },
  });
  seed(home).resources.push(resource('Primary', partner));
  seed(partner).resources.push(resource('Secondary', home));
  seed(witness).resources.push({
    ...resource('Secondary', home),
    disk: 'Diskless',
    client: true,
    peers: [
      { node: home, client: false },
      { node: partner, client: false },
    ],
    outOfSync: {},
  });
  const domain = (state: SimDomainRecord['state'], reason: string): SimDomainRecord => ({
    name: vm,
    vcpus: 2 + (index % 3) * 2,
    memoryBytes: (2 + (index % 4) * 2) * GIB,
    ip,
    resources: [vm],
    priority: spec.priority,
    state,
    reason,
    changedMs: nowMs,
    // Every other VM runs a QEMU guest agent: its backups are application-consistent.
    guestAgent: index % 2 === 0,
    // It runs, so it is meant to: the intent is recorded in both nodes' definitions.
    intent: 'running',
    intentSetMs: nowMs,
    intentSetBy: 'lab seed',
  });
  seed(home).domains.push(domain('running', 'booted'));
  seed(partner).domains.push(domain('shut off', 'defined'));
  seed(home).announcements.push({ prefix: `${ip}/32`, kind: 'ANNOUNCEMENT_KIND_VM', vm, sinceMs: nowMs });
  const id = `${(index + 1).toString(16).padStart(8, '0')}${'ab'.repeat(28)}`;
  seed(spec.repositoryNode).repository?.snapshots.push({
    id,
    shortId: id.slice(0, 8),
    vm,
    resource: vm,
    sourceNode: home,
    timeUnixMs: nowMs - (3 + (index % 6)) * 3_600_000,
    sizeBytes: Math.round(sizeBytes * 0.05),
    consistency: 'crash',
    checksum: contentChecksum({ name: vm }),
    durationMs: 0,
  });
}
