import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { HvctlError, ProcessRunner } from '@hvctl/common';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { DriverChange } from '../../types.js';
import { FAKE_DRBDSETUP, fakeToolbox, requireTool, type FakeToolbox } from '../testing/fake-tools.js';
import { RealDrbdDriver } from './driver.js';

// The real drbdadm parses a config written here and runs a fake drbdsetup
// (`--drbdsetup`), which replays captured/reconstructed drbdsetup output: DRBD's
// kernel module cannot load on test machines (docs/reference/tools.md §1).

const DRBDADM = '/usr/sbin/drbdadm';
const skip = requireTool(DRBDADM, 'drbd-utils');
const fixture = (name: string): string => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip)(`RealDrbdDriver with drbdadm and a fake drbdsetup${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let box: FakeToolbox;
  let driver: RealDrbdDriver;
  const runner = new ProcessRunner();

  beforeEach(async () => {
    box = await fakeToolbox('hvctl-drbd-');
    const drbdsetup = await box.tool('drbdsetup', FAKE_DRBDSETUP);
    // A config drbdadm accepts without a kernel: this host's name, loopback addresses.
    await box.set(
      'drbd.conf',
      `resource vm-web-1 {
  net { protocol C; verify-alg sha256; }
  device minor 1000;
  disk /dev/vg0/vm-web-1;
  meta-disk internal;
  on ${hostname()} { node-id 0; address 127.0.0.1:7789; }
  on spb-1 { node-id 1; address 127.0.0.2:7789; }
}
`,
    );
    driver = new RealDrbdDriver({ runner, drbdadm: DRBDADM, drbdsetup, configFile: join(box.dir, 'drbd.conf'), passDrbdsetup: true, timeoutMs: 5000, pollIntervalMs: 100 });
  });
  afterEach(async () => {
    await driver.stop();
    await box.cleanup();
  });

  it('lists resources from status --json and allow-two-primaries from show', async () => {
    await box.set('status.json', fixture('status-healthy-two.json'));
    await box.set('show.txt', fixture('show-all.txt'));
    const resources = await driver.list();
    expect(resources.map((r) => [r.name, r.role, r.allowTwoPrimaries, r.protocol])).toEqual([
      ['vm-web-1', 'Primary', true, 'C'],
      ['vm-db-1', 'Secondary', false, 'A'],
    ]);
    expect((await box.calls()).map((call) => call.slice(1).join(' '))).toEqual(['status all --json --statistics', 'show all']);
  });

  it('promotes through drbdadm: the exact drbdsetup call, then reads the resource back', async () => {
    await box.set('status.json', fixture('status-healthy-two.json').replace('"role": "Primary"', '"role": "Primary"'));
    await driver.promote('vm-web-1', { force: true });
    const calls = (await box.calls()).map((call) => call.slice(1).join(' '));
    expect(calls[0]).toBe('primary vm-web-1 --force');
    expect(calls[1]).toBe('status vm-web-1 --json --statistics');
  });

  it('maps drbdadm actions to the documented drbdsetup calls', async () => {
    await box.set('status.json', fixture('status-standalone.json').replace('"name": "r0"', '"name": "vm-web-1"'));
    await driver.demote('vm-web-1');
    await driver.connect('vm-web-1', { discardMyData: true });
    await driver.disconnect('vm-web-1');
    await driver.setAllowTwoPrimaries('vm-web-1', true);
    await driver.setAllowTwoPrimaries('vm-web-1', false);
    await driver.verify('vm-web-1');
    await driver.outdate('vm-web-1');
    const actions = (await box.calls()).map((call) => call.slice(1).join(' ')).filter((call) => !call.startsWith('status') && !call.startsWith('show'));
    expect(actions).toEqual([
      'secondary vm-web-1',
      'connect vm-web-1 1 --discard-my-data',
      'disconnect vm-web-1 1',
      'net-options vm-web-1 1 --_name=spb-1 --verify-alg=sha256 --protocol=C --allow-two-primaries=yes',
      'net-options vm-web-1 1 --_name=spb-1 --verify-alg=sha256 --protocol=C --allow-two-primaries=no',
      'verify vm-web-1 1 0',
      // outdate addresses the minor, not the peer
      'outdate vm-web-1 1000',
    ]);
  });

  it('turns "Need access to UpToDate data" (exit 17) into FAILED_PRECONDITION with next steps', async () => {
    await box.set('primary.rc', '17');
    await box.set('primary.stderr', 'vm-web-1: State change failed: (-2) Need access to UpToDate data\n');
    const error = await driver.promote('vm-web-1', { force: false }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HvctlError);
    expect((error as HvctlError).code).toBe('FAILED_PRECONDITION');
    expect((error as HvctlError).message).toContain('drbdadm primary vm-web-1 was refused by DRBD (exit 17): vm-web-1: State change failed: (-2) Need access to UpToDate data');
    expect((error as HvctlError).details.nextSteps?.[0]).toMatch(/UpToDate/);
  });

  it('NOT_FOUND for a resource missing from the config (drbdadm exit 1) and from the kernel (exit 10)', async () => {
    const missing = await driver.demote('nosuch').catch((caught: unknown) => caught);
    expect((missing as HvctlError).code).toBe('NOT_FOUND');
    await box.set('status.json', fixture('status-no-such-resource.stdout'));
    await box.set('status.stderr', fixture('status-no-such-resource.stderr'));
    await box.set('status.rc', '10');
    const gone = await driver.get('vm-web-1').catch((caught: unknown) => caught);
    expect((gone as HvctlError).code).toBe('NOT_FOUND');
  });

  it('checks drbd.conf with drbdadm dump: resources for this host, or the parse error', async () => {
    expect(await driver.checkConfig()).toEqual({ ok: true, resources: ['vm-web-1'], message: '1 resource(s) defined for this host' });
    await box.set('drbd.conf', 'resource broken {\n  bogus-keyword yes;\n}\n');
    const bad = await driver.checkConfig();
    expect(bad.ok).toBe(false);
    expect(bad.message).toMatch(/drbd.conf:2: Parse error/);
  });

  it('refuses names that could be options', async () => {
    await expect(driver.promote('--force', { force: false })).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(await box.calls()).toEqual([]);
  });

  it('follows events2: emits resources after the dump, deltas after, logs a split brain', async () => {
    await box.set('events2.txt', fixture('events2-split-brain.txt'));
    const changes: DriverChange[] = [];
    const unwatch = driver.watch((change) => changes.push(change));
    await expect.poll(() => changes.filter((change) => change.change === 'resource').length, { timeout: 3000 }).toBeGreaterThanOrEqual(4);
    unwatch();
    const resources = changes.filter((change) => change.change === 'resource').map((change) => change.resource!);
    expect(resources[0]?.peers[0]?.connectionState).toBe('Connecting');
    expect(resources.at(-1)?.peers[0]).toMatchObject({ connectionState: 'StandAlone', peerDiskState: 'DUnknown' });
    expect(resources.at(-1)?.peers[0]?.connectionChangedUnixMs).toBeGreaterThan(0);
    const logs = changes.filter((change) => change.change === 'log').map((change) => change.log!);
    expect(logs).toEqual([expect.objectContaining({ level: 'error', area: 'drbd', message: expect.stringContaining('vm-db-1: split brain detected with spb-1') })]);
    const call = (await box.calls()).find((c) => c[1] === 'events2');
    expect(call?.slice(1)).toEqual(['events2', 'all', '--timestamps', '--full', '--poll']);
  });

  it('restarts events2 when it dies and reports resources gone since', async () => {
    // Given a follower that dies right after its dump
    await box.set('events2.txt', fixture('events2-split-brain.txt'));
    await box.set('events2.exit', '20');
    const changes: DriverChange[] = [];
    const unwatch = driver.watch((change) => changes.push(change));
    await expect.poll(() => changes.some((change) => change.change === 'log' && /restarting/.test(change.log!.message)), { timeout: 3000 }).toBe(true);
    // When the next run no longer has the resource
    await box.set('events2.txt', 'exists -\n');
    await box.set('events2.exit', '');
    await expect.poll(() => changes.some((change) => change.change === 'resourceRemoved' && change.resourceRemoved === 'vm-db-1'), { timeout: 5000 }).toBe(true);
    unwatch();
    expect((await box.calls()).filter((call) => call[1] === 'events2').length).toBeGreaterThanOrEqual(2);
  });

  it('asks for fresh counters with n on --poll', async () => {
    await box.set('events2.txt', fixture('events2-timestamps-resync.txt').split('\n').slice(0, 6).join('\n') + '\n');
    await box.set('events2-poll.txt', '2026-11-23T13:28:34.201000+00:00 change peer-device name:vm-web-1 peer-node-id:1 conn-name:spb-1 volume:0 done:60.00 out-of-sync:8388608 eta:272\n');
    const changes: DriverChange[] = [];
    const unwatch = driver.watch((change) => changes.push(change));
    await expect.poll(() => changes.some((change) => change.resource?.peers[0]?.syncPercent === 60), { timeout: 3000 }).toBe(true);
    unwatch();
    await wait(50);
  });
});

describe('RealDrbdDriver and events2 `- skipped N`', () => {
  it('treats lost notifications as a gap: restarts events2 and reports the state of the fresh dump', async () => {
    // Given an events2 run that dumps vm-db-1 Primary, then says it lost one notification
    // (the demotion); the next run's dump shows vm-db-1 Secondary
    const box = await fakeToolbox('hvctl-drbd-skipped-');
    const dump = fixture('events2-split-brain.txt').split('\n').slice(0, 5).join('\n');
    await box.set('events2.txt', `${dump}\n2026-11-23T13:28:34.201000+00:00 - skipped 1\n`);
    await box.set('events2-after.txt', `${dump.replace('role:Primary', 'role:Secondary')}\n`);
    const drbdsetup = await box.tool(
      'drbdsetup',
      `case "$1" in
  events2) if [ -f "$STATE/second" ]; then cat "$STATE/events2-after.txt"; else : > "$STATE/second"; cat "$STATE/events2.txt"; fi; while read -r line; do :; done; exit 0 ;;
  *) exit 0 ;;
