import { readFileSync } from 'node:fs';
import { LineSplitter } from '@hvctl/common';
import { describe, expect, it } from 'vitest';
import {
  VirshFormatError,
  domainStateOf,
  drbdOfSource,
  formatIntentMetadata,
  jobPercent,
  parseDomblklist,
  parseDominfo,
  parseDomjobinfo,
  parseDomstate,
  parseIntentMetadata,
  parseMigrateProgress,
  parseNameList,
  parseVirshEvent,
} from './parse-virsh.js';

const fixture = (name: string): string => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');

describe('virsh parsers (captured from virsh 9.0.0, test:///default)', () => {
  it('list --all --name drops the trailing empty line', () => {
    expect(parseNameList(fixture('list-all-name.captured.txt'))).toEqual(['test']);
    expect(parseNameList('\n')).toEqual([]);
  });

  it('dominfo of a running and of an inactive domain', () => {
    expect(parseDominfo(fixture('dominfo-running.captured.txt'))).toEqual({
      id: 1,
      name: 'test',
      uuid: '6695eb01-f6a4-8304-79aa-97f2502e193f',
      state: 'running',
      vcpus: 2,
      maxMemoryBytes: 8388608 * 1024,
      usedMemoryBytes: 2097152 * 1024,
      persistent: true,
      autostart: false,
    });
    expect(parseDominfo(fixture('dominfo-shutoff.captured.txt'))).toMatchObject({ id: null, state: 'shut off' });
    expect(() => parseDominfo('error: nothing\n')).toThrow(VirshFormatError);
  });

  it('domstate --reason, including states with a space', () => {
    expect(parseDomstate(fixture('domstate-running-unknown.captured.txt'))).toEqual({ state: 'running', reason: 'unknown' });
    expect(parseDomstate(fixture('domstate-shutoff-destroyed.captured.txt'))).toEqual({ state: 'shut off', reason: 'destroyed' });
    expect(parseDomstate(fixture('domstate-paused-user.captured.txt'))).toEqual({ state: 'paused', reason: 'user' });
    expect(parseDomstate('running\n\n')).toEqual({ state: 'running', reason: '' });
    expect(parseDomstate('paused (migration canceled)\n')).toEqual({ state: 'paused', reason: 'migration canceled' });
  });

  it('maps every libvirt state word to the wire enum', () => {
    expect(['running', 'idle', 'paused', 'in shutdown', 'shut off', 'crashed', 'pmsuspended', 'no state'].map(domainStateOf)).toEqual([
      'DOMAIN_STATE_RUNNING',
      'DOMAIN_STATE_RUNNING',
      'DOMAIN_STATE_PAUSED',
      'DOMAIN_STATE_SHUTDOWN',
      'DOMAIN_STATE_SHUTOFF',
      'DOMAIN_STATE_CRASHED',
      'DOMAIN_STATE_PAUSED',
      'DOMAIN_STATE_UNSPECIFIED',
    ]);
  });

  it('domblklist with and without --details; sources with spaces and empty CD-ROMs', () => {
    expect(parseDomblklist(fixture('domblklist.captured.txt'))).toEqual([{ target: 'vda', source: '/guest/diskimage1' }]);
    expect(parseDomblklist(fixture('domblklist-details.captured.txt'))).toEqual([{ type: 'file', device: 'disk', target: 'vda', source: '/guest/diskimage1' }]);
    const reconstructed = ' Type   Device   Target   Source\n------------------------------\n block  disk     vda      /dev/drbd/by-res/vm-web-1/0\n file   disk     vdb      /var/lib/my images/data.img\n file   cdrom    sda      -\n\n';
    expect(parseDomblklist(reconstructed)).toEqual([
      { type: 'block', device: 'disk', target: 'vda', source: '/dev/drbd/by-res/vm-web-1/0' },
      { type: 'file', device: 'disk', target: 'vdb', source: '/var/lib/my images/data.img' },
      { type: 'file', device: 'cdrom', target: 'sda', source: null },
    ]);
    expect(() => parseDomblklist('error\n')).toThrow(VirshFormatError);
  });

  it('finds the DRBD resource behind a disk source', () => {
    expect(drbdOfSource('/dev/drbd/by-res/vm-web-1/0')).toEqual({ resource: 'vm-web-1' });
    expect(drbdOfSource('/dev/drbd/by-res/vm-web-1')).toEqual({ resource: 'vm-web-1' });
    expect(drbdOfSource('/dev/drbd1000')).toEqual({ minor: 1000 });
    expect(drbdOfSource('/guest/diskimage1')).toBeUndefined();
    expect(drbdOfSource(null)).toBeUndefined();
  });
});

