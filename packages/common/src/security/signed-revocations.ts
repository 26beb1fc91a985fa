import { createPrivateKey, sign, verify, X509Certificate } from 'node:crypto';
import { HvctlError } from '../errors.js';
import { parseRevocationList, type RevocationList, type RevokedEntry } from './revocation.js';

/**
 * Signed revocation lists: `hvctl certs revoke` signs revoked.json with the CA key (like
 * tokens, ECDSA P-256 / SHA-256) and numbers it, so an agent can accept a list pushed over
 * the network (SecurityService.UpdateRevocations) and a client can trust the list named in
 * its cluster file: the signature proves the CA wrote it, the number forbids going back to
 * an older one.
 */

/** Domain separation: these bytes can never be mistaken for a token's. */
const CONTEXT = 'hvctl-revocations-v1\n';

const entry = (value: RevokedEntry): RevokedEntry => ({ id: value.id, name: value.name, at: value.at, reason: value.reason });

/** The exact bytes the signature covers: every field but the signature, in a fixed order. */
export function signedRevocationBytes(list: RevocationList): Buffer {
  const body = { version: 1, number: list.number ?? 0, issuedAt: list.issuedAt ?? '', serials: list.serials.map(entry), tokens: list.tokens.map(entry) };
  return Buffer.from(CONTEXT + JSON.stringify(body), 'utf8');
}

/** Signs a list with the CA's private key (PEM). The list is normalised first (parseRevocationList). */
export function signRevocationList(list: Omit<RevocationList, 'signature'>, caKeyPem: string): RevocationList {
  const { signature: _dropped, ...normal } = parseRevocationList(list);
  const signature = sign('sha256', signedRevocationBytes(normal), { key: createPrivateKey(caKeyPem), dsaEncoding: 'ieee-p1363' });
  return { ...normal, signature: signature.toString('base64url') };
}

/** True when the list carries a signature that the CA certificate verifies. */
export function revocationListSignedBy(list: RevocationList, ca: X509Certificate | string | Buffer): boolean {
  if (!list.signature) return false;
  const caCert = ca instanceof X509Certificate ? ca : new X509Certificate(ca);
  return verify('sha256', signedRevocationBytes(list), { key: caCert.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(list.signature, 'base64url'));
}

/**
 * Parses a signed list sent over the network and checks its signature against the CA:
 * INVALID_ARGUMENT when it is not JSON, not a list, unsigned or signed by anyone else.
 */
export function parseSignedRevocationList(text: string, ca: X509Certificate | string | Buffer, source = 'the revocation list'): RevocationList {
  const refuse = (why: string): HvctlError =>
    new HvctlError('INVALID_ARGUMENT', `${source} was refused: ${why}`, {
      unchanged: 'the revocation list in force was kept',
      nextSteps: ['send the revoked.json of this cluster\'s CA directory (`hvctl certs push`), which `hvctl certs revoke` signs'],
    });
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw refuse('it is not JSON');
  }
  let list: RevocationList;
  try {
    list = parseRevocationList(raw, source);
  } catch (error) {
    throw refuse((error as Error).message);
  }
  if (!list.signature) throw refuse('it is not signed (lists written by `hvctl certs revoke` or `hvctl certs push` are)');
  if (!revocationListSignedBy(list, ca)) throw refuse("its signature does not match this cluster's CA (forged, edited, or from another cluster)");
  return list;
}
