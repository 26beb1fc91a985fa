import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRunner, silentLogger } from '@hvctl/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeToolbox, requireTool, type FakeToolbox } from '../testing/fake-tools.js';
import { treeChecksum } from './checksum.js';
import { RealBackupDriver } from './driver.js';
import { LvmVolumeSnapshots } from './volume-snapshots.js';

/**
 * A backup reads the volume snapshot, not the live volume: fake lvcreate/lvs/lvremove (LVM
 * needs root and a volume group) whose "block device" is a regular file copied from the
 * live image at lvcreate time, and a real restic repository fed from that file through
 * `restic backup --stdin`. The restored image is the snapshot's bytes, not the live
 * volume's later ones; a failed upload stores nothing and the release removes the snapshot.
 */
const RESTIC = '/usr/bin/restic';
const skip = requireTool(RESTIC, 'restic');

describe.skipIf(skip)(`backups from LVM volume snapshots${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let box: FakeToolbox;
  let dir: string;
  let env: Record<string, string>;
  const runner = new ProcessRunner({ logger: silentLogger() });
  const live = (): string => join(box.dir, 'web-1.img');
  const device = (): string => join(box.dir, 'snap.img');

  const driverWith = (restic: string): RealBackupDriver =>
    new RealBackupDriver({
      runner,
      restic,
      repository: env['RESTIC_REPOSITORY'] as string,
      passwordFile: env['RESTIC_PASSWORD_FILE'] as string,
      cacheDir: env['RESTIC_CACHE_DIR'] as string,
      node: 'msk-1',
      sourcePath: (vm) => join(dir, 'unused', vm),
      restoreRoot: join(dir, 'restore'),
      volumeSnapshots,
    });
  let volumeSnapshots: LvmVolumeSnapshots;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-lvm-backup-'));
    await writeFile(join(dir, 'password'), `pw-${randomBytes(6).toString('hex')}`);
    await chmod(join(dir, 'password'), 0o600);
    env = { RESTIC_REPOSITORY: join(dir, 'repo'), RESTIC_PASSWORD_FILE: join(dir, 'password'), RESTIC_CACHE_DIR: join(dir, 'cache') };
    await runner.run(RESTIC, { args: ['init'], env });
    box = await fakeToolbox('hvctl-lvm-dev-');
    // lvs lists the origin and, while it exists, the snapshot with its "device" (a file).
    const lvs = await box.tool(
      'lvs',
      `snap=''
[ -f "$STATE/snap.img" ] && snap=$(printf ',{"lv_name":"hvctl-bak-web-1","origin":"web-1","lv_time":"2026-03-04 05:06:07 +0000","lv_tags":"%s","lv_path":"%s"}' "$(cat "$STATE/snap.tags")" "$STATE/snap.img")
printf '{"report":[{"lv":[{"lv_name":"web-1","origin":"","lv_tags":"","lv_path":"%s"}%s]}]}' "$STATE/web-1.img" "$snap"`,
    );
    // lvcreate freezes the origin's bytes as they are now into the snapshot's file.
    const lvcreate = await box.tool(
      'lvcreate',
      `tags=''; prev=''
for a in "$@"; do [ "$prev" = --addtag ] && tags="\${tags:+$tags,}$a"; prev="$a"; done
cp "$STATE/web-1.img" "$STATE/snap.img" && printf '%s' "$tags" > "$STATE/snap.tags"`,
    );
    const lvremove = await box.tool('lvremove', 'rm -f "$STATE/snap.img" "$STATE/snap.tags"');
    const virsh = await box.tool('virsh', 'case "$1" in domfsfreeze) echo "Froze 1 filesystem(s)";; domfsthaw) echo "Thawed 1 filesystem(s)";; esac');
    volumeSnapshots = new LvmVolumeSnapshots({ runner, lvs, lvcreate, lvremove, virsh, volumeGroup: 'vg0', snapshotSize: '5G', node: 'msk-1' });
  });
  afterAll(async () => {
    await box.cleanup();
    await rm(dir, { recursive: true, force: true });
  });

  it('uploads the snapshot device through restic --stdin and restores its bytes, not the live volume written since', async () => {
    // Given a VM volume and its snapshot
    const original = randomBytes(300_000);
    await writeFile(live(), original);
    const driver = driverWith(RESTIC);
    const { snapshot } = await driver.snapshotVolume('web-1', 'wf-1');
    expect(snapshot).toMatchObject({ id: 'hvctl-bak-web-1', consistency: 'application', owner: 'wf-1' });
    // And the VM keeps writing to its live volume after the snapshot
    const changed = Buffer.from(original);
    changed.fill(0xab, 1000, 50_000);
    await writeFile(live(), changed);
    // When the backup runs
    const progress: string[] = [];
    const stored = await driver.createBackup('web-1', { onProgress: (p) => progress.push(p.phase), volumeSnapshotId: snapshot.id });
    // Then it recorded the snapshot's content, as one image file read from stdin
    expect(stored.checksum).toBe(await treeChecksum(device()));
    expect(stored.checksum).not.toBe(await treeChecksum(live()));
    expect(stored).toMatchObject({ vm: 'web-1', consistency: 'application', sizeBytes: 300_000 });
    expect(progress).toContain('release');
    const [listed] = JSON.parse((await runner.run(RESTIC, { args: ['snapshots', '--json', stored.id], env })).stdout) as { paths: string[] }[];
    expect(listed?.paths).toEqual(['/web-1.img']);
    // And the release removes the snapshot
    expect(await driver.releaseVolumeSnapshots('web-1')).toEqual(['hvctl-bak-web-1']);
    await expect(stat(device())).rejects.toThrow(/ENOENT/);
    expect(await driver.listVolumeSnapshots()).toEqual([]);
    // And a restore brings back the snapshot's bytes exactly, with the recorded checksum
    const restored = await driver.restore(stored.shortId, 'web-1-copy', false);
    const image = await readFile(join(dir, 'restore', 'web-1-copy', 'web-1.img'));
    expect(image.equals(original)).toBe(true);
    expect(image.equals(changed)).toBe(false);
    expect(restored.checksum).toBe(stored.checksum);
    // And verify's sample restore agrees
    const verified = await driver.verify(1);
    expect(verified.ok).toBe(true);
    expect(verified.samples[0]).toMatchObject({ ok: true, restoredChecksum: stored.checksum });
  }, 60_000);

  it('a restic failure mid-upload stores nothing, the release leaves no snapshot behind, and the next run succeeds', async () => {
    // Given restic that reads part of the image, then fails
    const failing = await box.tool('restic-failing', `case " $* " in *" backup "*) head -c 4096 >/dev/null; echo "Fatal: unable to save snapshot: disk full" >&2; exit 1;; esac\nexec ${RESTIC} "$@"`);
    const before = (await driverWith(RESTIC).listSnapshots('web-1')).length;
    await writeFile(live(), randomBytes(200_000));
    const broken = driverWith(failing);
    const { snapshot } = await broken.snapshotVolume('web-1', 'wf-2');
    // When the upload fails
    await expect(broken.createBackup('web-1', { onProgress: () => undefined, volumeSnapshotId: snapshot.id })).rejects.toThrow(/disk full/);
    // Then nothing was stored, and the release (what the workflow's make-safe calls) removes the snapshot
    expect(await broken.listSnapshots('web-1')).toHaveLength(before);
    expect(await broken.releaseVolumeSnapshots('web-1')).toEqual(['hvctl-bak-web-1']);
    expect(await broken.listVolumeSnapshots()).toEqual([]);
    await expect(stat(device())).rejects.toThrow(/ENOENT/);
    // And the next run takes a new snapshot and stores it
    const driver = driverWith(RESTIC);
    const again = await driver.snapshotVolume('web-1', 'wf-3');
    const stored = await driver.createBackup('web-1', { onProgress: () => undefined, volumeSnapshotId: again.snapshot.id });
    expect(stored.checksum).toBe(await treeChecksum(live()));
    expect(await driver.releaseVolumeSnapshots('web-1')).toEqual(['hvctl-bak-web-1']);
    expect(await driver.listSnapshots('web-1')).toHaveLength(before + 1);
  }, 60_000);

  it('refuses a snapshot that lvs no longer lists, uploading nothing', async () => {
    const driver = driverWith(RESTIC);
    await expect(driver.createBackup('web-1', { onProgress: () => undefined, volumeSnapshotId: 'hvctl-bak-web-1' })).rejects.toThrow(/does not exist on msk-1; nothing was uploaded/);
  });
});
