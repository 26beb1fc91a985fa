import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ProcessRunner, type HvctlError } from '@hvctl/common';
import type { BackupProgress__Output } from '@hvctl/proto';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriverChange } from '../../types.js';
import { requireTool } from '../testing/fake-tools.js';
import { RealBackupDriver } from './driver.js';

const RESTIC = '/usr/bin/restic';
const skip = requireTool(RESTIC, 'restic');
const PASSWORD = `pw-${randomBytes(8).toString('hex')}`;

describe.skipIf(skip)(`RealBackupDriver on a temporary restic repository${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let driver: RealBackupDriver;
  const logLines: string[] = [];
  const payload = randomBytes(300_000);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-restic-'));
    await writeFile(join(dir, 'password'), PASSWORD);
    await chmod(join(dir, 'password'), 0o600);
    await mkdir(join(dir, 'sources', 'web-1', 'sub'), { recursive: true });
    await writeFile(join(dir, 'sources', 'web-1', 'disk.img'), payload);
    await writeFile(join(dir, 'sources', 'web-1', 'sub', 'note.txt'), 'hello\n');
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logLines.push(chunk.toString());
        callback();
      },
    });
    const runner = new ProcessRunner({ logger: pino({ level: 'debug' }, sink) });
    driver = new RealBackupDriver({
      runner,
      restic: RESTIC,
      repository: join(dir, 'repo'),
      passwordFile: join(dir, 'password'),
      cacheDir: join(dir, 'cache'),
      node: 'msk-1',
      sourcePath: (vm) => join(dir, 'sources', vm),
      resourceOf: (vm) => `vm-${vm}`,
      restoreRoot: join(dir, 'restore'),
      retention: { keepLast: 1 },
    });
    // Given a repository (init has no JSON in 0.14; the driver does not create repositories)
    await runner.run(RESTIC, { args: ['init'], env: { RESTIC_REPOSITORY: join(dir, 'repo'), RESTIC_PASSWORD_FILE: join(dir, 'password'), RESTIC_CACHE_DIR: join(dir, 'cache') } });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('probes restic and the repository', async () => {
    expect(await driver.probe()).toEqual({ available: true, driver: 'real', detail: expect.stringMatching(/^restic \d+\.\d+\.\d+, repository reachable$/) });
  });

  it('backs up with progress, lists, restores bit-identical, and never shows the password', async () => {
    // When a VM is backed up
    const progress: BackupProgress__Output[] = [];
    const snapshot = await driver.createBackup('web-1', { onProgress: (p) => progress.push(p) });
    expect(snapshot).toMatchObject({ vm: 'web-1', resource: 'vm-web-1', sourceNode: 'msk-1', consistency: 'crash', sizeBytes: payload.length + 6 });
    expect(snapshot.id).toMatch(/^[0-9a-f]{64}$/);
    expect(snapshot.shortId).toBe(snapshot.id.slice(0, 8));
    expect(progress[0]?.phase).toBe('snapshot');
    expect(progress.some((p) => p.phase === 'upload')).toBe(true);
    expect(progress.at(-1)).toMatchObject({ phase: 'release', percent: 100 });
    // Then it is listed, for the VM and in the local repository
    expect((await driver.localSnapshots()).map((s) => s.id)).toEqual([snapshot.id]);
    // And restores bit-identical under the restore root
    const restored = await driver.restore(snapshot.shortId, 'web-1-restored', false);
    expect(restored.snapshot.id).toBe(snapshot.id);
    const copy = await readFile(join(dir, 'restore', 'web-1-restored', dir, 'sources', 'web-1', 'disk.img'));
    expect(copy.equals(payload)).toBe(true);
    expect(restored.bytesRestored).toBe(payload.length + 6);
    // The password never reached a log line, and the repository path only through env
    expect(logLines.join('')).not.toContain(PASSWORD);
    expect(logLines.join('')).toContain('"args":["backup","--json","--host","msk-1"');
  });

  it('refuses restore targets that escape, exist, or are symlinks', async () => {
    const [snapshot] = await driver.listSnapshots('web-1');
    expect(await driver.listSnapshots('other')).toEqual([]);
    await expect(driver.restore(snapshot!.id, '../escape', false)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(driver.restore(snapshot!.id, 'a/b', false)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(driver.restore(snapshot!.id, 'web-1-restored', false)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('not empty') });
    await symlink('/tmp', join(dir, 'restore', 'sneaky'));
    await expect(driver.restore(snapshot!.id, 'sneaky', true)).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('not a plain directory') });
    await expect(driver.restore('deadbeef', 'fresh', false)).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(driver.restore('../x', 'fresh', false)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('fails clearly when there is nothing to back up', async () => {
    await expect(driver.createBackup('nosuch', { onProgress: () => undefined })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringContaining('does not exist') });
  });

  it('forgets with the retention policy, per group, then checks the repository; watch reports the changes', async () => {
    const changes: DriverChange[] = [];
    const unwatch = driver.watch((change) => changes.push(change));
    await driver.poll();
    await writeFile(join(dir, 'sources', 'web-1', 'sub', 'note.txt'), 'changed\n');
    const second = await driver.createBackup('web-1', { onProgress: () => undefined });
    const dry = await driver.forget({ dryRun: true });
    expect(dry).toHaveLength(1);
    expect(dry[0]?.keep).toEqual([second.id]);
    expect(dry[0]?.remove).toHaveLength(1);
    await driver.forget({ prune: true });
    expect((await driver.listSnapshots('web-1')).map((s) => s.id)).toEqual([second.id]);
    expect(await driver.check()).toEqual({ ok: true, message: 'no errors were found' });
    await driver.poll();
    unwatch();
    expect(changes.map((change) => change.change)).toEqual(['snapshot', 'snapshotRemoved']);
    expect(changes[0]?.snapshot?.id).toBe(second.id);
    await expect(driver.forget({ policy: {} })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });

  it('says PERMISSION_DENIED for a wrong password, FAILED_PRECONDITION for a missing repository', async () => {
    await writeFile(join(dir, 'wrong'), 'not-the-password');
    const base = { runner: new ProcessRunner(), restic: RESTIC, node: 'msk-1', sourcePath: (vm: string) => vm, restoreRoot: join(dir, 'restore') };
    const wrong = new RealBackupDriver({ ...base, repository: join(dir, 'repo'), passwordFile: join(dir, 'wrong') });
    await expect(wrong.listSnapshots('')).rejects.toMatchObject({ code: 'PERMISSION_DENIED' });
    expect(await wrong.probe()).toMatchObject({ available: false, detail: expect.stringContaining('refused the password') });
    const missing = new RealBackupDriver({ ...base, repository: join(dir, 'nope'), passwordFile: join(dir, 'password') });
    const error = (await missing.listSnapshots('').catch((caught: unknown) => caught)) as HvctlError;
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.details.nextSteps?.[0]).toContain('restic init');
  });

  it('says UNAVAILABLE, not "create it with restic init", for a repository server that cannot be reached', async () => {
    // Given a rest: repository on a port nothing listens on (restic 0.14 then also asks "Is there a repository …?")
    const base = { runner: new ProcessRunner(), restic: RESTIC, node: 'msk-1', sourcePath: (vm: string) => vm, restoreRoot: join(dir, 'restore'), passwordFile: join(dir, 'password') };
    const unreachable = new RealBackupDriver({ ...base, repository: 'rest:http://127.0.0.1:1/hvctl' });
    // When it is used
    const error = (await unreachable.listSnapshots('').catch((caught: unknown) => caught)) as HvctlError;
    // Then it is reported unreachable, and nothing suggests creating it
    expect(error.code).toBe('UNAVAILABLE');
    expect(error.message).toContain('the backup repository is unreachable');
    expect(error.describe()).not.toContain('create it with');
    expect(await unreachable.probe()).toMatchObject({ available: false, detail: expect.stringContaining('unreachable') });
  });
});
