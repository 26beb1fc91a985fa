import { X509Certificate } from 'node:crypto';
import { stat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../testing/index.js';
import { caPaths, createTokenInCaDir, initCaDir, issueInCaDir, listCaDir, revokeInCaDir } from './ca-dir.js';
import { createCa, describeCertificate, isIssuedBy, issueCertificate } from './pki.js';
import { RevocationSet, readRevocationList } from './revocation.js';
import { signToken, verifyToken } from './token.js';

describe('the cluster CA directory', () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await makeTempDir('hvctl-pki-'), 'ca');
  });
  afterEach(async () => removeTempDir(join(dir, '..')));

  it('creates a CA whose files only the owner can read, and refuses to replace it without force', async () => {
    // Given a fresh directory, When the CA is created
    const ca = await initCaDir(dir, { cluster: 'prod' });
    // Then it is a CA, and every file is 0600 in a 0700 directory
    expect(ca.isCa).toBe(true);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    for (const file of ['ca.crt', 'ca.key', 'index.json', 'revoked.json']) expect((await stat(join(dir, file))).mode & 0o777).toBe(0o600);
    // And a second init is refused, a forced one replaces the key
    const before = await readFile(caPaths(dir).key, 'utf8');
    await expect(initCaDir(dir, { cluster: 'prod' })).rejects.toThrow(/already exists/);
    await initCaDir(dir, { cluster: 'prod', force: true });
    expect(await readFile(caPaths(dir).key, 'utf8')).not.toBe(before);
  });

  it('issues node certificates that serve and call, and person certificates that only call, each with its role', async () => {
    await initCaDir(dir, { cluster: 'prod' });
    const node = await issueInCaDir(dir, { name: 'msk-1', role: 'node', sans: ['10.0.0.1', 'msk-1.example.net'] });
    const person = await issueInCaDir(dir, { name: 'alice', role: 'operator' });
    const caPem = await readFile(node.caPath, 'utf8');
    const nodeInfo = describeCertificate(await readFile(node.certPath));
    expect(nodeInfo).toMatchObject({ name: 'msk-1', role: 'node', isCa: false });
    expect(nodeInfo.hosts).toEqual(['msk-1', '10.0.0.1', 'msk-1.example.net']);
    const nodeCert = new X509Certificate(await readFile(node.certPath));
    expect(nodeCert.keyUsage).toEqual(expect.arrayContaining(['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']));
    const personInfo = describeCertificate(await readFile(person.certPath));
    expect(personInfo).toMatchObject({ name: 'alice', role: 'operator', hosts: [] });
    expect(new X509Certificate(await readFile(person.certPath)).keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(isIssuedBy(await readFile(person.certPath), caPem)).toBe(true);
    expect((await stat(person.keyPath)).mode & 0o777).toBe(0o600);
    // Serials are random and recorded
    expect(nodeInfo.serial).toBe(node.record.serial);
    expect(node.record.serial).not.toBe(person.record.serial);
    expect((await listCaDir(dir)).certificates.map((c) => [c.name, c.role, c.serial])).toEqual([
      ['msk-1', 'node', node.record.serial],
      ['alice', 'operator', person.record.serial],
    ]);
    // A name is issued once unless rotated with force
    await expect(issueInCaDir(dir, { name: 'alice', role: 'admin' })).rejects.toThrow(/already issued/);
    await expect(issueInCaDir(dir, { name: 'bob', role: 'viewer', sans: ['x.example'] })).rejects.toThrow(/only for node/);
    await expect(issueInCaDir(dir, { name: '../evil', role: 'viewer' })).rejects.toThrow(/NAME/);
  });

  it('reports expiry and revocation, by name, serial and token id', async () => {
    await initCaDir(dir, { cluster: 'prod' });
    const old = await issueInCaDir(dir, { name: 'cron', role: 'viewer', days: 1, now: new Date(Date.now() - 3 * 86_400_000) });
    const fresh = await issueInCaDir(dir, { name: 'carol', role: 'admin' });
    const { payload } = await createTokenInCaDir(dir, { name: 'billing', role: 'viewer', expiresMs: 3_600_000 });
    let listing = await listCaDir(dir);
    expect(listing.certificates.find((c) => c.name === 'cron')?.expired).toBe(true);
    expect(listing.certificates.find((c) => c.name === 'carol')).toMatchObject({ expired: false, revoked: false });

    expect((await revokeInCaDir(dir, fresh.record.serial.toLowerCase(), 'laptop stolen')).map((e) => e.id)).toEqual([fresh.record.serial]);
    expect((await revokeInCaDir(dir, payload.id)).map((e) => e.id)).toEqual([payload.id]);
    expect((await revokeInCaDir(dir, 'cron')).map((e) => e.id)).toEqual([old.record.serial]);
    await expect(revokeInCaDir(dir, 'nobody')).rejects.toThrow(/nothing issued/);

    listing = await listCaDir(dir);
    expect(listing.certificates.every((c) => c.revoked)).toBe(true);
    expect(listing.tokens[0]?.revoked).toBe(true);
    const set = new RevocationSet(await readRevocationList(caPaths(dir).revoked));
    expect(set.serialRevoked(fresh.record.serial)).toBe(true);
    expect(set.tokenRevoked(payload.id)).toBe(true);
    expect(set.tokenRevoked('tok-0000')).toBe(false);
    expect((await readRevocationList(caPaths(dir).revoked)).serials.find((e) => e.id === fresh.record.serial)?.reason).toBe('laptop stolen');
  });
});

describe('tokens', () => {
  it('verify with the CA certificate, and refuse tampering, expiry and another CA', async () => {
    const ca = await createCa({ cluster: 'prod' });
    const other = await createCa({ cluster: 'other' });
    const caCert = new X509Certificate(ca.certPem);
    const now = Date.now();
    const payload = { id: 'tok-1', name: 'billing', role: 'viewer' as const, nodes: ['msk-1'], iat: Math.floor(now / 1000), exp: Math.floor(now / 1000) + 60 };
    const token = signToken(payload, ca.keyPem);
    expect(verifyToken(token, caCert, now)).toEqual(payload);
    // Tampered: the role raised to admin without re-signing
    const [, signature] = token.split('.');
    const forged = `${Buffer.from(JSON.stringify({ ...payload, role: 'admin' })).toString('base64url')}.${signature}`;
    expect(() => verifyToken(forged, caCert, now)).toThrow(/signature does not match/);
    expect(() => verifyToken(token, caCert, now + 61_000)).toThrow(/expired/);
    expect(() => verifyToken(signToken(payload, other.keyPem), caCert, now)).toThrow(/signature does not match/);
    expect(() => verifyToken('garbage', caCert, now)).toThrow(/malformed/);
    expect(() => signToken({ ...payload, role: 'node' }, ca.keyPem)).toThrow(/certificate/);
  });

  it('certificates from another CA are not issued by ours', async () => {
    const ca = await createCa({ cluster: 'prod' });
    const other = await createCa({ cluster: 'other' });
    const stranger = await issueCertificate({ ca: other, name: 'msk-1', role: 'node' });
    expect(isIssuedBy(stranger.certPem, ca.certPem)).toBe(false);
    expect(isIssuedBy(stranger.certPem, other.certPem)).toBe(true);
  });
});
