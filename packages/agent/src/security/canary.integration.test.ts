import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as grpc from '@grpc/grpc-js';
import {
  ProcessRunner,
  clusterIdentity,
  agentConnector,
  createLogger,
  createTokenInCaDir,
  initCaDir,
  issueInCaDir,
  type AgentClient,
  type ClusterFile,
  type Logger,
} from '@hvctl/common';
import { freePorts } from '@hvctl/common/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type RunningAgent } from '../agent.js';
import { parseAgentConfig } from '../config.js';
import { requireTool } from '../drivers/real/testing/fake-tools.js';

// Plants secrets — the restic password, a script's token, the agent's and a person's private
// keys — then exercises the agent (reads, a backup and a restore through real restic,
// refusals, the audit journal) and finds none of them in any response, error, log line
// (debug level) or file the agent wrote.

const RESTIC = '/usr/bin/restic';
const skip = requireTool(RESTIC, 'restic');

type Callback = (error: grpc.ServiceError | null, value?: unknown) => void;

/** Everything a call returned, as text: the response, or the error's message and metadata. */
function unaryText(invoke: (callback: Callback) => unknown): Promise<string> {
  return new Promise((resolve) => {
    invoke((error, value) => resolve(error ? JSON.stringify({ code: error.code, details: error.details, metadata: error.metadata?.toJSON() }) : JSON.stringify(value)));
  });
}

function streamText(stream: grpc.ClientReadableStream<unknown>, max = 1000): Promise<string> {
  return new Promise((resolve) => {
    const parts: string[] = [];
    stream.on('data', (message: unknown) => {
      parts.push(JSON.stringify(message));
      if (parts.length >= max) stream.cancel();
    });
    stream.on('error', (error: grpc.ServiceError) => parts.push(JSON.stringify({ code: error.code, details: error.details, metadata: error.metadata?.toJSON() })));
    stream.on('status', () => resolve(parts.join('\n')));
  });
}

/** Every file under `dir`, with its content. */
async function filesUnder(dir: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for (const entry of await readdir(dir, { recursive: true })) {
    const path = join(dir, entry);
    if ((await stat(path)).isFile()) files.set(path, await readFile(path, 'latin1'));
  }
  return files;
}

/** A PEM's base64 lines: a key leaked in any form shares at least one of them. */
const pemLines = (pem: string): string[] => pem.split('\n').filter((line) => line.length >= 40 && !line.startsWith('-----'));

