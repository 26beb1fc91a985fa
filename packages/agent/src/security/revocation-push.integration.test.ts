import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  caPaths,
  connectAgent,
  createCa,
  deadline,
  loadClientIdentity,
  readRevocationList,
  revokeInCaDir,
  signRevocationList,
  signedRevocationsInCaDir,
  unary,
  type ClientIdentity,
  type RevocationList,
} from '@hvctl/common';
import { sleep, waitFor } from '@hvctl/common/testing';
import { REVOCATION_CHECK_MS } from './revocation-watcher.js';
import { callRaw, startTlsAgent, type TlsAgentFixture } from './testing/tls-agent.js';

const GET_INFO = { path: '/hvctl.v1.NodeService/GetInfo', requestStream: false, responseStream: false };

/** Pushes `list` (as JSON text) with `identity`; resolves with the reply or the refusal's status name and message. */
async function push(fixture: TlsAgentFixture, identity: ClientIdentity, list: RevocationList | string): Promise<{ ok: true; number: number; changed: boolean } | { ok: false; status: string; message: string }> {
  const client = connectAgent(fixture.address, 'msk-1', identity);
  try {
    const reply = await unary<{ number: number | string; changed: boolean }>('push', (callback) =>
      client.security.updateRevocations({ list: typeof list === 'string' ? list : JSON.stringify(list) }, deadline(4000), callback),
    );
    return { ok: true, number: Number(reply.number), changed: reply.changed };
  } catch (error) {
    return { ok: false, status: (error as { code: string }).code, message: (error as Error).message };
  } finally {
    client.close();
  }
}

