import { randomBytes } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { ProcessRunner, type HvctlError } from '@hvctl/common';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fakeToolbox, type FakeToolbox } from '../testing/fake-tools.js';
import { parseRealConfig } from '../config.js';
import { RealBackupDriver } from './driver.js';

/** A fake restic that writes its environment to $STATE/env.txt; `snapshots` fails saying the secret key (as a backend error might). */
const FAKE_RESTIC = `env > "$STATE/env.txt"
case "$1" in
  version) echo 'restic 0.14.0 compiled with go1.19.8 on linux/amd64' ;;
  cat) echo '{}' ;;
  snapshots) echo "Fatal: unable to open repository: s3 said: signature mismatch for key $AWS_SECRET_ACCESS_KEY" >&2; exit 1 ;;
  *) exit 1 ;;
esac`;

// restic backends read their credentials from the environment (s3: AWS_*, b2: B2_*, rest:
// RESTIC_REST_USERNAME/PASSWORD, a private CA: RESTIC_CACERT); the runner passes only a
// fixed few variables, so the backup area names what else restic gets.
describe('restic environment from backup.env and backup.envFile', () => {
  let box: FakeToolbox;
  let driver: RealBackupDriver;
  const logLines: string[] = [];
  const secret = `secret-${randomBytes(8).toString('hex')}`;
  const b2Key = `b2key-${randomBytes(8).toString('hex')}`;
  const saved = { ...process.env };
  const env = async (): Promise<Map<string, string>> =>
    new Map(
      (await readFile(join(box.dir, 'env.txt'), 'utf8'))
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as [string, string]),
    );

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-restic-env-');
    process.env['AWS_ACCESS_KEY_ID'] = 'AKIAEXAMPLEKEYID';
    process.env['AWS_SECRET_ACCESS_KEY'] = secret;
    process.env['HVCTL_TEST_NOT_NAMED'] = 'must-not-arrive';
    await writeFile(join(box.dir, 'restic.env'), `# b2 credentials\nB2_ACCOUNT_ID=0012ab\nexport B2_ACCOUNT_KEY="${b2Key}"\n\n`);
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        logLines.push(chunk.toString());
        callback();
      },
    });
    driver = new RealBackupDriver({
      runner: new ProcessRunner({ logger: pino({ level: 'debug' }, sink) }),
      restic: await box.tool('restic', FAKE_RESTIC),
      repository: 's3:s3.example.net/hvctl',
      passwordFile: join(box.dir, 'pw'),
      passEnv: ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_DEFAULT_REGION'],
      envFile: join(box.dir, 'restic.env'),
      node: 'msk-1',
      sourcePath: (vm) => join(box.dir, vm),
      restoreRoot: join(box.dir, 'restore'),
    });
  });
  afterAll(async () => {
    process.env = saved;
    await box.cleanup();
  });

  it('passes the named variables and the env file to restic, and nothing else of the agent', async () => {
    // When restic runs
    await driver.probe();
    const seen = await env();
    // Then it got the named variables that are set, and the env file's
    expect(seen.get('AWS_ACCESS_KEY_ID')).toBe('AKIAEXAMPLEKEYID');
    expect(seen.get('AWS_SECRET_ACCESS_KEY')).toBe(secret);
    expect(seen.get('B2_ACCOUNT_ID')).toBe('0012ab');
    expect(seen.get('B2_ACCOUNT_KEY')).toBe(b2Key);
    expect(seen.get('RESTIC_REPOSITORY')).toBe('s3:s3.example.net/hvctl');
    // And nothing the config does not name (an unset named one is simply absent)
    expect(seen.has('HVCTL_TEST_NOT_NAMED')).toBe(false);
    expect(seen.has('AWS_DEFAULT_REGION')).toBe(false);
  });

  it('keeps the values out of errors and logs, even when restic prints them', async () => {
    const error = (await driver.listSnapshots('').catch((caught: unknown) => caught)) as HvctlError;
    expect(error.message).toContain('signature mismatch for key [redacted]');
    const everything = `${error.message}\n${error.describe()}\n${logLines.join('')}`;
    for (const value of [secret, b2Key]) expect(everything).not.toContain(value);
  });

  it('refuses an env file line that is not NAME=value, naming the line but not its content, and runs nothing', async () => {
    await writeFile(join(box.dir, 'restic.env'), `B2_ACCOUNT_ID=0012ab\n${b2Key}\n`);
    await writeFile(join(box.dir, 'env.txt'), '');
    const error = (await driver.listSnapshots('').catch((caught: unknown) => caught)) as HvctlError;
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toBe(`backup.envFile ${join(box.dir, 'restic.env')}, line 2: it is not NAME=value; restic was not run`);
    expect(await readFile(join(box.dir, 'env.txt'), 'utf8')).toBe('');
  });

  it('refuses in the config a name the agent sets itself, or that is no name', () => {
    const parse = (env: unknown): unknown =>
      parseRealConfig({ backup: { env } }, (path) => path, (message) => {
        throw new Error(message);
      });
    expect(() => parse(['RESTIC_PASSWORD'])).toThrow('backup.env: RESTIC_PASSWORD is set by the agent itself');
    expect(() => parse(['A B'])).toThrow('backup.env: "A B" is not an environment variable name');
    expect(() => parse('AWS_ACCESS_KEY_ID')).toThrow('backup.env must be a list');
  });
});
