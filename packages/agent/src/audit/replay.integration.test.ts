import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CordonResponse__Output, PromoteResponse__Output, ReadJournalResponse__Output } from '@hvctl/proto';
import { collectStream, deadline, unary, verifyAuditChain, type AgentClient, type AuditRecord } from '@hvctl/common';
import { buildSeeds, Lab } from '../testing/harness.js';

async function records(client: AgentClient): Promise<{ records: AuditRecord[]; lines: string[]; head: { seq: number; hash: string } }> {
  const messages = await collectStream<ReadJournalResponse__Output>('ReadJournal', client.audit.readJournal({ fromSeq: 0, sinceUnixMs: 0 }, deadline(5000)));
  const lines = messages.flatMap((message) => (message.record ? [message.record.line] : []));
  const head = messages.at(-1)?.head;
  return { lines, records: lines.map((line) => JSON.parse(line) as AuditRecord), head: { seq: Number(head?.seq ?? 0), hash: head?.hash ?? '' } };
}

/** A call repeated with the same request_id returns the first result without acting: the journal says so. */
describe('the audit journal and repeated request ids', () => {
  let lab: Lab;
  let client: AgentClient;

  beforeAll(async () => {
    lab = await Lab.start({
      nodes: [{ name: 'msk-1', site: 'msk' }],
      seeds: buildSeeds(['msk-1'], [{ name: 'vm-a', home: 'msk-1', peer: 'spb-1' }], 'msk-1'),
    });
    client = lab.client('msk-1');
  });
  afterAll(async () => lab?.close());

  it('marks the repeats of a request as replayed, and only them', async () => {
    // Given a Cordon that acted, When the same request is sent twice more
    for (let i = 0; i < 3; i += 1) {
      await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ requestId: 'replay-cordon-1', reason: 'kernel' }, deadline(), cb));
    }
    // And a new request id for the same method
    await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ requestId: 'replay-cordon-2', reason: 'kernel' }, deadline(), cb));
    const journal = await records(client);
    const of = (id: string): string[] => journal.records.filter((record) => record.request_id === id).map((record) => `${record.kind}${record.replayed ? ':replayed' : ''}`);
    // Then the first call's records are plain, every repeat's intent and outcome say replayed
    expect(of('replay-cordon-1')).toEqual(['intent', 'outcome', 'intent:replayed', 'outcome:replayed', 'intent:replayed', 'outcome:replayed']);
    expect(of('replay-cordon-2')).toEqual(['intent', 'outcome']);
    // And the chain still verifies with the new field
    expect(verifyAuditChain(journal.lines, journal.head)).toMatchObject({ ok: true });
  });

  it('does not mark a call whose id was used for another method (it is refused, not replayed)', async () => {
    await unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ requestId: 'replay-mixed-1', reason: 'kernel' }, deadline(), cb));
    const refused = await unary<PromoteResponse__Output>('Promote', (cb) => client.drbd.promote({ requestId: 'replay-mixed-1', name: 'vm-a' }, deadline(), cb)).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'INVALID_ARGUMENT' });
    const journal = await records(client);
    const promote = journal.records.filter((record) => record.request_id === 'replay-mixed-1' && record.method === '/hvctl.v1.DrbdService/Promote');
    expect(promote.map((record) => [record.kind, record.replayed ?? false, record.result ?? ''])).toEqual([
      ['intent', false, ''],
      ['outcome', false, 'error'],
    ]);
  });
});
