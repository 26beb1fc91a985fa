import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { currentCallContext, silentLogger } from '@hvctl/common';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_MAX_CALL_MS, maxCallMs, unary } from './handler.js';

/** A unary call as grpc-js hands it to a handler: a request, a deadline, 'cancelled' events. */
function fakeCall(deadline: Date | number): grpc.ServerUnaryCall<object, object> & EventEmitter {
  return Object.assign(new EventEmitter(), { request: {}, getDeadline: () => deadline }) as unknown as grpc.ServerUnaryCall<object, object> & EventEmitter;
}

function invoke(handler: grpc.handleUnaryCall<object, object>, call: grpc.ServerUnaryCall<object, object>): Promise<{ error: Partial<grpc.ServiceError> | null; value?: object }> {
  return new Promise((resolve) => handler(call, ((error: Partial<grpc.ServiceError> | null, value?: object) => resolve({ error, value })) as grpc.sendUnaryData<object>));
}

describe('the handler wrapper', () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('caps a call without a deadline at the method maximum: the signal fires and the caller gets DEADLINE_EXCEEDED', async () => {
    let signal: AbortSignal | undefined;
    let deadlineMs: number | undefined;
    const handler = unary(silentLogger(), 'Promote', () => {
      ({ signal, deadlineMs } = currentCallContext());
      return new Promise<object>(() => undefined);
    });
    const started = Date.now();
    const answer = invoke(handler, fakeCall(Infinity));
    await vi.advanceTimersByTimeAsync(DEFAULT_MAX_CALL_MS - 1);
    expect(signal?.aborted).toBe(false);
    expect(deadlineMs).toBe(started + DEFAULT_MAX_CALL_MS);
    await vi.advanceTimersByTimeAsync(1);
    const { error } = await answer;
    expect(error?.code).toBe(4); // DEADLINE_EXCEEDED
    expect(error?.details).toContain('at most 60 s on this agent');
    expect(signal?.aborted).toBe(true);
  });

  it("keeps the caller's shorter deadline for the tools, and gives long methods a longer cap", async () => {
    let deadlineMs: number | undefined;
    const handler = unary(silentLogger(), 'Restore', async () => {
      deadlineMs = currentCallContext().deadlineMs;
      return {};
    });
    const callerDeadline = Date.now() + 5_000;
    expect((await invoke(handler, fakeCall(new Date(callerDeadline)))).error).toBeNull();
    expect(deadlineMs).toBe(callerDeadline);
    expect(maxCallMs('Restore')).toBeGreaterThan(DEFAULT_MAX_CALL_MS);
    expect(maxCallMs('GetInfo')).toBe(DEFAULT_MAX_CALL_MS);
  });

  it("aborts the tools of a call still at work when the caller cancels, and not those of a call already answered", async () => {
    // Given one call still at work and one already answered
    const signals: AbortSignal[] = [];
    let finish: (() => void) | undefined;
    const slow = unary(silentLogger(), 'Promote', () => {
      signals[0] = currentCallContext().signal as AbortSignal;
      return new Promise<object>((resolve) => (finish = () => resolve({})));
    });
    const fast = unary(silentLogger(), 'GetInfo', async () => {
      signals[1] = currentCallContext().signal as AbortSignal;
      return {};
    });
    const working = fakeCall(Infinity);
    const answered = fakeCall(Infinity);
    const slowAnswer = invoke(slow, working);
    expect((await invoke(fast, answered)).error).toBeNull();

    // When grpc-js reports both streams closed (it emits 'cancelled' for every call whose stream closes)
    working.emit('cancelled', 'cancelled');
    answered.emit('cancelled', 'cancelled');

    // Then only the call at work is aborted, and the answered call keeps no listener
    expect(signals[0]?.aborted).toBe(true);
    expect(signals[1]?.aborted).toBe(false);
    expect(answered.listenerCount('cancelled')).toBe(0);
    finish?.();
    expect((await slowAnswer).error).toBeNull();
  });

  it('hands a tool that starts after the caller cancelled a signal already aborted', async () => {
    // Given a call that asks for its signal only once it resumes
    let resume: (() => void) | undefined;
    const handler = unary(silentLogger(), 'Promote', async () => {
      await new Promise<void>((resolve) => (resume = resolve));
      return { aborted: currentCallContext().signal?.aborted };
    });
    const call = fakeCall(Infinity);
    const answer = invoke(handler, call);
    await Promise.resolve();

    // When the caller cancels before the call asks for its signal
    call.emit('cancelled', 'cancelled');
    resume?.();

    // Then the signal it gets is aborted
    expect((await answer).value).toEqual({ aborted: true });
  });

  it('leaves no timer behind once a call answered', async () => {
    const handler = unary(silentLogger(), 'GetInfo', async () => ({}));
    await invoke(handler, fakeCall(Infinity));
    expect(vi.getTimerCount()).toBe(0);
  });
});
