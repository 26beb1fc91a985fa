import type * as grpc from '@grpc/grpc-js';

/** What a caller may do; see docs/security.md. `node` is another agent of the cluster. */
export type Role = 'viewer' | 'operator' | 'admin' | 'node';

/** Who made a call, as the agent established it. */
export interface Caller {
  /** The certificate's or token's subject name ("alice", "msk-2", "backup-script"). */
  readonly name: string;
  readonly role: Role;
  /** How the caller proved it: a client certificate of the cluster CA, a signed token, or nothing (--insecure-lab). */
  readonly via: 'certificate' | 'token' | 'insecure';
}

/** The parts of a server call the caller is derived from. */
export type CallerSource = Pick<grpc.ServerSurfaceCall, 'getAuthContext' | 'metadata'>;

/** The caller of a call. Placeholder until mutual TLS lands: every caller is an insecure admin. */
export function callerOf(_call: CallerSource): Caller {
  return { name: 'anonymous', role: 'admin', via: 'insecure' };
}
