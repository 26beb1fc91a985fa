import { loadClusterFile, type ClusterFile, type Logger } from '@hvctl/common';
import type { BackupDriver } from '../drivers/types.js';
import type { ClusterAccess } from '../workflows/cluster-access.js';
import type { BackupScheduler } from './scheduler.js';

/**
 * Starts the cluster's backup scheduler when this agent is its backup site's node (the
 * first node of the `backup` site in the cluster file) and has a cluster file to read
 * the policies from; every other agent runs none.
 */
export async function startBackupScheduler(options: {
  readonly self: string;
  readonly clusterPath: string | undefined;
  readonly cluster: ClusterFile;
  readonly access: ClusterAccess;
  readonly backup: BackupDriver;
  readonly logger: Logger;
  readonly announce: (level: 'info' | 'warn' | 'error', message: string) => void;
}): Promise<BackupScheduler | undefined> {
  const { clusterPath } = options;
  if (!clusterPath || options.access.witness() !== options.self) return undefined;
  // Loaded here, by the one agent that runs it (croner comes with it).
  const { BackupScheduler } = await import('./scheduler.js');
  const scheduler = new BackupScheduler({
    self: options.self,
    cluster: options.access,
    policies: async () => (await loadClusterFile(clusterPath)).backups,
    backup: options.backup,
    logger: options.logger,
    announce: options.announce,
  });
  await scheduler.start();
  return scheduler;
}
