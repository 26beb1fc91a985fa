import { readFile } from 'node:fs/promises';
import { afterEach, describe, expect, it } from 'vitest';
import parsePrometheusTextFormat, { type ParsedFamily } from 'parse-prometheus-text-format';
import type { GetInfoResponse__Output } from '@hvctl/proto';
import { deadline, unary } from '@hvctl/common';
import { buildSeeds, Lab, type LabNodeSpec } from '../testing/harness.js';

/**
 * A scrape of real agents' metrics endpoints (simulated drivers, known state) parsed by a
 * Prometheus text-format parser: vm-a runs on msk-1 (Primary) with its peer on spb-1;
 * bak-1 holds one backup of vm-a made at a known time.
 */
const NODES: LabNodeSpec[] = [
  { name: 'msk-1', site: 'msk' },
  { name: 'spb-1', site: 'spb' },
  { name: 'bak-1', site: 'bak', siteKind: 'backup' },
];
const BACKUP_AT_MS = Date.UTC(2026, 0, 2, 3, 4, 5);

let lab: Lab | undefined;
afterEach(async () => {
  await lab?.close();
  lab = undefined;
});

async function scrape(node: string, path = '/metrics'): Promise<{ status: number; text: string; type: string }> {
  const response = await fetch(`http://127.0.0.1:${lab?.node(node).agent?.metricsPort ?? 0}${path}`);
  return { status: response.status, text: await response.text(), type: response.headers.get('content-type') ?? '' };
}

function value(families: readonly ParsedFamily[], name: string, labels: Record<string, string>): number | undefined {
  const family = families.find((candidate) => candidate.name === name);
  const sample = family?.metrics.find((metric) => Object.entries(labels).every(([key, expected]) => metric.labels?.[key] === expected));
  return sample?.value === undefined ? undefined : Number(sample.value);
}

describe('metrics endpoint', () => {
  it('serves Prometheus text that a parser reads, with the series of a known state', async () => {
    const seeds = buildSeeds(NODES.map((node) => node.name), [{ name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' }], 'bak-1');
    seeds['bak-1']?.repository?.snapshots.push({
      id: 'ab'.repeat(32),
      shortId: 'abababab',
      vm: 'vm-a',
      resource: 'vm-a',
      sourceNode: 'msk-1',
      timeUnixMs: BACKUP_AT_MS,
      sizeBytes: 123_456_789,
      consistency: 'application',
      checksum: '',
      durationMs: 4500,
    });
    lab = await Lab.start({ nodes: NODES, seeds, metrics: true });
    await lab.waitAllConnected();
    // Given two calls answered by msk-1
    for (let i = 0; i < 2; i += 1) await unary<GetInfoResponse__Output>('GetInfo', (cb) => lab?.client('msk-1').node.getInfo({}, deadline(2000), cb));

    // When msk-1 and bak-1 are scraped
    const msk = await scrape('msk-1');
    expect(msk.status).toBe(200);
    expect(msk.type).toMatch(/^text\/plain; version=0.0.4/);
    const families = parsePrometheusTextFormat(msk.text);

    // Then the node, DRBD, VM and RPC series say what the simulation holds
    expect(families.find((family) => family.name === 'hvctl_node_up')?.type).toBe('GAUGE');
    expect(value(families, 'hvctl_node_up', { node: 'msk-1', site: 'msk' })).toBe(1);
    expect(value(families, 'hvctl_node_cordoned', { node: 'msk-1' })).toBe(0);
    expect(value(families, 'hvctl_drbd_resource_role', { node: 'msk-1', resource: 'vm-a', role: 'Primary' })).toBe(1);
    expect(value(families, 'hvctl_drbd_resource_role', { node: 'msk-1', resource: 'vm-a', role: 'Secondary' })).toBe(0);
    expect(value(families, 'hvctl_drbd_disk_state', { node: 'msk-1', resource: 'vm-a', state: 'UpToDate' })).toBe(1);
    expect(value(families, 'hvctl_drbd_connection_state', { node: 'msk-1', resource: 'vm-a', peer: 'spb-1', state: 'Connected' })).toBe(1);
    expect(value(families, 'hvctl_drbd_out_of_sync_bytes', { node: 'msk-1', resource: 'vm-a', peer: 'spb-1' })).toBe(0);
    expect(value(families, 'hvctl_vm_running', { node: 'msk-1', vm: 'vm-a' })).toBe(1);
    expect(value(families, 'hvctl_vm_state', { node: 'msk-1', vm: 'vm-a', state: 'running' })).toBe(1);
    expect(families.find((family) => family.name === 'hvctl_rpc_requests_total')?.type).toBe('COUNTER');
    expect(value(families, 'hvctl_rpc_requests_total', { node: 'msk-1', method: '/hvctl.v1.NodeService/GetInfo', code: 'OK' })).toBeGreaterThanOrEqual(2);
    expect(families.some((family) => family.name === 'process_cpu_user_seconds_total')).toBe(true);
    expect(families.some((family) => family.name === 'nodejs_eventloop_lag_p99_seconds')).toBe(true);

    // And the VM is defined but not running on its peer
    const spb = parsePrometheusTextFormat((await scrape('spb-1')).text);
    expect(value(spb, 'hvctl_vm_running', { node: 'spb-1', vm: 'vm-a' })).toBe(0);
    expect(value(spb, 'hvctl_drbd_resource_role', { node: 'spb-1', resource: 'vm-a', role: 'Secondary' })).toBe(1);

    // And the repository node reports the last backup
    const bak = parsePrometheusTextFormat((await scrape('bak-1')).text);
    expect(value(bak, 'hvctl_backup_last_success_timestamp_seconds', { vm: 'vm-a' })).toBe(BACKUP_AT_MS / 1000);
    expect(value(bak, 'hvctl_backup_last_size_bytes', { vm: 'vm-a' })).toBe(123_456_789);
    expect(value(bak, 'hvctl_backup_last_duration_seconds', { vm: 'vm-a' })).toBe(4.5);
    expect(value(bak, 'hvctl_backup_snapshots', { vm: 'vm-a' })).toBe(1);

    // And nothing but GET /metrics is served
    expect((await scrape('msk-1', '/')).status).toBe(404);
    expect((await scrape('msk-1', '/metrics/../debug')).status).toBe(404);
    const post = await fetch(`http://127.0.0.1:${lab.node('msk-1').agent?.metricsPort ?? 0}/metrics`, { method: 'POST' });
    expect(post.status).toBe(404);

    // And docs/metrics.md names every hvctl_ metric the agent registers
    const doc = await readFile(new URL('../../../../docs/metrics.md', import.meta.url), 'utf8');
    const names = [...new Set([...families, ...bak].map((family) => family.name).filter((name) => name.startsWith('hvctl_')))];
    expect(names.length).toBeGreaterThan(10);
    for (const name of names) expect(doc, `docs/metrics.md lacks ${name}`).toContain(`\`${name}\``);
  }, 30_000);
});
