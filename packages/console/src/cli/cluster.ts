import { existsSync } from 'node:fs';
import { HvctlError, loadClusterFile, type ClusterFile } from '@hvctl/common';
import { labClusterPath, labDir, labStatePath } from '../lab/state.js';

/** Where the cluster file comes from: --cluster, then $HVCTL_CLUSTER, then the running lab. */
export function clusterPath(option: string | undefined): string {
  if (option) return option;
  const fromEnv = process.env['HVCTL_CLUSTER'];
  if (fromEnv) return fromEnv;
  const dir = labDir();
  if (existsSync(labStatePath(dir))) return labClusterPath(dir);
  throw new HvctlError('NOT_FOUND', 'no cluster to talk to: no --cluster FILE, no $HVCTL_CLUSTER, and no running lab', {
    nextSteps: ['start the lab with `npx hvctl lab up --detach`, or pass --cluster FILE'],
  });
}

export function loadCluster(option: string | undefined): Promise<ClusterFile> {
  return loadClusterFile(clusterPath(option));
}
