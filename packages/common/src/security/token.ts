import type { X509Certificate} from 'node:crypto';
import { createPrivateKey, randomBytes, sign, verify } from 'node:crypto';
import { HvctlError, invalidArgument } from '../errors.js';
import { validateNodeName } from '../validation.js';
import { isRole, type Role } from './roles.js';

/**
 * Bearer tokens for scripts that cannot hold a certificate:
 * `base64url(payload JSON) "." base64url(ECDSA P-256 signature)`, signed with the CA key
 * and verified by agents with the CA certificate's public key (agents hold no secret).
 * Sent as `authorization: Bearer TOKEN` metadata over TLS.
 */
export interface TokenPayload {
  /** Random id, listed in revoked.json to revoke the token. */
  readonly id: string;
  /** Holder's name (the script's). */
  readonly name: string;
  readonly role: Role;
  /** Nodes the token is valid on; absent means every node. */
  readonly nodes?: readonly string[];
  /** Issued at, Unix seconds. */
  readonly iat: number;
  /** Expires at, Unix seconds. */
  readonly exp: number;
}

const b64 = (data: Buffer | string): string => Buffer.from(data).toString('base64url');

/** A new token id ("tok-" and 16 hex digits). */
export function newTokenId(): string {
  return `tok-${randomBytes(8).toString('hex')}`;
}

/** Signs a token with the CA's private key (PEM). */
export function signToken(payload: TokenPayload, caKeyPem: string): string {
  validateNodeName(payload.name, 'token name');
  if (!isRole(payload.role)) throw invalidArgument(`unknown role "${String(payload.role)}"`);
  if (payload.role === 'node') throw invalidArgument('tokens are for people and scripts; a node authenticates with its certificate');
  if (!(payload.exp > payload.iat)) throw invalidArgument('a token must expire after it is issued');
  const body = b64(JSON.stringify(payload));
  const signature = sign('sha256', Buffer.from(body), { key: createPrivateKey(caKeyPem), dsaEncoding: 'ieee-p1363' });
  return `${body}.${b64(signature)}`;
}

const unauthenticated = (message: string): HvctlError =>
  new HvctlError('UNAUTHENTICATED', message, {
    unchanged: 'nothing was changed',
    nextSteps: ['ask an admin for a new token (`hvctl certs token NAME --role ROLE`) or use a client certificate'],
  });

/** Reads a token's payload without verifying it (the console uses it to know its own role). */
export function decodeToken(token: string): TokenPayload {
  const [body] = token.split('.');
  try {
    return JSON.parse(Buffer.from(body ?? '', 'base64url').toString('utf8')) as TokenPayload;
  } catch {
    throw unauthenticated('the token is not an hvctl token (expected BASE64URL.BASE64URL)');
  }
}

/**
 * Verifies a token against the CA certificate: signature, shape, expiry. Revocation and
 * node scope are the caller's (the agent's) to check. Throws UNAUTHENTICATED saying why.
 */
export function verifyToken(token: string, caCert: X509Certificate, nowMs = Date.now()): TokenPayload {
  const parts = token.split('.');
  if (parts.length !== 2 || !parts[0] || !parts[1]) throw unauthenticated('the token is malformed (expected BASE64URL.BASE64URL)');
  const [body, signature] = parts as [string, string];
  const valid = verify('sha256', Buffer.from(body), { key: caCert.publicKey, dsaEncoding: 'ieee-p1363' }, Buffer.from(signature, 'base64url'));
  if (!valid) throw unauthenticated("the token's signature does not match this cluster's CA (tampered with, or from another cluster)");
  const payload = decodeToken(token);
  if (typeof payload.id !== 'string' || typeof payload.name !== 'string' || !isRole(payload.role) || payload.role === 'node') {
    throw unauthenticated('the token is signed but its content is not a valid hvctl token');
  }
  if (typeof payload.exp !== 'number' || payload.exp * 1000 <= nowMs) {
    throw unauthenticated(`the token ${payload.id} of ${payload.name} expired at ${new Date(Number(payload.exp) * 1000).toISOString()}`);
  }
  if (typeof payload.iat === 'number' && payload.iat * 1000 > nowMs + 300_000) throw unauthenticated(`the token ${payload.id} is not valid yet (issued in the future)`);
  return payload;
}

/** Parses a duration like "30m", "24h", "7d" into milliseconds. */
export function parseTokenLifetime(value: string, field = '--expires'): number {
  const match = /^(\d{1,6})([smhd])$/.exec(value.trim());
  if (!match) throw invalidArgument(`${field} must look like 30m, 24h or 7d; got "${value}"`);
  const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[match[2] as 's' | 'm' | 'h' | 'd'];
  const ms = Number(match[1]) * unit;
  if (ms <= 0) throw invalidArgument(`${field} must be longer than zero`);
  return ms;
}
