import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The deadline and cancellation of the request being served (a gRPC call), carried
 * implicitly through async code so that every tool call made on its behalf inherits
 * them without threading parameters through every driver method.
 */
export interface CallContext {
  /** Absolute deadline in Unix milliseconds (grpc `call.getDeadline()`), if the caller set one. */
  readonly deadlineMs?: number;
  /** Fires when the caller gives up (grpc `call.cancelled`). */
  readonly signal?: AbortSignal;
}

const storage = new AsyncLocalStorage<CallContext>();

/** Runs `fn` with `context` as the ambient call context (nested contexts narrow, never widen). */
export function withCallContext<T>(context: CallContext, fn: () => T): T {
  const outer = storage.getStore();
  // Nothing to narrow: the context is kept as given, so that a signal made on first use (the agent's handlers) is not made here.
  if (outer === undefined && (context.deadlineMs === undefined || Number.isFinite(context.deadlineMs))) return storage.run(context, fn);
  const deadlines = [outer?.deadlineMs, context.deadlineMs].filter((value): value is number => value !== undefined && Number.isFinite(value));
  const signals = [outer?.signal, context.signal].filter((value): value is AbortSignal => value !== undefined);
  const merged: CallContext = {
    ...(deadlines.length ? { deadlineMs: Math.min(...deadlines) } : {}),
    ...(signals.length === 1 ? { signal: signals[0] } : signals.length > 1 ? { signal: AbortSignal.any(signals) } : {}),
  };
  return storage.run(merged, fn);
}

/** The ambient call context, or an empty one outside any call. */
export function currentCallContext(): CallContext {
  return storage.getStore() ?? {};
}

/**
 * Converts a grpc-js deadline (`call.getDeadline()`: a Date, a number of ms, or Infinity)
 * into Unix milliseconds, or undefined when there is none.
 */
export function deadlineToMs(deadline: Date | number | undefined | null): number | undefined {
  if (deadline === undefined || deadline === null) return undefined;
  const ms = deadline instanceof Date ? deadline.getTime() : deadline;
  return Number.isFinite(ms) ? ms : undefined;
}
