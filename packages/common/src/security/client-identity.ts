import { readFile } from 'node:fs/promises';
import * as grpc from '@grpc/grpc-js';
import { invalidArgument, HvctlError } from '../errors.js';
import { createAgentClient, type AgentClient } from '../client.js';
import type { ClusterFile } from '../cluster-file.js';
import { describeCertificate, roleFromSubjectAltName } from './pki.js';
import type { Role } from './roles.js';
import { decodeToken } from './token.js';

/**
 * Who a client (console, script, another agent) is towards the agents, and the channel
 * credentials that prove it: the cluster CA pinned (never the system store), plus either
 * a client certificate or a bearer token. Every agent's certificate must name the node
 * the client meant to reach and carry the `node` role.
 */

/** Where a client identity's files are (absolute paths), or a token value. */
export interface ClientTlsSource {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  /** A file holding a token. */
  readonly tokenFile?: string;
  /** A token value ($HVCTL_TOKEN, --token). Wins over tokenFile. */
  readonly token?: string;
}

export interface ClientIdentity {
  /** The holder as the certificate or token names it. */
  readonly name: string;
  readonly role: Role | undefined;
  readonly via: 'certificate' | 'token';
  /** When the certificate or token stops working. */
  readonly expires: Date;
  readonly ca: Buffer;
  readonly cert?: Buffer;
  readonly key?: Buffer;
  readonly token?: string;
  /**
   * The revocation list this client trusts (the cluster file's `tls.revoked`, or an
   * agent's own list): an agent whose certificate serial it names is refused at the
   * handshake. Read at every new connection.
   */
  readonly revocations?: () => { serialRevoked(serial: string): boolean };
}

async function readPart(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new HvctlError('NOT_FOUND', `cannot read the ${what} ${path}: ${(error as Error).message}`, {
      nextSteps: ['check the `tls:` section of the cluster file or --ca/--cert/--key', 'issue one with `hvctl certs issue NAME --role ROLE`'],
    });
  }
}

/** Loads a client identity from its files. */
export async function loadClientIdentity(source: ClientTlsSource): Promise<ClientIdentity> {
  const ca = await readPart(source.ca, 'CA certificate');
  const tokenText = source.token ?? (source.tokenFile ? (await readPart(source.tokenFile, 'token file')).toString('utf8').trim() : undefined);
  if (tokenText) {
    const payload = decodeToken(tokenText);
    return { name: String(payload.name), role: payload.role, via: 'token', expires: new Date(Number(payload.exp) * 1000), ca, token: tokenText };
  }
  if (!source.cert || !source.key) {
    throw invalidArgument('a TLS identity needs a certificate and its key (cert + key), or a token', {
      nextSteps: ['set tls.cert and tls.key in the cluster file, pass --cert/--key, or set $HVCTL_TOKEN'],
    });
  }
  const [cert, key] = await Promise.all([readPart(source.cert, 'certificate'), readPart(source.key, 'private key')]);
  const info = describeCertificate(cert);
  return { name: info.name, role: info.role, via: 'certificate', expires: info.notAfter, ca, cert, key };
}

/**
 * Accepts the server only when its certificate (already verified against the pinned CA)
 * names `host` — the node the client meant — as a DNS name and carries the `node` role.
 */
export function checkAgentIdentity(host: string, cert: { subjectaltname?: string }): Error | undefined {
  const names = (cert.subjectaltname ?? '').split(/,\s*/);
  if (roleFromSubjectAltName(cert.subjectaltname) !== 'node') return new Error(`the server's certificate is not an hvctl node certificate (no urn:hvctl:role:node)`);
  if (!names.includes(`DNS:${host}`)) return new Error(`the server's certificate is for ${names.filter((n) => n.startsWith('DNS:')).join(' ') || 'no DNS name'}, not node ${host}`);
  return undefined;
}

/** Refuses a server whose certificate serial the client's revocation list names. */
export function checkAgentNotRevoked(host: string, cert: { serialNumber?: string }, revocations: ClientIdentity['revocations']): Error | undefined {
  if (!revocations || !cert.serialNumber) return undefined;
  if (!revocations().serialRevoked(cert.serialNumber)) return undefined;
  return new Error(`the certificate of node ${host} (serial ${cert.serialNumber}) has been revoked: its key may be in other hands; issue the node a new certificate`);
}

/** Channel credentials for an identity: TLS with the cluster CA only, plus the client certificate or the bearer token. */
export function channelCredentials(identity: ClientIdentity): grpc.ChannelCredentials {
  const checkServerIdentity = (host: string, cert: { subjectaltname?: string; serialNumber?: string }): Error | undefined =>
    checkAgentIdentity(host, cert) ?? checkAgentNotRevoked(host, cert, identity.revocations);
  const ssl = grpc.credentials.createSsl(identity.ca, identity.key ?? null, identity.cert ?? null, { checkServerIdentity });
  const token = identity.token;
  if (!token) return ssl;
  const bearer = grpc.credentials.createFromMetadataGenerator((_params, callback) => {
    const metadata = new grpc.Metadata();
    metadata.set('authorization', `Bearer ${token}`);
    callback(null, metadata);
  });
  return grpc.credentials.combineChannelCredentials(ssl, bearer);
}

/** Opens a client for node `node` at `address`: TLS checked against the node's name when an identity is given, plaintext (lab only) otherwise. */
export function connectAgent(address: string, node: string, identity: ClientIdentity | undefined): AgentClient {
  if (!identity) return createAgentClient(address);
  return createAgentClient(address, { credentials: channelCredentials(identity), channelOptions: { 'grpc.ssl_target_name_override': node, 'grpc.default_authority': node } });
}

/**
 * A `connect(address)` for ClusterModel, ClusterAccess and friends: looks the node up
 * by address in the cluster file so its certificate name can be checked.
 */
export function agentConnector(cluster: ClusterFile, identity: ClientIdentity | undefined): (address: string) => AgentClient {
  return (address) => {
    const node = cluster.nodes.find((entry) => entry.address === address)?.name;
    if (identity && !node) {
      throw invalidArgument(`${address} is not the address of any node in cluster file ${cluster.name}`, {
        nextSteps: ['connect through the cluster file, which names the node a TLS certificate must match'],
      });
    }
    return connectAgent(address, node ?? address, identity);
  };
}
