import { status, type ServiceError, Metadata } from '@grpc/grpc-js';

/** gRPC status codes a domain error may carry. */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'UNAVAILABLE'
  | 'DEADLINE_EXCEEDED'
  | 'UNIMPLEMENTED'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'RESOURCE_EXHAUSTED'
  | 'INTERNAL';

export interface ErrorDetails {
  /** What was left as it was, so the operator knows nothing half-happened. */
  readonly unchanged?: string;
  /** What to do next. */
  readonly nextSteps?: readonly string[];
}

/**
 * A domain error: says what happened, what was left unchanged and what to do next,
 * and carries the gRPC status it maps to. Mapped to a ServiceError in one place
 * (toServiceError) and back on the client (fromServiceError).
 */
export class HvctlError extends Error {
  override readonly name = 'HvctlError';
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details: ErrorDetails = {},
  ) {
    super(message);
  }

  /** The message with the unchanged note and next steps, for people. */
  describe(): string {
    const parts = [this.message];
    if (this.details.unchanged) parts.push(`Unchanged: ${this.details.unchanged}`);
    for (const step of this.details.nextSteps ?? []) parts.push(`Next: ${step}`);
    return parts.join('\n');
  }
}

export const invalidArgument = (message: string, details?: ErrorDetails): HvctlError =>
  new HvctlError('INVALID_ARGUMENT', message, { unchanged: 'nothing was changed', ...details });
export const notFound = (message: string, details?: ErrorDetails): HvctlError =>
  new HvctlError('NOT_FOUND', message, { unchanged: 'nothing was changed', ...details });
export const failedPrecondition = (message: string, details?: ErrorDetails): HvctlError =>
  new HvctlError('FAILED_PRECONDITION', message, { unchanged: 'nothing was changed', ...details });
export const unavailable = (message: string, details?: ErrorDetails): HvctlError =>
  new HvctlError('UNAVAILABLE', message, details);

const DETAILS_KEY = 'hvctl-error-details-bin';

/**
 * The one mapping point from any thrown value to a gRPC ServiceError. Domain errors
 * keep their status and message; anything else becomes INTERNAL with a generic
 * message, and `onUnknown` receives the original for the log.
 */
export function toServiceError(error: unknown, onUnknown: (error: unknown) => void): Partial<ServiceError> {
  if (error instanceof HvctlError) {
    const metadata = new Metadata();
    metadata.set(DETAILS_KEY, Buffer.from(JSON.stringify(error.details)));
    return { code: status[error.code], details: error.message, metadata };
  }
  onUnknown(error);
  return { code: status.INTERNAL, details: 'internal error in the agent; the detail is in the agent log' };
}

function isServiceError(error: unknown): error is ServiceError {
  return typeof error === 'object' && error !== null && 'code' in error && typeof (error as ServiceError).code === 'number';
}

const CODE_NAMES = new Map<number, ErrorCode>(
  (Object.entries(status) as [string, number | string][])
    .filter((entry): entry is [ErrorCode, number] => typeof entry[1] === 'number')
    .map(([name, code]) => [code, name]),
);

/** Turns an error from a gRPC call back into an HvctlError (client side). */
export function fromServiceError(error: unknown, context: string): HvctlError {
  if (error instanceof HvctlError) return error;
  if (!isServiceError(error)) return new HvctlError('INTERNAL', `${context}: ${String(error)}`);
  const code = CODE_NAMES.get(error.code) ?? 'INTERNAL';
  let details: ErrorDetails = {};
  const raw = error.metadata?.get(DETAILS_KEY)[0];
  if (Buffer.isBuffer(raw)) {
    try {
      details = JSON.parse(raw.toString('utf8')) as ErrorDetails;
    } catch {
      details = {};
    }
  }
  // grpc-js's connection errors read "No connection established. Last error: Error: connect
  // ECONNREFUSED ... Resolution note: "; keep the part a person needs.
  const text = (error.details || error.message).replace(/\s*Resolution note:\s*$/, '').replace('Last error: Error: ', 'last error: ');
  return new HvctlError(code, `${context}: ${text}`, details);
}
