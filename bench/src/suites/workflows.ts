import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Topology } from '@hvctl/common';
import type { SuiteContext } from '../lib/context.js';
import { failed, figure, type Target } from '../lib/figures.js';
import { check, onCleanup, runHvctl, sleep, type CliRun } from '../lib/procs.js';
import { round, summarise } from '../lib/stats.js';

/** Issue #6, part 3 (workflow speed in the lab). */
export const WORKFLOW_TARGETS = {
  failoverTotalS: { op: '<', limit: 10 },
  failoverDetectS: { op: '<=', limit: 3 },
  drainOverhead: { op: '<=', limit: 1.2 },
} as const satisfies Record<string, Target>;

interface WorkflowResult {
  readonly id: string;
  readonly state: string;
  readonly createdUnixMs: string | number;
  readonly finishedUnixMs: string | number;
  readonly timings: readonly { phase: string; durationMs: string | number }[];
  readonly steps: readonly { id: string }[];
  readonly error: string;
}

/** A workflow CLI run (`--yes --json`): the result, and when its line arrived. */
interface WorkflowRun {
  readonly run: CliRun;
  readonly workflow: WorkflowResult;
  readonly resultAtMs: number;
  /** Coordinator time from submission to the end (finishedUnixMs - createdUnixMs). */
  readonly durationMs: number;
}

async function workflow(ctx: SuiteContext, cluster: string, args: readonly string[]): Promise<WorkflowRun> {
  let resultAtMs = 0;
  let workflowResult: WorkflowResult | undefined;
  let last = '';
  const run = await runHvctl(['--cluster', cluster, ...args, '--yes', '--json'], {
    timeoutMs: 180_000,
    env: ctx.consoleEnv,
    onLine: (line, atMs) => {
      try {
        const event = JSON.parse(line) as { event: string; workflow?: WorkflowResult; error?: string };
        last = event.event === 'refused' ? `refused: ${event.error}` : event.event;
        if (event.event === 'result' && event.workflow) {
          workflowResult = event.workflow;
          resultAtMs = atMs;
        }
      } catch {
        // not JSON: ignore
      }
    },
  });
  if (!workflowResult) throw new Error(`hvctl ${args.join(' ')}: no result (last event ${last || 'none'}, exit ${run.code}): ${run.stderr.trim().slice(-300)}`);
  if (workflowResult.state !== 'succeeded') throw new Error(`hvctl ${args.join(' ')}: ${workflowResult.state}: ${workflowResult.error}`);
  return { run, workflow: workflowResult, resultAtMs, durationMs: Number(workflowResult.finishedUnixMs) - Number(workflowResult.createdUnixMs) };
}

async function status(ctx: SuiteContext, cluster: string): Promise<{ topology: Topology; run: CliRun }> {
  const run = check(
    await runHvctl(['--cluster', cluster, 'status', '--json'], { timeoutMs: 30_000, env: ctx.consoleEnv, stdoutFile: join(ctx.workDir, 'status.json') }),
    'hvctl status --json',
  );
  return { topology: JSON.parse(run.stdout) as Topology, run };
}

/** Empty when every VM in `vms` runs on `node` alone and its /32 is announced from `node` alone. */
function misplaced(topology: Topology, vms: readonly string[], node: string): string[] {
  return vms.filter((name) => {
    const vm = topology.vms.find((candidate) => candidate.name === name);
    return !vm || vm.node !== node || vm.state !== 'running' || vm.runningOn.join() !== node || vm.announcedFrom.join() !== node;
  });
}

async function waitHealthy(ctx: SuiteContext, cluster: string, vms: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const { topology } = await status(ctx, cluster);
    const { health } = topology;
    if (health.nodesDown === 0 && health.vmsRunning === vms && health.resourcesDegraded === 0) return;
    if (Date.now() > until) throw new Error(`the lab did not recover within ${timeoutMs} ms: ${JSON.stringify(health)}`);
    await sleep(300);
  }
}

async function labUp(ctx: SuiteContext, name: string, vms: number): Promise<{ dir: string; cluster: string; down: () => Promise<void> }> {
  const dir = join(ctx.workDir, name);
  await mkdir(dir, { recursive: true });
  const down = async (): Promise<void> => {
    await runHvctl(['lab', 'down', '--dir', dir, '--force'], { timeoutMs: 30_000 });
  };
  const unregister = onCleanup(down);
  try {
    check(await runHvctl(['lab', 'up', '--dir', dir, '--vms', String(vms), '--detach'], { timeoutMs: 90_000 }), 'hvctl lab up');
  } catch (error) {
    await down();
    unregister();
    throw error;
  }
  return {
    dir,
    cluster: join(dir, 'cluster.yaml'),
    down: async () => {
      unregister();
      await down();
    },
  };
}

