import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeTempDir, sleep } from '@hvctl/common/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HVCTL = fileURLToPath(new URL('../../bin/hvctl.js', import.meta.url));
const NODES = 1500;

/**
 * `hvctl status --json | jq` on a large cluster: writes to a pipe are asynchronous in
 * Node, so a CLI that calls process.exit() right after console.log delivers only what
 * fits in the pipe buffer (64 KiB) and drops the rest. The cluster here is 1,500 nodes
 * whose agents refuse connections at once (127.0.0.1:1), which makes a ~650 KB report
 * without starting any agent.
 */
describe('hvctl status --json into a pipe', () => {
  let dir: string;
  let clusterPath: string;

  beforeAll(async () => {
    dir = await makeTempDir('hvctl-status-pipe-');
    clusterPath = join(dir, 'cluster.yaml');
    const nodes = Array.from({ length: NODES }, (_, i) => `  - name: node-${i}\n    site: msk\n    address: 127.0.0.1:1\n`).join('');
    await writeFile(clusterPath, `name: pipe-test\nsites:\n  - name: msk\n    kind: main\nnodes:\n${nodes}`);
  });

  afterAll(async () => {
    await removeTempDir(dir);
  });

  it('delivers the whole report to a slow reader before exiting', async () => {
    // Given hvctl writing its JSON report into a real pipe whose reader does not read for a while
    const child = spawn(process.execPath, [HVCTL, '--cluster', clusterPath, 'status', '--json', '--timeout', '10000'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    let exitedWhileStalled = false;
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // When the reader takes the first chunk, then stalls for a second (the pipe fills), then drains it
    const stalled = new Promise<void>((resolve) => {
      child.stdout.once('data', (first: Buffer) => {
        chunks.push(first);
        child.stdout.pause();
        const onExit = (): void => {
          exitedWhileStalled = true;
        };
        child.once('exit', onExit);
        void sleep(1000).then(() => {
          child.off('exit', onExit);
          child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
          child.stdout.resume();
          resolve();
        });
      });
    });
    const code = await exited;
    // (A process that printed nothing never stalls the reader.)
    await Promise.race([stalled, sleep(chunks.length ? 2000 : 0)]);

    // Then the process kept running until everything was written, and the report parses complete
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(exitedWhileStalled).toBe(false);
    const output = Buffer.concat(chunks).toString('utf8');
    expect(output.length).toBeGreaterThan(8 * 65_536);
    const report = JSON.parse(output) as { nodes: { name: string; reachable: boolean }[]; health: { nodesDown: number } };
    expect(report.nodes).toHaveLength(NODES);
    expect(report.health.nodesDown).toBe(NODES);
    expect(report.nodes.at(-1)?.name).toBe(`node-${NODES - 1}`);
  }, 60_000);
});
