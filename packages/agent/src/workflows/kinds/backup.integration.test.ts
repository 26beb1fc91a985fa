import { afterEach, describe, expect, it } from 'vitest';
import type {
  ListSnapshotsResponse__Output,
  ListVolumeSnapshotsResponse__Output,
  RestoreResponse__Output,
  Snapshot__Output,
  SubmitResponse__Output,
  WatchWorkflowResponse__Output,
  Workflow__Output,
} from '@hvctl/proto';
import { deadline, unary, type BackupsSection, type HvctlError } from '@hvctl/common';
import { waitFor } from '@hvctl/common/testing';
import type { SimBackup } from '../../drivers/sim/backup.js';
import { contentChecksum } from '../../drivers/sim/content.js';
import type { SimWorld } from '../../drivers/sim/world.js';
import { buildSeeds, Lab, type LabNodeSpec } from '../../testing/harness.js';

/**
 * The backup workflow end to end on in-process agents with simulated drivers: vm-a (with
 * a guest agent) and vm-b (without) run on msk-1 with their peer on spb-1; bak-1 holds
 * the repository and is the witness.
 */
const NODES: LabNodeSpec[] = [
  { name: 'msk-1', site: 'msk' },
  { name: 'spb-1', site: 'spb' },
  { name: 'bak-1', site: 'bak', siteKind: 'backup' },
];

