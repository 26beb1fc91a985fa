import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRunner, silentLogger } from '@hvctl/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { applyRetention } from '../../../backups/retention.js';
import { requireTool } from '../testing/fake-tools.js';
import { treeChecksum } from './checksum.js';
import { RealBackupDriver } from './driver.js';

/**
 * The backup workflow's driver calls against a real temporary restic repository:
 * snapshot (live source, no LVM here), upload with a recorded checksum, restore
 * bit-identical after the source changed, verify (check + sample restore) that notices
 * a checksum mismatch, and retention whose keep/forget sets equal the pure function's.
 */
const RESTIC = '/usr/bin/restic';
const skip = requireTool(RESTIC, 'restic');

describe.skipIf(skip)(`restic round trip for backup workflows${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let driver: RealBackupDriver;
  let env: Record<string, string>;
  const runner = new ProcessRunner({ logger: silentLogger() });
  const original = randomBytes(200_000);

  beforeAll(async () => {
    process.env['TZ'] = 'UTC';
    dir = await mkdtemp(join(tmpdir(), 'hvctl-restic-wf-'));
    await writeFile(join(dir, 'password'), `pw-${randomBytes(6).toString('hex')}`);
    await chmod(join(dir, 'password'), 0o600);
    await mkdir(join(dir, 'sources', 'db-1'), { recursive: true });
    await writeFile(join(dir, 'sources', 'db-1', 'disk.img'), original);
    env = { RESTIC_REPOSITORY: join(dir, 'repo'), RESTIC_PASSWORD_FILE: join(dir, 'password'), RESTIC_CACHE_DIR: join(dir, 'cache'), TZ: 'UTC' };
    await runner.run(RESTIC, { args: ['init'], env });
    driver = new RealBackupDriver({
      runner,
      restic: RESTIC,
      repository: env['RESTIC_REPOSITORY'] as string,
      passwordFile: join(dir, 'password'),
      cacheDir: join(dir, 'cache'),
      node: 'msk-1',
      sourcePath: (vm) => join(dir, 'sources', vm),
      restoreRoot: join(dir, 'restore'),
    });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('snapshots, uploads with a checksum, restores bit-identical after the source changed, and verifies', async () => {
    // Given the volume snapshot step (no LVM configured: the live path, crash-consistent)
    const { snapshot: volume, freezeDetail } = await driver.snapshotVolume('db-1', 'wf-test');
    expect(volume).toMatchObject({ id: 'live-db-1', consistency: 'crash' });
    expect(freezeDetail).toMatch(/no volume snapshots configured/);
    // When it is uploaded
    const stored = await driver.createBackup('db-1', { onProgress: () => undefined, volumeSnapshotId: volume.id });
    expect(stored.checksum).toBe(await treeChecksum(join(dir, 'sources', 'db-1')));
    expect(stored.durationMs).toBeGreaterThan(0);
    expect(await driver.releaseVolumeSnapshots('db-1')).toEqual([]);
    // And the source changes afterwards
    await writeFile(join(dir, 'sources', 'db-1', 'disk.img'), randomBytes(200_000));
    // Then a restore brings back the bytes as they were, and says so by checksum
    const restored = await driver.restore(stored.shortId, 'db-1-copy', false);
    expect(restored.checksum).toBe(stored.checksum);
    const copy = await readFile(join(dir, 'restore', 'db-1-copy', dir, 'sources', 'db-1', 'disk.img'));
    expect(copy.equals(original)).toBe(true);
    // And verify passes: restic check and a sample restore with the same checksum
    const verified = await driver.verify(1);
    expect(verified.ok).toBe(true);
    expect(verified.checkMessage).toMatch(/no errors were found/);
    expect(verified.samples[0]).toMatchObject({ ok: true, restoredChecksum: stored.checksum });
    expect((await readdir(join(dir, 'restore'))).filter((name) => name.startsWith('verify-') || name.startsWith('.'))).toEqual([]);
  });

  it('verify fails when restored data does not match the recorded checksum', async () => {
    // Given the snapshot's recorded checksum no longer matches its data (as after silent damage)
    const [snapshot] = await driver.listSnapshots('db-1');
    const tags = `hvctl,vm=db-1,resource=db-1,consistency=crash,size=1,checksum=sha256:${'0'.repeat(64)}`;
    await runner.run(RESTIC, { args: ['tag', '--set', tags, '--', snapshot?.id ?? ''], env });
    // Then verify reports the sample as bad, though restic check passes
    const verified = await driver.verify(1);
    expect(verified.checkMessage).toMatch(/no errors were found/);
    expect(verified.ok).toBe(false);
    expect(verified.samples[0]).toMatchObject({ ok: false, detail: 'restored data differs from the recorded checksum' });
  });

  it('retention keeps and forgets exactly what the pure policy function says', async () => {
    // Given 24 snapshots of vm "ret" over 5 weeks at irregular times
    await mkdir(join(dir, 'sources', 'ret'), { recursive: true });
    await writeFile(join(dir, 'sources', 'ret', 'f'), 'x');
    const times: string[] = [];
    for (let day = 0; day < 35; day += day < 10 ? 1 : 3) times.push(new Date(Date.UTC(2026, 0, 1 + day, (day * 7) % 24, 15)).toISOString());
    times.push('2026-01-01T23:59:00.000Z');
    for (const time of times) {
      await runner.run(RESTIC, { args: ['backup', '--json', '--host', 'msk-1', '--time', time.replace('T', ' ').slice(0, 19), '--tag', 'hvctl,vm=ret', '--', join(dir, 'sources', 'ret')], env, timeoutMs: 60_000 });
    }
    const listed = await driver.listSnapshots('ret');
    expect(listed).toHaveLength(times.length);
    const policy = { keepLast: 2, keepDaily: 5, keepWeekly: 3, keepMonthly: 2 };
    // When restic forgets (dry run) for the VM
    const result = await driver.applyRetention('ret', policy, { dryRun: true, prune: false });
    // Then its sets equal the pure function's
    const expected = applyRetention(listed.map((s) => ({ id: s.id, timeUnixMs: Number(s.timeUnixMs) })), policy);
    expect([...result.kept].sort()).toEqual([...expected.keep].sort());
    expect([...result.forgotten].sort()).toEqual([...expected.forget].sort());
    expect(expected.forget.length).toBeGreaterThan(5);
    // And a real run forgets them
    await driver.applyRetention('ret', policy, { dryRun: false, prune: false });
    expect((await driver.listSnapshots('ret')).map((s) => s.id).sort()).toEqual([...expected.keep].sort());
  }, 120_000);
});
