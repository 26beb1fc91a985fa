import type { SecureContextOptions } from 'node:tls';
import * as grpc from '@grpc/grpc-js';

/**
 * TLS server credentials that ask every client for a certificate, verify it against the
 * cluster CA only (`ca` replaces the system store), but do not end the handshake when a
 * client sends none or an untrusted one: grpc-js then exposes the certificate to the auth
 * interceptor only when it verified (`getAuthContext()` checks `socket.authorized`), and
 * the interceptor answers UNAUTHENTICATED per call — or accepts a bearer token — instead
 * of an opaque handshake failure. Plaintext clients fail the handshake (UNAVAILABLE).
 *
 * `ServerCredentials.createSsl(ca, pairs, true)` would set `requestCert` with Node's
 * default `rejectUnauthorized: true`; this subclass of the public abstract class passes
 * `rejectUnauthorized: false` through the constructor options instead.
 */
export class ClusterServerCredentials extends grpc.ServerCredentials {
  constructor(context: { readonly ca: Buffer; readonly cert: Buffer; readonly key: Buffer }) {
    const secureContext: SecureContextOptions = { ca: context.ca, cert: context.cert, key: context.key, minVersion: 'TLSv1.2' };
    super({ requestCert: true, rejectUnauthorized: false }, secureContext);
  }

  override _equals(other: grpc.ServerCredentials): boolean {
    return other === this;
  }
}
