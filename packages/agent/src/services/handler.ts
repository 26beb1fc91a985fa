import type * as grpc from '@grpc/grpc-js';
import { deadlineToMs, toServiceError, withCallContext, type Logger } from '@hvctl/common';

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
    new Promise<Res>((resolve) => resolve(withCallContext(callContextOf(call), () => implementation(call.request, call)))).then(
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
    new Promise<void>((resolve) => resolve(withCallContext(callContextOf(call), () => implementation(call.request, call)))).then(
      () => call.end(),
      (error: unknown) => {
        if (call.cancelled) return;
        // grpc-js sends the status from the stream's 'error' handler; destroy() would never send one.
        call.emit('error', toServiceError(error, (cause) => logger.error({ err: cause, method }, 'unexpected error')) as grpc.ServiceError);
      },
    );
  };
}

/**
 * The caller's deadline and cancellation, made ambient for the handler so that every
 * tool the drivers run on its behalf inherits them (the process runner reads them).
 */
function callContextOf(call: Pick<grpc.ServerUnaryCall<unknown, unknown>, 'on' | 'getDeadline'>): { deadlineMs?: number; signal: AbortSignal } {
  const controller = new AbortController();
  call.on('cancelled', () => controller.abort(new Error('the caller cancelled the call')));
  const deadlineMs = deadlineToMs(call.getDeadline());
  return { ...(deadlineMs !== undefined ? { deadlineMs } : {}), signal: controller.signal };
}