/**
 * Failover of a node with 6 VMs: `hvctl lab fault kill` (SIGKILL of the node's simulated host and its
 * agent: a host crash), then what a script would do: poll `hvctl status
 * --json` until the node shows unreachable (detection), run `hvctl failover --node X --yes
 * --json` and read its result (the workflow verifies every VM running on the survivor and
 * its /32 announced there); the bench then checks that with one more `status --json`.
 * t0 is when `lab fault kill` returns (the SIGKILL is its last act).
 */
async function failover(ctx: SuiteContext, lab: { dir: string; cluster: string }, reps: number): Promise<void> {
  const victim = 'msk-1';
  const survivor = 'spb-1';
  const detectS: number[] = [];
  const totalS: number[] = [];
  const workflowS: number[] = [];
  const phases: Record<string, number[]> = {};
  const invalid: string[] = [];
  for (let rep = 0; rep < reps; rep += 1) {
    const before = (await status(ctx, lab.cluster)).topology;
    const vms = before.vms.filter((vm) => vm.node === victim && vm.state === 'running').map((vm) => vm.name);
    if (vms.length !== 6) throw new Error(`${victim} runs ${vms.length} VMs, expected 6`);
    const kill = check(await runHvctl(['lab', 'fault', 'kill', victim, '--dir', lab.dir], { timeoutMs: 30_000 }), 'hvctl lab fault kill');
    const t0 = kill.endMs;
    let detectedAt = 0;
    while (!detectedAt) {
      const { topology, run } = await status(ctx, lab.cluster);
      if (topology.nodes.find((node) => node.name === victim)?.reachable === false) detectedAt = run.endMs;
      else if (run.endMs - t0 > 30_000) throw new Error(`${victim} still reachable 30 s after the kill`);
    }
    const result = await workflow(ctx, lab.cluster, ['failover', '--node', victim]);
    detectS.push((detectedAt - t0) / 1000);
    totalS.push((result.resultAtMs - t0) / 1000);
    workflowS.push(result.durationMs / 1000);
    for (const timing of result.workflow.timings) (phases[timing.phase] ??= []).push(Number(timing.durationMs));
    const wrong = misplaced((await status(ctx, lab.cluster)).topology, vms, survivor);
    if (wrong.length) invalid.push(`after failover ${rep + 1}, not running on ${survivor} with its route: ${wrong.join(', ')}`);
    ctx.log(`  failover ${rep + 1}/${reps}: detected ${round(detectS.at(-1) as number)} s, result ${round(totalS.at(-1) as number)} s after the kill (workflow ${round(result.durationMs / 1000)} s)`);
    if (rep < reps - 1) {
      // Back to the start: the node reboots, failback resyncs it and migrates its VMs home.
      check(await runHvctl(['lab', 'fault', 'restart', victim, '--dir', lab.dir], { timeoutMs: 60_000 }), 'hvctl lab fault restart');
      const back = await workflow(ctx, lab.cluster, ['failback', victim]);
      await waitHealthy(ctx, lab.cluster, before.vms.length, 60_000);
      ctx.log(`  failback ${rep + 1}: ${round(back.durationMs / 1000)} s`);
    }
  }
  const phaseText = Object.entries(phases)
    .map(([phase, ms]) => `${phase} ${round(summarise(ms).median / 1000)} s`)
    .join(', ');
  ctx.report(
    figure({
      name: 'workflow.failover.detect',
      unit: 's',
      samples: detectS,
      target: WORKFLOW_TARGETS.failoverDetectS,
      note: 'kill -9 to the first `hvctl status --json` (started after the kill) showing the node unreachable, including that run',
    }),
  );
  ctx.report(
    figure({
      name: 'workflow.failover.total',
      unit: 's',
      samples: totalS,
      target: WORKFLOW_TARGETS.failoverTotalS,
      ...(invalid.length ? { invalid: invalid.join('; ') } : {}),
      note: `kill -9 of a node with 6 VMs to the failover's verified result (detection + \`hvctl failover --node X --yes --json\`); workflow alone median ${round(summarise(workflowS).median)} s (${phaseText})`,
    }),
  );
}

/**
 * Drain of 20 VMs with --parallel 4 against the ideal ceil(20/4) x one migration, both timed
 * by the coordinator (finishedUnixMs - createdUnixMs of the workflow), one migration measured
 * in the same lab just before (`hvctl migrate VM --yes --json`, there and back).
 */
