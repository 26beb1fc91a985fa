import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { CordonResponse__Output, GetInfoResponse__Output, ReadJournalResponse__Output, VerifyJournalResponse__Output } from '@hvctl/proto';
import { collectStream, deadline, unary, verifyAuditChain, type AgentClient, type AuditHead, type AuditRecord } from '@hvctl/common';
import { waitFor } from '@hvctl/common/testing';
import { buildSeeds, Lab } from '../testing/harness.js';

interface Journal {
  readonly records: AuditRecord[];
  readonly lines: string[];
  readonly head: AuditHead;
}

async function readJournal(client: AgentClient): Promise<Journal> {
  const messages = await collectStream<ReadJournalResponse__Output>('ReadJournal', client.audit.readJournal({ fromSeq: 0, sinceUnixMs: 0 }, deadline(5000)));
  const lines = messages.flatMap((message) => (message.record ? [message.record.line] : []));
  const head = messages.at(-1)?.head;
  if (!head) throw new Error('ReadJournal ended without a head');
  return { lines, records: lines.map((line) => JSON.parse(line) as AuditRecord), head: { seq: Number(head.seq), hash: head.hash } };
}

const verifyJournal = (client: AgentClient): Promise<VerifyJournalResponse__Output> =>
  unary<VerifyJournalResponse__Output>('VerifyJournal', (cb) => client.audit.verifyJournal({}, deadline(5000), cb));

/** One in-process agent (msk-1) with vm-a Primary and running, its peer spb-1 absent. */
describe('the audit journal of a running agent', () => {
  let lab: Lab;
  let client: AgentClient;

  beforeAll(async () => {
    lab = await Lab.start({
      nodes: [{ name: 'msk-1', site: 'msk' }],
      // msk-1 holds the backup repository too, so a backup can finish with one agent.
      seeds: buildSeeds(['msk-1'], [{ name: 'vm-a', home: 'msk-1', peer: 'spb-1' }], 'msk-1'),
      timing: { writeBytesPerSecond: 0 },
    });
    client = lab.client('msk-1');
  });

  afterAll(async () => {
    await lab?.close();
  });

  it('records intent and outcome of a mutating call with the caller, the request id and the arguments', async () => {
    // When msk-1 is cordoned
    await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ requestId: 'audit-it-cordon', reason: 'kernel update' }, deadline(), cb));
    // Then its journal holds the intent, then the outcome, for that request
    const { records } = await readJournal(client);
    const mine = records.filter((record) => record.request_id === 'audit-it-cordon');
    expect(mine.map((record) => record.kind)).toEqual(['intent', 'outcome']);
    const [intent, outcome] = mine;
    expect(intent).toMatchObject({
      node: 'msk-1',
      method: '/hvctl.v1.NodeService/Cordon',
      identity: { name: expect.stringMatching(/.+/), role: expect.stringMatching(/.+/), via: 'insecure' },
      args: { requestId: 'audit-it-cordon', reason: 'kernel update' },
    });
    expect(outcome).toMatchObject({ intent_seq: intent?.seq, result: 'ok', method: '/hvctl.v1.NodeService/Cordon', identity: intent?.identity });
    expect(outcome?.duration_ms).toBeGreaterThanOrEqual(0);
    expect(Date.parse(outcome!.time)).toBeGreaterThanOrEqual(Date.parse(intent!.time));
  });

  it('records a refused call (FAILED_PRECONDITION) with its status and message', async () => {
    // Given msk-1 is cordoned (previous test), when vm-a is promoted there without force
    await expect(unary('Promote', (cb) => client.drbd.promote({ requestId: 'wf-audit-1:promote:0', name: 'vm-a', force: false }, deadline(), cb))).rejects.toMatchObject({ code: 'FAILED_PRECONDITION' });
    // Then the outcome says so, and the workflow id is taken from the request id
    const { records } = await readJournal(client);
    const outcome = records.find((record) => record.request_id === 'wf-audit-1:promote:0' && record.kind === 'outcome');
    expect(outcome).toMatchObject({ result: 'error', status: 'FAILED_PRECONDITION', message: expect.stringContaining('cordoned'), workflow_id: 'wf-audit-1' });
  });

  it('records a successful server-streaming call (CreateBackup) once the stream has ended', async () => {
    const messages = await collectStream('CreateBackup', client.backup.createBackup({ requestId: 'audit-it-backup', vm: 'vm-a' }, deadline(20_000)));
    expect(messages.length).toBeGreaterThan(0);
    const { records } = await readJournal(client);
    const mine = records.filter((record) => record.request_id === 'audit-it-backup');
    expect(mine.map((record) => [record.kind, record.result, record.method])).toEqual([
      ['intent', undefined, '/hvctl.v1.BackupService/CreateBackup'],
      ['outcome', 'ok', '/hvctl.v1.BackupService/CreateBackup'],
    ]);
  });

  it('records a failed server-streaming call (Migrate to an absent node)', async () => {
    await expect(collectStream('Migrate', client.kvm.migrate({ requestId: 'audit-it-migrate', name: 'vm-a', targetNode: 'spb-1' }, deadline(5000)))).rejects.toMatchObject({ code: expect.any(String) });
    const { records } = await readJournal(client);
    const mine = records.filter((record) => record.request_id === 'audit-it-migrate');
    expect(mine.map((record) => [record.kind, record.result])).toEqual([
      ['intent', undefined],
      ['outcome', 'error'],
    ]);
  });

  it('does not journal read-only calls, and the chain verifies both here and on the agent', async () => {
    const before = await readJournal(client);
    // When only read-only calls are made
    await unary<GetInfoResponse__Output>('GetInfo', (cb) => client.node.getInfo({}, deadline(), cb));
    await unary('ListResources', (cb) => client.drbd.listResources({}, deadline(), cb));
    // Then nothing was added
    const after = await readJournal(client);
    expect(after.head).toEqual(before.head);
    // And the journal verifies from its raw lines and by the agent's own check
    expect(verifyAuditChain(after.lines, after.head)).toMatchObject({ ok: true, records: after.records.length });
    expect(await verifyJournal(client)).toMatchObject({ ok: true, records: after.records.length, brokenSeq: 0 });
  });

  it('refuses a mutating call with UNAVAILABLE when the journal cannot be written, and changes nothing', async () => {
    // Given a journal file that has become a directory (no write succeeds, even as root)
    const file = join(lab.node('msk-1').config.stateDir, 'audit', 'audit.jsonl');
    const saved = await readFile(file, 'utf8');
    await rm(file);
    await mkdir(file);
    try {
      // When msk-1 is uncordoned
      await expect(unary('Uncordon', (cb) => client.node.uncordon({ requestId: 'audit-it-uncordon' }, deadline(), cb))).rejects.toMatchObject({
        code: 'UNAVAILABLE',
        message: expect.stringContaining('audit journal not writable'),
      });
      // Then it is still cordoned
      const { node } = await unary<GetInfoResponse__Output>('GetInfo', (cb) => client.node.getInfo({}, deadline(), cb));
      expect(node?.flags?.cordoned).toBe(true);
    } finally {
      await rm(file, { recursive: true });
      await writeFile(file, saved);
    }
    // And once the journal is back, calls go through again and the chain still verifies
    await unary('Uncordon', (cb) => client.node.uncordon({ requestId: 'audit-it-uncordon-2' }, deadline(), cb));
    expect(await verifyJournal(client)).toMatchObject({ ok: true });
  });
});