esac`,
    );
    const driver = new RealDrbdDriver({ runner: new ProcessRunner(), drbdadm: '/nonexistent/drbdadm', drbdsetup, timeoutMs: 5000, pollIntervalMs: 60_000 });
    const changes: DriverChange[] = [];
    const unwatch = driver.watch((change) => changes.push(change));
    try {
      // Then the gap is logged, events2 runs again, and vm-db-1 is reported Secondary
      await expect.poll(() => changes.some((change) => change.resource?.name === 'vm-db-1' && change.resource.role === 'Secondary'), { timeout: 5000 }).toBe(true);
      expect(changes.some((change) => change.log?.message === 'drbdsetup events2 missed 1 event(s); reading every resource again')).toBe(true);
      expect((await box.calls()).filter((call) => call[1] === 'events2')).toHaveLength(2);
    } finally {
      unwatch();
      await driver.stop();
      await box.cleanup();
    }
  });
});

describe('RealDrbdDriver.probe', () => {
  it('reads drbd-utils and kernel module versions from drbdadm --version', async () => {
    const box = await fakeToolbox('hvctl-drbd-probe-');
    try {
      const runner = new ProcessRunner();
      const make = async (kernel: string) =>
        new RealDrbdDriver({
          runner,
          drbdadm: await box.tool('drbdadm', `printf 'DRBDADM_API_VERSION=2\\nDRBD_KERNEL_VERSION_CODE=0x000000\\nDRBD_KERNEL_VERSION=${kernel}\\nDRBDADM_VERSION_CODE=0x091600\\nDRBDADM_VERSION=9.22.0\\n'`),
          drbdsetup: await box.tool('drbdsetup', FAKE_DRBDSETUP),
        });
      await box.set('status.json', '[]');
      expect(await (await make('0')).probe()).toMatchObject({ available: false, detail: expect.stringContaining('kernel module is not loaded') });
      expect(await (await make('8.4.11')).probe()).toMatchObject({ available: false, detail: expect.stringContaining('hvctl needs DRBD 9') });
      expect(await (await make('9.2.12')).probe()).toEqual({ available: true, driver: 'real', detail: 'drbd-utils 9.22.0, kernel module 9.2.12' });
      const missing = new RealDrbdDriver({ runner, drbdadm: '/nonexistent/drbdadm', drbdsetup: '/nonexistent/drbdsetup' });
      expect(await missing.probe()).toMatchObject({ available: false, detail: expect.stringContaining('install drbd-utils') });
    } finally {
      await box.cleanup();
    }
  });
});

describe.skipIf(skip)('drbdadm -d (dry run) against the captured fixture', () => {
  it('prints the drbdsetup calls recorded in drbdadm-dry-runs.captured.txt, resource after --', async () => {
    const box = await fakeToolbox('hvctl-drbd-dry-');
    try {
      await box.set('drbd.conf', fixture('drbdadm-config.conf.template').replace('HOSTNAME', hostname()).replace('10.99.1.1', '127.0.0.1'));
      const runner = new ProcessRunner();
      const blocks = fixture('drbdadm-dry-runs.captured.txt').split(/^\$ /m).filter(Boolean);
      expect(blocks.length).toBe(11);
      for (const block of blocks) {
        const [command = '', ...rest] = block.trimEnd().split('\n');
        const expected = rest.filter((line) => !line.startsWith('# exit')).map((line) => line.replace('10.99.1.1', '127.0.0.1'));
        const args = command.split(' ').slice(1).map((word) => (word === 'drbd.conf' ? join(box.dir, 'drbd.conf') : word));
        const result = await runner.run(DRBDADM, { args, timeoutMs: 5000 });
        // drbdadm prints drbdsetup by name or by path, depending on how it found it.
        const printed = result.stdout.trimEnd().split('\n').map((line) => line.replace(/^\/\S*\/(drbdsetup|drbdmeta) /, '$1 '));
        expect(printed, command).toEqual(expected);
      }
    } finally {
      await box.cleanup();
    }
  });
});
