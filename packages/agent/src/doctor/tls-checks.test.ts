import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCa, issueCertificate, type IssuedCertificate } from '@hvctl/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentConfig } from '../config.js';
import type { DoctorCheck } from './doctor.js';
import { tlsChecks } from './tls-checks.js';

const DAY_MS = 86_400_000;

describe('doctor: the tls: section', () => {
  let dir: string;
  let ca: IssuedCertificate;
  let node: IssuedCertificate;

  /** Writes a tls directory with these PEMs; returns the config pointing at it. */
  async function configWith(name: string, files: { ca?: string; cert?: string; key?: string; keyMode?: number; revoked?: string | null }): Promise<AgentConfig> {
    const at = (file: string): string => join(dir, `${name}-${file}`);
    if (files.ca !== undefined) await writeFile(at('ca.crt'), files.ca);
    if (files.cert !== undefined) await writeFile(at('node.crt'), files.cert);
    if (files.key !== undefined) {
      await writeFile(at('node.key'), files.key);
      await chmod(at('node.key'), files.keyMode ?? 0o600);
    }
    if (files.revoked) await writeFile(at('revoked.json'), files.revoked);
    return {
      node: 'msk-1',
      site: 'msk',
      listen: '127.0.0.1:7400',
      stateDir: dir,
      heartbeatMs: 1000,
      log: { level: 'info' },
      drivers: { drbd: 'sim', kvm: 'sim', routing: 'sim', backup: 'sim', host: 'sim' },
      tls: { ca: at('ca.crt'), cert: at('node.crt'), key: at('node.key'), ...(files.revoked === null ? {} : { revoked: at('revoked.json') }) },
    };
  }
  const good = { revoked: '{"version":1,"serials":[],"tokens":[]}' };
  const byName = (checks: readonly DoctorCheck[]): Record<string, DoctorCheck> => Object.fromEntries(checks.map((check) => [check.name, check]));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-doctor-tls-'));
    ca = await createCa({ cluster: 't' });
    node = await issueCertificate({ ca: { certPem: ca.certPem, keyPem: ca.keyPem }, name: 'msk-1', role: 'node' });
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('passes a node certificate for this node, issued by the CA, with a 0600 key and a revocation list', async () => {
    const checks = await tlsChecks(await configWith('good', { ca: ca.certPem, cert: node.certPem, key: node.keyPem, ...good }));
    expect(checks.filter((check) => check.status !== 'ok')).toEqual([]);
    expect(byName(checks)['tls cert']?.detail).toMatch(/node certificate for msk-1, issued by the cluster CA/);
    expect(byName(checks)['tls key']?.detail).toMatch(/mode 0600$/);
    expect(byName(checks)['tls revoked']?.detail).toMatch(/0 certificate\(s\), 0 token\(s\) revoked/);
  });

  it('fails without a tls: section, saying the agent will not start and how to get certificates', async () => {
    const { tls: _none, ...plain } = await configWith('none', {});
    const checks = await tlsChecks(plain);
    expect(checks).toEqual([expect.objectContaining({ name: 'tls', status: 'fail', fix: expect.stringContaining('hvctl certs issue msk-1 --role node') })]);
  });

  it('fails missing files, naming each', async () => {
    const checks = await tlsChecks(await configWith('missing', { ca: ca.certPem, ...good }));
    const named = byName(checks);
    expect(named['tls cert']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/missing-node\.crt: does not exist$/) });
    expect(named['tls key']).toMatchObject({ status: 'fail', detail: expect.stringMatching(/missing-node\.key: does not exist$/) });
    expect(named['tls ca']).toBeUndefined();
  });

  it('fails a key other users can read, with the chmod to run', async () => {
    const config = await configWith('loose', { ca: ca.certPem, cert: node.certPem, key: node.keyPem, keyMode: 0o644, ...good });
    expect(byName(await tlsChecks(config))['tls key']).toMatchObject({ status: 'fail', detail: expect.stringContaining('mode 0644'), fix: `chmod 600 ${config.tls?.key}` });
  });

  it("fails another node's certificate, a person's certificate, an expired one, another CA's and a key that does not match", async () => {
    const other = await issueCertificate({ ca, name: 'spb-1', role: 'node' });
    const person = await issueCertificate({ ca, name: 'alice', role: 'admin' });
    const expired = await issueCertificate({ ca, name: 'msk-1', role: 'node', days: 1, now: new Date(Date.now() - 3 * DAY_MS) });
    const strangerCa = await createCa({ cluster: 'other' });
    const stranger = await issueCertificate({ ca: strangerCa, name: 'msk-1', role: 'node' });
    const cases: [string, IssuedCertificate, string, RegExp][] = [
      ['other', other, other.keyPem, /issued for spb-1, not for node msk-1/],
      ['person', person, person.keyPem, /a admin certificate, not a node certificate/],
      ['expired', expired, expired.keyPem, /expired at /],
      ['stranger', stranger, stranger.keyPem, /not issued by the CA in /],
      ['mismatch', node, other.keyPem, /mismatch-node\.key is not its key/],
    ];
    for (const [name, cert, key, problem] of cases) {
      const check = byName(await tlsChecks(await configWith(name, { ca: ca.certPem, cert: cert.certPem, key, ...good })))['tls cert'];
      expect({ name, status: check?.status }).toEqual({ name, status: 'fail' });
      expect(check?.detail).toMatch(problem);
      expect(check?.fix).toContain('hvctl certs issue msk-1 --role node --force');
    }
  });

  it('warns about a certificate expiring within 30 days and about a missing revocation list', async () => {
    const checks = byName(await tlsChecks(await configWith('soon', { ca: ca.certPem, cert: node.certPem, key: node.keyPem, revoked: null }), new Date(node.notAfter.getTime() - 10.5 * DAY_MS)));
    expect(checks['tls cert']).toMatchObject({ status: 'warn', detail: expect.stringContaining('expires in 10 day(s)') });
    expect(checks['tls revoked']).toMatchObject({ status: 'warn', detail: expect.stringContaining('tls.revoked is not set') });
  });

  it("fails when the revocation list revokes this node's own certificate, or cannot be read", async () => {
    const revoked = JSON.stringify({ version: 1, serials: [{ id: node.serial, name: 'msk-1', at: new Date().toISOString(), reason: 'key leaked' }], tokens: [] });
    expect(byName(await tlsChecks(await configWith('revoked', { ca: ca.certPem, cert: node.certPem, key: node.keyPem, revoked })))['tls revoked']).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining("revokes this node's own certificate"),
    });
    expect(byName(await tlsChecks(await configWith('broken', { ca: ca.certPem, cert: node.certPem, key: node.keyPem, revoked: '{"nope":1}' })))['tls revoked']).toMatchObject({
      status: 'fail',
      detail: expect.stringContaining('is not a revocation list'),
    });
  });
});
