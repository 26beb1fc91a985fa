import type {
  CreateBackupResponse__Output,
  ListSnapshotsResponse__Output,
  ListVolumeSnapshotsResponse__Output,
  ReleaseVolumeSnapshotsResponse__Output,
  Snapshot__Output,
  SnapshotVolumeResponse__Output,
  VolumeSnapshot__Output,
  WorkflowSpec__Output,
} from '@hvctl/proto';
import { collectStream, deadline, failedPrecondition, invalidArgument, unary, validateResourceName, validateText } from '@hvctl/common';
import type { ClusterAccess } from '../cluster-access.js';
import { requestId } from '../steps.js';
import type { Planned, Program, Step, StepContext, WorkflowKind } from '../types.js';
import { locateVm } from './migrate.js';

const MUTATE_MS = 30_000;
/** Budget of one upload (the stream's deadline). */
const UPLOAD_MS = 6 * 3600_000;

/** What a backup needs to run, resume and be made safe. */
export interface BackupPlan {
  readonly vm: string;
  readonly resource: string;
  /** Where the VM's resource is Primary: the node that snapshots and uploads. */
  readonly node: string;
  /** The backup site's repository node, where the result is read back. */
  readonly repositoryNode: string;
  readonly reason: string;
  readonly plannedAtMs: number;
}

const GIB = 1024 ** 3;
const size = (bytes: number): string => (bytes >= GIB ? `${(bytes / GIB).toFixed(2)} GiB` : `${(bytes / 1024 ** 2).toFixed(1)} MiB`);

/** Finds the node where a VM's resource is Primary (where a backup must run). */
export async function primaryOf(cluster: ClusterAccess, vm: string): Promise<{ node: string; resource: string }> {
  const { node: definedOn, domain } = await locateVm(cluster, vm);
  const resource = domain.resources[0];
  if (!resource) throw failedPrecondition(`${vm} has no DRBD-backed disk; nothing to back up`);
  const replica = await cluster.resource(definedOn, resource).catch(() => undefined);
  if (replica?.role === 'Primary') return { node: definedOn, resource };
  const peer = replica?.peers.find((candidate) => !candidate.peerClient && candidate.peerRole === 'Primary')?.node;
  if (peer) return { node: peer, resource };
  throw failedPrecondition(`${resource} (${vm}) is Primary on no reachable node; a backup reads the Primary's volume`, {
    nextSteps: ['check the VM with `hvctl status`; start or fail it over first'],
  });
}

async function volumeSnapshots(ctx: StepContext, node: string, vm: string): Promise<VolumeSnapshot__Output[]> {
  const client = ctx.cluster.client(node);
  const { snapshots } = await unary<ListVolumeSnapshotsResponse__Output>(`ListVolumeSnapshots on ${node}`, (cb) => client.backup.listVolumeSnapshots({}, deadline(5000), cb));
  return snapshots.filter((snapshot) => snapshot.vm === vm);
}

async function release(ctx: StepContext, plan: BackupPlan, call: string): Promise<string[]> {
  const client = ctx.cluster.client(plan.node);
  const { released } = await unary<ReleaseVolumeSnapshotsResponse__Output>(`ReleaseVolumeSnapshots on ${plan.node}`, (cb) =>
    client.backup.releaseVolumeSnapshots({ requestId: requestId(ctx, call), vm: plan.vm }, deadline(MUTATE_MS), cb),
  );
  return released;
}

/** The snapshot this workflow stored: the newest of the VM made by its node since it was planned. */
async function storedSnapshot(ctx: StepContext, plan: BackupPlan): Promise<Snapshot__Output | undefined> {
  const client = ctx.cluster.client(plan.repositoryNode);
  const { snapshots } = await unary<ListSnapshotsResponse__Output>(`ListSnapshots on ${plan.repositoryNode}`, (cb) =>
    client.backup.listSnapshots({ vm: plan.vm }, deadline(10_000), cb),
  );
  return snapshots.find((snapshot) => snapshot.sourceNode === plan.node && Number(snapshot.timeUnixMs) >= plan.plannedAtMs);
}

const describe = (snapshot: Snapshot__Output): string =>
  `snapshot ${snapshot.shortId}: ${size(Number(snapshot.sizeBytes))}, ${snapshot.consistency}-consistent, ${(Number(snapshot.durationMs) / 1000).toFixed(1)} s${snapshot.checksum ? `, ${snapshot.checksum.slice(0, 19)}…` : ''}`;

