import { EventEmitter } from 'node:events';
import type * as grpc from '@grpc/grpc-js';
import { currentCallContext, silentLogger } from '@hvctl/common';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DEFAULT_MAX_CALL_MS, maxCallMs, unary } from './handler.js';

/** A unary call as grpc-js hands it to a handler: a request, a deadline, 'cancelled' events. */
function fakeCall(deadline: Date | number): grpc.ServerUnaryCall<object, object> {
  return Object.assign(new EventEmitter(), { request: {}, getDeadline: () => deadline }) as unknown as grpc.ServerUnaryCall<object, object>;
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

  it('leaves no timer behind once a call answered', async () => {
    const handler = unary(silentLogger(), 'GetInfo', async () => ({}));
    await invoke(handler, fakeCall(Infinity));
    expect(vi.getTimerCount()).toBe(0);
  });
});