/** One agent as a child process, killed with SIGKILL while a slow call is in flight. */
describe('an agent killed between intent and outcome', () => {
  let lab: Lab | undefined;

  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('marks the call interrupted on restart, the chain still verifies, and an edited line breaks verification at its seq', async () => {
    // Given msk-1 as its own process, with guests that take 30 s to shut down
    lab = await Lab.start({
      nodes: [{ name: 'msk-1', site: 'msk', child: true }],
      seeds: buildSeeds(['msk-1'], [{ name: 'vm-a', home: 'msk-1', peer: 'spb-1' }]),
      timing: { writeBytesPerSecond: 0, shutdownMs: 30_000 },
    });
    const client = lab.client('msk-1');
    const file = join(lab.node('msk-1').config.stateDir, 'audit', 'audit.jsonl');
    // When a shutdown of vm-a starts
    const call = unary('Shutdown', (cb) => client.kvm.shutdown({ requestId: 'audit-kill-1', name: 'vm-a', timeoutSeconds: 120 }, deadline(60_000), cb)).catch((error: unknown) => error);
    // And the agent is killed once the intent is on disk
    const intent = await waitFor('the intent on disk', async () =>
      (await readFile(file, 'utf8').catch(() => ''))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as AuditRecord)
        .find((record) => record.request_id === 'audit-kill-1' && record.kind === 'intent'),
    );
    await lab.kill('msk-1');
    await expect(call).resolves.toMatchObject({ code: 'UNAVAILABLE' });
    const beforeRestart = (await readFile(file, 'utf8')).split('\n').filter(Boolean).map((line) => JSON.parse(line) as AuditRecord);
    expect(beforeRestart.filter((record) => record.intent_seq === intent.seq)).toEqual([]);

    // Then after a restart the intent is closed as interrupted
    await lab.start('msk-1');
    const journal = await readJournal(client);
    const outcome = journal.records.find((record) => record.intent_seq === intent.seq);
    expect(outcome).toMatchObject({ kind: 'outcome', result: 'interrupted', method: '/hvctl.v1.KvmService/Shutdown', request_id: 'audit-kill-1', identity: intent.identity });
    // And the chain verifies, here and on the agent
    expect(verifyAuditChain(journal.lines, journal.head)).toMatchObject({ ok: true });
    expect(await verifyJournal(client)).toMatchObject({ ok: true });

    // When one line of the journal is edited (the intent's request id)
    const text = await readFile(file, 'utf8');
    await writeFile(file, text.replace('"request_id":"audit-kill-1"', '"request_id":"audit-kill-X"'));
    // Then the agent's verification names the edited seq
    expect(await verifyJournal(client)).toMatchObject({ ok: false, brokenSeq: intent.seq, reason: expect.stringContaining('edited') });
    // And so does a verification of the raw records it sends
    const edited = await readJournal(client);
    expect(verifyAuditChain(edited.lines, edited.head)).toMatchObject({ ok: false, seq: intent.seq });
  });
});
