import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import {
  caPaths,
  channelCredentials,
  createCa,
  createTokenInCaDir,
  formatClusterFile,
  initCaDir,
  issueCertificate,
  issueInCaDir,
  loadClientIdentity,
  makePrivateDir,
  silentLogger,
  type ClientIdentity,
  type Role,
} from '@hvctl/common';
import { freePorts, makeTempDir, removeTempDir } from '@hvctl/common/testing';
import { startAgent, type RunningAgent } from '../../agent.js';
import type { AgentConfig } from '../../config.js';

/**
 * One simulated agent (msk-1) serving mutual TLS with a fresh cluster CA, and helpers
 * to build client identities of every kind against it. For the security tests.
 */
export interface TlsAgentFixture {
  readonly dir: string;
  /** The revoked.json the agent enforces (tls.revoked). */
  readonly revokedPath: string;
  readonly caDir: string;
  readonly agent: RunningAgent;
  readonly address: string;
  /** Channel credentials from a CA-issued certificate with `role` (issued once per name). */
  certificate(name: string, role: Role, options?: { readonly days?: number; readonly now?: Date }): Promise<ClientIdentity>;
  /** A token signed by the CA. */
  token(name: string, role: Role, expiresMs: number): Promise<{ identity: ClientIdentity; id: string }>;
  /** A client whose certificate is self-signed. */
  selfSigned(): Promise<ClientIdentity>;
  /** A client whose certificate comes from another CA. */
  wrongCa(): Promise<ClientIdentity>;
  /** Opens a raw grpc.Client to the agent with an identity (TLS, server name msk-1) or plaintext. */
  client(identity: ClientIdentity | 'plaintext'): grpc.Client;
  close(): Promise<void>;
}

export interface TlsAgentOptions {
  /**
   * Give the agent its own copy of revoked.json (as on a real node) instead of the CA
   * directory's file, so only a push (SecurityService) changes what it enforces.
   */
  readonly ownRevokedCopy?: boolean;
  /** Give the agent a cluster file whose backup site's node (the witness, which runs the autopilot) has this name. */
  readonly witness?: string;
}

export async function startTlsAgent(options: TlsAgentOptions = {}): Promise<TlsAgentFixture> {
  const dir = await makeTempDir('hvctl-tls-');
  const caDir = join(dir, 'ca');
  await initCaDir(caDir, { cluster: 'test' });
  const node = await issueInCaDir(caDir, { name: 'msk-1', role: 'node' });
  const [port, link] = await freePorts(2);
  const revoked = options.ownRevokedCopy ? join(dir, 'node-tls', 'revoked.json') : caPaths(caDir).revoked;
  if (options.ownRevokedCopy) {
    await makePrivateDir(join(dir, 'node-tls'));
    await copyFile(caPaths(caDir).revoked, revoked);
  }
  const clusterPath = join(dir, 'cluster.yaml');
  if (options.witness) {
    await writeFile(
      clusterPath,
      formatClusterFile({
        name: 'test',
        sites: [
          { name: 'msk', kind: 'main' },
          { name: 'bak', kind: 'backup' },
        ],
        nodes: [
          { name: 'msk-1', site: 'msk', address: `127.0.0.1:${port}` },
          { name: options.witness, site: 'bak', address: '127.0.0.1:1' },
        ],
      }),
    );
  }
  const seed = join(dir, 'seed.json');
  await writeFile(seed, JSON.stringify({ resources: [], domains: [], announcements: [] }));
  const config: AgentConfig = {
    node: 'msk-1',
    site: 'msk',
    listen: `127.0.0.1:${port}`,
    stateDir: join(dir, 'state'),
    ...(options.witness ? { cluster: clusterPath } : {}),
    heartbeatMs: 200,
    log: { level: 'info', file: join(dir, 'agent.log') },
    drivers: { drbd: 'sim', kvm: 'sim', routing: 'sim', backup: 'sim', host: 'sim' },
    sim: { siteKind: 'main', link: `127.0.0.1:${link}`, peers: [], repositoryNode: 'msk-1', seed },
    tls: { ca: node.caPath, cert: node.certPath, key: node.keyPath, revoked },
  };
  const agent = await startAgent(config, silentLogger());
  const address = `127.0.0.1:${agent.port}`;
  const clients: grpc.Client[] = [];
  const caFile = caPaths(caDir).cert;
  const withForeignCert = async (pair: { certPem: string; keyPem: string }, name: string): Promise<ClientIdentity> => {
    await writeFile(join(dir, `${name}.crt`), pair.certPem);
    await writeFile(join(dir, `${name}.key`), pair.keyPem);
    return loadClientIdentity({ ca: caFile, cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`) });
  };
  return {
    dir,
    revokedPath: revoked,
    caDir,
    agent,
    address,
    certificate: async (name, role, options = {}) => {
      const issued = await issueInCaDir(caDir, { name, role, ...options });
      return loadClientIdentity({ ca: caFile, cert: issued.certPath, key: issued.keyPath });
    },
    token: async (name, role, expiresMs) => {
      const { token, payload } = await createTokenInCaDir(caDir, { name, role, expiresMs });
      return { identity: await loadClientIdentity({ ca: caFile, token }), id: payload.id };
    },
    selfSigned: async () => withForeignCert(await createCa({ cluster: 'mallory' }), 'self-signed'),
    wrongCa: async () => {
      const other = await createCa({ cluster: 'other' });
      return withForeignCert(await issueCertificate({ ca: other, name: 'mallory', role: 'admin' }), 'wrong-ca');
    },
    client: (identity) => {
      const credentials = identity === 'plaintext' ? grpc.credentials.createInsecure() : channelCredentials(identity);
      const client = new grpc.Client(address, credentials, { 'grpc.ssl_target_name_override': 'msk-1', 'grpc.default_authority': 'msk-1' });
      clients.push(client);
      return client;
    },
    close: async () => {
      for (const client of clients) client.close();
      await agent.stop(200);
      await removeTempDir(dir);
    },
  };
}

/** Result of one raw call: the status code, or OK once a first response message arrived. */
export function callRaw(client: grpc.Client, path: string, type: { requestStream: boolean; responseStream: boolean }, request: Buffer = Buffer.alloc(0), timeoutMs = 4000): Promise<{ code: grpc.status; details: string }> {
  const serialize = (value: Buffer): Buffer => value;
  const deserialize = (value: Buffer): Buffer => value;
  const options = { deadline: new Date(Date.now() + timeoutMs) };
  return new Promise((resolve) => {
    let settled = false;
    const done = (code: grpc.status, details: string, cancel?: () => void): void => {
      if (settled) return;
      settled = true;
      cancel?.();
      resolve({ code, details });
    };
    if (!type.requestStream && !type.responseStream) {
      client.makeUnaryRequest(path, serialize, deserialize, request, new grpc.Metadata(), options, (error) => done(error ? error.code : grpc.status.OK, error?.details ?? ''));
      return;
    }
    const stream = type.requestStream
      ? client.makeBidiStreamRequest(path, serialize, deserialize, new grpc.Metadata(), options)
      : client.makeServerStreamRequest(path, serialize, deserialize, request, new grpc.Metadata(), options);
    stream.on('data', () => done(grpc.status.OK, 'first message', () => stream.cancel()));
    stream.on('error', (error: grpc.ServiceError) => done(error.code, error.details));
    stream.on('status', (status: grpc.StatusObject) => done(status.code, status.details));
    if (type.requestStream) {
      const duplex = stream as grpc.ClientDuplexStream<Buffer, Buffer>;
      duplex.write(request);
      duplex.end();
    }
  });
}