function seeds(): ReturnType<typeof buildSeeds> {
  const built = buildSeeds(
    NODES.map((node) => node.name),
    [
      { name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
      { name: 'vm-b', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
    ],
    'bak-1',
  );
  const domain = built['msk-1']?.domains.find((candidate) => candidate.name === 'vm-a');
  if (domain) domain.guestAgent = true;
  return built;
}

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

const client = (node: string): ReturnType<Lab['client']> => (lab as Lab).client(node);

async function submit(node: string, vm: string): Promise<Workflow__Output> {
  const { workflow } = await unary<SubmitResponse__Output>('Submit', (cb) => client(node).workflows.submit({ spec: { backup: { vm } }, owner: 'test' }, deadline(10_000), cb));
  if (!workflow) throw new Error('no workflow');
  return workflow;
}

function finish(node: string, id: string): Promise<Workflow__Output> {
  return new Promise((resolve, reject) => {
    let last: Workflow__Output | undefined;
    const stream = client(node).workflows.watchWorkflow({ id }, { deadline: new Date(Date.now() + 30_000) });
    stream.on('data', (message: WatchWorkflowResponse__Output) => {
      if (message.workflow) last = message.workflow;
    });
    stream.on('error', reject);
    stream.on('end', () => (last ? resolve(last) : reject(new Error('no state'))));
  });
}

async function snapshots(vm = ''): Promise<Snapshot__Output[]> {
  return (await unary<ListSnapshotsResponse__Output>('ListSnapshots', (cb) => client('bak-1').backup.listSnapshots({ vm }, deadline(5000), cb))).snapshots;
}

async function volumeSnapshots(node: string): Promise<string[]> {
  const { snapshots: held } = await unary<ListVolumeSnapshotsResponse__Output>('ListVolumeSnapshots', (cb) => client(node).backup.listVolumeSnapshots({}, deadline(5000), cb));
  return held.map((snapshot) => snapshot.id);
}

const simBackup = (node: string): SimBackup => (lab as Lab).node(node).agent?.context.drivers.backup as SimBackup;

describe('backup workflow', () => {
  it('refuses on a node where the VM is not Primary, naming the right node', async () => {
    lab = await Lab.start({ nodes: NODES, seeds: seeds(), clusterFile: true });
    await lab.waitAllConnected();
    const error = await submit('spb-1', 'vm-a').then(
      () => undefined,
      (caught: unknown) => caught as HvctlError,
    );
    expect(error?.code).toBe('FAILED_PRECONDITION');
    expect(error?.message).toMatch(/Primary on msk-1, not on spb-1/);
  });

  it('a failure mid-upload leaves no volume snapshot and no backup behind; the next run succeeds and restores identical', async () => {
    lab = await Lab.start({ nodes: NODES, seeds: seeds(), clusterFile: true });
    await lab.waitAllConnected();
    // Given the next upload breaks off halfway
    simBackup('msk-1').failBackups(1);
    // When a backup of vm-a runs
    const failed = await finish('msk-1', (await submit('msk-1', 'vm-a')).id);
    // Then it failed in the upload, make-safe released the snapshot, nothing was stored
    expect(failed.state).toBe('failed');
    expect(failed.steps.find((step) => step.id === 'upload')?.state).toBe('failed');
    expect(failed.steps.find((step) => step.id === 'snapshot')?.state).toBe('done');
    expect(failed.summary.join('\n')).toMatch(/rollback: released volume snapshot hvctl-bak-vm-a-/);
    expect(await volumeSnapshots('msk-1')).toEqual([]);
    expect(await snapshots('vm-a')).toEqual([]);

    // When it runs again
    const world = (lab.node('msk-1').agent?.context as unknown as { drivers: { backup: { world: SimWorld } } }).drivers.backup.world;
    const ok = await finish('msk-1', (await submit('msk-1', 'vm-a')).id);
    // Then it succeeded, application-consistent (vm-a has a guest agent), and released its snapshot
    expect(ok.state, ok.error).toBe('succeeded');
    expect(ok.steps.map((step) => step.state)).toEqual(['done', 'done', 'done', 'done', 'done']);
    expect(await volumeSnapshots('msk-1')).toEqual([]);
    const [stored] = await snapshots('vm-a');
    expect(stored?.consistency).toBe('application');
    expect(stored?.sourceNode).toBe('msk-1');
    expect(stored?.checksum).toMatch(/^sha256:[0-9a-f]{64}$/);
    expect(ok.summary[0]).toContain(`snapshot ${stored?.shortId}`);
    // The VM kept writing since: its volume no longer matches the backup
    await waitFor('vm-a to write after the backup', () => contentChecksum(world.resource('vm-a')) !== stored?.checksum);

    // When the backup is restored as a new resource on spb-1
    const restored = await unary<RestoreResponse__Output>('Restore', (cb) =>
      client('spb-1').backup.restore({ requestId: 'r1', snapshotId: stored?.id ?? '', targetResource: 'vm-a-restored', overwrite: false }, deadline(10_000), cb),
    );
    // Then the data came back identical to what was backed up
    expect(restored.checksum).toBe(stored?.checksum);

    // And vm-b (no guest agent) is backed up crash-consistent
    const crash = await finish('msk-1', (await submit('msk-1', 'vm-b')).id);
    expect(crash.state).toBe('succeeded');
    expect((await snapshots('vm-b'))[0]?.consistency).toBe('crash');
  });

  it('an abort mid-upload releases the snapshot and stores nothing', async () => {
    lab = await Lab.start({ nodes: NODES, seeds: seeds(), clusterFile: true, timing: { backupBytesPerSecond: 4 * 1024 ** 2 } });
    await lab.waitAllConnected();
    const started = await submit('msk-1', 'vm-a');
    // Given the volume snapshot is taken and the (slow) upload runs
    await waitFor('the volume snapshot', async () => (await volumeSnapshots('msk-1')).length > 0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // When the operator aborts
    await unary('Abort', (cb) => client('msk-1').workflows.abort({ id: started.id, owner: 'test' }, deadline(20_000), cb));
    // Then the workflow rolled back: no volume snapshot, no backup
    const aborted = await finish('msk-1', started.id);
    expect(aborted.state).toBe('aborted');
    expect(await volumeSnapshots('msk-1')).toEqual([]);
    expect(await snapshots('vm-a')).toEqual([]);
  });
});

describe('backup scheduler and metrics', () => {
  it('the backup site submits scheduled backups where each VM is Primary, applies retention, and metrics show them', async () => {
    const backups: BackupsSection = {
      policies: [{ name: 'often', vms: ['*'], schedule: '*/2 * * * * *', retention: { keepLast: 2 }, maxAgeSeconds: 60 }],
    };
    lab = await Lab.start({ nodes: NODES, seeds: seeds(), clusterFile: true, backups, metrics: true });
    await lab.waitAllConnected();
    // Then snapshots of both VMs appear on bak-1, and retention keeps at most 2 of each
    await waitFor('three scheduled rounds', async () => (await snapshots('vm-b')).length >= 2, { timeoutMs: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    for (const vm of ['vm-a', 'vm-b']) {
      const kept = await snapshots(vm);
      expect(kept.length).toBeGreaterThanOrEqual(1);
      expect(kept.length).toBeLessThanOrEqual(2);
      expect(kept.every((snapshot) => snapshot.sourceNode === 'msk-1')).toBe(true);
    }
    expect(await volumeSnapshots('msk-1')).toEqual([]);
    // And the metrics endpoint of bak-1 reports the last backup of each VM
    const port = lab.node('bak-1').agent?.metricsPort ?? 0;
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(text).toMatch(/hvctl_backup_last_success_timestamp_seconds\{vm="vm-a"\} \d+/);
    const coordinator = await (await fetch(`http://127.0.0.1:${lab.node('msk-1').agent?.metricsPort ?? 0}/metrics`)).text();
    expect(coordinator).toMatch(/hvctl_workflows_total\{node="msk-1",kind="backup",outcome="succeeded"\} [1-9]/);
  }, 40_000);
});
