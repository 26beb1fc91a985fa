import { createServer, type IncomingMessage, type Server } from 'node:http';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessRunner } from '@hvctl/common';
import { HookDispatcher } from './hooks.js';
import type { Alert } from './types.js';

/** Tools run by absolute path only (the process runner refuses anything else). */
const TEE = '/usr/bin/tee';

const alert = (status: Alert['status']): Alert => ({
  id: 'node-unreachable/msk-1',
  rule: 'node-unreachable',
  subject: 'msk-1',
  severity: 'critical',
  summary: 'msk-1 unreachable for 31 s',
  status,
  startsAtUnixMs: 1_000,
  endsAtUnixMs: status === 'resolved' ? 9_000 : 0,
  cluster: 'lab',
  watcher: 'bak-1',
});

const body = (request: IncomingMessage): Promise<string> =>
  new Promise((resolve) => {
    let text = '';
    request.on('data', (chunk: Buffer) => (text += chunk.toString()));
    request.on('end', () => resolve(text));
  });

describe('alert hooks', () => {
  let dir: string;
  let server: Server | undefined;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-hooks-'));
  });
  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
    await rm(dir, { recursive: true, force: true });
  });

  it('runs a command with the alert JSON on stdin, firing before resolved', async () => {
    // Given a hook that appends its stdin to a file (a real child process, no shell involved)
    const out = join(dir, 'alerts.jsonl');
    const hooks = new HookDispatcher({ hooks: [{ command: [TEE, '-a', out], timeoutMs: 5000 }], runner: new ProcessRunner() });
    hooks.deliver(alert('firing'));
    hooks.deliver(alert('resolved'));
    await hooks.idle();
    const lines = (await readFile(out, 'utf8')).trim().split('\n').map((line) => JSON.parse(line) as Alert);
    expect(lines.map((line) => line.status)).toEqual(['firing', 'resolved']);
    expect(lines[1]).toEqual(alert('resolved'));
  });

  it('posts the JSON to an HTTP hook and retries a failing one with backoff', async () => {
    // Given a loopback server that fails the first request and accepts the second
    const received: { status: number; body: Alert; type: string | undefined }[] = [];
    server = createServer((request, response) => {
      void body(request).then((text) => {
        const status = received.length === 0 ? 503 : 204;
        received.push({ status, body: JSON.parse(text) as Alert, type: request.headers['content-type'] });
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => server?.listen(0, '127.0.0.1', resolve));
    const address = server.address() as { port: number };
    const failures: string[] = [];
    const hooks = new HookDispatcher({
      hooks: [{ url: `http://127.0.0.1:${address.port}/alerts`, timeoutMs: 2000 }],
      runner: new ProcessRunner(),
      backoffMs: 50,
      onFailure: (hook) => failures.push(hook),
    });
    hooks.deliver(alert('firing'));
    await hooks.idle();
    expect(received.map((entry) => entry.status)).toEqual([503, 204]);
    expect(received[1]?.body).toEqual(alert('firing'));
    expect(received[1]?.type).toBe('application/json');
    expect(failures).toEqual([]);
  });

  it('reports a hook that keeps failing without blocking the other hooks', async () => {
    // Given a command that always fails, next to one that works
    const failing = join(dir, 'fail.sh');
    await writeFile(failing, '#!/bin/sh\nexit 3\n');
    await chmod(failing, 0o755);
    const out = join(dir, 'ok.jsonl');
    const failures: string[] = [];
    const hooks = new HookDispatcher({
      hooks: [
        { command: [failing], timeoutMs: 2000 },
        { command: [TEE, '-a', out], timeoutMs: 2000 },
      ],
      runner: new ProcessRunner(),
      attempts: 3,
      backoffMs: 20,
      onFailure: (hook, failed) => failures.push(`${hook} ${failed.status}`),
    });
    hooks.deliver(alert('firing'));
    await hooks.idle();
    expect(failures).toEqual([`command ${failing} firing`]);
    expect((await readFile(out, 'utf8')).trim().split('\n')).toHaveLength(1);
  });
});
