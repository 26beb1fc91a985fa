import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CordonResponse__Output, UncordonResponse__Output } from '@hvctl/proto';
import { createAgentClient, deadline, unary, type AuditRecord } from '@hvctl/common';
import { labDown, labUp } from '../lab/lab.js';
import { labClusterPath } from '../lab/state.js';
import { EXIT_JOURNAL_BROKEN } from './audit-journal.js';

const HVCTL = fileURLToPath(new URL('../../bin/hvctl.js', import.meta.url));

function hvctl(dir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HVCTL, '--cluster', labClusterPath(dir), ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** The real CLI against the five-process lab. */
describe('hvctl audit against the lab', () => {
  let dir: string;
  const journalOf = (node: string): string => join(dir, 'nodes', node, 'state', 'audit', 'audit.jsonl');

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-audit-'));
    const state = await labUp({ dir, vms: 2 });
    // Given a cordon and an uncordon on msk-1 and on spb-1
    for (const name of ['msk-1', 'spb-1']) {
      const client = createAgentClient(state.nodes.find((node) => node.name === name)!.address);
      try {
        await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ requestId: `audit-cli-${name}`, reason: 'audit test' }, deadline(), cb));
        await unary<UncordonResponse__Output>('Uncordon', (cb) => client.node.uncordon({ requestId: `audit-cli-un-${name}` }, deadline(), cb));
      } finally {
        client.close();
      }
    }
  }, 60_000);

  afterAll(async () => {
    await labDown({ dir, force: true });
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('lists every node\'s records merged by time, as a table and as JSON', async () => {
    // When the journal is read as JSON
    const json = await hvctl(dir, 'audit', '--json');
    expect(json.code, json.stderr).toBe(0);
    const { records, unreachable } = JSON.parse(json.stdout) as { records: AuditRecord[]; unreachable: unknown[] };
    expect(unreachable).toEqual([]);
    // Then both nodes' calls are there, intent before outcome, sorted by time
    const cordons = records.filter((record) => record.request_id?.startsWith('audit-cli-'));
    expect(cordons.map((record) => [record.node, record.request_id, record.kind])).toEqual(
      expect.arrayContaining([
        ['msk-1', 'audit-cli-msk-1', 'intent'],
        ['msk-1', 'audit-cli-msk-1', 'outcome'],
        ['spb-1', 'audit-cli-spb-1', 'intent'],
        ['spb-1', 'audit-cli-spb-1', 'outcome'],
      ]),
    );
    const times = records.map((record) => record.time);
    expect(times).toEqual([...times].sort());
    // And --node and --method narrow the table
    const table = await hvctl(dir, 'audit', '--node', 'msk-1', '--method', 'Uncordon', '--since', '1h');
    expect(table.code, table.stderr).toBe(0);
    const rows = table.stdout.trim().split('\n');
    expect(rows[0]).toMatch(/^TIME\s+NODE\s+SEQ\s+METHOD\s+WHO\s+REQUEST\s+RESULT/);
    expect(rows.slice(1).map((row) => row.split(/\s{2,}/).slice(1, 4))).toEqual([
      ['msk-1', '3', 'NodeService/Uncordon'],
      ['msk-1', '4', 'NodeService/Uncordon'],
    ]);
    // An unknown node is invalid input
    expect((await hvctl(dir, 'audit', '--node', 'nowhere-9')).code).toBe(2);
  });

  it('--verify passes on untouched journals and names the node and seq of an edited line and of a cut tail', async () => {
    // Given untouched journals, verification passes on every node
    const clean = await hvctl(dir, 'audit', '--verify');
    expect(clean.code, clean.stdout + clean.stderr).toBe(0);
    expect(clean.stdout.trim().split('\n')).toHaveLength(5);
    expect(clean.stdout).toContain('msk-1: ok (4 records, head seq 4)');

    // When msk-1's cordon intent (seq 1) has its reason edited
    const msk = await readFile(journalOf('msk-1'), 'utf8');
    expect(msk).toContain('"reason":"audit test"');
    await writeFile(journalOf('msk-1'), msk.replace('"reason":"audit test"', '"reason":"nothing happened"'));
    // And spb-1's last record is cut off
    const spb = (await readFile(journalOf('spb-1'), 'utf8')).split('\n').filter(Boolean);
    await writeFile(journalOf('spb-1'), `${spb.slice(0, -1).join('\n')}\n`);

    // Then --verify exits with its own code and names each node, seq and reason
    const broken = await hvctl(dir, 'audit', '--verify');
    expect(broken.code, broken.stdout + broken.stderr).toBe(EXIT_JOURNAL_BROKEN);
    expect(broken.stdout).toMatch(/^msk-1: BROKEN at seq 1: seq 1 was edited/m);
    expect(broken.stdout).toMatch(/^spb-1: BROKEN at seq 4: truncated/m);
    expect(broken.stdout).toMatch(/^msk-2: ok/m);
    // And --json says the same for scripts
    const json = JSON.parse((await hvctl(dir, 'audit', '--verify', '--json')).stdout) as { ok: boolean; nodes: { node: string; ok: boolean; brokenSeq?: number }[] };
    expect(json.ok).toBe(false);
    expect(json.nodes.filter((node) => !node.ok).map((node) => [node.node, node.brokenSeq])).toEqual([
      ['msk-1', 1],
      ['spb-1', 4],
    ]);
  });
});