function backupSteps(plan: BackupPlan): Step[] {
  const { vm, resource, node, repositoryNode } = plan;
  return [
    {
      id: 'preflight',
      title: `check ${resource} is Primary on ${node} and the repository on ${repositoryNode} answers`,
      node,
      phase: 'check',
      preconditions: [`${resource} Primary on ${node}`, `${repositoryNode} reachable`],
      command: `drbdadm role ${resource}; restic snapshots --tag vm=${vm}`,
      verify: 'both hold on live state',
      readOnly: true,
      run: async (ctx) => {
        const replica = await ctx.cluster.resource(node, resource);
        if (replica.role !== 'Primary') throw failedPrecondition(`${resource} is ${replica.role} on ${node} now; ${vm} moved since the plan: back it up again`);
        await storedSnapshot(ctx, plan);
        return 'ready';
      },
    },
    {
      id: 'snapshot',
      title: `snapshot ${vm}'s volume on ${node} (freezing the guest where it has an agent)`,
      node,
      phase: 'snapshot',
      preconditions: [`no other backup snapshot of ${vm} on ${node}`],
      command: `virsh domfsfreeze ${vm}; lvcreate --snapshot --name hvctl-bak-${vm} VG/${resource}; virsh domfsthaw ${vm}`,
      verify: `lvs shows hvctl-bak-${vm}`,
      run: async (ctx) => {
        const held = await volumeSnapshots(ctx, node, vm);
        const mine = held.find((snapshot) => snapshot.owner === ctx.workflowId);
        if (mine) return `${mine.id} (${mine.consistency}-consistent) already taken`;
        const notes: string[] = [];
        // A snapshot left by an earlier run that died (this workflow holds the VM's lease).
        if (held.length) notes.push(`released leftover ${(await release(ctx, plan, 'leftover')).join(', ')}`);
        const client = ctx.cluster.client(node);
        try {
          const { snapshot, freezeDetail } = await unary<SnapshotVolumeResponse__Output>(`SnapshotVolume on ${node}`, (cb) =>
            client.backup.snapshotVolume({ requestId: requestId(ctx, 'snapshot'), vm, owner: ctx.workflowId }, deadline(MUTATE_MS), cb),
          );
          if (!snapshot) throw failedPrecondition(`${node} returned no volume snapshot for ${vm}`);
          notes.push(`${snapshot.id} (${snapshot.consistency}-consistent): ${freezeDetail}`);
          return notes.join('; ');
        } catch (error) {
          // This step is not done, so make-safe will not run: release whatever it may have made.
          await release(ctx, plan, 'snapshot-failed').catch(() => undefined);
          throw error;
        }
      },
    },
    {
      id: 'upload',
      title: `ship ${vm}'s snapshot from ${node} to the repository on ${repositoryNode}`,
      node,
      phase: 'upload',
      preconditions: [`the volume snapshot of ${vm} exists on ${node}`, `${repositoryNode} reachable`],
      command: `restic backup --json --tag hvctl,vm=${vm} /dev/VG/hvctl-bak-${vm}`,
      verify: `restic snapshots --tag vm=${vm} lists the new snapshot`,
      run: async (ctx) => {
        const already = await storedSnapshot(ctx, plan);
        if (already) return `already stored: ${describe(already)}`;
        const volume = (await volumeSnapshots(ctx, node, vm)).find((snapshot) => snapshot.owner === ctx.workflowId);
        if (!volume) throw failedPrecondition(`the volume snapshot of ${vm} on ${node} is gone; nothing was uploaded`, { nextSteps: [`run \`hvctl backup ${vm}\` again`] });
        const client = ctx.cluster.client(node);
        const stream = client.backup.createBackup({ requestId: requestId(ctx, 'upload'), vm, volumeSnapshotId: volume.id }, { deadline: new Date(Date.now() + UPLOAD_MS) });
        const abort = (): void => stream.cancel();
        ctx.signal.addEventListener('abort', abort, { once: true });
        let stored: Snapshot__Output | undefined;
        try {
          await collectStream<CreateBackupResponse__Output>(`CreateBackup ${vm} on ${node}`, stream, (message) => {
            if (message.progress) {
              const { percent, bytesDone, bytesTotal, phase } = message.progress;
              ctx.progress(percent, `${phase} ${percent.toFixed(0)}% (${size(Number(bytesDone))} of ${size(Number(bytesTotal))})`);
            }
            if (message.done) stored = message.done;
          });
        } finally {
          ctx.signal.removeEventListener('abort', abort);
        }
        if (!stored) throw failedPrecondition(`the upload of ${vm} ended without a stored snapshot`);
        return `stored ${describe(stored)}`;
      },
    },
    {
      id: 'release',
      title: `release ${vm}'s volume snapshot on ${node}`,
      node,
      phase: 'release',
      preconditions: [],
      command: `lvremove -f VG/hvctl-bak-${vm}`,
      verify: `lvs no longer shows hvctl-bak-${vm}`,
      run: async (ctx) => {
        const released = await release(ctx, plan, 'release');
        const left = await volumeSnapshots(ctx, node, vm);
        if (left.length) throw failedPrecondition(`${left.map((snapshot) => snapshot.id).join(', ')} still present on ${node} after release`);
        return released.length ? `released ${released.join(', ')}` : 'nothing left to release';
      },
    },
    {
      id: 'record',
      title: `record the backup of ${vm} (snapshot id, size, duration, consistency)`,
      node: repositoryNode,
      phase: 'record',
      preconditions: [],
      command: `restic snapshots --json --tag vm=${vm} --latest 1`,
      verify: 'the snapshot is listed in the repository',
      run: async (ctx) => {
        const stored = await storedSnapshot(ctx, plan);
        if (!stored) throw failedPrecondition(`the new snapshot of ${vm} is not listed by the repository on ${repositoryNode}`);
        return describe(stored);
      },
    },
  ];
}

