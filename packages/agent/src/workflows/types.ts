import type { Evidence__Output, WorkflowSpec__Output } from '@hvctl/proto';
import type { ClusterAccess } from './cluster-access.js';

/** What a running step may use. */
export interface StepContext {
  readonly cluster: ClusterAccess;
  readonly workflowId: string;
  /** Who submitted the workflow (recorded with the intents it sets). */
  readonly owner: string;
  /** Distinguishes runs of the same step (first run, resume after restart, adoption), for request ids. */
  readonly attempt: number;
  readonly signal: AbortSignal;
  progress(percent: number, detail: string): void;
}

/**
 * One step of a workflow: what it does, where, the command an operator would type for it,
 * what must hold before and what is verified after. `run` re-reads live state first,
 * acts only if needed (so a resumed workflow can run it again), verifies, and throws
 * FAILED_PRECONDITION rather than break an invariant.
 */
export interface Step {
  readonly id: string;
  readonly title: string;
  readonly node: string;
  readonly phase: string;
  readonly preconditions: readonly string[];
  readonly command: string;
  readonly verify: string;
  /** True for steps that only read (a failure before any mutating step is a refusal). */
  readonly readOnly?: boolean;
  run(ctx: StepContext): Promise<string>;
}

/** Steps in order, or lanes of steps running side by side (at most `parallel` at once). */
export type Stage = { readonly steps: readonly Step[] } | { readonly lanes: readonly (readonly Step[])[]; readonly parallel: number };

/** The executable form of a plan. */
export interface Program {
  readonly stages: readonly Stage[];
  /**
   * Brings the cluster to a safe state after a failure or abort (exactly one Primary,
   * each VM running on at most one node, temporary options cleared). Idempotent;
   * returns what it did.
   */
  makeSafe(ctx: StepContext): Promise<string[]>;
  /** Result lines once the workflow succeeded (for example RTO/RPO figures). */
  summarize?(ctx: StepContext, timings: ReadonlyMap<string, number>): Promise<string[]>;
}

/** A plan as a workflow kind computes it from live state. */
export interface Planned<Data> {
  readonly title: string;
  readonly data: Data;
  readonly nodes: readonly string[];
  readonly resources: readonly string[];
  readonly warnings: readonly string[];
  readonly evidence: readonly Evidence__Output[];
}

/** One workflow kind: how to plan it from live state, and its program for a plan. */
export interface WorkflowKind<Data = unknown> {
  readonly name: string;
  /**
   * Lease keys known from the spec alone ("vm/web-1", "node/msk-1"), checked before
   * planning so that a conflicting workflow is refused naming the holder, and held with
   * the plan's keys.
   */
  claims?(spec: WorkflowSpec__Output): string[];
  /** Reads live state and plans; throws FAILED_PRECONDITION when the workflow cannot run. */
  plan(spec: WorkflowSpec__Output, cluster: ClusterAccess): Promise<Planned<Data>>;
  /** The program for a plan (pure: resuming rebuilds it from the journaled data). */
  program(data: Data): Program;
}

/** Flattens a program's stages into plan order. */
export function flattenSteps(program: Program): Step[] {
  return program.stages.flatMap((stage) => ('steps' in stage ? [...stage.steps] : stage.lanes.flatMap((lane) => [...lane])));
}
