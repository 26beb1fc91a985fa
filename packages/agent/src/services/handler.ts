import type * as grpc from '@grpc/grpc-js';
import { HvctlError, deadlineToMs, toServiceError, withCallContext, type Logger } from '@hvctl/common';

/** The longest a call may run on this agent, whatever deadline its caller set (or none). */
export const DEFAULT_MAX_CALL_MS = 60_000;

/** Methods whose work legitimately takes longer than the default (a guest's shutdown, a disk's copy). */
export const MAX_CALL_MS: Readonly<Record<string, number>> = {
  Shutdown: 15 * 60_000,
  Migrate: 2 * 60 * 60_000,
  CreateBackup: 12 * 60 * 60_000,
  Restore: 12 * 60 * 60_000,
  VerifyBackups: 12 * 60 * 60_000,
  ApplyRetention: 60 * 60_000,
  ReadJournal: 10 * 60_000,
  VerifyJournal: 10 * 60_000,
};

/** The method's maximum run time on this agent. */
export function maxCallMs(method: string): number {
  return MAX_CALL_MS[method] ?? DEFAULT_MAX_CALL_MS;
}

/**
 * Wraps an async unary implementation: the one place where thrown errors become gRPC
 * statuses (domain errors keep theirs; anything else is INTERNAL and logged).
 */
export function unary<Req, Res>(
  logger: Logger,
  method: string,
  implementation: (request: Req, call: grpc.ServerUnaryCall<Req, Res>) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    // Through a promise, so that a synchronous throw (validation) gets its status too, not UNKNOWN.
    const context = callContextOf(call, method);
    capped(context, new Promise<Res>((resolve) => resolve(withCallContext(context, () => implementation(call.request, call))))).then(
      (response) => callback(null, response),
      (error: unknown) => callback(toServiceError(error, (cause) => logger.error({ err: cause, method }, 'unexpected error'))),
    );
  };
}

/** Wraps an async server-streaming implementation the same way. */
export function serverStream<Req, Res>(
  logger: Logger,
  method: string,
  implementation: (request: Req, call: grpc.ServerWritableStream<Req, Res>) => Promise<void>,
): grpc.handleServerStreamingCall<Req, Res> {
  return (call) => {
    const context = callContextOf(call, method);
    capped(context, new Promise<void>((resolve) => resolve(withCallContext(context, () => implementation(call.request, call))))).then(
      () => call.end(),
      (error: unknown) => {
        if (call.cancelled) return;
        // grpc-js sends the status from the stream's 'error' handler; destroy() would never send one.
        call.emit('error', toServiceError(error, (cause) => logger.error({ err: cause, method }, 'unexpected error')) as grpc.ServiceError);
      },
    );
  };
}

/** A call's ambient context: the deadline (the caller's, capped by the method's maximum) and a signal. */
interface HandlerContext {
  readonly deadlineMs: number;
  readonly signal: AbortSignal;
  /** Stops the deadline's timer once the work settled. */
  readonly settled: () => void;
}

/**
 * The caller's deadline and cancellation, made ambient for the handler so that every
 * tool the drivers run on its behalf inherits them (the process runner reads them). The
 * deadline is capped at the method's maximum: at the cap the signal fires, tools are killed.
 */
function callContextOf(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'on' | 'getDeadline'>, method: string): HandlerContext {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(new Error('the caller cancelled the call')));
  const maxMs = maxCallMs(method);
  const callerMs = deadlineToMs(call.getDeadline());
  const deadlineMs = Math.min(callerMs ?? Infinity, Date.now() + maxMs);
  const timer = setTimeout(() => {
    controller.abort(
      new HvctlError('DEADLINE_EXCEEDED', `${method} ran into its deadline (at most ${maxMs / 1000} s on this agent) and was stopped`, {
        unchanged: 'the tools it ran were stopped; check the state before retrying (a retry with the same request_id is safe)',
      }),
    );
  }, Math.max(0, deadlineMs - Date.now()));
  timer.unref();
  return { deadlineMs, signal: controller.signal, settled: () => clearTimeout(timer) };
}

/** Settles with the work, or with DEADLINE_EXCEEDED once the context's deadline passes (whatever the work does). */
function capped<T>(context: HandlerContext, work: Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => {
      const reason: unknown = context.signal.reason;
      if (reason instanceof HvctlError) reject(reason);
    };
    if (context.signal.aborted) onAbort();
    context.signal.addEventListener('abort', onAbort, { once: true });
    work.then(resolve, reject).finally(() => {
      context.settled();
      context.signal.removeEventListener('abort', onAbort);
    });
  });
}
