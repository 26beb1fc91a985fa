import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HvctlError, failedPrecondition, unavailable } from '@hvctl/common';
import { makeTempDir, removeTempDir } from '@hvctl/common/testing';
import type { DriverChange } from '../types.js';
import { Channel, connectChannel, type Handler } from './host-channel.js';

/** A server end and a client end of the channel over a unix socket in a temp dir. */
async function pair(handlers: Record<string, Handler>, onChanges?: (changes: readonly DriverChange[]) => void) {
  const dir = await makeTempDir('hvctl-channel-');
  const path = join(dir, 'host.sock');
  let serverEnd: Channel | undefined;
  const server: Server = createServer((socket) => {
    serverEnd = new Channel(socket, handlers);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  const client = await connectChannel(path, {}, onChanges ? { onChanges } : {}, () => unavailable('gone'));
  while (!serverEnd) await new Promise((resolve) => setTimeout(resolve, 5));
  return {
    client,
    server: serverEnd,
    close: async () => {
      client.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await removeTempDir(dir);
    },
  };
}

describe('the host channel', () => {
  let close: (() => Promise<void>) | undefined;
  afterEach(async () => {
    await close?.();
    close = undefined;
  });

  it('returns results and keeps an error its code, message and next steps', async () => {
    const ends = await pair({
      add: ([a, b]) => (a as number) + (b as number),
      refuse: () => {
        throw failedPrecondition('vm-a is held open', { nextSteps: ['stop vm-a first'] });
      },
      crash: () => {
        throw new Error('boom');
      },
    });
    close = ends.close;
    expect(await ends.client.call('add', [2, 3])).toBe(5);
    const refused = await ends.client.call('refuse', []).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HvctlError);
    expect(refused).toMatchObject({ code: 'FAILED_PRECONDITION', message: 'vm-a is held open', details: { unchanged: 'nothing was changed', nextSteps: ['stop vm-a first'] } });
    expect(await ends.client.call('crash', []).catch((error: unknown) => error)).toMatchObject({ code: 'INTERNAL', message: 'boom' });
    expect(await ends.client.call('missing', []).catch((error: unknown) => error)).toMatchObject({ code: 'UNIMPLEMENTED' });
  });

  it('carries progress to the caller and a cancel to the handler', async () => {
    const ends = await pair({
      work: async (_args, context) => {
        for (let step = 1; ; step += 1) {
          context.progress({ step });
          await new Promise((resolve) => setTimeout(resolve, 10));
          if (context.signal.aborted) throw new HvctlError('ABORTED', `cancelled at step ${step}`);
        }
      },
    });
    close = ends.close;
    const controller = new AbortController();
    const seen: unknown[] = [];
    const call = ends.client.call('work', [], {
      signal: controller.signal,
      onProgress: (value) => {
        seen.push(value);
        if (seen.length === 3) controller.abort();
      },
    });
    await expect(call).rejects.toMatchObject({ code: 'ABORTED', message: expect.stringMatching(/^cancelled at step \d+$/) });
    expect(seen.slice(0, 3)).toEqual([{ step: 1 }, { step: 2 }, { step: 3 }]);
  });

  it('sends the changes of one event-loop turn as one batch, in order', async () => {
    const batches: (readonly DriverChange[])[] = [];
    const ends = await pair({}, (changes) => batches.push(changes));
    close = ends.close;
    const change = (name: string): DriverChange => ({ change: 'domainRemoved', domainRemoved: name }) as DriverChange;
    for (const name of ['a', 'b', 'c']) ends.server.pushChange(change(name));
    while (batches.length === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    ends.server.pushChange(change('d'));
    while (batches.length === 1) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(batches.map((batch) => batch.map((entry) => entry.domainRemoved))).toEqual([['a', 'b', 'c'], ['d']]);
  });

  it('fails pending calls when the other side goes away, and aborts what that side had asked for', async () => {
    let aborted = false;
    const ends = await pair({
      hang: (_args, context) =>
        new Promise((_resolve, reject) => {
          context.signal.addEventListener('abort', () => {
            aborted = true;
            reject(new Error('aborted'));
          });
        }),
    });
    close = ends.close;
    const pending = ends.client.call('hang', []);
    await new Promise((resolve) => setTimeout(resolve, 50));
    ends.client.close();
    await expect(pending).rejects.toMatchObject({ code: 'UNAVAILABLE', message: 'gone' });
    while (!aborted) await new Promise((resolve) => setTimeout(resolve, 5));
    await expect(ends.client.call('hang', [])).rejects.toMatchObject({ code: 'UNAVAILABLE' });
  });
});