describe('domjobinfo (reconstructed: the test driver cannot report jobs)', () => {
  it('reads a running outgoing migration and its progress', () => {
    const job = parseDomjobinfo(fixture('domjobinfo-migrating.reconstructed.txt'));
    expect(job).toMatchObject({ type: 'Unbounded', operation: 'Outgoing migration', elapsedMs: 4122 });
    expect(job.dataTotalBytes).toBe(Math.round(8.016 * 1024 ** 3));
    expect(jobPercent(job)).toBeCloseTo(100 * (1 - 2.418 / 8.016), 2);
  });

  it('reads a completed job and "no job"', () => {
    const done = parseDomjobinfo(fixture('domjobinfo-completed.reconstructed.txt'));
    expect(done).toMatchObject({ type: 'Completed', dataRemainingBytes: 0 });
    expect(jobPercent(done)).toBe(100);
    expect(jobPercent(parseDomjobinfo(fixture('domjobinfo-none.reconstructed.txt')))).toBe(0);
  });
});

describe('migrate --verbose progress on stderr', () => {
  it('splits carriage-return progress into percentages (current and older format)', () => {
    for (const [name, expected] of [
      ['migrate-verbose.reconstructed.stderr', [0, 12.34, 45.12, 99.8, 100]],
      ['migrate-verbose-old-integer.reconstructed.stderr', [45, 100]],
    ] as const) {
      const splitter = new LineSplitter({ carriageReturn: true });
      const lines = [...splitter.push(fixture(name)), ...splitter.end()];
      expect(lines.map(parseMigrateProgress).filter((value) => value !== undefined)).toEqual(expected);
    }
  });
});

describe('virsh event --loop lines', () => {
  it('parses lifecycle events, with and without timestamps, and details with spaces', () => {
    const events = fixture('event-loop.tools-md.txt').split('\n').map(parseVirshEvent).filter((event) => event !== undefined);
    expect(events[0]).toEqual({ kind: 'lifecycle', timeMs: Date.parse('2026-11-23T13:28:04.320Z'), domain: 'test', event: 'Stopped', detail: 'Shutdown' });
    expect(events[1]).toEqual({ kind: 'lifecycle', domain: 'vm1', event: 'Defined', detail: 'Added' });
    expect(events.filter((event) => event.kind === 'lifecycle').map((event) => event.kind === 'lifecycle' && `${event.event} ${event.detail}`)).toEqual([
      'Stopped Shutdown',
      'Defined Added',
      'Started Booted',
      'Suspended Paused',
      'Resumed Unpaused',
      'Stopped Destroyed',
      'Stopped Saved',
      'Started Restored',
      'Undefined Removed',
      'Suspended I/O Error',
      'Shutdown Finished after guest request',
      'Crashed Panicked',
    ]);
    expect(events.find((event) => event.kind === 'other' && event.event === 'reboot')).toEqual({ kind: 'other', domain: 'test', event: 'reboot', text: '' });
    expect(events.find((event) => event.kind === 'other' && event.event === 'migration-iteration')).toMatchObject({ text: "iteration: '3'" });
    // The job-completed continuation lines are skipped; the end of the stream is recognised.
    expect(events.filter((event) => event.kind === 'end').length).toBe(2);
  });
});

describe('virsh event --loop against a session libvirtd (captured)', () => {
  it('reads the timestamped lifecycle events of shutdown, start, destroy, start', () => {
    const events = fixture('event-loop-session-daemon.captured.txt').split('\n').map(parseVirshEvent).filter((event) => event !== undefined);
    expect(events.map((event) => event.kind === 'lifecycle' && `${event.domain} ${event.event} ${event.detail}`)).toEqual([
      'test Stopped Shutdown',
      'test Started Booted',
      'test Stopped Destroyed',
      'test Started Booted',
    ]);
    expect(events.every((event) => event.kind === 'lifecycle' && typeof event.timeMs === 'number')).toBe(true);
  });

  it('metadata of the intent namespace: the stored element, escaped attributes undone', () => {
    const intent = parseIntentMetadata(fixture('metadata-intent.captured.txt'));
    expect(intent).toEqual({ intent: 'running', setUnixMs: 1765151400000, setBy: 'alice via msk-1 (workflow wf-1a2b) & "x"' });
    // What the driver sets is what virsh gives back
    expect(`${formatIntentMetadata(intent!)}\n\n`).toBe(fixture('metadata-intent.captured.txt'));
    expect(parseIntentMetadata(formatIntentMetadata({ intent: 'stopped', setUnixMs: 5, setBy: `<o'k>` }))).toEqual({ intent: 'stopped', setUnixMs: 5, setBy: `<o'k>` });
  });

  it('metadata without a valid intent is no intent', () => {
    expect(parseIntentMetadata('<vm ip="10.20.0.11" priority="2"/>\n\n')).toBeUndefined();
    expect(parseIntentMetadata('<intent state="maybe" set-ms="1"/>')).toBeUndefined();
    expect(parseIntentMetadata('<intent state="running" set-ms="-4" set-by=""/>')).toEqual({ intent: 'running', setUnixMs: 0, setBy: '' });
  });
});
