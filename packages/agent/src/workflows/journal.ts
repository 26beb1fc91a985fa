import { mkdir, open, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { StepState__Output, Workflow__Output } from '@hvctl/proto';

/** One journal line: who did what, when, with what result. */
export interface JournalRecord {
  readonly timeUnixMs: number;
  /** "submitted", "step", "finished", "adopted", "abort", "lease-broken". */
  readonly event: string;
  readonly workflowId: string;
  readonly who: string;
  readonly detail: string;
  /** The workflow's full state after this event (what a restart or an adopter resumes from). */
  readonly workflow?: Workflow__Output;
  /** A step event carries only the step's new state: the workflow is the last full state with the later steps applied. */
  readonly step?: StepState__Output;
}

/**
 * The durable journal of the workflows this agent coordinates: one append-only JSON-lines
 * file per workflow, each line fsynced before the step it records is reported done. A
 * workflow's full state is written when it is submitted, adopted, aborted or finished;
 * step changes are written as the one step's new state (a drain of 20 VMs changes ~400
 * step states, and its full state grows with every one), and `coordinated()` replays them.
 * Copies of other coordinators' workflows (for adoption) are kept as their latest state.
 */
export class WorkflowJournal {
  constructor(private readonly dir: string) {}

  async append(record: JournalRecord): Promise<void> {
    await mkdir(join(this.dir, 'coordinated'), { recursive: true });
    const handle = await open(join(this.dir, 'coordinated', `${record.workflowId}.jsonl`), 'a');
    try {
      await handle.write(`${JSON.stringify(record)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** Records an operator action outside any workflow (a broken lease). */
  async appendOperator(entry: { readonly timeUnixMs: number; readonly event: string; readonly who: string; readonly detail: string }): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const handle = await open(join(this.dir, 'operator.jsonl'), 'a');
    try {
      await handle.write(`${JSON.stringify(entry)}\n`);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  /** The latest state of every workflow this agent coordinated. */
  async coordinated(): Promise<Workflow__Output[]> {
    return this.latest(join(this.dir, 'coordinated'), '.jsonl', (text) => replay(parseLines(text)));
  }

  /** Every record of one coordinated workflow. */
  async records(workflowId: string): Promise<JournalRecord[]> {
    try {
      return parseLines(await readFile(join(this.dir, 'coordinated', `${workflowId}.jsonl`), 'utf8'));
    } catch {
      return [];
    }
  }

  async storeCopy(workflow: Workflow__Output): Promise<void> {
    await mkdir(join(this.dir, 'copies'), { recursive: true });
    const path = join(this.dir, 'copies', `${workflow.id}.json`);
    await writeFile(`${path}.tmp`, JSON.stringify(workflow));
    await rename(`${path}.tmp`, path);
  }

  async copies(): Promise<Workflow__Output[]> {
    return this.latest(join(this.dir, 'copies'), '.json', (text) => JSON.parse(text) as Workflow__Output);
  }

  private async latest(dir: string, suffix: string, parse: (text: string) => Workflow__Output | undefined): Promise<Workflow__Output[]> {
    let names: string[];
    try {
      names = (await readdir(dir)).filter((name) => name.endsWith(suffix));
    } catch {
      return [];
    }
    const workflows: Workflow__Output[] = [];
    for (const name of names) {
      try {
        const workflow = parse(await readFile(join(dir, name), 'utf8'));
        if (workflow) workflows.push(workflow);
      } catch {
        // unreadable copy: skip it
      }
    }
    return workflows;
  }
}

/** The records of a journal file; a torn line (crash mid-write) is skipped. */
function parseLines(text: string): JournalRecord[] {
  return text
    .trimEnd()
    .split('\n')
    .flatMap((line) => {
      try {
        return [JSON.parse(line) as JournalRecord];
      } catch {
        return [];
      }
    });
}

/** The workflow's latest state: the last full state with the step states recorded after it. */
export function replay(records: readonly JournalRecord[]): Workflow__Output | undefined {
  let workflow: Workflow__Output | undefined;
  for (const record of records) {
    if (record.workflow) workflow = record.workflow;
    else if (record.step && workflow) {
      const step = record.step;
      workflow = { ...workflow, steps: workflow.steps.map((candidate) => (candidate.id === step.id ? step : candidate)) };
    }
  }
  return workflow;
}
