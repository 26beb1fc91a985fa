import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentClient, deadline, unary, type HvctlError, type Topology } from '@hvctl/common';
import { labDown, labUp } from './lab.js';
import { LAB_ADMIN } from './tls.js';
import { labClusterPath, readLabState } from './state.js';

const run = promisify(execFile);
const HVCTL = fileURLToPath(new URL('../../bin/hvctl.js', import.meta.url));

describe('the lab in --tls mode', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-lab-tls-'));
    await labUp({ dir, vms: 4, tls: true });
  }, 60_000);
  afterAll(async () => {
    await labDown({ dir, force: true });
    await rm(dir, { recursive: true, force: true });
  });

  it('serves status and a migration over mutual TLS, and refuses plaintext and viewers', async () => {
    const cluster = ['--cluster', labClusterPath(dir)];
    // Given the lab's admin certificate in the cluster file, When status runs
    const { stdout } = await run(process.execPath, [HVCTL, 'status', '--json', ...cluster], { timeout: 20_000 });
    const topology = JSON.parse(stdout) as Topology;
    // Then every agent answers over TLS
    expect(topology.nodes.filter((node) => node.reachable).map((node) => node.name).sort()).toEqual(['bak-1', 'msk-1', 'msk-2', 'spb-1', 'spb-2']);
    const vm = topology.vms[0];
    expect(vm).toBeDefined();

    // When an admin migrates a VM (the coordinator drives the other agents with its node certificate)
    const migrated = await run(process.execPath, [HVCTL, 'migrate', vm?.name as string, '--yes', '--json', ...cluster], { timeout: 60_000 });
    // Then the workflow's owner is the certificate's name, whatever the client claimed
    const result = JSON.parse(migrated.stdout.trim().split('\n').at(-1) as string) as { event: string; workflow: { owner: string; state: string } };
    expect(result).toMatchObject({ event: 'result', workflow: { owner: LAB_ADMIN } });
    const after = JSON.parse((await run(process.execPath, [HVCTL, 'status', '--json', ...cluster], { timeout: 20_000 })).stdout) as Topology;
    expect(after.vms.find((candidate) => candidate.name === vm?.name)?.node).not.toBe(vm?.node);

    // And a plaintext client is refused at the connection (UNAVAILABLE), changing nothing
    const node = (await readLabState(dir))?.nodes[0];
    const plaintext = createAgentClient(node?.address as string);
    try {
      const error = await unary('GetInfo', (cb) => plaintext.node.getInfo({}, deadline(2000), cb)).then(() => undefined, (caught: HvctlError) => caught);
      expect(error?.code).toBe('UNAVAILABLE');
    } finally {
      plaintext.close();
    }

    // And a viewer may look but not migrate (exit 1, PERMISSION_DENIED naming the role)
    await run(process.execPath, [HVCTL, 'certs', 'issue', 'vic', '--role', 'viewer', '--dir', join(dir, 'ca')]);
    const viewer = ['--cert', join(dir, 'ca', 'issued', 'vic.crt'), '--key', join(dir, 'ca', 'issued', 'vic.key')];
    const refused = await run(process.execPath, [HVCTL, 'migrate', vm?.name as string, '--yes', ...cluster, ...viewer], { timeout: 30_000 }).then(
      () => undefined,
      (error: { code: number; stderr: string }) => error,
    );
    expect(refused?.code).toBe(1);
    expect(refused?.stderr).toMatch(/needs the operator role/);
  }, 120_000);
});
