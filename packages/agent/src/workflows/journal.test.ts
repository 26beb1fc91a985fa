import { appendFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { StepState__Output, Workflow__Output } from '@hvctl/proto';
import { makeTempDir, removeTempDir } from '@hvctl/common/testing';
import { WorkflowJournal } from './journal.js';

const step = (id: string, state: string): StepState__Output => ({ id, state, detail: '', percent: state === 'done' ? 100 : 0, startedUnixMs: 1, finishedUnixMs: 0 }) as StepState__Output;
const workflow = (id: string, steps: StepState__Output[]): Workflow__Output => ({ id, state: 'running', steps }) as unknown as Workflow__Output;

describe('the workflow journal', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('hvctl-wfjournal-');
  });
  afterEach(async () => {
    await removeTempDir(dir);
  });

  it('writes step changes as the step alone and replays them onto the last full state', async () => {
    // Given a submitted workflow of three steps
    const journal = new WorkflowJournal(dir);
    const submitted = workflow('wf-a', [step('cordon', 'pending'), step('migrate-a', 'pending'), step('migrate-b', 'pending')]);
    await journal.append({ timeUnixMs: 1, event: 'submitted', workflowId: 'wf-a', who: 'msk-1', detail: 'drain', workflow: submitted });
    // When step changes are journaled as deltas
    await journal.append({ timeUnixMs: 2, event: 'step', workflowId: 'wf-a', who: 'msk-1', detail: 'cordon: running', step: step('cordon', 'running') });
    await journal.append({ timeUnixMs: 3, event: 'step', workflowId: 'wf-a', who: 'msk-1', detail: 'cordon: done', step: step('cordon', 'done') });
    await journal.append({ timeUnixMs: 4, event: 'step', workflowId: 'wf-a', who: 'msk-1', detail: 'migrate-b: running', step: step('migrate-b', 'running') });
    // Then a step line holds no copy of the workflow
    const lines = (await readFile(join(dir, 'coordinated', 'wf-a.jsonl'), 'utf8')).trimEnd().split('\n');
    expect(JSON.parse(lines[1] as string)).not.toHaveProperty('workflow');
    // And the latest state is the submitted one with the steps applied in order
    const [latest] = await journal.coordinated();
    expect(latest?.steps.map((candidate) => `${candidate.id}:${candidate.state}`)).toEqual(['cordon:done', 'migrate-a:pending', 'migrate-b:running']);
    // And every record is still listed
    expect((await journal.records('wf-a')).map((record) => record.event)).toEqual(['submitted', 'step', 'step', 'step']);
  });

  it('starts again from a later full state, and skips a torn last line', async () => {
    const journal = new WorkflowJournal(dir);
    await journal.append({ timeUnixMs: 1, event: 'submitted', workflowId: 'wf-b', who: 'msk-1', detail: '', workflow: workflow('wf-b', [step('one', 'pending')]) });
    await journal.append({ timeUnixMs: 2, event: 'step', workflowId: 'wf-b', who: 'msk-1', detail: '', step: step('one', 'running') });
    await journal.append({ timeUnixMs: 3, event: 'finished', workflowId: 'wf-b', who: 'msk-1', detail: 'succeeded', workflow: { ...workflow('wf-b', [step('one', 'done')]), state: 'succeeded' } });
    await appendFile(join(dir, 'coordinated', 'wf-b.jsonl'), '{"timeUnixMs":4,"event":"st');
    const [latest] = await journal.coordinated();
    expect(latest).toMatchObject({ state: 'succeeded', steps: [{ id: 'one', state: 'done' }] });
  });
});
