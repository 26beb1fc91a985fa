import { chmod, lstat, mkdir, mkdtemp, readFile, readdir, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { ProcessRunner } from '@hvctl/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeToolbox, requireTool, type FakeToolbox } from '../testing/fake-tools.js';
import { RealBackupDriver } from './driver.js';

// Restores of crafted snapshots must write nothing outside their target directory.

const RESTIC = '/usr/bin/restic';
const skip = requireTool(RESTIC, 'restic');

/** Every path under `dir` (not following symlinks) with its content or link target. */
async function tree(dir: string): Promise<Record<string, string>> {
  const result: Record<string, string> = {};
  const walk = async (path: string): Promise<void> => {
    for (const entry of await readdir(path)) {
      const full = join(path, entry);
      const info = await lstat(full);
      if (info.isSymbolicLink()) result[relative(dir, full)] = 'symlink';
      else if (info.isDirectory()) await walk(full);
      else result[relative(dir, full)] = await readFile(full, 'utf8');
    }
  };
  await walk(dir);
  return result;
}

describe.skipIf(skip)(`restores of crafted snapshots stay inside their target${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let outside: string;
  let driver: RealBackupDriver;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-restore-escape-'));
    outside = join(dir, 'outside');
    await mkdir(outside);
    await writeFile(join(outside, 'keep'), 'sentinel\n');
    await writeFile(join(dir, 'password'), 'escape-test-password');
    await chmod(join(dir, 'password'), 0o600);
    const runner = new ProcessRunner();
    const env = { RESTIC_REPOSITORY: join(dir, 'repo'), RESTIC_PASSWORD_FILE: join(dir, 'password'), RESTIC_CACHE_DIR: join(dir, 'cache') };
    await runner.run(RESTIC, { args: ['init'], env });
    // Snapshot "links": the VM's tree holds a symlink d -> outside, and relative and absolute escapes.
    await mkdir(join(dir, 'sources', 'links'), { recursive: true });
    await symlink(outside, join(dir, 'sources', 'links', 'd'));
    await symlink('../../../../../../../../outside-rel', join(dir, 'sources', 'links', 'rel'));
    await writeFile(join(dir, 'sources', 'links', 'disk.img'), 'links-data\n');
    // Snapshot "dir": the same VM's tree where d is a directory holding a file.
    await mkdir(join(dir, 'sources', 'dir', 'd'), { recursive: true });
    await writeFile(join(dir, 'sources', 'dir', 'd', 'x'), 'would-be-written-outside\n');
    driver = new RealBackupDriver({
      runner,
      restic: RESTIC,
      repository: env.RESTIC_REPOSITORY,
      passwordFile: env.RESTIC_PASSWORD_FILE,
      cacheDir: env.RESTIC_CACHE_DIR,
      node: 'msk-1',
      sourcePath: (vm) => join(dir, 'sources', vm),
      restoreRoot: join(dir, 'restore'),
    });
    for (const vm of ['links', 'dir']) ids[vm] = (await driver.createBackup(vm, { onProgress: () => undefined })).id;
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('restores symlinks as symlinks and, restoring over them, never writes through them', async () => {
    const before = await tree(outside);
    await driver.restore(ids['links']!, 'vm-a', false);
    const restored = join(dir, 'restore', 'vm-a', dir, 'sources', 'links');
    expect((await lstat(join(restored, 'd'))).isSymbolicLink()).toBe(true);
    expect((await lstat(join(restored, 'rel'))).isSymbolicLink()).toBe(true);
    // The classic attack: a second snapshot with a directory where the first had a symlink.
    // restic itself writes through the symlink; the driver restores into a fresh directory.
    await driver.restore(ids['dir']!, 'vm-a', true);
    expect(await tree(outside)).toEqual(before);
    expect(await readFile(join(dir, 'restore', 'vm-a', dir, 'sources', 'dir', 'd', 'x'), 'utf8')).toBe('would-be-written-outside\n');
    // Nothing but the target is left in the restore root (no staging or replaced trees).
    expect(await readdir(join(dir, 'restore'))).toEqual(['vm-a']);
    await expect(lstat(join(dir, 'outside-rel'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('restores of snapshots whose recorded paths could escape', () => {
  let box: FakeToolbox;

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-restore-paths-');
    await writeFile(join(box.dir, 'pw'), 'x', { mode: 0o600 });
  });
  afterAll(async () => {
    await box.cleanup();
  });

  it.each([['/srv/../../etc'], ['relative/path'], ['/srv/vm/..'], ['/srv//vm'], ['../up']])('refuses a snapshot recording %j and runs no restore', async (path) => {
    const snapshot = {
      time: '2026-11-23T10:00:00Z',
      tree: 'a'.repeat(64),
      paths: [path],
      hostname: 'msk-1',
      username: 'root',
      tags: ['vm=web-1'],
      id: 'ab'.repeat(32),
      short_id: 'abababab',
    };
    const restic = await box.tool('restic', `case "$1" in snapshots) cat "$STATE/snapshots.json" ;; *) exit 0 ;; esac`);
    await box.set('snapshots.json', JSON.stringify([snapshot]));
    const driver = new RealBackupDriver({
      runner: new ProcessRunner(),
      restic,
      repository: join(box.dir, 'repo'),
      passwordFile: join(box.dir, 'pw'),
      node: 'msk-1',
      sourcePath: (vm) => vm,
      restoreRoot: join(box.dir, 'restore'),
    });
    await expect(driver.restore('abababab', 'web-1-copy', false)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('could land outside') });
    expect((await box.calls()).filter((argv) => argv.includes('restore'))).toEqual([]);
    expect(await readdir(join(box.dir, 'restore'))).toEqual([]);
  });
});
