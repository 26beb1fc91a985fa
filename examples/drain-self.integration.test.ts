import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const HVCTL = join(ROOT, 'packages/console/bin/hvctl.js');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

describe('examples/drain-self.ts against the lab', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-example-'));
    await run(process.execPath, [HVCTL, 'lab', 'up', '--detach', '--dir', dir], { timeout: 60_000 });
  }, 90_000);

  afterAll(async () => {
    await run(process.execPath, [HVCTL, 'lab', 'down', '--force', '--dir', dir], { timeout: 30_000 });
    await rm(dir, { recursive: true, force: true });
  }, 60_000);

  it('drains the host it talks to, runs the update command, undrains and brings the VMs back', async () => {
    const cluster = await readFile(join(dir, 'cluster.yaml'), 'utf8');
    const address = /name: msk-2\s+site: msk\s+address: (\S+)/.exec(cluster)?.[1];
    expect(address).toBeDefined();
    const status = async (): Promise<{ vms: { name: string; node: string }[] }> =>
      JSON.parse((await run(process.execPath, [HVCTL, 'status', '--json', '--cluster', join(dir, 'cluster.yaml')])).stdout) as { vms: { name: string; node: string }[] };
    const home = (await status()).vms.filter((vm) => vm.node === 'msk-2').map((vm) => vm.name);
    // When the script runs with a harmless "update" (true)
    const { stderr } = await run(TSX, [join(ROOT, 'examples/drain-self.ts'), '--agent', address as string, '--', 'true'], { timeout: 120_000 });
    // Then it drained and undrained (both workflows reported), and the VMs are home again
    expect(stderr).toMatch(/Drain msk-2/i);
    expect(stderr).toMatch(/Undrain msk-2/i);
    expect((await status()).vms.filter((vm) => vm.node === 'msk-2').map((vm) => vm.name)).toEqual(home);
  }, 150_000);
});
