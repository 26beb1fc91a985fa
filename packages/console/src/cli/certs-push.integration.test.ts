import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { startTlsAgent, type TlsAgentFixture } from '@hvctl/agent/testing';
import {
  HvctlError,
  caPaths,
  clusterConnector,
  deadline,
  issueInCaDir,
  loadClusterFile,
  unary,
  type ClusterFile,
} from '@hvctl/common';
import { certsCommand } from './certs-command.js';

/**
 * `hvctl certs revoke --push` and `hvctl certs push` against a running TLS agent that
 * holds its own copy of revoked.json, and the console refusing an agent whose node
 * certificate the cluster file's tls.revoked list revokes.
 */
describe('hvctl certs revoke --push', () => {
  let dir: string;
  let caDir: string;
  let fixture: TlsAgentFixture;
  let adminCluster: string;
  let operatorCluster: string;
  const output: string[] = [];

  /** Runs `hvctl certs ARGS` in this process; returns what it printed and the exit code it set. */
  async function certs(cluster: string, ...args: string[]): Promise<{ out: string; exitCode: number }> {
    output.length = 0;
    const previous = process.env['HVCTL_CLUSTER'];
    process.env['HVCTL_CLUSTER'] = cluster;
    process.exitCode = 0;
    try {
      await certsCommand().parseAsync([...args, '--dir', caDir], { from: 'user' });
      return { out: output.join('\n'), exitCode: Number(process.exitCode ?? 0) };
    } finally {
      process.exitCode = 0;
      if (previous === undefined) delete process.env['HVCTL_CLUSTER'];
      else process.env['HVCTL_CLUSTER'] = previous;
    }
  }

  const getInfo = (cluster: ClusterFile): Promise<unknown> => {
    const client = clusterConnector(cluster, {})(cluster.nodes[0]?.address ?? '');
    return unary('GetInfo', (callback) => client.node.getInfo({}, deadline(3000), callback)).finally(() => client.close());
  };

  async function clusterFile(name: string, tls: Record<string, string>, address: string): Promise<string> {
    const path = join(dir, `${name}.yaml`);
    const lines = Object.entries(tls).map(([key, value]) => `  ${key}: ${value}`);
    await writeFile(path, [`name: test`, `sites:`, `  - { name: msk, kind: main }`, `nodes:`, `  - { name: msk-1, site: msk, address: "${address}" }`, `tls:`, ...lines, ''].join('\n'));
    return path;
  }

  beforeAll(async () => {
    fixture = await startTlsAgent({ ownRevokedCopy: true });
    ({ dir, caDir } = fixture);
    const address = fixture.address;
    const admin = await issueInCaDir(caDir, { name: 'ada', role: 'admin' });
    const operator = await issueInCaDir(caDir, { name: 'otto', role: 'operator' });
    adminCluster = await clusterFile('admin', { ca: admin.caPath, cert: admin.certPath, key: admin.keyPath, revoked: caPaths(caDir).revoked }, address);
    operatorCluster = await clusterFile('operator', { ca: operator.caPath, cert: operator.certPath, key: operator.keyPath }, address);
    vi.spyOn(console, 'log').mockImplementation((...args: unknown[]) => void output.push(args.join(' ')));
  }, 30_000);
  afterAll(async () => {
    vi.restoreAllMocks();
    await fixture?.close();
  });

  it('revokes an operator and pushes the signed list: the operator is refused on its next call', async () => {
    // Given the operator can call the agent
    const operator = await loadClusterFile(operatorCluster);
    await expect(getInfo(operator)).resolves.toBeDefined();
    // When an admin revokes the operator with a cluster named (push is the default)
    const { out, exitCode } = await certs(adminCluster, 'revoke', 'otto', '--reason', 'left');
    // Then the agent took the list and the command says so
    expect(exitCode).toBe(0);
    expect(out).toMatch(/revoked [0-9A-F]+ \(otto\)/);
    expect(out).toMatch(/msk-1: now enforces list 2/);
    // And the operator's next call is refused as revoked
    await expect(getInfo(operator)).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/otto .*revoked/) });
    // And pushing again changes nothing and succeeds
    const again = await certs(adminCluster, 'push', '--json');
    expect(JSON.parse(again.out)).toEqual({ list: 2, pushed: [{ node: 'msk-1', ok: true, number: 2, changed: false }] });
  });

  it('exits 1 naming the agent when the push is refused (an operator may not push)', async () => {
    const operator = await issueInCaDir(caDir, { name: 'olga', role: 'operator' });
    const address = (await loadClusterFile(adminCluster)).nodes[0]?.address ?? '';
    const weak = await clusterFile('weak', { ca: operator.caPath, cert: operator.certPath, key: operator.keyPath }, address);
    const { out, exitCode } = await certs(weak, 'push');
    expect(exitCode).toBe(1);
    expect(out).toMatch(/msk-1: NOT updated \(PERMISSION_DENIED: .*needs the admin role/);
    expect(out).toMatch(/run `hvctl certs push` again/);
  });

  it('makes the console refuse an agent whose node certificate its tls.revoked list revokes', async () => {
    // Given the admin reaches the agent
    await expect(getInfo(await loadClusterFile(adminCluster))).resolves.toBeDefined();
    // When the node's certificate is revoked (without pushing: the agent would still serve it)
    await certs(adminCluster, 'revoke', 'msk-1', '--no-push');
    // Then a new connection through the cluster file (whose tls.revoked is the CA's list) refuses the agent
    const refused = await getInfo(await loadClusterFile(adminCluster)).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(HvctlError);
    expect(refused).toMatchObject({ code: 'UNAVAILABLE' });
    expect((refused as Error).message).toMatch(/certificate of node msk-1 .*has been revoked/);
    // And the same admin without the list still connects: the list alone made the difference
    const admin = await loadClusterFile(adminCluster);
    const withoutList = { ...admin, tls: { ca: admin.tls?.ca ?? '', cert: admin.tls?.cert ?? '', key: admin.tls?.key ?? '' } };
    await expect(getInfo(withoutList)).resolves.toBeDefined();
  });
});
