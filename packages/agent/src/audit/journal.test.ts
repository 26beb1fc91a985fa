import { mkdir, readdir, readFile, rm, writeFile, appendFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HvctlError, silentLogger, type AuditRecord } from '@hvctl/common';
import { makeTempDir, removeTempDir } from '@hvctl/common/testing';
import { AuditJournal, type AuditCall } from './journal.js';
import { REDACTED } from './redact.js';

const ALICE = { name: 'alice', role: 'operator', via: 'certificate' };
const cordon = (requestId: string): AuditCall => ({ method: '/hvctl.v1.NodeService/Cordon', identity: ALICE, requestId });

describe('the audit journal on disk', () => {
  let dir: string;
  let journalDir: string;
  const open = (extra: Partial<Parameters<typeof AuditJournal.open>[0]> = {}): Promise<AuditJournal> =>
    AuditJournal.open({ dir: journalDir, node: 'msk-1', logger: silentLogger(), ...extra });
  const fileLines = async (name = 'audit.jsonl'): Promise<string[]> => (await readFile(join(journalDir, name), 'utf8')).split('\n').filter(Boolean);
  const records = async (): Promise<AuditRecord[]> => (await fileLines()).map((line) => JSON.parse(line) as AuditRecord);
  const writeLines = (lines: readonly string[]): Promise<void> => writeFile(join(journalDir, 'audit.jsonl'), lines.map((line) => `${line}\n`).join(''));

  /** Three calls: two finished, one failed. */
  async function threeCalls(journal: AuditJournal): Promise<void> {
    for (const id of ['r1', 'r2', 'r3']) {
      const seq = await journal.intent(cordon(id), { requestId: id, reason: 'kernel update' });
      await journal.outcome(seq, cordon(id), id === 'r3' ? { result: 'error', status: 'FAILED_PRECONDITION', message: 'no', durationMs: 4 } : { result: 'ok', durationMs: 2 });
    }
  }

  beforeEach(async () => {
    dir = await makeTempDir('hvctl-audit-');
    journalDir = join(dir, 'audit');
  });
  afterEach(async () => {
    await removeTempDir(dir);
  });

  it('writes an intent and an outcome per call, chained, with the head file naming the last record', async () => {
    // Given a new journal
    const journal = await open();
    // When two calls are recorded
    await threeCalls(journal);
    // Then the file holds intent/outcome pairs in seq order, linked by prev
    const written = await records();
    expect(written.map((record) => [record.seq, record.kind, record.request_id, record.result])).toEqual([
      [1, 'intent', 'r1', undefined],
      [2, 'outcome', 'r1', 'ok'],
      [3, 'intent', 'r2', undefined],
      [4, 'outcome', 'r2', 'ok'],
      [5, 'intent', 'r3', undefined],
      [6, 'outcome', 'r3', 'error'],
    ]);
    expect(written[0]).toMatchObject({ node: 'msk-1', identity: ALICE, method: '/hvctl.v1.NodeService/Cordon', args: { reason: 'kernel update' } });
    expect(written[5]).toMatchObject({ intent_seq: 5, status: 'FAILED_PRECONDITION', message: 'no', duration_ms: 4 });
    // And the head file names seq 6, and the chain verifies
    expect(JSON.parse(await readFile(join(journalDir, 'head.json'), 'utf8'))).toEqual({ seq: 6, hash: written[5]?.hash });
    expect(await journal.verify()).toMatchObject({ ok: true, records: 6 });
  });

  describe('detects tampering with the file', () => {
    let original: string[];
    beforeEach(async () => {
      await threeCalls(await open());
      original = await fileLines();
    });

    const verdict = async (): Promise<unknown> => (await open()).verify();

    it('an edited field', async () => {
      // When seq 4's result is changed from ok to error
      await writeLines(original.map((line, index) => (index === 3 ? line.replace('"result":"ok"', '"result":"error"') : line)));
      // Then verification names seq 4
      expect(await verdict()).toMatchObject({ ok: false, seq: 4, reason: expect.stringContaining('edited') });
    });

    it('a deleted line', async () => {
      await writeLines(original.filter((_, index) => index !== 2));
      expect(await verdict()).toMatchObject({ ok: false, seq: 3, reason: expect.stringContaining('missing') });
    });

    it('two swapped lines', async () => {
      const swapped = [...original];
      [swapped[3], swapped[4]] = [swapped[4]!, swapped[3]!];
      await writeLines(swapped);
      expect(await verdict()).toMatchObject({ ok: false, seq: 4 });
    });

    it('a truncated tail, also after the agent restarted and wrote on', async () => {
      // When the last two records are cut off
      await writeLines(original.slice(0, 4));
      const journal = await open();
      // Then the head names seq 6 while the file ends at 4
      expect(await journal.verify()).toMatchObject({ ok: false, seq: 5, reason: expect.stringContaining('truncated') });
      // And after more calls the gap stays visible
      await threeCalls(journal);
      expect(await journal.verify()).toMatchObject({ ok: false, seq: 5, reason: expect.stringContaining('missing') });
    });

    it('garbage appended', async () => {
      await appendFile(join(journalDir, 'audit.jsonl'), 'this is not a record\n');
      expect(await verdict()).toMatchObject({ ok: false, seq: 7, reason: expect.stringContaining('not a JSON record') });
    });
  });

  it('closes an intent without an outcome as interrupted when reopened, and the chain still verifies', async () => {
    // Given a call whose intent was written when the agent died
    const before = await open();
    await threeCalls(before);
    await before.intent({ ...cordon('r4'), workflowId: 'wf-1' }, { requestId: 'r4' });
    // When the journal is opened again (the agent restarted)
    const after = await open();
    // Then an outcome marked interrupted closes seq 7, with the call's identity and ids
    const last = (await records()).at(-1);
    expect(last).toMatchObject({ seq: 8, kind: 'outcome', intent_seq: 7, result: 'interrupted', identity: ALICE, request_id: 'r4', workflow_id: 'wf-1' });
    expect(await after.verify()).toMatchObject({ ok: true, records: 8 });
    // And a third start adds nothing
    await open();
    expect((await records()).length).toBe(8);
  });

  it('cuts a torn last line left by a crash during a write, and says so in the journal', async () => {
    await threeCalls(await open());
    await appendFile(join(journalDir, 'audit.jsonl'), '{"seq":7,"time":"2026-');
    const journal = await open();
    const last = (await records()).at(-1);
    expect(last).toMatchObject({ seq: 7, kind: 'recovery', message: expect.stringContaining('torn last line (22 bytes') });
    expect(await journal.verify()).toMatchObject({ ok: true, records: 7 });
  });

  it('takes a record the head file missed (the agent died between the two writes)', async () => {
    await threeCalls(await open());
    // Given a head one record behind the file
    const lines = await records();
    await writeFile(join(journalDir, 'head.json'), JSON.stringify({ seq: 5, hash: lines[4]?.hash }));
    // Then reopening brings the head forward and the chain verifies
    const journal = await open();
    expect(journal.currentHead()).toEqual({ seq: 6, hash: lines[5]?.hash });
    expect(await journal.verify()).toMatchObject({ ok: true });
  });

  it('refuses to record an intent when the journal cannot be written', async () => {
    // Given a journal whose file has become a directory (not writable, even for root)
    const journal = await open();
    await mkdir(join(journalDir, 'audit.jsonl'));
    // When an intent is written, it fails with UNAVAILABLE
    const error = await journal.intent(cordon('r1'), {}).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(HvctlError);
    expect(error).toMatchObject({ code: 'UNAVAILABLE', message: expect.stringContaining('audit journal not writable') });
    // And the head did not move
    expect(journal.currentHead().seq).toBe(0);
  });


  it('writes concurrent records as one group commit, each durable with its head before it resolves', async () => {
    // Given a journal whose clock ticks once per read (a group takes one time stamp)
    let clock = Date.parse('2026-11-23T12:00:00Z');
    const journal = await open({ now: () => (clock += 1000) });
    // When 20 intents are written at once
    const seqs = await Promise.all(Array.from({ length: 20 }, (_, index) => journal.intent(cordon(`c${index}`), {})));
    // Then each got its own seq, in call order, and the chain and the head cover all of them
    expect(seqs).toEqual(Array.from({ length: 20 }, (_, index) => index + 1));
    expect(JSON.parse(await readFile(join(journalDir, 'head.json'), 'utf8'))).toMatchObject({ seq: 20 });
    expect(await journal.verify()).toMatchObject({ ok: true, records: 20 });
    // And they were written in fewer commits than records
    const times = new Set((await records()).map((record) => record.time));
    expect(times.size).toBeLessThan(20);
    // And an intent written alone afterwards still gets its own commit
    await expect(journal.intent(cordon('alone'), {})).resolves.toBe(21);
  });

  it('refuses every record of a group whose write fails, and the head does not move', async () => {
    // Given a journal with one record, whose file then becomes a directory
    const journal = await open();
    await journal.intent(cordon('r0'), {});
    await rm(join(journalDir, 'audit.jsonl'));
    await mkdir(join(journalDir, 'audit.jsonl'));
    // When three intents are written at once, all three fail with UNAVAILABLE
    const results = await Promise.allSettled([1, 2, 3].map((index) => journal.intent(cordon(`r${index}`), {})));
    expect(results.map((result) => result.status)).toEqual(['rejected', 'rejected', 'rejected']);
    for (const result of results) if (result.status === 'rejected') expect(result.reason).toMatchObject({ code: 'UNAVAILABLE' });
    expect(journal.currentHead().seq).toBe(1);
  });
  it('records a denial for the authorisation interceptor, and never throws even when the journal cannot be written', async () => {
    const journal = await open();
    // When a viewer's promote is denied
    await journal.denied({ name: 'bob', role: 'viewer', via: 'certificate' }, '/hvctl.v1.DrbdService/Promote', 'PERMISSION_DENIED', 'viewer may not promote', 'req-9');
    // Then a denied record names who, what and why
    expect((await records())[0]).toMatchObject({ seq: 1, kind: 'denied', identity: { name: 'bob', role: 'viewer' }, method: '/hvctl.v1.DrbdService/Promote', status: 'PERMISSION_DENIED', message: 'viewer may not promote', request_id: 'req-9' });
    // And with an unwritable journal the denial still resolves (the failure is logged)
    await rm(join(journalDir, 'audit.jsonl'));
    await mkdir(join(journalDir, 'audit.jsonl'));
    await expect(journal.denied(ALICE, '/hvctl.v1.NodeService/Cordon', 'PERMISSION_DENIED')).resolves.toBeUndefined();
    expect(journal.currentHead().seq).toBe(1);
  });

  it('rotates by size and keeps the chain across files; a removed old file is detected', async () => {
    const journal = await open({ maxFileBytes: 900 });
    for (let round = 0; round < 4; round += 1) await threeCalls(journal);
    const rotated = (await readdir(journalDir)).filter((name) => /^audit\.\d{6}\.jsonl$/.test(name)).sort();
    expect(rotated.length).toBeGreaterThan(1);
    expect(await journal.verify()).toMatchObject({ ok: true, records: 24 });
    // When the oldest file is removed
    await rm(join(journalDir, rotated[0]!));
    expect(await journal.verify()).toMatchObject({ ok: false, seq: 1, reason: expect.stringContaining('missing') });
  });

  it('never writes a secret: secret fields and configured secret values are redacted everywhere', async () => {
    // Given a journal that knows the restic password
    const resticPassword = 'correct-horse-battery-staple';
    const journal = await open({ secrets: [resticPassword] });
    // When a call carries a password field, a token, a key and the password inside a name, and its error repeats it
    const call: AuditCall = { method: '/hvctl.v1.LeasesService/Acquire', identity: ALICE, requestId: `id-${resticPassword}` };
    const seq = await journal.intent(call, {
      keys: ['drbd:vm-a'],
      password: 'pw-in-a-field-123',
      nested: { apiToken: 'tok-abc-123456', private_key: '-----BEGIN KEY-----', list: [{ client_secret: 's3cr3t-value' }] },
      note: `restic -p ${resticPassword}`,
    });
    await journal.outcome(seq, call, { result: 'error', status: 'INTERNAL', message: `restic failed with password ${resticPassword}`, durationMs: 1 });
    // Then no secret appears in the file
    const text = await readFile(join(journalDir, 'audit.jsonl'), 'utf8');
    for (const secret of [resticPassword, 'pw-in-a-field-123', 'tok-abc-123456', 'BEGIN KEY', 's3cr3t-value']) expect(text).not.toContain(secret);
    // And what was redacted says so, while names (lease keys) are kept
    const [intent, outcome] = await records();
    expect(intent?.args).toEqual({
      keys: ['drbd:vm-a'],
      password: REDACTED,
      nested: { apiToken: REDACTED, private_key: REDACTED, list: [{ client_secret: REDACTED }] },
      note: `restic -p ${REDACTED}`,
    });
    expect(intent?.request_id).toBe(`id-${REDACTED}`);
    expect(outcome?.message).toBe(`restic failed with password ${REDACTED}`);
    expect(await journal.verify()).toMatchObject({ ok: true });
  });

  it('journals a workflow journal copy (Record) by what it is, not by its whole plan and steps', async () => {
    // Given a journal and a copy of a drain with 200 steps, 150 of them done
    const journal = await open();
    const steps = Array.from({ length: 200 }, (_, index) => ({ id: `vm-${index}:migrate`, state: index < 150 ? 'done' : 'pending', detail: 'x'.repeat(200) }));
    const workflow = { id: 'wf-20261123-0a1b2c3d', state: 'running', coordinator: 'msk-1', steps, plan: { steps: steps.map((step) => ({ id: step.id, title: 'y'.repeat(300) })) } };
    const call: AuditCall = { method: '/hvctl.v1.WorkflowsService/Record', identity: ALICE, workflowId: workflow.id };
    // When the Record call is journaled
    await journal.intent(call, { workflow });
    // Then its line names the workflow, its state and progress, and stays small
    const [intent] = await records();
    expect(intent?.args).toEqual({ workflow: { id: workflow.id, state: 'running', coordinator: 'msk-1', steps: 200, stepsDone: 150 } });
    expect((await fileLines())[0]?.length).toBeLessThan(1000);
  });
});
