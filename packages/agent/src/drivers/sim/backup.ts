import { randomBytes } from 'node:crypto';
import type { Snapshot__Output, VolumeSnapshot__Output } from '@hvctl/proto';
import { HvctlError, failedPrecondition, notFound, unavailable, type RetentionRules } from '@hvctl/common';
import { applyRetention, hasRules } from '../../backups/retention.js';
import type { BackupDriver, BackupOptions, ProbeResult, RestoreResult, RetentionResult, VerifyResult, VolumeSnapshotResult } from '../types.js';
import { contentChecksum, damagedContent } from './content.js';
import type { SimVolumeSnapshotRecord } from './records.js';
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
  /** Backups that fail halfway through their upload (tests inject failures with failBackups). */
  private failuresArmed = 0;

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
      world.handle('backup.forget', async (_from, body) => {
        const request = body as { vm: string; policy: RetentionRules; dryRun: boolean };
        return this.forgetLocal(request.vm, request.policy, request.dryRun);
      });
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

  /** The next `count` backups fail halfway through their upload, as a full repository would. */
  failBackups(count: number): void {
    this.failuresArmed = count;
  }

  async createBackup(vm: string, options: BackupOptions): Promise<Snapshot__Output> {
    const { world } = this;
    const startedMs = Date.now();
    const domain = world.domain(vm);
    const resource = domain.resources[0];
    const record = resource ? world.resources.get(resource) : undefined;
    if (!record || record.role !== 'Primary') {
      throw failedPrecondition(`${vm}'s volume is not Primary on ${world.name}; back it up on the node where it runs`);
    }
    let source: Pick<SimVolumeSnapshotRecord, 'consistency' | 'checksum'>;
    if (options.volumeSnapshotId) {
      const held = world.volumeSnapshots.find((snapshot) => snapshot.id === options.volumeSnapshotId && snapshot.vm === vm);
      if (!held) {
        throw notFound(`volume snapshot ${options.volumeSnapshotId} of ${vm} does not exist on ${world.name}; nothing was uploaded`, {
          nextSteps: ['run the backup again (hvctl backup VM): it takes a new snapshot'],
        });
      }
      source = held;
    } else {
      source = { consistency: 'crash', checksum: contentChecksum(record) };
    }
    const total = Math.round(record.sizeBytes * USED_SHARE);
    const report = (phase: string, done: number): void =>
      options.onProgress({ phase, percent: total > 0 ? (100 * done) / total : 100, bytesDone: done, bytesTotal: total });
    report('snapshot', 0);
    if (!options.volumeSnapshotId) world.log('info', 'backup', `${vm}: snapshot of ${resource} created for backup`);
    try {
      const stepMs = 100;
      let done = 0;
      while (done < total) {
        await sleep(stepMs);
        if (options.signal?.aborted) throw new HvctlError('ABORTED', `backup of ${vm} cancelled`);
        if (this.repositoryNode !== world.name && !world.net.reachable(this.repositoryNode)) {
          throw unavailable(`lost the backup repository on ${this.repositoryNode} during the backup of ${vm}`);
        }
        if (this.failuresArmed > 0 && done >= total / 2) {
          this.failuresArmed -= 1;
          throw new HvctlError('RESOURCE_EXHAUSTED', `the repository on ${this.repositoryNode} refused ${vm}'s upload at ${Math.round((100 * done) / total)}%: no space left (injected failure); no snapshot was stored`, {
            nextSteps: ['free space in the repository (restic forget --prune), then run the backup again'],
          });
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
        consistency: source.consistency,
        checksum: source.checksum,
        durationMs: Date.now() - startedMs,
      };
      const stored = world.repository ? this.store(snapshot) : ((await this.remote('backup.store', snapshot)) as Snapshot__Output);
      world.log('info', 'backup', `${vm}: backup ${stored.shortId} stored on ${this.repositoryNode}`);
      return stored;
    } catch (error) {
      world.log('error', 'backup', `${vm}: backup failed: ${(error as Error).message}`);
      throw error;
    } finally {
      if (!options.volumeSnapshotId) {
        report('release', total);
        world.log('info', 'backup', `${vm}: backup snapshot of ${resource} released`);
      }
    }
  }

  async snapshotVolume(vm: string, owner: string): Promise<VolumeSnapshotResult> {
    const { world } = this;
    const domain = world.domain(vm);
    const resource = domain.resources[0];
    const record = resource ? world.resources.get(resource) : undefined;
    if (!record || record.role !== 'Primary') {
      throw failedPrecondition(`${vm}'s volume is not Primary on ${world.name}; snapshot it on the node where it runs`);
    }
    // The guest agent freezes the file systems only of a running guest (virsh domfsfreeze).
    const frozen = domain.guestAgent === true && domain.state === 'running';
    const freezeDetail = frozen ? `froze ${vm}'s file systems (domfsfreeze), snapshotted, thawed (domfsthaw)` : domain.guestAgent ? `${vm} is ${domain.state}: nothing to freeze` : `${vm} has no guest agent: crash-consistent copy`;
    const snapshot: SimVolumeSnapshotRecord = {
      id: `hvctl-bak-${vm}-${randomBytes(3).toString('hex')}`,
      vm,
      resource: record.name,
      createdMs: Date.now(),
      consistency: frozen ? 'application' : 'crash',
      checksum: contentChecksum(record),
      owner,
    };
    world.volumeSnapshots.push(snapshot);
    world.persistNow();
    world.log('info', 'backup', `${vm}: volume snapshot ${snapshot.id} of ${record.name} taken (${snapshot.consistency}-consistent)`);
    return { snapshot: this.volumeView(snapshot), freezeDetail };
  }

  async releaseVolumeSnapshots(vm: string): Promise<string[]> {
    const { world } = this;
    const released = world.volumeSnapshots.filter((snapshot) => snapshot.vm === vm).map((snapshot) => snapshot.id);
    if (released.length === 0) return [];
    world.volumeSnapshots.splice(0, world.volumeSnapshots.length, ...world.volumeSnapshots.filter((snapshot) => snapshot.vm !== vm));
    world.persistNow();
    world.log('info', 'backup', `${vm}: volume snapshot${released.length > 1 ? 's' : ''} ${released.join(', ')} released`);
    return released;
  }

  async listVolumeSnapshots(): Promise<VolumeSnapshot__Output[]> {
    return this.world.volumeSnapshots.map((snapshot) => this.volumeView(snapshot));
  }

  async applyRetention(vm: string, policy: RetentionRules, options: { readonly dryRun: boolean; readonly prune: boolean }): Promise<RetentionResult> {
    if (!hasRules(policy)) throw failedPrecondition('the retention policy has no rule; refusing to forget anything');
    if (this.world.repository) return this.forgetLocal(vm, policy, options.dryRun);
    return (await this.remote('backup.forget', { vm, policy, dryRun: options.dryRun })) as RetentionResult;
  }

  async verify(sample: number): Promise<VerifyResult> {
    const repository = this.world.repository;
    if (!repository) throw failedPrecondition(`${this.world.name} holds no backup repository; verify on ${this.repositoryNode}`);
    const corrupted = new Set(repository.corrupted ?? []);
    // The newest snapshot of each VM first, then older ones.
    const newest: Snapshot__Output[] = [];
    const older: Snapshot__Output[] = [];
    const seen = new Set<string>();
    for (const snapshot of this.filter(repository.snapshots, '')) {
      (seen.has(snapshot.vm) ? older : newest).push(snapshot);
      seen.add(snapshot.vm);
    }
    const picked = [...newest, ...older].slice(0, Math.max(1, sample));
    const samples = picked.map((snapshot) => {
      const restored = this.storedContent(snapshot);
      const ok = snapshot.checksum !== '' && restored === snapshot.checksum;
      return { snapshot, restoredChecksum: restored, ok, detail: ok ? '' : snapshot.checksum ? 'restored data differs from the recorded checksum' : 'no checksum recorded' };
    });
    const damaged = repository.snapshots.filter((snapshot) => corrupted.has(snapshot.id)).length;
    const checkMessage = damaged ? `${damaged} snapshot(s) reference damaged pack data` : 'no errors were found';
    return { ok: damaged === 0 && samples.every((entry) => entry.ok), checkMessage, samples };
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
    const checksum = this.storedContent(snapshot);
    if (existing) {
      for (const peer of existing.peers) if (!peer.client) existing.outOfSync[peer.node] = existing.sizeBytes;
      existing.disk = 'UpToDate';
      existing.checksum = checksum;
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
        checksum,
      });
    }
    world.log('info', 'backup', `restored snapshot ${snapshot.shortId} of ${snapshot.vm} into ${targetResource}`);
    world.refresh();
    world.persistNow();
    return { snapshot, targetResource, bytesRestored: Number(snapshot.sizeBytes), checksum };
  }

  /** What restoring a snapshot yields: its recorded content, or other bytes when its stored data is damaged. */
  private storedContent(snapshot: Snapshot__Output): string {
    const damaged = (this.world.repository?.corrupted ?? []).includes(snapshot.id);
    const recorded = snapshot.checksum || contentChecksum({ name: snapshot.resource });
    return damaged ? damagedContent(recorded) : recorded;
  }

  private forgetLocal(vm: string, policy: RetentionRules, dryRun: boolean): RetentionResult {
    const repository = this.world.repository;
    if (!repository) throw failedPrecondition(`${this.world.name} holds no backup repository`);
    const decision = applyRetention(
      repository.snapshots.filter((snapshot) => snapshot.vm === vm).map((snapshot) => ({ id: snapshot.id, timeUnixMs: Number(snapshot.timeUnixMs) })),
      policy,
    );
    if (!dryRun && decision.forget.length) {
      const forget = new Set(decision.forget);
      repository.snapshots = repository.snapshots.filter((snapshot) => !forget.has(snapshot.id));
      repository.corrupted = (repository.corrupted ?? []).filter((id) => !forget.has(id));
      this.world.log('info', 'backup', `${vm}: retention forgot ${decision.forget.length} snapshot(s), kept ${decision.keep.length}`);
      this.world.refresh();
      this.world.persistNow();
    }
    return { kept: [...decision.keep], forgotten: [...decision.forget] };
  }

  private volumeView(snapshot: SimVolumeSnapshotRecord): VolumeSnapshot__Output {
    return {
      id: snapshot.id,
      vm: snapshot.vm,
      resource: snapshot.resource,
      node: this.world.name,
      createdUnixMs: snapshot.createdMs,
      consistency: snapshot.consistency,
      checksum: snapshot.checksum,
      owner: snapshot.owner,
    };
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