describe.skipIf(skip)(`secrets never leave the agent${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let dir: string;
  let agent: RunningAgent;
  let logger: Logger;
  let admin: AgentClient;
  let script: AgentClient;
  const password = `canary-pw-${randomBytes(12).toString('hex')}`;
  const secrets: { what: string; value: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-canary-'));
    const caDir = join(dir, 'ca');
    await initCaDir(caDir, { cluster: 'canary' });
    const node = await issueInCaDir(caDir, { name: 'msk-1', role: 'node' });
    const person = await issueInCaDir(caDir, { name: 'alice', role: 'admin' });
    const { token } = await createTokenInCaDir(caDir, { name: 'ci-script', role: 'operator', expiresMs: 3_600_000 });
    await writeFile(join(dir, 'password'), `${password}\n`);
    await chmod(join(dir, 'password'), 0o600);
    secrets.push(
      { what: 'the restic password', value: password },
      { what: "the script's token", value: token },
      { what: "the token's signature", value: token.split('.').at(-1) as string },
      ...pemLines(await readFile(node.keyPath, 'utf8')).map((value) => ({ what: "the agent's private key", value })),
      ...pemLines(await readFile(person.keyPath, 'utf8')).map((value) => ({ what: "alice's private key", value })),
    );
    const env = { RESTIC_REPOSITORY: join(dir, 'repo'), RESTIC_PASSWORD_FILE: join(dir, 'password'), RESTIC_CACHE_DIR: join(dir, 'cache') };
    await new ProcessRunner().run(RESTIC, { args: ['init'], env });
    await mkdir(join(dir, 'sources', 'vm-a'), { recursive: true });
    await writeFile(join(dir, 'sources', 'vm-a', 'disk.img'), randomBytes(50_000));
    const [port, link] = await freePorts(2);
    const config = parseAgentConfig(
      {
        node: 'msk-1',
        site: 'msk',
        listen: `127.0.0.1:${port}`,
        stateDir: join(dir, 'state'),
        drivers: { drbd: 'sim', kvm: 'sim', routing: 'sim', backup: 'real', host: 'sim' },
        tools: { restic: RESTIC },
        backup: { ...{ repository: env.RESTIC_REPOSITORY, passwordFile: env.RESTIC_PASSWORD_FILE, cacheDir: env.RESTIC_CACHE_DIR }, sourceTemplate: join(dir, 'sources', '{vm}'), restoreRoot: join(dir, 'restore') },
        sim: { link: `127.0.0.1:${link}`, peers: [], repositoryNode: 'msk-1' },
        tls: { ca: node.caPath, cert: node.certPath, key: node.keyPath, revoked: join(caDir, 'revoked.json') },
      },
      join(dir, 'agent.yaml'),
    );
    logger = createLogger({ name: 'hvctl-agent', level: 'debug', file: join(dir, 'agent.log') });
    agent = await startAgent(config, logger);
    const cluster: ClusterFile = { name: 'canary', sites: [{ name: 'msk', kind: 'main' }], nodes: [{ name: 'msk-1', site: 'msk', address: `127.0.0.1:${agent.port}` }] };
    const address = `127.0.0.1:${agent.port}`;
    admin = agentConnector(cluster, clusterIdentity({ ...cluster, tls: { ca: person.caPath, cert: person.certPath, key: person.keyPath } }, {}))(address);
    script = agentConnector(cluster, clusterIdentity({ ...cluster, tls: { ca: person.caPath } }, { HVCTL_TOKEN: token }))(address);
  }, 60_000);
  afterAll(async () => {
    admin?.close();
    script?.close();
    await agent?.stop(500);
    logger?.flush();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('finds no planted secret in any response, log line or file the agent wrote', async () => {
    const seen: string[] = [];
    const deadline = (): grpc.CallOptions => ({ deadline: new Date(Date.now() + 30_000) });
    // Reads, as a person and as a script holding a token
    for (const client of [admin, script]) {
      seen.push(await unaryText((cb) => client.node.getInfo({}, deadline(), cb)));
      seen.push(await unaryText((cb) => client.backup.listSnapshots({ vm: '' }, deadline(), cb)));
      seen.push(await unaryText((cb) => client.workflows.listWorkflows({}, deadline(), cb)));
    }
    // A backup through real restic (progress and result), a restore, and failures that run restic
    const backup = await streamText(admin.backup.createBackup({ vm: 'vm-a' }, deadline()));
    seen.push(backup);
    const id = /"id":"([0-9a-f]{64})"/.exec(backup)?.[1];
    expect(id, `a snapshot id in ${backup.slice(0, 300)}`).toBeDefined();
    seen.push(await unaryText((cb) => admin.backup.restore({ snapshotId: id, targetResource: 'vm-a-copy' }, deadline(), cb)));
    seen.push(await unaryText((cb) => admin.backup.restore({ snapshotId: 'deadbeef', targetResource: 'vm-a-other' }, deadline(), cb)));
    seen.push(await streamText(admin.backup.createBackup({ vm: 'vm-missing' }, deadline())));
    // A refusal (the operator token may not restore over data), a journaled change, the journal itself
    seen.push(await unaryText((cb) => script.backup.restore({ snapshotId: id, targetResource: 'vm-a-copy', overwrite: true }, deadline(), cb)));
    seen.push(await unaryText((cb) => admin.node.cordon({ reason: 'canary' }, deadline(), cb)));
    seen.push(await streamText(admin.audit.readJournal({}, deadline())));
    seen.push(await unaryText((cb) => admin.audit.verifyJournal({}, deadline(), cb)));
    seen.push(await streamText(admin.events.watch({}, deadline()), 1));
    logger.flush();
    await new Promise((resolve) => setTimeout(resolve, 200));

    const places = new Map<string, string>([['responses', seen.join('\n')], ...(await filesUnder(join(dir, 'state'))), ['agent.log', await readFile(join(dir, 'agent.log'), 'latin1')]]);
    // The places are not empty: the backup ran and the log has debug lines of the restic calls
    expect(places.get('agent.log')).toContain('restic');
    expect([...places.keys()].some((path) => path.endsWith('audit.jsonl'))).toBe(true);
    const leaks = secrets.flatMap(({ what, value }) => [...places].filter(([, text]) => text.includes(value)).map(([where]) => `${what} in ${where}`));
    expect(leaks).toEqual([]);
  }, 120_000);
});