async function drain(ctx: SuiteContext, lab: { cluster: string }, node: string, partner: string, reps: number, baselineReps: number): Promise<void> {
  const parallel = 4;
  const start = (await status(ctx, lab.cluster)).topology;
  const own = start.vms.filter((vm) => vm.node === node && vm.state === 'running').map((vm) => vm.name);
  const probeVm = own[0];
  if (!probeVm) throw new Error(`${node} runs no VM`);
  const migrationS: number[] = [];
  for (let rep = 0; rep < baselineReps; rep += 1) {
    migrationS.push((await workflow(ctx, lab.cluster, ['migrate', probeVm, '--to', partner])).durationMs / 1000);
    // In quick mode the migrated VM stays on the partner: the drain then has one VM fewer.
    if (!ctx.quick) migrationS.push((await workflow(ctx, lab.cluster, ['migrate', probeVm, '--to', node])).durationMs / 1000);
  }
  const migration = summarise(migrationS).median;
  const draining = (await status(ctx, lab.cluster)).topology.vms.filter((vm) => vm.node === node && vm.state === 'running').map((vm) => vm.name);
  const ideal = Math.ceil(draining.length / parallel) * migration;
  ctx.log(`  one migration: median ${round(migration)} s over ${migrationS.length}; ideal drain of ${draining.length} VMs at --parallel ${parallel}: ${round(ideal)} s`);
  const ratios: number[] = [];
  const drainS: number[] = [];
  const invalid: string[] = [];
  for (let rep = 0; rep < reps; rep += 1) {
    const result = await workflow(ctx, lab.cluster, ['drain', node, '--parallel', String(parallel)]);
    drainS.push(result.durationMs / 1000);
    ratios.push(result.durationMs / 1000 / ideal);
    const wrong = misplaced((await status(ctx, lab.cluster)).topology, draining, partner);
    if (wrong.length) invalid.push(`after drain ${rep + 1}, not running on ${partner} with its route: ${wrong.join(', ')}`);
    ctx.log(`  drain ${rep + 1}/${reps}: ${round(result.durationMs / 1000)} s (CLI ${round(result.run.wallMs / 1000)} s), ${round(ratios.at(-1) as number)}x the ideal`);
    if (rep < reps - 1) {
      const back = await workflow(ctx, lab.cluster, ['undrain', node, '--return-vms']);
      ctx.log(`  undrain --return-vms ${rep + 1}: ${round(back.durationMs / 1000)} s`);
    }
  }
  ctx.report(figure({ name: 'workflow.migrate.one', unit: 's', samples: migrationS, note: `\`hvctl migrate ${probeVm}\` between ${node} and ${partner} (coordinator time, submit to verified end); the drain's baseline` }));
  ctx.report(
    figure({
      name: `workflow.drain${draining.length}.parallel${parallel}`,
      unit: 's',
      samples: drainS,
      note: `\`hvctl drain ${node} --parallel ${parallel}\` of ${draining.length} VMs (coordinator time: cordon, preflight, migrations, withdraw, maintenance)`,
    }),
  );
  ctx.report(
    figure({
      name: 'workflow.drain.overhead',
      unit: 'x ideal',
      samples: ratios,
      target: WORKFLOW_TARGETS.drainOverhead,
      ...(invalid.length ? { invalid: invalid.join('; ') } : {}),
      note: `drain time / (ceil(${draining.length}/${parallel}) x ${round(migration)} s)`,
    }),
  );
}

export async function workflowSuite(ctx: SuiteContext): Promise<void> {
  if (ctx.quick) {
    // One lab: failover of msk-1 (6 VMs), then a drain of msk-2 (its 5 remaining VMs after the baseline migration).
    const lab = await labUp(ctx, 'lab-quick', 24);
    try {
      await failover(ctx, lab, 1).catch((error: unknown) => ctx.report(failed('workflow.failover', 's', error, WORKFLOW_TARGETS.failoverTotalS)));
      await drain(ctx, lab, 'msk-2', 'spb-2', 1, 1).catch((error: unknown) => ctx.report(failed('workflow.drain', 'x ideal', error, WORKFLOW_TARGETS.drainOverhead)));
    } finally {
      await lab.down();
    }
    return;
  }
  ctx.log('workflows: failover lab (24 VMs, 6 per node)');
  const failoverLab = await labUp(ctx, 'lab-failover', 24);
  try {
    await failover(ctx, failoverLab, 3).catch((error: unknown) => ctx.report(failed('workflow.failover', 's', error, WORKFLOW_TARGETS.failoverTotalS)));
  } finally {
    await failoverLab.down();
  }
  ctx.log('workflows: drain lab (80 VMs, 20 per node)');
  const drainLab = await labUp(ctx, 'lab-drain', 80);
  try {
    await drain(ctx, drainLab, 'msk-1', 'spb-1', 3, 2).catch((error: unknown) => ctx.report(failed('workflow.drain', 'x ideal', error, WORKFLOW_TARGETS.drainOverhead)));
  } finally {
    await drainLab.down();
  }
}
