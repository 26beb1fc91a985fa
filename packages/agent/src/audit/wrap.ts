import * as grpc from '@grpc/grpc-js';
import { toServiceError, type Logger } from '@hvctl/common';
import { callerOf } from '../security/caller.js';
import type { AuditCall, AuditJournal, AuditOutcome } from './journal.js';
import { isMutating } from './mutating.js';

/** A workflow id as the engine makes them; steps send `requestId` = `<workflow id>:<step>:<attempt>`. */
const WORKFLOW_ID = /^(wf-[a-z0-9-]{1,60})(?::|$)/;

function workflowIdIn(message: unknown): string | undefined {
  if (message === null || typeof message !== 'object') return undefined;
  const fields = message as Record<string, unknown>;
  const workflow = fields['workflow'] as Record<string, unknown> | null | undefined;
  for (const candidate of [fields['workflowId'], fields['requestId'], fields['id'], workflow?.['id']]) {
    const match = typeof candidate === 'string' ? WORKFLOW_ID.exec(candidate) : null;
    if (match?.[1]) return match[1];
  }
  return undefined;
}

/** Which request ids the agent has already served (the RequestLedger, by method name `Promote`): their repeats do not act. */
export interface ReplayCheck {
  seen(method: string, requestId: string): boolean;
}

function describeCall(path: string, call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>, replays: ReplayCheck | undefined): AuditCall {
  const request = call.request as Record<string, unknown> | null;
  const requestId = typeof request?.['requestId'] === 'string' ? request['requestId'] : '';
  const workflowId = workflowIdIn(request);
  const replayed = requestId !== '' && replays?.seen(path.slice(path.lastIndexOf('/') + 1), requestId) === true;
  return { method: path, identity: callerOf(call), ...(requestId ? { requestId } : {}), ...(workflowId ? { workflowId } : {}), ...(replayed ? { replayed } : {}) };
}

function failure(error: Partial<grpc.ServiceError> | grpc.StatusObject): Omit<AuditOutcome, 'durationMs'> {
  const code = error.code ?? grpc.status.UNKNOWN;
  if (code === grpc.status.CANCELLED) return { result: 'cancelled', status: 'CANCELLED', message: error.details ?? '' };
  return { result: 'error', status: grpc.status[code] ?? String(code), message: error.details ?? (error as Error).message ?? '' };
}

/**
 * Wraps one service's handlers so that every mutating method (audit/mutating.ts) writes
 * its intent, fsynced, before the handler runs and its outcome after it ends, before the
 * caller hears the result. When the intent cannot be written the call is refused with
 * UNAVAILABLE and the handler never runs. Read-only methods are passed through untouched.
 * A call whose request_id `replays` has already seen is journaled with `replayed: true`:
 * it gets the first call's result and does not act again.
 */
export function auditedService<H extends grpc.UntypedServiceImplementation>(audit: AuditJournal, logger: Logger, definition: grpc.ServiceDefinition, handlers: H, replays?: ReplayCheck): H {
  const wrapped: grpc.UntypedServiceImplementation = { ...handlers };
  for (const [name, method] of Object.entries(definition)) {
    const handler = handlers[name];
    if (!handler || !isMutating(method.path)) continue;
    if (method.requestStream) throw new Error(`the audit journal cannot wrap ${method.path}: client-streaming calls are not supported`);
    const refuse = (error: unknown): Partial<grpc.ServiceError> => toServiceError(error, (cause) => logger.error({ err: cause, method: method.path }, 'audit journal failed'));
    const record = (seq: number, call: AuditCall, started: number, outcome: Omit<AuditOutcome, 'durationMs'>): Promise<void> =>
      audit.outcome(seq, call, { ...outcome, durationMs: Date.now() - started }).catch((error: unknown) => {
        // The call already acted: its result still goes back; the missing outcome is logged.
        logger.error({ err: error, method: method.path, intentSeq: seq }, 'cannot journal the outcome of a call');
      });
    wrapped[name] = method.responseStream
      ? streamHandler(audit, method.path, handler as grpc.handleServerStreamingCall<unknown, unknown>, refuse, record, replays)
      : unaryHandler(audit, method.path, handler as grpc.handleUnaryCall<unknown, unknown>, refuse, record, replays);
  }
  return wrapped as H;
}

type Refuse = (error: unknown) => Partial<grpc.ServiceError>;
type RecordOutcome = (seq: number, call: AuditCall, started: number, outcome: Omit<AuditOutcome, 'durationMs'>) => Promise<void>;

function unaryHandler(audit: AuditJournal, path: string, handler: grpc.handleUnaryCall<unknown, unknown>, refuse: Refuse, record: RecordOutcome, replays: ReplayCheck | undefined): grpc.handleUnaryCall<unknown, unknown> {
  return (call, callback) => {
    const started = Date.now();
    // The caller comes from the auth interceptor; a call without one is refused before anything is written or done.
    let info: AuditCall;
    try {
      info = describeCall(path, call, replays);
    } catch (error) {
      callback(refuse(error));
      return;
    }
    audit.intent(info, call.request).then(
      (seq) => {
        handler(call, (error, value, trailer, flags) => {
          const workflowId = info.workflowId ?? workflowIdIn(value);
          void record(seq, { ...info, ...(workflowId ? { workflowId } : {}) }, started, error ? failure(error) : { result: 'ok' }).then(() => callback(error, value, trailer, flags));
        });
      },
      (error: unknown) => callback(refuse(error)),
    );
  };
}

function streamHandler(audit: AuditJournal, path: string, handler: grpc.handleServerStreamingCall<unknown, unknown>, refuse: Refuse, record: RecordOutcome, replays: ReplayCheck | undefined): grpc.handleServerStreamingCall<unknown, unknown> {
  return (call) => {
    const started = Date.now();
    let info: AuditCall;
    try {
      info = describeCall(path, call, replays);
    } catch (error) {
      call.emit('error', refuse(error) as grpc.ServiceError);
      return;
    }
    audit.intent(info, call.request).then(
      (seq) => {
        let recorded: Promise<void> | undefined;
        const finish = (outcome: Omit<AuditOutcome, 'durationMs'>): Promise<void> => (recorded ??= record(seq, info, started, outcome));
        const end = call.end.bind(call) as (...args: unknown[]) => grpc.ServerWritableStream<unknown, unknown>;
        // The handler ends the stream on success: the outcome is written first.
        call.end = ((...args: unknown[]) => {
          void finish({ result: 'ok' }).then(() => end(...args));
          return call;
        }) as typeof call.end;
        // grpc-js's own 'error' listener (registered first) ends the stream at once: the failure is taken from emit itself.
        const emit = call.emit.bind(call) as (event: string | symbol, ...args: unknown[]) => boolean;
        call.emit = ((event: string | symbol, ...args: unknown[]) => {
          if (event === 'error') void finish(failure(args[0] as grpc.ServiceError));
          return emit(event, ...args);
        }) as typeof call.emit;
        call.on('cancelled', () => void finish({ result: 'cancelled', status: 'CANCELLED', message: 'the caller cancelled the call' }));
        handler(call);
      },
      (error: unknown) => call.emit('error', refuse(error) as grpc.ServiceError),
    );
  };
}