/** `hvctl backup VM`: snapshot where Primary, ship, release (always), record. */
export const backupKind: WorkflowKind<BackupPlan> = {
  name: 'backup',
  claims: (spec) => (spec.backup?.vm ? [`vm/${validateResourceName(spec.backup.vm, 'vm')}`] : []),
  async plan(spec: WorkflowSpec__Output, cluster: ClusterAccess): Promise<Planned<BackupPlan>> {
    const request = spec.backup;
    if (!request) throw invalidArgument('missing backup spec');
    const vm = validateResourceName(request.vm, 'vm');
    const reason = request.reason ? validateText(request.reason, 'reason', 100) : '';
    const { node, resource } = await primaryOf(cluster, vm);
    if (node !== cluster.self) {
      throw failedPrecondition(`${vm}'s resource ${resource} is Primary on ${node}, not on ${cluster.self}; a backup runs where the VM's data is Primary`, {
        nextSteps: [`submit the backup to ${node} (\`hvctl backup ${vm}\` picks it)`],
      });
    }
    const repositoryNode = cluster.witness();
    if (!repositoryNode) throw failedPrecondition(`cluster ${cluster.cluster.name} has no backup site to ship backups to`);
    return {
      title: `Back up ${vm} from ${node} to ${repositoryNode}${reason ? ` (${reason})` : ''}`,
      data: { vm, resource, node, repositoryNode, reason, plannedAtMs: Date.now() },
      // Leases only on the VM and its resource (taken on this coordinator): backups of
      // other VMs on the same node run side by side; a migration or drain of this VM waits.
      nodes: [],
      resources: [resource],
      warnings: [],
      evidence: [],
    };
  },
  program(plan: BackupPlan): Program {
    return {
      stages: [{ steps: backupSteps(plan) }],
      makeSafe: async (ctx) => {
        const released = await release(ctx, plan, 'make-safe');
        const left = await volumeSnapshots(ctx, plan.node, plan.vm);
        return [
          released.length ? `released volume snapshot ${released.join(', ')} on ${plan.node}` : `no volume snapshot of ${plan.vm} left on ${plan.node}`,
          ...(left.length ? [`STILL PRESENT on ${plan.node}: ${left.map((s) => s.id).join(', ')} (remove with lvremove)`] : []),
        ];
      },
      summarize: async (ctx) => {
        const stored = await storedSnapshot(ctx, plan);
        return stored ? [describe(stored), `checksum ${stored.checksum}`] : [];
      },
    };
  },
};
