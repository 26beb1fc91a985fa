import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../testing/index.js';
import { caPaths, initCaDir, issueInCaDir, revokeInCaDir, signedRevocationsInCaDir } from './ca-dir.js';
import { createCa } from './pki.js';
import { readRevocationList } from './revocation.js';
import { parseSignedRevocationList, revocationListSignedBy, signRevocationList } from './signed-revocations.js';

describe('signed revocation lists', () => {
  let dir: string;
  beforeEach(async () => {
    dir = join(await makeTempDir('hvctl-crl-'), 'ca');
    await initCaDir(dir, { cluster: 'prod' });
  });
  afterEach(async () => removeTempDir(join(dir, '..')));

  it('numbers and signs every list the CA directory writes', async () => {
    const caPem = await readFile(caPaths(dir).cert, 'utf8');
    // Given a new CA: list 1, empty, signed
    const first = await readRevocationList(caPaths(dir).revoked);
    expect(first).toMatchObject({ number: 1, serials: [], tokens: [] });
    expect(revocationListSignedBy(first, caPem)).toBe(true);
    // When a certificate is revoked
    const alice = await issueInCaDir(dir, { name: 'alice', role: 'operator' });
    await revokeInCaDir(dir, 'alice', 'left');
    // Then the next list has the next number, names her serial and verifies
    const second = await readRevocationList(caPaths(dir).revoked);
    expect(second.number).toBe(2);
    expect(second.serials.map((entry) => entry.id)).toEqual([alice.record.serial]);
    expect(revocationListSignedBy(second, caPem)).toBe(true);
    // And revoking her again writes no new list
    await revokeInCaDir(dir, 'alice');
    expect((await readRevocationList(caPaths(dir).revoked)).number).toBe(2);
  });

  it('detects every edit of a signed list, and a list signed by another CA', async () => {
    const caPem = await readFile(caPaths(dir).cert, 'utf8');
    await issueInCaDir(dir, { name: 'alice', role: 'operator' });
    await revokeInCaDir(dir, 'alice');
    const list = await readRevocationList(caPaths(dir).revoked);
    const text = JSON.stringify(list);
    expect(parseSignedRevocationList(text, caPem).serials).toHaveLength(1);
    const edits = [
      { ...list, serials: [] },
      { ...list, number: (list.number ?? 0) + 1 },
      { ...list, issuedAt: '2000-01-01T00:00:00.000Z' },
      { ...list, serials: list.serials.map((entry) => ({ ...entry, id: 'ABCDEF0123' })) },
      { ...list, tokens: [{ id: 'tok-1', name: 'x', at: '', reason: '' }] },
    ];
    for (const edited of edits) expect(() => parseSignedRevocationList(JSON.stringify(edited), caPem)).toThrow(/signature does not match/);
    const other = await createCa({ cluster: 'other' });
    const foreign = signRevocationList({ version: 1, number: 9, serials: [], tokens: [] }, other.keyPem);
    expect(() => parseSignedRevocationList(JSON.stringify(foreign), caPem)).toThrow(/signature does not match/);
    const { signature: _none, ...unsigned } = list;
    expect(() => parseSignedRevocationList(JSON.stringify(unsigned), caPem)).toThrow(/not signed/);
    expect(() => parseSignedRevocationList('{"serials":', caPem)).toThrow(/not JSON/);
  });

  it('signs a list written before lists were signed, under the next number, and refuses one signed by another key', async () => {
    // Given an old-style revoked.json (unsigned, unnumbered)
    await writeFile(caPaths(dir).revoked, JSON.stringify({ version: 1, serials: [{ id: 'ab12cd34', name: 'old', at: '', reason: 'x' }], tokens: [] }));
    // When it is prepared for a push
    const { list } = await signedRevocationsInCaDir(dir);
    // Then it is signed as list 1 with its entries, and written back
    expect(list).toMatchObject({ number: 1, serials: [{ id: 'AB12CD34', name: 'old' }] });
    expect(revocationListSignedBy(await readRevocationList(caPaths(dir).revoked), await readFile(caPaths(dir).cert, 'utf8'))).toBe(true);
    // And a list carrying a signature ca.crt does not verify is refused, not re-signed
    const other = await createCa({ cluster: 'other' });
    await writeFile(caPaths(dir).revoked, JSON.stringify(signRevocationList({ version: 1, number: 5, serials: [], tokens: [] }, other.keyPem)));
    await expect(signedRevocationsInCaDir(dir)).rejects.toThrow(/does not verify/);
  });
});
