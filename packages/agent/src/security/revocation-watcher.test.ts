import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { caPaths, createCa, initCaDir, issueInCaDir, revokeInCaDir, silentLogger, signRevocationList, signedRevocationsInCaDir, type RevocationList } from '@hvctl/common';
import type { AgentConfig } from '../config.js';
import { loadAgentSecurity } from './setup.js';
import { makeTempDir, removeTempDir } from '@hvctl/common/testing';
import { RevocationWatcher } from './revocation-watcher.js';

describe('installing pushed revocation lists', () => {
  let dir: string;
  let ca: { certPem: string; keyPem: string };
  const list = (number: number, serial?: string): RevocationList =>
    signRevocationList({ version: 1, number, issuedAt: `2026-11-23T10:00:0${number % 10}.000Z`, serials: serial ? [{ id: serial, name: 'x', at: '', reason: '' }] : [], tokens: [] }, ca.keyPem);

  beforeEach(async () => {
    dir = await makeTempDir('hvctl-watcher-');
    ca = await createCa({ cluster: 'test' });
  });
  afterEach(async () => removeTempDir(dir));

  it('applies newer lists at once, ignores the same list again and refuses older or conflicting ones', async () => {
    const path = join(dir, 'revoked.json');
    await writeFile(path, JSON.stringify(list(2)));
    const watcher = new RevocationWatcher(path, silentLogger(), Date.now, ca.certPem);
    await watcher.load();
    // A newer list is written and enforced before install resolves
    const three = list(3, 'AB12CD34');
    await expect(watcher.install(three)).resolves.toMatchObject({ number: 3, previousNumber: 2, changed: true });
    expect((await watcher.current()).serialRevoked('ab12cd34')).toBe(true);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(three);
    // The same list again: no change; an older one and another list numbered 3: refused, nothing changes
    await expect(watcher.install(three)).resolves.toMatchObject({ changed: false, number: 3 });
    await expect(watcher.install(list(2))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/older than list 3/) });
    await expect(watcher.install(list(3))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/different revocation list numbered 3/) });
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(three);
  });

  it('keeps the list in force when the new one cannot be written, and says how to fix it', async () => {
    // Given a tls.revoked path whose directory cannot exist (its parent is a file; even root cannot write there)
    await writeFile(join(dir, 'not-a-dir'), 'x');
    const watcher = new RevocationWatcher(join(dir, 'not-a-dir', 'revoked.json'), silentLogger(), Date.now, ca.certPem);
    // When a list is installed
    const refused = await watcher.install(list(1, 'AB12CD34')).catch((error: unknown) => error);
    // Then it is refused, and the agent still enforces what it had
    expect(refused).toMatchObject({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/cannot write its revocation list/) });
    expect(watcher.snapshot().serialRevoked('AB12CD34')).toBe(false);
  });

  it('refuses every caller while the file carries a signature the CA does not verify', async () => {
    const path = join(dir, 'revoked.json');
    await writeFile(path, JSON.stringify({ ...list(4, 'AB12CD34'), serials: [] }));
    const watcher = new RevocationWatcher(path, silentLogger(), Date.now, ca.certPem);
    await expect(watcher.load()).rejects.toMatchObject({ code: 'UNAUTHENTICATED', message: expect.stringMatching(/signature does not match/) });
  });
});

describe("an agent's own calls to its peers", () => {
  it('refuse a peer whose node certificate the list the agent enforces revokes', async () => {
    const dir = await makeTempDir('hvctl-peer-revoked-');
    try {
      // Given msk-1's security, set up from a CA directory that also issued spb-1
      const caDir = join(dir, 'ca');
      await initCaDir(caDir, { cluster: 'test' });
      const node = await issueInCaDir(caDir, { name: 'msk-1', role: 'node' });
      const peer = await issueInCaDir(caDir, { name: 'spb-1', role: 'node' });
      const config = { node: 'msk-1', tls: { ca: node.caPath, cert: node.certPath, key: node.keyPath, revoked: join(dir, 'revoked.json') } } as unknown as AgentConfig;
      await writeFile(config.tls?.revoked ?? '', await readFile(caPaths(caDir).revoked));
      const security = await loadAgentSecurity(config, silentLogger());
      const check = security.identity?.revocations;
      expect(check?.().serialRevoked(peer.record.serial)).toBe(false);
      // When spb-1's certificate is revoked and the list pushed to msk-1
      await revokeInCaDir(caDir, 'spb-1', 'key leaked');
      await security.revocations?.watcher.install((await signedRevocationsInCaDir(caDir)).list);
      // Then msk-1's peer connections (channelCredentials reads this at each handshake) see it revoked
      expect(check?.().serialRevoked(peer.record.serial)).toBe(true);
    } finally {
      await removeTempDir(dir);
    }
  });
});
