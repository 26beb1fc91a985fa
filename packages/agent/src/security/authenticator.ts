import { X509Certificate, createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { HvctlError, describeCertificate, isIssuedBy, verifyToken } from '@hvctl/common';
import type { Caller, CallerSource } from './caller.js';
import type { RevocationWatcher } from './revocation-watcher.js';
import type { UnverifiedPeer } from './tls-peer.js';

/** What a call offers to authenticate it: metadata, the verified certificate, and the one TLS refused (tls-peer.ts). */
export type AuthSource = CallerSource & { readonly unverifiedPeer?: () => UnverifiedPeer | undefined; readonly path?: string };

/**
 * The one method authenticated against the last valid revocation list while the file is
 * broken (every other call is refused): what it installs must be signed by the CA anyway,
 * and it is how an admin repairs the file without logging in to the node.
 */
export const UPDATE_REVOCATIONS_PATH = '/hvctl.v1.SecurityService/UpdateRevocations';

/** Establishes who made a call, or throws UNAUTHENTICATED saying why not. */
export interface Authenticator {
  authenticate(call: AuthSource): Promise<Caller>;
}

/** --insecure-lab: every caller is anonymous and the interceptor authorises nothing (agents and people alike). Never used with TLS. */
export const INSECURE_AUTHENTICATOR: Authenticator = {
  authenticate: async () => ({ name: 'anonymous', role: 'admin', via: 'insecure' }),
};

const refused = (message: string, next?: string): HvctlError =>
  new HvctlError('UNAUTHENTICATED', message, {
    unchanged: 'nothing was changed',
    nextSteps: [next ?? 'connect with a certificate of this cluster\'s CA (`hvctl certs issue NAME --role ROLE`) or a token (`hvctl certs token NAME --role ROLE`)'],
  });

/**
 * Mutual TLS: the TLS layer has already checked the client certificate's chain against
 * the cluster CA (and nothing else) and hands it on only then; this adds the role, the
 * validity dates and revocation. Without a certificate, an `authorization: Bearer` token
 * signed by the CA, unexpired, unrevoked and scoped to this node (if scoped) will do.
 */
export class TlsAuthenticator implements Authenticator {
  private readonly caCert: X509Certificate;
  /** Certificates already checked against the CA, by SHA-256 fingerprint. */
  private readonly issuedByCa = new Map<string, boolean>();

  constructor(
    private readonly options: { readonly caPem: string; readonly node: string; readonly revocations: RevocationWatcher; readonly now?: () => number },
  ) {
    this.caCert = new X509Certificate(options.caPem);
  }

  async authenticate(call: AuthSource): Promise<Caller> {
    const revocations = this.options.revocations;
    const revoked = call.path === UPDATE_REVOCATIONS_PATH ? await revocations.lastGood() : await revocations.current();
    const now = this.options.now?.() ?? Date.now();
    const peer = call.getAuthContext().sslPeerCertificate;
    if (peer?.raw) {
      if (!this.checkedIssuer(peer.raw, peer.fingerprint256)) throw refused('the client certificate was not issued by this cluster\'s CA');
      const info = describeCertificate(peer.raw);
      if (now >= info.notAfter.getTime()) throw refused(`the client certificate of ${info.name} expired at ${info.notAfter.toISOString()}`, `ask an admin to issue a new one: hvctl certs issue ${info.name} --role ROLE --force`);
      if (now < info.notBefore.getTime()) throw refused(`the client certificate of ${info.name} is not valid before ${info.notBefore.toISOString()} (check the clocks)`);
      if (!info.role) throw refused(`the client certificate of ${info.name} carries no hvctl role (urn:hvctl:role:ROLE)`, 'issue certificates with `hvctl certs issue`');
      if (revoked.serialRevoked(info.serial)) throw refused(`the client certificate of ${info.name} (serial ${info.serial}) has been revoked`, 'ask an admin for a new certificate');
      return { name: info.name, role: info.role, via: 'certificate' };
    }
    const header = call.metadata.get('authorization')[0];
    if (typeof header === 'string' && header) {
      const match = /^Bearer\s+(\S+)$/i.exec(header);
      if (!match?.[1]) throw refused('the authorization header is not "Bearer TOKEN"');
      const payload = verifyToken(match[1], this.caCert, now);
      if (revoked.tokenRevoked(payload.id)) throw refused(`the token ${payload.id} of ${payload.name} has been revoked`, 'ask an admin for a new token');
      if (payload.nodes && !payload.nodes.includes(this.options.node)) {
        throw refused(`the token ${payload.id} of ${payload.name} is valid on ${payload.nodes.join(', ')}, not on ${this.options.node}`);
      }
      return { name: payload.name, role: payload.role, via: 'token' };
    }
    const unverified = call.unverifiedPeer?.();
    if (unverified) throw this.refusedByTls(unverified);
    throw refused('no client certificate of this cluster\'s CA (none sent, or self-signed, from another CA, expired or not yet valid) and no token');
  }

  /** Says why TLS refused a certificate the client sent; names the holder and dates only for certificates this CA issued. */
  private refusedByTls(peer: UnverifiedPeer): HvctlError {
    const ours = this.checkedIssuer(peer.raw, createHash('sha256').update(peer.raw).digest('hex'));
    if (!ours) return refused(`the client certificate was not issued by this cluster's CA (TLS: ${peer.reason})`);
    const info = describeCertificate(peer.raw);
    if (peer.reason === 'CERT_HAS_EXPIRED') {
      return refused(`the client certificate of ${info.name} (serial ${info.serial}) expired on ${info.notAfter.toISOString()}`, `ask an admin to issue a new one: hvctl certs issue ${info.name} --role ${info.role ?? 'ROLE'} --force`);
    }
    if (peer.reason === 'CERT_NOT_YET_VALID') return refused(`the client certificate of ${info.name} is not valid before ${info.notBefore.toISOString()} (check the clocks)`);
    return refused(`the client certificate of ${info.name} did not pass TLS verification (${peer.reason})`);
  }

  private checkedIssuer(raw: Buffer, fingerprint: string): boolean {
    let known = this.issuedByCa.get(fingerprint);
    if (known === undefined) {
      known = isIssuedBy(raw, this.options.caPem);
      if (this.issuedByCa.size > 10_000) this.issuedByCa.clear();
      this.issuedByCa.set(fingerprint, known);
    }
    return known;
  }
}

/** The gRPC status of an HvctlError raised while authenticating or authorising. */
export function statusOf(error: unknown): { code: grpc.status; details: string } {
  if (error instanceof HvctlError) return { code: grpc.status[error.code], details: error.message };
  return { code: grpc.status.UNAUTHENTICATED, details: 'the caller could not be authenticated; the detail is in the agent log' };
}
