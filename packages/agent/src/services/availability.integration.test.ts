import * as grpc from '@grpc/grpc-js';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { GetReportResponse__Output, ListTransitionsResponse__Output } from '@hvctl/proto';
import { loadProtos } from '@hvctl/proto';
import { createAgentClient, createLogger, deadline, HvctlError, ProcessRunner, unary, type AgentClient } from '@hvctl/common';
import { parseMonitorConfig } from '../monitor/config.js';
import { Monitor } from '../monitor/monitor.js';
import { LEGACY_JOURNAL_FILE, journalFileOf } from '../monitor/recorder.js';
import { bindServer } from '../server.js';
import { availabilityService } from './availability.js';

const logger = createLogger({ name: 'test', level: 'silent' });
const MIN = 60_000;
const OCT = Date.UTC(2026, 9, 1);

const journal = [
  { atMs: OCT - 10 * MIN, kind: 'watcher', subject: 'bak-1', state: 'up', detail: '' },
  { atMs: OCT - 10 * MIN, kind: 'vm', subject: 'web-1', state: 'up', site: 'msk', node: 'msk-1', detail: '' },
  { atMs: OCT - 10 * MIN, kind: 'vm', subject: 'db-1', state: 'up', site: 'spb', node: 'spb-1', detail: '' },
  // web-1 down for 300 minutes on October 10th: 31 days allow 223.2 minutes at 99.5%
  { atMs: OCT + 9 * 1440 * MIN, kind: 'vm', subject: 'web-1', state: 'down', site: 'msk', node: 'msk-1', detail: 'crashed' },
  { atMs: OCT + (9 * 1440 + 300) * MIN, kind: 'vm', subject: 'web-1', state: 'up', site: 'msk', node: 'msk-1', detail: '' },
  // The watcher itself away for 30 minutes on the 20th (counted as down by default)
  { atMs: OCT + 19 * 1440 * MIN, kind: 'watcher', subject: 'bak-1', state: 'down', detail: 'watcher stopped' },
  { atMs: OCT + (19 * 1440 + 30) * MIN, kind: 'watcher', subject: 'bak-1', state: 'up', detail: '' },
  // Stopped cleanly in November (the gap since then does not touch October)
  { atMs: OCT + 35 * 1440 * MIN, kind: 'watcher', subject: 'bak-1', state: 'down', detail: 'watcher stopped' },
];

describe('AvailabilityService over gRPC', () => {
  let dir: string;
  let servers: grpc.Server[];
  let clients: AgentClient[];
  let monitor: Monitor;

  const serve = async (withMonitor: boolean): Promise<AgentClient> => {
    const server = new grpc.Server();
    server.addService(loadProtos().v1.AvailabilityService.service, availabilityService(logger, 'bak-1', withMonitor ? monitor : undefined));
    const port = await bindServer(server, '127.0.0.1:0');
    servers.push(server);
    const client = createAgentClient(`127.0.0.1:${port}`);
    clients.push(client);
    return client;
  };

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-availability-'));
    servers = [];
    clients = [];
    await mkdir(join(dir, 'monitor'));
    // A journal in the single-file layout of earlier versions: split into month files on start.
    await writeFile(join(dir, 'monitor', LEGACY_JOURNAL_FILE), journal.map((line) => `${JSON.stringify(line)}\n`).join(''));
    const config = parseMonitorConfig({ enabled: true }, (message) => {
      throw new Error(message);
    });
    monitor = new Monitor({
      self: 'bak-1',
      // A member nobody serves: the test reads the journal only, and observing never starts.
      cluster: { name: 'test', sites: [{ name: 'bak', kind: 'backup' }], nodes: [{ name: 'bak-1', site: 'bak', address: '127.0.0.1:9' }] },
      connect: (address) => createAgentClient(address),
      config: config as NonNullable<typeof config>,
      dir: join(dir, 'monitor'),
      runner: new ProcessRunner(),
      announce: () => undefined,
      publish: () => undefined,
      logger,
      settleTimeoutMs: 600_000,
    });
    await monitor.start();
  });

  afterEach(async () => {
    for (const client of clients) client.close();
    for (const server of servers) server.forceShutdown();
    await monitor.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('computes a past month from the journal: outage, watcher gap, minutes short and credit', async () => {
    const client = await serve(true);
    const report = await unary<GetReportResponse__Output>('GetReport', (cb) => client.availability.getReport({ month: '2026-10', vm: '' }, deadline(), cb));
    expect(report).toMatchObject({ month: '2026-10', final: true, watcher: 'bak-1', rule: { guaranteePercent: 99.5, creditMinutesPerMinuteShort: 2, maintenance: 'exclude', unknown: 'down' } });
    expect(report.gaps.map((gap) => (Number(gap.endUnixMs) - Number(gap.startUnixMs)) / MIN)).toEqual([30]);
    const [db, web] = report.vms;
    // web-1: 300 down + 30 unknown = 330 > 223.2 allowed: 107 short (106.8 rounded up), 214 credit
    expect(web).toMatchObject({ vm: 'web-1', site: 'msk', minutesInMonth: 44_640, countedMinutes: 44_640, downMinutes: 330, minutesShort: 107, creditMinutes: 214 });
    expect(web?.minutes).toMatchObject({ down: 300, unknown: 30, future: 0, untracked: 0 });
    // db-1: only the 30 unknown minutes, within the allowance
    expect(db).toMatchObject({ vm: 'db-1', site: 'spb', downMinutes: 30, minutesShort: 0, creditMinutes: 0 });
    expect(report.sites.map((site) => [site.site, site.vms, site.minutesShort, site.creditMinutes])).toEqual([
      ['msk', 1, 107, 214],
      ['spb', 1, 0, 0],
    ]);

    // (read from October's own file, after the legacy journal was split)
    expect((await readdir(join(dir, 'monitor'))).filter((name) => name.startsWith('availability')).sort()).toEqual([
      journalFileOf({ year: 2026, month: 9 }),
      journalFileOf({ year: 2026, month: 10 }),
      journalFileOf({ year: 2026, month: 11 }),
      `${LEGACY_JOURNAL_FILE}.migrated`,
      'availability.alive',
    ].sort());
    const one = await unary<GetReportResponse__Output>('GetReport', (cb) => client.availability.getReport({ month: '2026-10', vm: 'db-1' }, deadline(), cb));
    expect(one.vms.map((vm) => vm.vm)).toEqual(['db-1']);
  });

  it('lists transitions in a range and refuses bad input with INVALID_ARGUMENT', async () => {
    const client = await serve(true);
    const listed = await unary<ListTransitionsResponse__Output>('ListTransitions', (cb) =>
      client.availability.listTransitions({ fromUnixMs: OCT, toUnixMs: OCT + (9 * 1440 + 1) * MIN }, deadline(), cb),
    );
    expect(listed.transitions.map((record) => `${record.kind} ${record.subject} ${record.state}`)).toEqual(['vm web-1 down']);
    const error = await unary('GetReport', (cb) => client.availability.getReport({ month: '2026-13', vm: '' }, deadline(), cb)).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HvctlError);
    expect((error as HvctlError).code).toBe('INVALID_ARGUMENT');
  });

  it('answers FAILED_PRECONDITION on an agent without the watcher, saying where to ask', async () => {
    const client = await serve(false);
    const error = (await unary('GetReport', (cb) => client.availability.getReport({ month: '', vm: '' }, deadline(), cb)).catch((caught: unknown) => caught)) as HvctlError;
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.message).toContain('does not run the cluster watcher');
  });
});
