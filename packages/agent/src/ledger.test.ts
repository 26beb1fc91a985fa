import { describe, expect, it } from 'vitest';
import { HvctlError } from '@hvctl/common';
import { RequestLedger } from './ledger.js';

/** A promise with its resolve function, to hold an action open. */
function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((done) => {
    resolve = done;
  });
  return { promise, resolve };
}

describe('RequestLedger.once', () => {
  it('acts once per request id and returns the first result to a repeat', async () => {
    // Given a ledger and an action that counts its runs
    const ledger = new RequestLedger();
    let runs = 0;
    const act = async (): Promise<number> => {
      runs += 1;
      return runs * 10;
    };
    // When the same id is used twice
    const first = await ledger.once('Promote', 'req-1', act);
    const second = await ledger.once('Promote', 'req-1', act);
    // Then the action ran once and both got its result
    expect(runs).toBe(1);
    expect(first).toBe(10);
    expect(second).toBe(10);
    // And a new id acts again
    expect(await ledger.once('Promote', 'req-2', act)).toBe(20);
  });

  it('shares the running action with a repeat that arrives before it finished', async () => {
    const ledger = new RequestLedger();
    const gate = deferred<string>();
    let runs = 0;
    const act = (): Promise<string> => {
      runs += 1;
      return gate.promise;
    };
    const first = ledger.once('Cordon', 'req-1', act);
    const second = ledger.once('Cordon', 'req-1', act);
    gate.resolve('done');
    expect(await Promise.all([first, second])).toEqual(['done', 'done']);
    expect(runs).toBe(1);
  });

  it('remembers a failure: a retry with the same id gets the same error and does not act again', async () => {
    const ledger = new RequestLedger();
    let runs = 0;
    const act = async (): Promise<never> => {
      runs += 1;
      throw new HvctlError('FAILED_PRECONDITION', `refused #${runs}`);
    };
    await expect(ledger.once('Promote', 'req-1', act)).rejects.toThrow('refused #1');
    await expect(ledger.once('Promote', 'req-1', act)).rejects.toThrow('refused #1');
    expect(runs).toBe(1);
  });

  it('rejects an id reused for another method with INVALID_ARGUMENT, without acting', async () => {
    // Given an id used for Cordon
    const ledger = new RequestLedger();
    await ledger.once('Cordon', 'req-1', async () => 'cordoned');
    // When the same id comes with Uncordon
    let acted = false;
    const reuse = (): Promise<string> =>
      ledger.once('Uncordon', 'req-1', async () => {
        acted = true;
        return 'uncordoned';
      });
    // Then it is INVALID_ARGUMENT and nothing ran
    await expect(Promise.resolve().then(reuse)).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    expect(acted).toBe(false);
  });

  it('always acts for an empty id', async () => {
    const ledger = new RequestLedger();
    let runs = 0;
    for (let i = 0; i < 3; i += 1) {
      await ledger.once('Cordon', '', async () => {
        runs += 1;
      });
    }
    expect(runs).toBe(3);
  });

  it('forgets an id after its time to live and acts again', async () => {
    let now = 0;
    const ledger = new RequestLedger({ ttlMs: 1000, now: () => now });
    let runs = 0;
    const act = async (): Promise<number> => (runs += 1);
    await ledger.once('Cordon', 'req-1', act);
    now = 500;
    await ledger.once('Cordon', 'req-1', act);
    expect(runs).toBe(1);
    now = 2000;
    await ledger.once('Cordon', 'req-1', act);
    expect(runs).toBe(2);
  });

  it('keeps at most `capacity` ids, forgetting the oldest first', async () => {
    const ledger = new RequestLedger({ capacity: 2 });
    const runs: string[] = [];
    const act = (id: string) => async (): Promise<void> => {
      runs.push(id);
    };
    for (const id of ['a', 'b', 'c']) await ledger.once('Cordon', id, act(id));
    // 'c' and 'b' are remembered; 'a' was forgotten
    await ledger.once('Cordon', 'c', act('c'));
    await ledger.once('Cordon', 'a', act('a'));
    expect(runs).toEqual(['a', 'b', 'c', 'a']);
  });
});

describe('RequestLedger.stream', () => {
  it('replays earlier messages to a repeat, then the live ones, and acts once', async () => {
    // Given a streaming action that emitted two messages and is still running
    const ledger = new RequestLedger();
    const gate = deferred<void>();
    let emitLater!: (message: string) => void;
    let runs = 0;
    const act = async (emit: (message: string) => void): Promise<string> => {
      runs += 1;
      emit('p1');
      emit('p2');
      emitLater = emit;
      await gate.promise;
      emit('p4');
      return 'done';
    };
    const firstSeen: string[] = [];
    const first = ledger.stream('Migrate', 'mig-1', act, (message) => firstSeen.push(message));
    await Promise.resolve();
    await Promise.resolve();
    emitLater('p3');
    // When a repeat with the same id attaches
    const secondSeen: string[] = [];
    const second = ledger.stream('Migrate', 'mig-1', act, (message) => secondSeen.push(message));
    gate.resolve();
    // Then both see every message once, in order, and the same result; the action ran once
    expect(await first).toBe('done');
    expect(await second).toBe('done');
    expect(firstSeen).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(secondSeen).toEqual(['p1', 'p2', 'p3', 'p4']);
    expect(runs).toBe(1);
  });

  it('replays a finished stream in full to a late repeat', async () => {
    const ledger = new RequestLedger();
    const act = async (emit: (message: number) => void): Promise<string> => {
      emit(1);
      emit(2);
      return 'done';
    };
    await ledger.stream('CreateBackup', 'b-1', act, () => undefined);
    const seen: number[] = [];
    expect(await ledger.stream('CreateBackup', 'b-1', act, (message) => seen.push(message))).toBe('done');
    expect(seen).toEqual([1, 2]);
  });

  it('stops feeding a repeat once the stream ended', async () => {
    const ledger = new RequestLedger();
    let emitAfter!: (message: number) => void;
    await ledger.stream('Migrate', 'm-1', async (emit: (message: number) => void) => {
      emitAfter = emit;
      return 'done';
    }, () => undefined);
    const seen: number[] = [];
    await ledger.stream('Migrate', 'm-1', async () => 'never', (message: number) => seen.push(message));
    emitAfter(99);
    expect(seen).toEqual([]);
  });
});