describe('pushing a signed revocation list to an agent (SecurityService.UpdateRevocations)', () => {
  let fixture: TlsAgentFixture;
  let admin: ClientIdentity;

  beforeAll(async () => {
    fixture = await startTlsAgent({ ownRevokedCopy: true });
    admin = await fixture.certificate('ada', 'admin');
  }, 30_000);
  afterAll(async () => fixture?.close());

  it('refuses the revoked operator on its next call once the list is pushed, and persists the list', async () => {
    // Given an operator whose calls work, on an agent holding its own copy of revoked.json
    const operator = fixture.client(await fixture.certificate('otto', 'operator'));
    expect((await callRaw(operator, GET_INFO.path, GET_INFO)).code).toBe(grpc.status.OK);
    // When an admin revokes the operator in the CA directory only
    await revokeInCaDir(fixture.caDir, 'otto', 'laptop stolen');
    await sleep(REVOCATION_CHECK_MS + 100);
    // Then the agent does not know yet (nobody copied the file)
    expect((await callRaw(operator, GET_INFO.path, GET_INFO)).code).toBe(grpc.status.OK);
    // When the signed list is pushed
    const { list } = await signedRevocationsInCaDir(fixture.caDir);
    const reply = await push(fixture, admin, list);
    expect(reply).toEqual({ ok: true, number: list.number, changed: true });
    // Then the operator's very next call on the same connection is refused, saying why
    expect(await callRaw(operator, GET_INFO.path, GET_INFO)).toEqual({ code: grpc.status.UNAUTHENTICATED, details: expect.stringMatching(/otto .*revoked/) });
    // And the agent wrote the list to its tls.revoked file (it survives a restart)
    const stored = await readRevocationList(fixture.revokedPath);
    expect(stored.number).toBe(list.number);
    expect(stored.serials.map((entry) => entry.name)).toContain('otto');
    // And the same list again changes nothing
    expect(await push(fixture, admin, list)).toEqual({ ok: true, number: list.number, changed: false });
    // And the push is in the audit journal with the admin's identity
    const journal = await readFile(join(fixture.dir, 'state', 'audit', 'audit.jsonl'), 'utf8');
    const records = journal.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { kind: string; method: string; identity: { name: string }; result?: string });
    const pushes = records.filter((record) => record.method === '/hvctl.v1.SecurityService/UpdateRevocations');
    expect(pushes.map((record) => `${record.kind}:${record.identity.name}:${record.result ?? ''}`)).toEqual(['intent:ada:', 'outcome:ada:ok', 'intent:ada:', 'outcome:ada:ok']);
  });

  it('refuses an older list, a forged one, one from another CA and an unsigned one, and keeps the list in force', async () => {
    const before = await readFile(fixture.revokedPath, 'utf8');
    const current = await readRevocationList(fixture.revokedPath);
    const caKey = await readFile(caPaths(fixture.caDir).key, 'utf8');
    // An older list, properly signed: no rollback
    const older = signRevocationList({ version: 1, number: (current.number ?? 0) - 1, issuedAt: new Date().toISOString(), serials: [], tokens: [] }, caKey);
    expect(await push(fixture, admin, older)).toEqual({ ok: false, status: 'FAILED_PRECONDITION', message: expect.stringMatching(/older than list \d+, which this agent enforces/) });
    // A different list under the same number
    const twin = signRevocationList({ version: 1, number: current.number ?? 0, issuedAt: new Date().toISOString(), serials: [], tokens: [] }, caKey);
    expect(await push(fixture, admin, twin)).toMatchObject({ ok: false, status: 'FAILED_PRECONDITION' });
    // The current list with the operator's entry removed, signature kept: forged
    const forged = { ...current, number: (current.number ?? 0) + 1, serials: [] };
    expect(await push(fixture, admin, forged)).toEqual({ ok: false, status: 'INVALID_ARGUMENT', message: expect.stringMatching(/signature does not match this cluster's CA/) });
    // A newer list signed by another CA
    const other = await createCa({ cluster: 'other' });
    const foreign = signRevocationList({ version: 1, number: (current.number ?? 0) + 5, issuedAt: new Date().toISOString(), serials: [], tokens: [] }, other.keyPem);
    expect(await push(fixture, admin, foreign)).toMatchObject({ ok: false, status: 'INVALID_ARGUMENT' });
    // Unsigned, and not a list at all
    const { signature: _none, ...unsigned } = { ...current, number: (current.number ?? 0) + 1 };
    expect(await push(fixture, admin, unsigned as RevocationList)).toEqual({ ok: false, status: 'INVALID_ARGUMENT', message: expect.stringMatching(/not signed/) });
    expect(await push(fixture, admin, 'rm -rf /')).toEqual({ ok: false, status: 'INVALID_ARGUMENT', message: expect.stringMatching(/not JSON/) });
    // Then the file and the list in force are unchanged
    expect(await readFile(fixture.revokedPath, 'utf8')).toBe(before);
    const otto = fixture.client(await loadIssued(fixture, 'otto'));
    expect((await callRaw(otto, GET_INFO.path, GET_INFO)).code).toBe(grpc.status.UNAUTHENTICATED);
  });

  it('fails closed when the file on the node carries a signature the CA does not verify, until a valid list is pushed', async () => {
    const admins = fixture.client(admin);
    const current = await readRevocationList(fixture.revokedPath);
    // Given someone edits the node's file and removes the operator, keeping the signature
    await writeFile(fixture.revokedPath, JSON.stringify({ ...current, serials: [] }));
    await sleep(REVOCATION_CHECK_MS + 100);
    // Then every caller is refused, saying why
    expect(await callRaw(admins, GET_INFO.path, GET_INFO)).toEqual({ code: grpc.status.UNAUTHENTICATED, details: expect.stringMatching(/cannot read its revocation list .*signature does not match/) });
    // When the CA's newest list is pushed (the agent still remembers the number it enforced)
    await revokeInCaDir(fixture.caDir, 'nobody-yet', 'x').catch(() => undefined);
    const { list } = await signedRevocationsInCaDir(fixture.caDir);
    expect(await push(fixture, admin, list)).toMatchObject({ ok: true, changed: true });
    // Then calls work again
    expect((await callRaw(admins, GET_INFO.path, GET_INFO)).code).toBe(grpc.status.OK);
  });

  it('lets only admins push', async () => {
    const { list } = await signedRevocationsInCaDir(fixture.caDir);
    for (const [name, role] of [['vera', 'viewer'], ['olga', 'operator']] as const) {
      const refused = await push(fixture, await fixture.certificate(name, role), list);
      expect(refused).toEqual({ ok: false, status: 'PERMISSION_DENIED', message: expect.stringMatching(/needs the admin role/) });
    }
    // And both refusals are journaled as denied (written after the answer: wait for them)
    const denied = async (): Promise<string[]> =>
      (await readFile(join(fixture.dir, 'state', 'audit', 'audit.jsonl'), 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { kind: string; method: string; identity: { name: string } })
        .filter((record) => record.kind === 'denied' && record.method === '/hvctl.v1.SecurityService/UpdateRevocations')
        .map((record) => record.identity.name);
    await waitFor('both denials journaled', async () => (await denied()).length === 2);
    expect((await denied()).sort()).toEqual(['olga', 'vera']);
  });
});

/** The identity of a certificate already issued in the fixture's CA directory. */
function loadIssued(fixture: TlsAgentFixture, name: string): Promise<ClientIdentity> {
  return loadClientIdentity({ ca: caPaths(fixture.caDir).cert, cert: caPaths(fixture.caDir).issuedCert(name), key: caPaths(fixture.caDir).issuedKey(name) });
}
