import { readFileSync } from 'node:fs';
import { HvctlError } from '../errors.js';
import type { AgentClient } from '../client.js';
import type { ClusterFile } from '../cluster-file.js';
import { describeCertificate } from './pki.js';
import { agentConnector, type ClientIdentity } from './client-identity.js';
import { decodeToken } from './token.js';
import { RevocationSet, parseRevocationList } from './revocation.js';
import { revocationListSignedBy } from './signed-revocations.js';

/**
 * The cluster file's `tls.revoked` list, checked against the CA when it is signed: the
 * client refuses agents whose certificate it revokes. A signature that does not verify
 * is an error (never "nothing revoked").
 */
function clientRevocations(path: string, caPem: Buffer, read: (path: string, what: string) => Buffer): RevocationSet {
  let raw: unknown;
  try {
    raw = JSON.parse(read(path, 'revocation list').toString('utf8'));
  } catch (error) {
    if (error instanceof HvctlError) throw error;
    raw = null;
  }
  const list = parseRevocationList(raw, path);
  if (list.signature && !revocationListSignedBy(list, caPem)) {
    throw new HvctlError('FAILED_PRECONDITION', `${path} (tls.revoked) carries a signature the cluster CA does not verify`, {
      nextSteps: ['copy revoked.json again from the CA directory (`hvctl certs list` shows its path)'],
    });
  }
  return new RevocationSet(list);
}

/**
 * The identity a person's or script's client uses towards a cluster: the cluster file's
 * `tls:` section, overridden by $HVCTL_CA / $HVCTL_CERT / $HVCTL_KEY / $HVCTL_TOKEN
 * (the console's --ca/--cert/--key/--token set these), and the revocation list of
 * $HVCTL_REVOKED / `tls.revoked`, whose revoked agent certificates it refuses. Undefined: plaintext, which only
 * agents started with --insecure-lab accept.
 */
export function clusterIdentity(cluster: ClusterFile, env: NodeJS.ProcessEnv = process.env): ClientIdentity | undefined {
  const ca = env['HVCTL_CA'] || cluster.tls?.ca;
  const token = env['HVCTL_TOKEN'] || undefined;
  const certPath = env['HVCTL_CERT'] || cluster.tls?.cert;
  const keyPath = env['HVCTL_KEY'] || cluster.tls?.key;
  const tokenFile = cluster.tls?.token;
  if (!ca) {
    if (token || env['HVCTL_CERT']) {
      throw new HvctlError('INVALID_ARGUMENT', 'a certificate or token was given but no cluster CA to check the agents against', {
        nextSteps: ['pass --ca CA.crt (or $HVCTL_CA), or add tls.ca to the cluster file'],
      });
    }
    return undefined;
  }
  const read = (path: string, what: string): Buffer => {
    try {
      return readFileSync(path);
    } catch (error) {
      throw new HvctlError('NOT_FOUND', `cannot read the ${what} ${path}: ${(error as Error).message}`, {
        nextSteps: ['check the cluster file\'s tls: section and --ca/--cert/--key', 'issue one with `hvctl certs issue NAME --role ROLE`'],
      });
    }
  };
  const caPem = read(ca, 'CA certificate');
  const revokedPath = env['HVCTL_REVOKED'] || cluster.tls?.revoked;
  const revoked = revokedPath ? clientRevocations(revokedPath, caPem, read) : undefined;
  const revocations = revoked ? { revocations: () => revoked } : {};
  const tokenValue = token ?? (tokenFile && !env['HVCTL_CERT'] ? read(tokenFile, 'token file').toString('utf8').trim() : undefined);
  if (tokenValue) {
    const payload = decodeToken(tokenValue);
    return { name: String(payload.name), role: payload.role, via: 'token', expires: new Date(Number(payload.exp) * 1000), ca: caPem, token: tokenValue, ...revocations };
  }
  if (!certPath || !keyPath) {
    throw new HvctlError('INVALID_ARGUMENT', 'the cluster CA is set but no certificate and key (nor a token) to prove who you are', {
      nextSteps: ['set tls.cert and tls.key in the cluster file, pass --cert/--key, or set $HVCTL_TOKEN'],
    });
  }
  const cert = read(certPath, 'certificate');
  const info = describeCertificate(cert);
  return { name: info.name, role: info.role, via: 'certificate', expires: info.notAfter, ca: caPem, cert, key: read(keyPath, 'private key'), ...revocations };
}

/** `connect(address)` for a cluster with its identity (see clusterIdentity). */
export function clusterConnector(cluster: ClusterFile, env: NodeJS.ProcessEnv = process.env): (address: string) => AgentClient {
  return agentConnector(cluster, clusterIdentity(cluster, env));
}
