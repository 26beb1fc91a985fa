import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { EventEmitter } from 'node:events';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';
import { renderConsole } from './render.js';

/** Just enough of a TTY for Ink: a stdout that records frames, a stdin the test types into. */
class FakeStdout extends EventEmitter {
  readonly isTTY = false;
  columns = 100;
  rows = 30;
  frames: string[] = [];
  write = (frame: string): boolean => {
    this.frames.push(frame);
    return true;
  };
}

class FakeStdin extends EventEmitter {
  readonly isTTY = true;
  private pending: string | null = null;
  type(text: string): void {
    this.pending = text;
    this.emit('readable');
  }
  read = (): string | null => {
    const value = this.pending;
    this.pending = null;
    return value;
  };
  setEncoding(): void {}
  setRawMode(): void {}
  ref(): void {}
  unref(): void {}
  resume(): void {}
  pause(): void {}
}

/** Resolves 'exited' when the console exits, 'still running' after a second. */
const outcome = (instance: { waitUntilExit(): Promise<unknown> }): Promise<string> =>
  Promise.race([instance.waitUntilExit().then(() => 'exited'), new Promise<string>((resolve) => setTimeout(() => resolve('still running'), 1000))]);

function start() {
  const snapshot = fakeClusterSnapshot(fakeLabStates(3));
  let listeners = 0;
  const source = {
    snapshot: () => snapshot,
    subscribe: () => {
      listeners += 1;
      return () => {
        listeners -= 1;
      };
    },
  };
  const stdout = new FakeStdout();
  const stdin = new FakeStdin();
  const instance = renderConsole(source, {
    title: 'lab',
    now: () => 1_700_000_000_000,
    ink: { stdout: stdout as unknown as NodeJS.WriteStream, stdin: stdin as unknown as NodeJS.ReadStream, debug: true, patchConsole: false },
  });
  return { instance, stdin, stdout, listeners: () => listeners };
}

describe('renderConsole', () => {
  it('draws the console and exits on q, unsubscribing from the source', async () => {
    // Given a console on the lab
    const { instance, stdin, stdout, listeners } = start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stripVTControlCharacters(stdout.frames.at(-1) ?? '')).toContain('hvctl lab');
    expect(listeners()).toBe(1);

    // When q is typed
    stdin.type('q');

    // Then waitUntilExit resolves and the source has no listener left
    expect(await outcome(instance)).toBe('exited');
    expect(listeners()).toBe(0);
  });

  it('exits on Ctrl-C through the key table', async () => {
    const { instance, stdin } = start();
    await new Promise((resolve) => setTimeout(resolve, 20));
    stdin.type('j');
    expect(await outcome(instance)).toBe('still running');
    stdin.type('\u0003');
    expect(await outcome(instance)).toBe('exited');
  });
});
