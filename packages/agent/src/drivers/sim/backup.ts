import { randomBytes } from 'node:crypto';
import type { Snapshot__Output } from '@hvctl/proto';
import { HvctlError, failedPrecondition, notFound, unavailable } from '@hvctl/common';
import type { BackupDriver, BackupOptions, ProbeResult, RestoreResult } from '../types.js';
import type { SimWorld } from './world.js';

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Share of a volume a simulated backup copies (its used blocks). */
const USED_SHARE = 0.05;

/**
 * Simulated restic: the repository lives on the node configured as repository (the
 * `bak` site) and is reached over the simulated link, like a restic REST server. A
 * backup snapshots the volume, uploads it (taking time, reporting progress) and always
 * releases the snapshot, also after a failure.
 */
export class SimBackup implements BackupDriver {
  constructor(
    private readonly world: SimWorld,
    /** Node holding the repository; equals world.name on the `bak` site. */
    private readonly repositoryNode: string,
  ) {
    if (world.repository) {
      const repository = world.repository;
      world.handle('backup.list', async (_from, body) => this.filter(repository.snapshots, (body as { vm: string }).vm));
      world.handle('backup.get', async (_from, body) => this.find(repository.snapshots, (body as { id: string }).id));
      world.handle('backup.store', async (_from, body) => this.store(body as Snapshot__Output));
    }
  }

  async probe(): Promise<ProbeResult> {
    return { available: true, driver: 'sim', detail: `simulated restic; repository on ${this.repositoryNode}` };
  }

  async localSnapshots(): Promise<Snapshot__Output[]> {
    return [...(this.world.repository?.snapshots ?? [])];
  }

  async listSnapshots(vm: string): Promise<Snapshot__Output[]> {
    if (this.world.repository) return this.filter(this.world.repository.snapshots, vm);
    return (await this.remote('backup.list', { vm })) as Snapshot__Output[];
  }

  async createBackup(vm: string, options: BackupOptions): Promise<Snapshot__Output> {
    const { world } = this;
    const domain = world.domain(vm);
    const resource = domain.resources[0];
    const record = resource ? world.resources.get(resource) : undefined;
    if (!record || record.role !== 'Primary') {
      throw failedPrecondition(`${vm}'s volume is not Primary on ${world.name}; back it up on the node where it runs`);
    }
    const total = Math.round(record.sizeBytes * USED_SHARE);
    const report = (phase: string, done: number): void =>
      options.onProgress({ phase, percent: total > 0 ? (100 * done) / total : 100, bytesDone: done, bytesTotal: total });
    report('snapshot', 0);
    world.log('info', 'backup', `${vm}: snapshot of ${resource} created for backup`);
    try {
      const stepMs = 100;
      let done = 0;
      while (done < total) {
        await sleep(stepMs);
        if (options.signal?.aborted) throw new HvctlError('ABORTED', `backup of ${vm} cancelled`);
        if (this.repositoryNode !== world.name && !world.net.reachable(this.repositoryNode)) {
          throw unavailable(`lost the backup repository on ${this.repositoryNode} during the backup of ${vm}`);
        }
        done = Math.min(total, done + (world.timing.backupBytesPerSecond * stepMs) / 1000);
        report('upload', done);
      }
      const id = randomBytes(32).toString('hex');
      const snapshot: Snapshot__Output = {
        id,
        shortId: id.slice(0, 8),
        vm,
        resource: record.name,
        sourceNode: world.name,
        timeUnixMs: Date.now(),
        sizeBytes: total,
        consistency: 'crash',
      };
      const stored = world.repository ? this.store(snapshot) : ((await this.remote('backup.store', snapshot)) as Snapshot__Output);
      world.log('info', 'backup', `${vm}: backup ${stored.shortId} stored on ${this.repositoryNode}`);
      return stored;
    } catch (error) {
      world.log('error', 'backup', `${vm}: backup failed: ${(error as Error).message}`);
      throw error;
    } finally {
      report('release', total);
      world.log('info', 'backup', `${vm}: backup snapshot of ${resource} released`);
    }
  }

