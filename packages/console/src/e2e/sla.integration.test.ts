import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GetReportResponse__Output } from '@hvctl/proto';
import { labDown, labKill, labRestart, labUp } from '../lab/lab.js';
import { LAB_ALERTS_FILE, planLab } from '../lab/plan.js';
import { labClusterPath } from '../lab/state.js';

const HVCTL = fileURLToPath(new URL('../../bin/hvctl.js', import.meta.url));
const VMS = 8;

interface AlertLine {
  readonly id: string;
  readonly status: 'firing' | 'resolved';
  readonly severity: string;
  readonly startsAtUnixMs: number;
  readonly endsAtUnixMs: number;
}

function hvctl(dir: string, ...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HVCTL, '--cluster', labClusterPath(dir), ...args], { timeout: 30_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

async function alerts(dir: string): Promise<AlertLine[]> {
  const text = await readFile(join(dir, LAB_ALERTS_FILE), 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as AlertLine);
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`timed out; last value: ${JSON.stringify(value).slice(0, 1500)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

describe('the watcher on bak-1: alerts and SLA after a node is killed', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-sla-'));
    await labUp({ dir, vms: VMS, autopilot: 'off' });
  }, 60_000);

  afterAll(async () => {
    await labDown({ dir, force: true });
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('fires the node-unreachable hook on a kill, resolves it on restart, and reports the outage with its credit', async () => {
    const msk1Vms = Object.entries(planLab({ vms: VMS, ports: { grpc: {}, link: {} } }).vms)
      .filter(([, home]) => home === 'msk-1')
      .map(([vm]) => vm)
      .sort();
    expect(msk1Vms.length).toBeGreaterThan(0);

    // Given a healthy lab; When msk-1 is killed (kill -9: host crash)
    const killedAt = Date.now();
    await labKill(dir, 'msk-1');
    // Then the hook appends one firing node-unreachable record, after the lab's 5 s threshold
    const fired = await waitFor(() => alerts(dir), (lines) => lines.some((line) => line.id === 'node-unreachable/msk-1'), 20_000);
    const firing = fired.filter((line) => line.id === 'node-unreachable/msk-1');
    expect(firing).toHaveLength(1);
    expect(firing[0]).toMatchObject({ status: 'firing', severity: 'critical', endsAtUnixMs: 0 });
    expect(firing[0]?.startsAtUnixMs).toBeGreaterThanOrEqual(killedAt + 4000);

    // When msk-1 comes back; Then the hook gets exactly one resolved record
    await labRestart(dir, 'msk-1');
    const resolved = await waitFor(() => alerts(dir), (lines) => lines.some((line) => line.id === 'node-unreachable/msk-1' && line.status === 'resolved'), 25_000);
    expect(resolved.filter((line) => line.id === 'node-unreachable/msk-1').map((line) => line.status)).toEqual(['firing', 'resolved']);

    // When a script asks for this month's SLA report
    const now = new Date();
    const month = `${now.getUTCFullYear()}-${String(now.getUTCMonth() + 1).padStart(2, '0')}`;
    const result = await hvctl(dir, 'sla', '--month', month, '--json');
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as GetReportResponse__Output;
    expect(report).toMatchObject({ month, watcher: 'bak-1', final: false });
    const rule = report.rule as NonNullable<GetReportResponse__Output['rule']>;
    expect(rule).toMatchObject({ guaranteePercent: 99.5, creditMinutesPerMinuteShort: 2 });

    // Then msk-1's VMs were down (they crashed with their host: still down, nothing restarted them),
    // and every other VM was never down
    const elapsedMinutes = (Date.now() - killedAt) / 60_000;
    for (const vm of report.vms) {
      if (msk1Vms.includes(vm.vm)) {
        expect(vm.downMinutes, vm.vm).toBeGreaterThan(0);
        expect(vm.downMinutes, vm.vm).toBeLessThanOrEqual(elapsedMinutes);
        expect(vm.site).toBe('msk');
      } else {
        expect(vm.downMinutes, vm.vm).toBe(0);
      }
      // And the credit follows the rule from the reported minutes
      const allowed = ((100 - rule.guaranteePercent) / 100) * vm.countedMinutes;
      const short = Math.max(0, Math.ceil(vm.downMinutes - allowed - 1e-9));
      expect(vm.allowedDownMinutes).toBeCloseTo(allowed, 6);
      expect(vm.minutesShort).toBe(short);
      expect(vm.creditMinutes).toBe(short * rule.creditMinutesPerMinuteShort);
      expect(vm.availabilityPercent).toBeCloseTo(((vm.countedMinutes - vm.downMinutes) / vm.countedMinutes) * 100, 9);
    }
    expect(report.vms.map((vm) => vm.vm).sort()).toHaveLength(VMS);
    const msk = report.sites.find((site) => site.site === 'msk');
    expect(msk?.downMinutes).toBeCloseTo(report.vms.filter((vm) => msk1Vms.includes(vm.vm)).reduce((sum, vm) => sum + vm.downMinutes, 0), 9);

    // And the human report names the VMs and the rule
    const text = await hvctl(dir, 'sla', '--vm', msk1Vms[0] as string);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain('rule: 99.5% a month, 2 min of credit per minute short');
    expect(text.stdout).toContain(msk1Vms[0]);
  }, 60_000);
});
