import type * as grpc from '@grpc/grpc-js';
import { HvctlError, type Role as CommonRole } from '@hvctl/common';

/** What a caller may do; see docs/security.md. `node` is another agent of the cluster. */
export type Role = CommonRole;

/** Who made a call, as the agent established it. */
export interface Caller {
  /** The certificate's or token's subject name ("alice", "msk-2", "backup-script"). */
  readonly name: string;
  readonly role: Role;
  /** How the caller proved it: a client certificate of the cluster CA, a signed token, or nothing (--insecure-lab). */
  readonly via: 'certificate' | 'token' | 'insecure';
}

/** The parts of a server call the caller is derived from. */
export type CallerSource = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext' | 'metadata'>;

/**
 * Callers established by the auth interceptor (interceptor.ts), keyed by the call's
 * request metadata object, which grpc-js hands unchanged from the interceptor to the
 * handler. Weak: an entry lives exactly as long as its call.
 */
const established = new WeakMap<grpc.Metadata, Caller>();

/** Records the caller of a call; the interceptor does this before the handler runs (tests may too). */
export function attachCaller(metadata: grpc.Metadata, caller: Caller): void {
  established.set(metadata, caller);
}

/**
 * The caller of a call, as the auth interceptor verified it (certificate, token or
 * --insecure-lab). Throws INTERNAL for a call that did not pass the interceptor: never
 * guess an identity.
 */
export function callerOf(call: CallerSource): Caller {
  const caller = established.get(call.metadata);
  if (!caller) {
    throw new HvctlError('INTERNAL', 'this call reached a handler without passing the authentication interceptor', {
      unchanged: 'nothing was changed',
      nextSteps: ['build the server with createServer(), which installs the interceptor'],
    });
  }
  return caller;
}
