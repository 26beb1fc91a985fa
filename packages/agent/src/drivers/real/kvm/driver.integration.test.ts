import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, chown, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HvctlError, ProcessRunner, processAlive } from '@hvctl/common';
import type { MigrationProgress__Output } from '@hvctl/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DriverChange } from '../../types.js';
import { fakeToolbox, requireTool, type FakeToolbox } from '../testing/fake-tools.js';
import { HVCTL_METADATA_URI, RealKvmDriver } from './driver.js';

const VIRSH = '/usr/bin/virsh';
const LIBVIRTD = '/usr/sbin/libvirtd';
const skipVirsh = requireTool(VIRSH, 'libvirt-clients');
const skipDaemon = skipVirsh ?? requireTool(LIBVIRTD, 'libvirt-daemon');
const fixture = (name: string): string => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');
const runner = new ProcessRunner();

describe.skipIf(skipVirsh)(`RealKvmDriver against virsh -c test:///default${skipVirsh ? ` (skipped: ${skipVirsh})` : ''}`, () => {
  // test:///default keeps no state between virsh processes: every call sees a fresh, running `test`.
  const driver = new RealKvmDriver({ runner, virsh: VIRSH, uri: 'test:///default', migrationUri: (node) => `qemu+ssh://${node}/system`, metadataUri: HVCTL_METADATA_URI });

  it('probes virsh and the connection', async () => {
    expect(await driver.probe()).toMatchObject({ available: true, driver: 'real', detail: expect.stringMatching(/^virsh \d+\.\d+\.\d+, connected to test:\/\/\/default$/) });
  });

  it('lists the built-in domain with dominfo, domstate --reason and domblklist', async () => {
    expect(await driver.list()).toEqual([
      {
        name: 'test',
        state: 'DOMAIN_STATE_RUNNING',
        stateReason: 'unknown',
        vcpus: 2,
        memoryBytes: 8 * 1024 ** 3,
        ip: '',
        resources: [],
        priority: 0,
        migrating: false,
        stateChangedUnixMs: 0,
        intent: 'DOMAIN_INTENT_UNSPECIFIED',
        intentSetUnixMs: 0,
        intentSetBy: '',
      },
    ]);
  });

  it('sets the intent of a running domain in its live and persistent metadata', async () => {
    // test:///default forgets between processes: the set succeeds, a later read starts fresh
    const { applied } = await driver.setIntent('test', { intent: 'running', setUnixMs: 1000, setBy: 'alice' });
    expect(applied).toBe(true);
    await expect(driver.setIntent('nosuch', { intent: 'running', setUnixMs: 1000, setBy: 'alice' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
  });

  it('NOT_FOUND for an unknown domain; start of a running domain changes nothing', async () => {
    await expect(driver.get('nosuch')).rejects.toMatchObject({ code: 'NOT_FOUND' });
    await expect(driver.start('test')).resolves.toMatchObject({ state: 'DOMAIN_STATE_RUNNING' });
  });

  it('reports a probe failure for a missing virsh', async () => {
    const missing = new RealKvmDriver({ runner, virsh: '/nonexistent/virsh', uri: 'test:///default', migrationUri: (node) => node });
    expect(await missing.probe()).toMatchObject({ available: false, detail: expect.stringContaining('install libvirt-clients') });
  });
});

/**
 * A private libvirtd (session mode, as `nobody` when root) with the test driver: its
 * state lives while a client stays connected, and the driver's own `virsh event --loop`
 * is that client (docs/reference/tools.md §2.8).
 */
describe.skipIf(skipDaemon)(`RealKvmDriver against a private libvirtd${skipDaemon ? ` (skipped: ${skipDaemon})` : ''}`, () => {
  let dir: string;
  let daemon: ChildProcess | undefined;
  let driver: RealKvmDriver;
  const changes: DriverChange[] = [];
  let unwatch: (() => void) | undefined;

  const startDaemon = async (): Promise<void> => {
    const env = { HOME: join(dir, 'home'), XDG_RUNTIME_DIR: join(dir, 'run'), XDG_CONFIG_HOME: join(dir, 'config'), XDG_CACHE_HOME: join(dir, 'cache'), LC_ALL: 'C', PATH: process.env['PATH'] ?? '' };
    const asRoot = process.getuid?.() === 0;
    daemon = asRoot
      ? spawn('/usr/sbin/runuser', ['-u', 'nobody', '--', '/usr/bin/env', ...Object.entries(env).map(([k, v]) => `${k}=${v}`), LIBVIRTD, '--timeout', '60'], { stdio: 'ignore' })
      : spawn(LIBVIRTD, ['--timeout', '60'], { env, stdio: 'ignore' });
    const socket = join(dir, 'run', 'libvirt', 'libvirt-sock');
    for (let i = 0; i < 100 && !existsSync(socket); i += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-libvirt-'));
    for (const sub of ['home', 'run', 'config', 'cache']) await mkdir(join(dir, sub));
    await chmod(dir, 0o755);
    // As root the daemon runs as nobody, which must own its directories.
    if (process.getuid?.() === 0) for (const sub of ['', 'home', 'run', 'config', 'cache']) await chown(join(dir, sub), 65534, 65534);
    await startDaemon();
    driver = new RealKvmDriver({
      runner,
      virsh: VIRSH,
      uri: `test+unix:///default?socket=${join(dir, 'run', 'libvirt', 'libvirt-sock')}`,
      migrationUri: (node) => `qemu+ssh://${node}/system`,
      pollMs: 100,
    });
    unwatch = driver.watch((change) => changes.push(change));
    // The resync after the stream starts reports the domain.
    for (let i = 0; i < 100 && !changes.some((change) => change.domain?.name === 'test'); i += 1) await new Promise((resolve) => setTimeout(resolve, 50));
  });
  afterAll(async () => {
    unwatch?.();
    await driver?.stop();
    if (daemon?.pid && processAlive(daemon.pid)) daemon.kill('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  });

  it('shuts down, starts and destroys the domain, and the event stream reports each change', async () => {
    // When the guest is shut down with a deadline
    const off = await driver.shutdown('test', 5000);
    expect(off).toMatchObject({ state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'shutdown' });
    expect(off.stateChangedUnixMs).toBeGreaterThan(0);
    await expect.poll(() => changes.some((change) => change.domain?.state === 'DOMAIN_STATE_SHUTOFF'), { timeout: 3000 }).toBe(true);
    // Then start and destroy work the same way
    expect(await driver.start('test')).toMatchObject({ state: 'DOMAIN_STATE_RUNNING', stateReason: 'booted' });
    await expect.poll(() => changes.at(-1)?.domain?.state, { timeout: 3000 }).toBe('DOMAIN_STATE_RUNNING');
    expect(await driver.destroy('test')).toMatchObject({ state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'destroyed' });
    await expect.poll(() => changes.at(-1)?.domain?.stateReason, { timeout: 3000 }).toBe('destroyed');
    // And idempotent calls change nothing
    expect(await driver.destroy('test')).toMatchObject({ stateReason: 'destroyed' });
    expect(await driver.shutdown('test', 1000)).toMatchObject({ stateReason: 'destroyed' });
  });

  it('lists the domains libvirt would autostart and turns autostart off', async () => {
    // Given autostart turned on behind hvctl's back
    const uri = `test+unix:///default?socket=${join(dir, 'run', 'libvirt', 'libvirt-sock')}`;
    await runner.run(VIRSH, { args: ['-c', uri, 'autostart', '--domain=test'] });
    expect(await driver.autostartDomains()).toEqual(['test']);
    // When the driver turns it off, libvirt reports no autostart domain any more
    await driver.disableAutostart('test');
    expect(await driver.autostartDomains()).toEqual([]);
  });

  it('keeps the intent in the persistent definition; the newest intent wins', async () => {
    // Given the domain runs and is told to run (live and persistent metadata)
    await driver.start('test');
    const first = await driver.setIntent('test', { intent: 'running', setUnixMs: 2000, setBy: 'alice via msk-1' });
    expect(first).toMatchObject({ applied: true, domain: { intent: 'DOMAIN_INTENT_RUNNING', intentSetUnixMs: 2000, intentSetBy: 'alice via msk-1' } });
    // When an older intent arrives, it changes nothing
    const older = await driver.setIntent('test', { intent: 'stopped', setUnixMs: 1000, setBy: 'bob' });
    expect(older).toMatchObject({ applied: false, domain: { intent: 'DOMAIN_INTENT_RUNNING', intentSetUnixMs: 2000 } });
    // And once the domain is off, a newer intent is written to the persistent definition only
    await driver.destroy('test');
    const stopped = await driver.setIntent('test', { intent: 'stopped', setUnixMs: 3000, setBy: 'bob' });
    expect(stopped).toMatchObject({ applied: true, domain: { intent: 'DOMAIN_INTENT_STOPPED', intentSetUnixMs: 3000, intentSetBy: 'bob' } });
    await driver.start('test');
    expect(await driver.get('test')).toMatchObject({ state: 'DOMAIN_STATE_RUNNING', intent: 'DOMAIN_INTENT_STOPPED', intentSetUnixMs: 3000 });
  });

  it('restarts the event stream when libvirtd goes away, and resynchronises', async () => {
    const before = changes.length;
    let connected = 0;
    const off = driver.onConnected(() => (connected += 1));
    daemon?.kill('SIGTERM');
    await expect.poll(() => changes.slice(before).some((change) => change.change === 'log' && /virsh event stream ended/.test(change.log!.message)), { timeout: 5000 }).toBe(true);
    await startDaemon();
    // The new daemon starts fresh (test driver): `test` is running again, and reported so.
    await expect.poll(() => changes.slice(before).some((change) => change.domain?.name === 'test' && change.domain.state === 'DOMAIN_STATE_RUNNING'), { timeout: 10_000 }).toBe(true);
    // And the reconnection is announced (the agent probes the kvm capability again at once)
    expect(connected).toBe(1);
    off();
  });
});

/**
 * A fake virsh that reproduces a migration's real output (the test driver cannot migrate).
 * Like libvirt, `migrate --undefinesource` removes the source's definition (`list --all`
 * empty, "failed to get domain"); without it the source keeps it as "shut off (migrated)".
 */
const FAKE_VIRSH = `shift 2   # -c URI
cmd="$1"
if [ -f "$STATE/undefined" ] && [ "$cmd" != list ]; then echo "error: failed to get domain 'vm-web-1'" >&2; exit 1; fi
case "$cmd" in
  list) [ -f "$STATE/undefined" ] || printf 'vm-web-1\\n'; printf '\\n' ;;
  dominfo) cat "$STATE/dominfo.txt" ;;
  domstate) cat "$STATE/domstate.txt" ;;
  domblklist) printf ' Type   Device   Target   Source\\n------------------------------------------------\\n block  disk     vda      /dev/drbd/by-res/vm-web-1/0\\n file   cdrom    sda      -\\n\\n' ;;
  metadata) printf '<vm ip="10.20.0.11" priority="2"/>\\n\\n' ;;
  domjobinfo) cat "$STATE/domjobinfo.txt" ;;
  domjobabort) echo abort >> "$STATE/aborted"; exit 0 ;;
  migrate)
    [ -f "$STATE/migrate.hang" ] && { trap 'exit 1' TERM; while :; do [ -f "$STATE/aborted" ] && { echo 'error: operation aborted: migration out job: canceled by client' >&2; exit 1; }; sleep 0.05; done; }
    for p in '  0.00' ' 12.34' ' 45.12' ' 99.80'; do printf '\\rMigration: [%s %%]' "$p" >&2; sleep 0.15; done
    if [ -f "$STATE/migrate.fail" ]; then printf '\\n' >&2; cat "$STATE/migrate.fail" >&2; exit 1; fi
    printf '\\rMigration: [100.00 %%]\\n' >&2
    printf 'shut off (migrated)\\n\\n' > "$STATE/domstate.txt"
    case " $* " in *' --undefinesource '*) : > "$STATE/undefined" ;; esac ;;
  *) echo "error: unknown command: '$cmd'" >&2; exit 1 ;;
esac`;

describe('RealKvmDriver migration with a fake virsh', () => {
  let box: FakeToolbox;
  let driver: RealKvmDriver;

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-virsh-');
    const virsh = await box.tool('virsh', FAKE_VIRSH);
    driver = new RealKvmDriver({ runner, virsh, uri: 'qemu:///system', migrationUri: (node) => `qemu+ssh://${node}/system`, migrateFlags: ['--auto-converge'], pollMs: 100, metadataUri: HVCTL_METADATA_URI });
  });
  afterAll(async () => {
    await box.cleanup();
  });
  const reset = async (): Promise<void> => {
    await box.set('dominfo.txt', fixture('dominfo-running.captured.txt').replace('Name:           test', 'Name:           vm-web-1'));
    await box.set('domstate.txt', 'running (booted)\n\n');
    await box.set('domjobinfo.txt', fixture('domjobinfo-migrating.reconstructed.txt'));
    for (const file of ['migrate.fail', 'migrate.hang', 'aborted', 'undefined']) await rm(join(box.dir, file), { force: true });
  };

  it('reads ip, priority and DRBD resources of a real-looking domain', async () => {
    await reset();
    expect(await driver.get('vm-web-1')).toMatchObject({ ip: '10.20.0.11', priority: 2, resources: ['vm-web-1'], intent: 'DOMAIN_INTENT_UNSPECIFIED' });
  });

  it('sets the intent through virsh metadata with the exact argv (live and config while running)', async () => {
    await reset();
    await driver.setIntent('vm-web-1', { intent: 'stopped', setUnixMs: 42, setBy: 'alice & "bob"' });
    const set = (await box.calls()).find((call) => call[3] === 'metadata' && call.some((arg) => arg.startsWith('--set=')));
    expect(set?.slice(1)).toEqual([
      '-c', 'qemu:///system', 'metadata', '--domain=vm-web-1', '--uri=https://hvctl.dev/xmlns/intent/1', '--key=hvctl-intent',
      '--set=<intent state="stopped" set-ms="42" set-by="alice &amp; &quot;bob&quot;"/>', '--live', '--config',
    ]);
  });

  it('streams progress from stderr and domjobinfo, with the exact virsh argv', async () => {
    await reset();
    const progress: MigrationProgress__Output[] = [];
    const done = await driver.migrate('vm-web-1', { targetNode: 'spb-1', onProgress: (p) => progress.push(p) });
    expect(done).toMatchObject({ name: 'vm-web-1', state: 'DOMAIN_STATE_RUNNING', stateReason: 'migrated', migrating: false });
    expect(progress[0]).toMatchObject({ phase: 'prepare', percent: 0 });
    expect(progress.at(-1)).toMatchObject({ phase: 'finish', percent: 100 });
    const percents = progress.map((p) => p.percent);
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    expect(progress.some((p) => p.phase === 'memory' && p.remainingBytes > 0)).toBe(true);
    expect(progress.some((p) => p.phase === 'switchover')).toBe(true);
    const migrate = (await box.calls()).find((call) => call[3] === 'migrate');
    expect(migrate?.slice(1)).toEqual(['-c', 'qemu:///system', 'migrate', '--live', '--persistent', '--verbose', '--auto-converge', '--domain=vm-web-1', '--desturi=qemu+ssh://spb-1/system']);
  });

  it('keeps the definition on the source after a migration (a later failover starts it here)', async () => {
    // Given a running domain migrated away
    await reset();
    await driver.migrate('vm-web-1', { targetNode: 'spb-1', onProgress: () => undefined });
    // Then the source still lists it, shut off with reason "migrated", with its DRBD resource
    expect(await driver.list()).toEqual([expect.objectContaining({ name: 'vm-web-1', state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'migrated', resources: ['vm-web-1'] })]);
  });

  it('reports a failed migration with where the domain is left', async () => {
    await reset();
    await box.set('migrate.fail', "error: internal error: qemu unexpectedly closed the migration connection\n");
    const error = (await driver.migrate('vm-web-1', { targetNode: 'spb-1', onProgress: () => undefined }).catch((caught: unknown) => caught)) as HvctlError;
    expect(error).toBeInstanceOf(HvctlError);
    expect(error.code).toBe('ABORTED');
    expect(error.message).toBe('live migration of vm-web-1 to spb-1 failed: internal error: qemu unexpectedly closed the migration connection; vm-web-1 is running (booted) on this node');
  });

  it('cancels through domjobabort, then stops virsh', async () => {
    await reset();
    await box.set('migrate.hang', '');
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 300);
    const error = (await driver.migrate('vm-web-1', { targetNode: 'spb-1', onProgress: () => undefined, signal: controller.signal }).catch((caught: unknown) => caught)) as HvctlError;
    expect(error.code).toBe('ABORTED');
    expect(existsSync(join(box.dir, 'aborted'))).toBe(true);
  });

  it('keeps the last known reason and change time when a restarted libvirtd says "unknown"', async () => {
    // Given a domain seen destroyed, then running, then destroyed
    await reset();
    await driver.get('vm-web-1');
    await box.set('domstate.txt', 'shut off (destroyed)\n\n');
    const destroyed = await driver.get('vm-web-1');
    expect(destroyed).toMatchObject({ state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'destroyed' });
    // When libvirtd restarted and no longer knows why it is off
    await box.set('domstate.txt', 'shut off (unknown)\n\n');
    // Then the driver still says destroyed, since the same moment
    expect(await driver.get('vm-web-1')).toMatchObject({ stateReason: 'destroyed', stateChangedUnixMs: destroyed.stateChangedUnixMs });
    // And a real change is reported as one
    await box.set('domstate.txt', 'running (booted)\n\n');
    expect(await driver.get('vm-web-1')).toMatchObject({ state: 'DOMAIN_STATE_RUNNING', stateReason: 'booted' });
  });

  it('refuses a second migration of the same domain and a non-running one', async () => {
    await reset();
    await box.set('domstate.txt', 'shut off (destroyed)\n\n');
    await expect(driver.migrate('vm-web-1', { targetNode: 'spb-1', onProgress: () => undefined })).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
  });
});
