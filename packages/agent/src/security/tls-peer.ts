import { TLSSocket } from 'node:tls';

/** Why TLS did not verify a client certificate the peer did send, and that certificate. */
export interface UnverifiedPeer {
  /** Node's verification code: CERT_HAS_EXPIRED, CERT_NOT_YET_VALID, DEPTH_ZERO_SELF_SIGNED_CERT, ... */
  readonly reason: string;
  /** The certificate as sent (DER). */
  readonly raw: Buffer;
}

/**
 * The client certificate TLS refused to verify, with Node's reason. grpc-js's
 * getAuthContext() hides unverified certificates, so this reads the connection through
 * grpc-js internals (1.14: each ServerInterceptingCall's `nextCall`, down to the base
 * call's HTTP/2 `stream.session.socket`). Used only to word a refusal ("expired on ...");
 * it never lets a caller in. Undefined when the structure differs or the certificate
 * verified: the caller then gets the generic refusal, and matrix.integration.test.ts fails
 * on the expired case, so a grpc-js upgrade that moves them is noticed.
 */
export function unverifiedPeer(call: object): UnverifiedPeer | undefined {
  let current: unknown = call;
  for (let depth = 0; depth < 16 && current && typeof current === 'object' && 'nextCall' in current; depth += 1) {
    current = (current as { nextCall: unknown }).nextCall;
  }
  const socket = (current as { stream?: { session?: { socket?: unknown } } } | undefined)?.stream?.session?.socket;
  if (!(socket instanceof TLSSocket) || socket.authorized) return undefined;
  const error = socket.authorizationError as unknown;
  const reason = typeof error === 'string' ? error : ((error as { code?: string; message?: string } | null)?.code ?? (error as Error | null)?.message);
  const raw = socket.getPeerCertificate()?.raw;
  if (!reason || !raw) return undefined;
  return { reason, raw };
}
