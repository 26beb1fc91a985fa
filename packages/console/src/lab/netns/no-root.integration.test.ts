import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const HVCTL = fileURLToPath(new URL('../../../bin/hvctl.js', import.meta.url));
const SETPRIV = '/usr/bin/setpriv';
/** `nobody`/`nogroup` on Debian. */
const NOBODY = '65534';

/** Why this test cannot run here (it drops from root to nobody with setpriv); in CI that is an error. */
function cannotRun(): string | undefined {
  const reason = process.getuid?.() !== 0 ? 'needs root to drop to nobody' : !existsSync(SETPRIV) ? `needs ${SETPRIV} (util-linux)` : undefined;
  if (reason && process.env['CI']) throw new Error(`CI: ${reason}`);
  return reason;
}

describe.skipIf(cannotRun())('hvctl lab up --netns without root', () => {
  let parent: string;
  beforeAll(async () => {
    parent = await mkdtemp(join(tmpdir(), 'hvctl-noroot-'));
    // nobody may look inside; the lab directory itself does not exist yet.
    await chmod(parent, 0o755);
  });
  afterAll(async () => {
    await rm(parent, { recursive: true, force: true });
  });

  it('exits 3 (refused by a precondition), says why and what to do, and creates nothing', async () => {
    const dir = join(parent, 'lab');
    // When nobody runs `hvctl lab up --netns`
    const refused = await run(SETPRIV, ['--reuid', NOBODY, '--regid', NOBODY, '--clear-groups', process.execPath, HVCTL, 'lab', 'up', '--netns', '--detach', '--dir', dir], {
      timeout: 30_000,
      env: { ...process.env, HOME: parent },
    }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    // Then it exits with the precondition code, naming root, sudo and the simulated lab
    expect(refused?.code).toBe(3);
    expect(refused?.stderr).toMatch(/needs root/);
    expect(refused?.stderr).toMatch(/sudo npx hvctl lab up --netns/);
    expect(refused?.stderr).toMatch(/nothing was created/);
    // And nothing was created
    expect(await readdir(parent)).toEqual([]);
  });
});
