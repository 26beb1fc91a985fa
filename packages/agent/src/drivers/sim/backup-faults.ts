import type { Snapshot__Output } from '@hvctl/proto';
import { failedPrecondition, notFound } from '@hvctl/common';
import type { SimWorld } from './world.js';

/**
 * Lab fault: damages the stored data of one of a VM's snapshots in this node's simulated
 * repository (its newest, or the one `snapshotId` names), so a restore or `backup verify`
 * yields other bytes than its recorded checksum and verify's repository check reports it.
 */
export function corruptStoredBackup(world: SimWorld, vm: string, snapshotId: string): Snapshot__Output {
  const repository = world.repository;
  if (!repository) throw failedPrecondition(`${world.name} holds no backup repository; nothing was damaged`, { nextSteps: ["send the fault to the backup site's node (bak-1 in the lab)"] });
  const mine = repository.snapshots.filter((snapshot) => snapshot.vm === vm).sort((a, b) => Number(b.timeUnixMs) - Number(a.timeUnixMs));
  const matches = snapshotId ? mine.filter((snapshot) => snapshot.id.startsWith(snapshotId)) : mine.slice(0, 1);
  if (matches.length === 0) {
    throw notFound(`${snapshotId ? `no snapshot "${snapshotId}" of ${vm}` : `no backup of ${vm}`} in the repository on ${world.name}; nothing was damaged`, {
      nextSteps: [`list them with \`hvctl backups ${vm}\`, or take one with \`hvctl backup ${vm}\``],
    });
  }
  if (matches.length > 1) throw failedPrecondition(`snapshot id "${snapshotId}" of ${vm} is ambiguous; nothing was damaged; give more digits`);
  const snapshot = matches[0] as Snapshot__Output;
  repository.corrupted = [...new Set([...(repository.corrupted ?? []), snapshot.id])];
  world.persistNow();
  world.log('warn', 'backup', `lab fault: the stored data of snapshot ${snapshot.shortId} (${snapshot.vm}) is damaged`);
  return snapshot;
}