  async restore(snapshotId: string, targetResource: string, overwrite: boolean): Promise<RestoreResult> {
    const { world } = this;
    const snapshot = world.repository
      ? this.find(world.repository.snapshots, snapshotId)
      : ((await this.remote('backup.get', { id: snapshotId })) as Snapshot__Output);
    const existing = world.resources.get(targetResource);
    if (existing) {
      if (!overwrite) {
        throw failedPrecondition(`resource ${targetResource} already exists on ${world.name}; restoring over it needs overwrite`, {
          nextSteps: ['restore under a new name, or pass overwrite (admin) after checking nothing uses it'],
        });
      }
      const user = [...world.domains.values()].find((domain) => domain.resources.includes(targetResource) && domain.state !== 'shut off');
      if (user) throw failedPrecondition(`${targetResource} is in use by ${user.name} (${user.state}); stop it before restoring over its disk`);
      if (existing.role !== 'Primary') {
        throw failedPrecondition(`${targetResource} is Secondary on ${world.name}; restore where it is Primary so the peers resync from the restored data`);
      }
    }
    await sleep(Math.min(5000, (Number(snapshot.sizeBytes) / world.timing.backupBytesPerSecond) * 1000));
    if (existing) {
      for (const peer of existing.peers) if (!peer.client) existing.outOfSync[peer.node] = existing.sizeBytes;
      existing.disk = 'UpToDate';
    } else {
      const minor = Math.max(999, ...[...world.resources.values()].map((r) => r.minor)) + 1;
      world.resources.set(targetResource, {
        name: targetResource,
        vm: '',
        minor,
        sizeBytes: Number(snapshot.sizeBytes) / USED_SHARE,
        protocol: 'C',
        role: 'Secondary',
        disk: 'UpToDate',
        client: false,
        allowTwoPrimaries: false,
        standAlone: false,
        standAloneReason: '',
        discardMyData: false,
        peers: [],
        outOfSync: {},
      });
    }
    world.log('info', 'backup', `restored snapshot ${snapshot.shortId} of ${snapshot.vm} into ${targetResource}`);
    world.refresh();
    world.persistNow();
    return { snapshot, targetResource, bytesRestored: Number(snapshot.sizeBytes) };
  }

  private filter(snapshots: readonly Snapshot__Output[], vm: string): Snapshot__Output[] {
    return snapshots.filter((snapshot) => vm === '' || snapshot.vm === vm).sort((a, b) => Number(b.timeUnixMs) - Number(a.timeUnixMs));
  }

  private find(snapshots: readonly Snapshot__Output[], id: string): Snapshot__Output {
    const matches = snapshots.filter((snapshot) => snapshot.id.startsWith(id));
    if (matches.length === 0) throw notFound(`no snapshot matches id "${id}"`);
    if (matches.length > 1) throw failedPrecondition(`snapshot id "${id}" is ambiguous; give more digits`);
    return matches[0] as Snapshot__Output;
  }

  private store(snapshot: Snapshot__Output): Snapshot__Output {
    const repository = this.world.repository;
    if (!repository) throw failedPrecondition(`${this.world.name} holds no backup repository`);
    repository.snapshots.push(snapshot);
    this.world.refresh();
    this.world.persistNow();
    return snapshot;
  }

  private async remote(method: string, body: unknown): Promise<unknown> {
    try {
      return await this.world.net.request(this.repositoryNode, method, body, 10_000);
    } catch (error) {
      if (error instanceof HvctlError && error.code !== 'UNAVAILABLE' && error.code !== 'DEADLINE_EXCEEDED') throw error;
      throw unavailable(`the backup repository on ${this.repositoryNode} is unreachable from ${this.world.name}: ${(error as Error).message}`);
    }
  }
}
