import { randomBytes } from 'node:crypto';
import { Command, InvalidArgumentError } from 'commander';
import type { ListSnapshotsResponse__Output, RestoreResponse__Output, Snapshot__Output, VerifyBackupsResponse__Output } from '@hvctl/proto';
import { HvctlError, deadline, policyFor, unary, validateNodeName, validateResourceName, type ClusterFile, type Topology } from '@hvctl/common';
import { loadCluster } from './cluster.js';
import { age, bytes, table } from './format.js';
import { fetchTopology } from './status.js';
import { clientFor } from './workflow-client.js';
import { EXIT_HELP, commonOptions, confirm, runWorkflow } from './workflow-command.js';

/** `hvctl backup verify` exits with this when the check or a sample restore failed. */
export const EXIT_VERIFY_FAILED = 6;

const SNAPSHOT_ID = /^[0-9a-f]{8,64}$/;

/** The node holding the backup repository: the first node of the cluster's backup site. */
export function repositoryNode(cluster: ClusterFile): string {
  const site = cluster.sites.find((candidate) => candidate.kind === 'backup')?.name;
  const node = cluster.nodes.find((candidate) => candidate.site === site)?.name;
  if (!node) {
    throw new HvctlError('FAILED_PRECONDITION', `cluster ${cluster.name} has no backup site; there is no repository to read`, {
      nextSteps: ['add a site with `kind: backup` and its node to the cluster file'],
    });
  }
  return node;
}

/** Where a VM's resource is Primary now (where its backup runs). */
export function primaryNodeOf(topology: Topology, vm: string): string {
  const entry = topology.vms.find((candidate) => candidate.name === vm);
  if (!entry) throw new HvctlError('INVALID_ARGUMENT', `unknown VM "${vm}"; see \`hvctl status\``);
  const primary = topology.resources.find((resource) => resource.name === entry.resource)?.primaries[0];
  if (!primary) {
    throw new HvctlError('FAILED_PRECONDITION', `${vm}'s resource ${entry.resource} is Primary nowhere reachable; nothing was changed`, {
      nextSteps: ['check the VM with `hvctl status`; start or fail it over first'],
    });
  }
  return primary;
}

/** One row of `hvctl backups --json`. */
export interface BackupRow {
  readonly id: string;
  readonly shortId: string;
  readonly vm: string;
  readonly sourceNode: string;
  readonly timeUnixMs: number;
  readonly ageSeconds: number;
  readonly sizeBytes: number;
  readonly consistency: string;
  readonly checksum: string;
  readonly durationMs: number;
}

export function backupRows(snapshots: readonly Snapshot__Output[], nowMs: number): BackupRow[] {
  return snapshots.map((snapshot) => ({
    id: snapshot.id,
    shortId: snapshot.shortId,
    vm: snapshot.vm,
    sourceNode: snapshot.sourceNode,
    timeUnixMs: Number(snapshot.timeUnixMs),
    ageSeconds: Math.max(0, Math.round((nowMs - Number(snapshot.timeUnixMs)) / 1000)),
    sizeBytes: Number(snapshot.sizeBytes),
    consistency: snapshot.consistency,
    checksum: snapshot.checksum,
    durationMs: Number(snapshot.durationMs),
  }));
}

/** The plain-text listing: one line per snapshot, newest first, flagged when older than the VM's policy allows. */
export function formatBackups(rows: readonly BackupRow[], cluster: ClusterFile): string {
  if (rows.length === 0) return 'No backups.';
  const newest = new Map<string, number>();
  for (const row of rows) newest.set(row.vm, Math.min(newest.get(row.vm) ?? Number.POSITIVE_INFINITY, row.ageSeconds));
  const body = rows.map((row) => {
    const policy = policyFor(cluster.backups, row.vm);
    const stale = policy && newest.get(row.vm) === row.ageSeconds && row.ageSeconds > policy.maxAgeSeconds;
    return [row.shortId, row.vm, `${new Date(row.timeUnixMs).toISOString().slice(0, 19)}Z`, age(row.ageSeconds), bytes(row.sizeBytes), row.consistency, row.sourceNode, stale ? `TOO OLD (policy ${policy.name}: ${age(policy.maxAgeSeconds)})` : ''];
  });
  return table(['ID', 'VM', 'TAKEN (UTC)', 'AGE', 'SIZE', 'CONSISTENCY', 'FROM', ''], body);
}

