import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { HvctlError, describeCertificate, isIssuedBy, type ClientIdentity, type Logger } from '@hvctl/common';
import type { AgentConfig } from '../config.js';
import { INSECURE_AUTHENTICATOR, TlsAuthenticator, type Authenticator } from './authenticator.js';
import { RevocationWatcher } from './revocation-watcher.js';
import { ClusterServerCredentials } from './server-credentials.js';
import type { RevocationTarget } from '../services/security.js';

/** How the agent serves and calls: mutual TLS with the cluster CA, or --insecure-lab plaintext. */
export interface AgentSecurity {
  readonly mode: 'tls' | 'insecure';
  readonly serverCredentials: grpc.ServerCredentials;
  readonly authenticator: Authenticator;
  /** This node's identity towards its peers (undefined in insecure mode: plaintext peers). */
  readonly identity: ClientIdentity | undefined;
  /** The CA and the revocation list in force, for SecurityService (undefined in insecure mode). */
  readonly revocations: RevocationTarget | undefined;
}

/** The warning an insecure agent prints on stderr and logs. */
export const INSECURE_WARNING =
  'WARNING: --insecure-lab: this agent serves PLAINTEXT gRPC and treats every caller as an anonymous admin. Use it only for a lab on loopback; real nodes need `tls:` (docs/security.md).';

function missingTls(config: AgentConfig): HvctlError {
  return new HvctlError('FAILED_PRECONDITION', `agent ${config.node} has no \`tls:\` section (ca, cert, key, revoked) in its config, and it never serves plaintext by default; it did not start`, {
    unchanged: 'nothing is listening',
    nextSteps: [
      'on the admin machine: `hvctl certs init` (once per cluster), then `hvctl certs issue ' + config.node + ' --role node [--san HOST]`',
      'copy ca.crt, issued/' + config.node + '.crt, issued/' + config.node + '.key and revoked.json from the CA directory to this node (0600, e.g. /etc/hvctl/tls/)',
      'add to agent.yaml: tls: { ca: tls/ca.crt, cert: tls/' + config.node + '.crt, key: tls/' + config.node + '.key, revoked: tls/revoked.json }',
      'or, for a lab on loopback only, start with --insecure-lab',
    ],
  });
}

async function readTlsFile(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new HvctlError('NOT_FOUND', `cannot read the ${what} ${path} named in the agent's tls: section: ${(error as Error).message}`, {
      unchanged: 'the agent did not start',
      nextSteps: ['copy it from the CA directory (`hvctl certs issue` writes issued/NODE.crt and .key next to ca.crt and revoked.json)'],
    });
  }
}

/**
 * Decides how the agent is secured. With `tls:` it checks that the node certificate is
 * this node's (name, role node, issued by the configured CA, not expired) before anything
 * listens; without it, only `--insecure-lab` lets the agent start, loudly.
 */
export async function loadAgentSecurity(config: AgentConfig, logger: Logger): Promise<AgentSecurity> {
  const tls = config.tls;
  if (!tls) {
    if (!config.insecureLab) throw missingTls(config);
    logger.warn(INSECURE_WARNING);
    return { mode: 'insecure', serverCredentials: grpc.ServerCredentials.createInsecure(), authenticator: INSECURE_AUTHENTICATOR, identity: undefined, revocations: undefined };
  }
  if (config.insecureLab) logger.warn('--insecure-lab ignored: the config has a tls: section, so the agent serves mutual TLS');
  const [ca, cert, key] = await Promise.all([readTlsFile(tls.ca, 'CA certificate'), readTlsFile(tls.cert, 'node certificate'), readTlsFile(tls.key, 'node key')]);
  const caPem = ca.toString('utf8');
  const info = describeCertificate(cert);
  const fix = `issue it again: hvctl certs issue ${config.node} --role node --force`;
  const bad = (message: string): HvctlError => new HvctlError('FAILED_PRECONDITION', `${tls.cert}: ${message}; the agent did not start`, { unchanged: 'nothing is listening', nextSteps: [fix] });
  if (!isIssuedBy(cert, caPem)) throw bad(`not issued by the CA in ${tls.ca}`);
  if (info.role !== 'node') throw bad(`a ${info.role ?? 'role-less'} certificate, not a node certificate`);
  if (!info.hosts.includes(config.node)) throw bad(`issued for ${info.hosts.join(', ') || info.name}, not for node ${config.node}`);
  if (info.notAfter.getTime() <= Date.now()) throw bad(`expired at ${info.notAfter.toISOString()}`);
  const revocations = new RevocationWatcher(tls.revoked, logger.child({ area: 'tls' }), Date.now, caPem);
  await revocations.load();
  if (!tls.revoked) logger.warn('tls.revoked is not set: revoked certificates and tokens will still be accepted');
  return {
    mode: 'tls',
    serverCredentials: new ClusterServerCredentials({ ca, cert, key }),
    authenticator: new TlsAuthenticator({ caPem, node: config.node, revocations }),
    identity: { name: info.name, role: 'node', via: 'certificate', expires: info.notAfter, ca, cert, key, revocations: revocations.snapshot.bind(revocations) },
    revocations: { caPem, watcher: revocations },
  };
}
