import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatClusterFile, loadClusterFile, parseBackupsSection } from '@hvctl/common';
import { labDown, labUp } from '../lab/lab.js';
import { labClusterPath, readLabState } from '../lab/state.js';
import type { BackupRow } from '../cli/backup-command.js';

const HVCTL = fileURLToPath(new URL('../../bin/hvctl.js', import.meta.url));

function hvctl(dir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HVCTL, '--cluster', labClusterPath(dir), ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function backups(dir: string, vm: string): Promise<BackupRow[]> {
  const result = await hvctl(dir, 'backups', vm, '--json');
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as BackupRow[];
}

/**
 * Issue 7's lab "done when" for backups and metrics: a schedule in the cluster file makes
 * bak-1 run backups of every VM where it is Primary; a restore --as brings the data back
 * identical (in the simulation: the volume's content checksum); verify passes, and fails
 * (exit 6) once `lab fault corrupt-backup` damaged a stored backup; an agent's metrics
 * endpoint is scrapeable.
 */
describe('scheduled backups, restore and metrics in the lab', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-bak-'));
    // Two VMs (web-1 on msk-1, db-1 on spb-1): the scheduler backs a policy's VMs up one after another, so each VM's
    // turn comes after the others' uploads; with four, web-1's second backup could take most of the 40 s below.
    await labUp({ dir, vms: 2 });
  }, 60_000);

  afterAll(async () => {
    await labDown({ dir });
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('runs scheduled backups, restores identical, verifies, and serves metrics', async () => {
    // Given a policy backing up every VM every 3 seconds, keeping the last 3
    const cluster = await loadClusterFile(labClusterPath(dir));
    const backupsSection = parseBackupsSection({ policies: [{ name: 'lab-fast', vms: ['*'], schedule: '*/3 * * * * *', retention: { keepLast: 3 }, maxAge: '1h' }] });
    await writeFile(labClusterPath(dir), formatClusterFile({ ...cluster, backups: backupsSection }));
    const startedMs = Date.now();

    // Then bak-1 picks it up and scheduled backups of web-1 appear, made where it is Primary
    const until = Date.now() + 40_000;
    let rows: BackupRow[] = [];
    while (Date.now() < until) {
      rows = (await backups(dir, 'web-1')).filter((row) => row.timeUnixMs >= startedMs);
      if (rows.length >= 2) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(rows.length, JSON.stringify(rows)).toBeGreaterThanOrEqual(2);
    expect(rows.every((row) => row.sourceNode === 'msk-1' && row.checksum.startsWith('sha256:'))).toBe(true);
    // And retention keeps at most 3 (plus none of the seeded one, which is older)
    await new Promise((resolve) => setTimeout(resolve, 4000));
    expect((await backups(dir, 'web-1')).length).toBeLessThanOrEqual(3);

    // When the newest backup is restored as a new resource on its peer
    const [newest] = await backups(dir, 'web-1');
    const restored = await hvctl(dir, 'restore', 'web-1', '--snapshot', newest?.shortId ?? '', '--to', 'spb-1', '--as', 'web-1-restored', '--json');
    // Then the restored data is identical to the backup
    expect(restored.code, restored.stderr).toBe(0);
    const result = JSON.parse(restored.stdout) as { identical: boolean; checksum: string; targetResource: string };
    expect(result).toMatchObject({ identical: true, checksum: newest?.checksum, targetResource: 'web-1-restored' });
    // And restoring over the VM's own resource without --overwrite changes nothing
    const refused = await hvctl(dir, 'restore', 'web-1', '--snapshot', newest?.shortId ?? '', '--to', 'msk-1');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/without --as would write over its resource; nothing was changed/);

    // And a backup on demand runs as a workflow on the VM's node (the schedule removed first:
    // while a scheduled backup of db-1 runs, an on-demand one is refused by its lease)
    await writeFile(labClusterPath(dir), formatClusterFile(cluster));
    await new Promise((resolve) => setTimeout(resolve, 8000));
    const now = await hvctl(dir, 'backup', 'db-1', '--yes', '--json');
    expect(now.code, now.stderr).toBe(0);
    const events = now.stdout.trim().split('\n').map((line) => JSON.parse(line) as { event: string; coordinator?: string; workflow?: { state: string } });
    expect(events.find((event) => event.event === 'plan')?.coordinator).toBe('spb-1');
    expect(events.at(-1)).toMatchObject({ event: 'result', workflow: { state: 'succeeded' } });

    // And verify passes
    const verify = await hvctl(dir, 'backup', 'verify', '--sample', '2', '--json');
    expect(verify.code, verify.stdout + verify.stderr).toBe(0);
    expect(JSON.parse(verify.stdout)).toMatchObject({ ok: true, node: 'bak-1' });

    // When a lab fault damages the stored data of web-1's newest backup
    const [latest] = await backups(dir, 'web-1');
    const fault = await hvctl(dir, 'lab', 'fault', 'corrupt-backup', 'web-1', '--dir', dir);
    expect(fault.code, fault.stderr).toBe(0);
    expect(fault.stdout).toContain(`damaged the stored data of snapshot ${latest?.shortId ?? '?'} of web-1`);
    // Then verify fails with exit 6, naming the damaged snapshot and why
    const damaged = await hvctl(dir, 'backup', 'verify', '--sample', '10');
    expect(damaged.code, damaged.stdout + damaged.stderr).toBe(6);
    expect(damaged.stdout).toMatch(/1 snapshot\(s\) reference damaged pack data/);
    expect(damaged.stdout).toContain(`FAIL ${latest?.shortId ?? '?'} web-1: restored data differs from the recorded checksum`);
    expect(damaged.stdout).toContain('Verification FAILED');
    // And a fault naming a VM without backups damages nothing and says so
    const none = await hvctl(dir, 'lab', 'fault', 'corrupt-backup', 'no-such-vm', '--dir', dir);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toMatch(/no backup of no-such-vm in the repository on bak-1; nothing was damaged/);

    // And the metrics endpoint of bak-1 is scrapeable and reports web-1's last backup
    const state = await readLabState(dir);
    const bak = state?.nodes.find((node) => node.name === 'bak-1');
    expect(bak?.metrics).toMatch(/^127\.0\.0\.1:\d+$/);
    // (the agent's metrics test parses a scrape with a Prometheus text-format parser; here: the lab serves one)
    const scrape = await fetch(`http://${bak?.metrics ?? ''}/metrics`);
    expect(scrape.status).toBe(200);
    const text = await scrape.text();
    expect(text).toContain('# TYPE hvctl_backup_last_success_timestamp_seconds gauge');
    const seconds = /^hvctl_backup_last_success_timestamp_seconds\{vm="web-1"\} (\S+)$/m.exec(text)?.[1];
    expect(Number(seconds)).toBeGreaterThanOrEqual(Math.floor(startedMs / 1000));
    expect(await readFile(join(dir, 'nodes', 'bak-1', 'agent.yaml'), 'utf8')).toContain('metrics:');
  }, 120_000);
});