const positive = (max: number) => (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 1 || parsed > max) throw new InvalidArgumentError(`expected an integer from 1 to ${max}`);
  return parsed;
};

/** `hvctl backup VM`, `hvctl backup verify`, `hvctl backups [VM]`, `hvctl restore VM`. */
export function backupCommands(): Command[] {
  const globals = (command: Command): { cluster?: string } => command.optsWithGlobals<{ cluster?: string }>();

  const backup = commonOptions(new Command('backup').argument('<vm>', 'VM to back up'))
    .description('Back up a VM now: snapshot its volume where it is Primary (guest frozen if it has an agent), ship it to the backup site, release the snapshot, record the result.')
    .addHelpText(
      'after',
      `\nExamples:\n  hvctl backup web-1 --yes\n  hvctl backup web-1 --detach --json\n  hvctl backup verify --sample 3${EXIT_HELP}`,
    )
    .action(async (vm: string, options: { dryRun?: boolean; yes?: boolean; json?: boolean; detach?: boolean }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const name = validateResourceName(vm, 'vm');
      const node = primaryNodeOf(await fetchTopology(cluster, 2000), name);
      await runWorkflow(cluster, node, { backup: { vm: name, reason: '' } }, options);
    });

  backup
    .command('verify')
    .description('Check the backup repository (restic check) and test-restore a sample of snapshots, comparing checksums.')
    .option('--sample <n>', 'snapshots to test-restore (the newest of each VM first)', positive(100), 1)
    .option('--json', 'machine-readable result')
    .addHelpText('after', `\nExample:\n  hvctl backup verify --sample 5 --json\nExit codes: 0 all good, 1 error, ${EXIT_VERIFY_FAILED} the check or a sample failed.`)
    .action(async (local: { sample: number; json?: boolean }, command: Command) => {
      // `--json` after `verify` is claimed by the parent `backup` command, which has one too.
      const options = { ...local, json: local.json ?? command.optsWithGlobals<{ json?: boolean }>().json };
      const cluster = await loadCluster(globals(command).cluster);
      const node = repositoryNode(cluster);
      const client = clientFor(cluster, node);
      try {
        const result = await unary<VerifyBackupsResponse__Output>('VerifyBackups', (cb) => client.backup.verifyBackups({ sample: options.sample }, deadline(3600_000), cb));
        if (options.json) {
          console.log(JSON.stringify({ node, ...result }, null, 2));
        } else {
          console.log(`Repository on ${node}: ${result.checkMessage}`);
          for (const sample of result.samples) {
            const snapshot = sample.snapshot;
            console.log(`  ${sample.ok ? 'ok  ' : 'FAIL'} ${snapshot?.shortId ?? '?'} ${snapshot?.vm ?? ''}: ${sample.ok ? `restored identical (${sample.restoredChecksum.slice(0, 19)}…)` : sample.detail}`);
          }
          console.log(result.ok ? 'Verified.' : 'Verification FAILED: restore from another snapshot, and find out what damaged this one.');
        }
        if (!result.ok) process.exitCode = EXIT_VERIFY_FAILED;
      } finally {
        client.close();
      }
    });

  const backups = new Command('backups')
    .argument('[vm]', 'only this VM')
    .description('List the backups on the backup site, newest first, with age and size; flags a VM whose newest backup is older than its policy allows.')
    .option('--json', 'machine-readable list (see docs/backups.md)')
    .addHelpText('after', '\nExamples:\n  hvctl backups\n  hvctl backups web-1 --json')
    .action(async (vm: string | undefined, options: { json?: boolean }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const filter = vm ? validateResourceName(vm, 'vm') : '';
      const client = clientFor(cluster, repositoryNode(cluster));
      try {
        const { snapshots } = await unary<ListSnapshotsResponse__Output>('ListSnapshots', (cb) => client.backup.listSnapshots({ vm: filter }, deadline(30_000), cb));
        const rows = backupRows(snapshots, Date.now());
        console.log(options.json ? JSON.stringify(rows, null, 2) : formatBackups(rows, cluster));
      } finally {
        client.close();
      }
    });

  const restore = new Command('restore')
    .argument('<vm>', 'VM whose backup to restore')
    .requiredOption('--snapshot <id>', 'snapshot id (full or at least 8 hex digits; see `hvctl backups VM`)')
    .requiredOption('--to <node>', 'node to restore on')
    .option('--as <name>', 'restore into a new resource with this name (default: over the VM\'s own resource, which needs --overwrite)')
    .option('--overwrite', 'write over the existing resource (admin; the VM must be stopped; asks for its name to be typed)')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'machine-readable result')
    .description('Restore a backup into a new resource on a node, or over the VM\'s existing resource with --overwrite.')
    .addHelpText(
      'after',
      '\nExamples:\n  hvctl restore web-1 --snapshot 3f2a9c1e --to spb-1 --as web-1-restored\n  hvctl restore web-1 --snapshot 3f2a9c1e --to msk-1 --overwrite\nExit codes: 0 restored identical, 1 error or restored data differs from the backup, 2 invalid input, 3 cancelled or refused (nothing changed).',
    )
    .action(async (vm: string, options: { snapshot: string; to: string; as?: string; overwrite?: boolean; yes?: boolean; json?: boolean }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const name = validateResourceName(vm, 'vm');
      if (!SNAPSHOT_ID.test(options.snapshot)) throw new HvctlError('INVALID_ARGUMENT', `--snapshot "${options.snapshot.slice(0, 70)}" is not a snapshot id (8-64 lowercase hex digits)`);
      const node = validateNodeName(options.to, '--to');
      if (!cluster.nodes.some((entry) => entry.name === node)) throw new HvctlError('INVALID_ARGUMENT', `unknown node "${node}"`);
      const target = options.as ? validateResourceName(options.as, '--as') : name;
      if (!options.as && !options.overwrite) {
        throw new HvctlError('INVALID_ARGUMENT', `restoring ${name} without --as would write over its resource; nothing was changed`, {
          nextSteps: [`restore as a new resource: --as ${name}-restored`, 'or, to replace its data, stop the VM and pass --overwrite (admin)'],
        });
      }
      if (options.overwrite && !options.yes) {
        const ok = await confirm(`This replaces the data of resource ${target} on ${node} with snapshot ${options.snapshot}. The current data is lost.`, target);
        if (!ok) {
          console.error('Cancelled; nothing was changed.');
          process.exitCode = 3;
          return;
        }
      }
      const repository = clientFor(cluster, repositoryNode(cluster));
      const client = clientFor(cluster, node);
      try {
        const { snapshots } = await unary<ListSnapshotsResponse__Output>('ListSnapshots', (cb) => repository.backup.listSnapshots({ vm: name }, deadline(30_000), cb));
        const snapshot = snapshots.find((candidate) => candidate.id.startsWith(options.snapshot));
        if (!snapshot) throw new HvctlError('NOT_FOUND', `${name} has no backup ${options.snapshot}; nothing was changed`, { nextSteps: [`list them with \`hvctl backups ${name}\``] });
        const requestId = `cli-restore-${randomBytes(6).toString('hex')}`;
        const result = await unary<RestoreResponse__Output>('Restore', (cb) =>
          client.backup.restore({ requestId, snapshotId: snapshot.id, targetResource: target, overwrite: options.overwrite ?? false }, deadline(6 * 3600_000), cb),
        );
        const identical = snapshot.checksum !== '' && result.checksum === snapshot.checksum;
        if (options.json) {
          console.log(JSON.stringify({ node, targetResource: result.targetResource, snapshot: result.snapshot, bytesRestored: Number(result.bytesRestored), checksum: result.checksum, expectedChecksum: snapshot.checksum, identical }, null, 2));
        } else {
          console.log(`Restored ${snapshot.shortId} (${name}, ${new Date(Number(snapshot.timeUnixMs)).toISOString()}) into ${result.targetResource} on ${node}: ${bytes(Number(result.bytesRestored))}.`);
          console.log(identical ? `Data identical to the backup (${result.checksum}).` : snapshot.checksum ? `WARNING: restored checksum ${result.checksum} differs from the backup's ${snapshot.checksum}.` : 'The backup recorded no checksum; identity not checked.');
        }
        if (snapshot.checksum && !identical) process.exitCode = 1;
      } finally {
        repository.close();
        client.close();
      }
    });

  return [backup, backups, restore];
}
