import { readFileSync } from 'node:fs';
import { checkInvariants, type Topology, type VmIntent } from '@hvctl/common';
import { describe, expect, it } from 'vitest';
import { hvctlCheck, noHang, persistent, runChecks, vmIntent, vmListed, workflowsSettled, type CheckJson, type Snapshot, type StatusJson } from './checks.js';

/** `hvctl status --json` captured on a fresh lab (12 VMs), and the same with dns-1 running on msk-2 and spb-2. */
const fixture = (name: string): Topology & StatusJson => JSON.parse(readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8')) as Topology & StatusJson;
const healthy = fixture('status-healthy.json');
const twice = fixture('status-vm-twice.json');
const initialVms = healthy.vms.map((vm) => vm.name);

/** What `hvctl check --json` prints for a topology (the same function, no leases or workflows). */
const checkOf = (topology: Topology): CheckJson => {
  const report = checkInvariants(topology, [], []);
  return { ok: report.violations.length === 0, ...report };
};

const snapshot = (status: Topology & StatusJson, overrides: Partial<Snapshot> = {}): Snapshot => ({ phase: 'round', status, check: checkOf(status), workflows: [], calls: [], initialVms, ...overrides });

describe('runChecks on recorded status JSON', () => {
  it('finds nothing on a healthy lab', () => {
    expect(runChecks(snapshot(healthy))).toEqual([]);
    expect(runChecks(snapshot(healthy, { phase: 'recovered' }))).toEqual([]);
  });

  it('reports a VM running on two nodes as vm-twice, once, with the Primary on both from `check`', () => {
    // Given the split brain of issue #14 (dns-1 running and Primary on msk-2 and spb-2)
    const findings = runChecks(snapshot(twice));
    // Then vm-twice is reported once (by `check` and by our own rule: deduplicated) and so is dual-primary
    expect(findings.filter((finding) => finding.rule === 'vm-twice')).toEqual([{ rule: 'vm-twice', subject: 'dns-1', message: 'dns-1 runs on msk-2 and spb-2', severity: 'violation' }]);
    expect(findings.map((finding) => finding.rule).sort()).toEqual(['dual-primary', 'vm-twice']);
  });

  it('reports a VM that is no longer listed as vm-missing', () => {
    // Given both hosts of db-1 down: the topology forgets it (issue #14 item 7)
    const without = { ...healthy, vms: healthy.vms.filter((vm) => vm.name !== 'db-1') };
    expect(vmListed(snapshot(without))).toEqual([expect.objectContaining({ rule: 'vm-missing', subject: 'db-1', severity: 'violation' })]);
  });

  it('reports a read that printed nothing as read-failed', () => {
    expect(runChecks(snapshot(healthy, { status: undefined, check: undefined })).map((finding) => `${finding.rule}:${finding.subject}`)).toEqual(['read-failed:status', 'read-failed:check']);
  });
});

describe('vmIntent', () => {
  const stoppedWeb = (intent: VmIntent | undefined): Topology & StatusJson => ({
    ...healthy,
    vms: healthy.vms.map((vm) => ({ ...(vm.name === 'web-1' ? { ...vm, state: 'shut off' as const, runningOn: [] } : vm), ...(intent !== undefined ? { intent: vm.name === 'web-1' ? intent : 'running' } : {}) })),
  });

  it('a VM without any intent recorded that runs nowhere is info only', () => {
    expect(vmIntent(snapshot(stoppedWeb(undefined), { phase: 'recovered' }))).toEqual([expect.objectContaining({ rule: 'vm-down-no-intent', subject: 'web-1', severity: 'info' })]);
  });

  it('with intent, a VM intended running that runs nowhere after recovery is a violation; one intended stopped is not', () => {
    expect(vmIntent(snapshot(stoppedWeb('running'), { phase: 'recovered' }))).toEqual([expect.objectContaining({ rule: 'vm-intent', subject: 'web-1', severity: 'violation' })]);
    expect(vmIntent(snapshot(stoppedWeb('stopped'), { phase: 'recovered' }))).toEqual([]);
  });

  it('is not judged right after a round, only after recovery', () => {
    expect(vmIntent(snapshot(stoppedWeb('running')))).toEqual([]);
  });
});

describe('workflowsSettled and noHang', () => {
  it('after recovery, a running workflow is stuck unless orphaned (then resumable, info)', () => {
    const workflows = [
      { id: 'wf-1', state: 'succeeded' },
      { id: 'wf-2', state: 'running', orphaned: false, coordinator: 'spb-1', spec: { kind: 'undrain' } },
      { id: 'wf-3', state: 'running', orphaned: true, coordinator: 'msk-1', spec: { kind: 'drain' } },
    ];
    expect(workflowsSettled(snapshot(healthy, { phase: 'recovered', workflows }))).toEqual([
      expect.objectContaining({ rule: 'workflow-stuck', subject: 'wf-2', severity: 'violation' }),
      expect.objectContaining({ rule: 'workflow-resumable', subject: 'wf-3', severity: 'info' }),
    ]);
    expect(workflowsSettled(snapshot(healthy, { workflows }))).toEqual([]);
  });

  it('reports a CLI that outlived its bound as a hang', () => {
    const calls = [
      { command: 'undrain spb-1 --yes', hung: true, boundMs: 60_000, durationMs: 60_010 },
      { command: 'migrate web-1 --yes', hung: false, boundMs: 30_000, durationMs: 2100 },
    ];
    expect(noHang(snapshot(healthy, { calls }))).toEqual([{ rule: 'hang', subject: 'undrain spb-1 --yes', message: '`hvctl undrain spb-1 --yes` was still running after its bound of 60 s (killed)', severity: 'violation' }]);
  });

  it('passes the rules of `hvctl check` through under their own names', () => {
    const check: CheckJson = { ok: false, violations: [{ rule: 'bgp-without-quorum', subject: '203.0.113.0/24', message: 'msk-1 announces 203.0.113.0/24 but has lost quorum on every resource' }] };
    expect(hvctlCheck(snapshot(healthy, { check }))).toEqual([{ ...check.violations[0], severity: 'violation' }]);
  });

  it('counts an outage as info while faults are in play and as a violation once it outlasts the recovery', () => {
    const outage = { rule: 'intended-running-down', subject: 'web-1', message: 'web-1 is intended running but runs nowhere', severity: 'outage' };
    const check: CheckJson = { ok: false, violations: [outage] };
    expect(hvctlCheck(snapshot(healthy, { check }))).toEqual([{ rule: outage.rule, subject: outage.subject, message: outage.message, severity: 'info' }]);
    expect(hvctlCheck(snapshot(healthy, { check, phase: 'recovered' }))).toEqual([{ rule: outage.rule, subject: outage.subject, message: outage.message, severity: 'violation' }]);
  });
});

describe('persistent', () => {
  it('keeps only what both samples found (a transient state between two heartbeats is not counted)', () => {
    const a = { rule: 'route', subject: 'web-1', message: 'x', severity: 'violation' as const };
    const b = { rule: 'vm-twice', subject: 'dns-1', message: 'y', severity: 'violation' as const };
    expect(persistent([a, b], [{ ...b, message: 'y2' }])).toEqual([{ ...b, message: 'y2' }]);
    expect(persistent([a], [b])).toEqual([]);
  });
});
