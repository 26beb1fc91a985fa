import { createInterface } from 'node:readline/promises';
import { userInfo } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import type { AbortResponse__Output, BreakResponse__Output, ResumeResponse__Output, Workflow__Output, WorkflowSpec } from '@hvctl/proto';
import { HvctlError, deadline, unary, validateNodeName, validateResourceName, type ClusterFile, type Topology } from '@hvctl/common';
import { loadCluster } from './cluster.js';
import { coordinatorFor } from './coordinator.js';
import { table } from './format.js';
import { gatherLeases, gatherWorkflows, isOrphan } from './gather.js';
import { formatPlan, formatResult, stepChanges } from './plan-format.js';
import { fetchTopology } from './status.js';
import { EXIT, clientFor, exitCodeFor, follow, planOn, submitOn } from './workflow-client.js';

interface RunOptions {
  readonly dryRun?: boolean;
  readonly yes?: boolean;
  readonly json?: boolean;
  readonly detach?: boolean;
}

const owner = (): string => `${userInfo().username}@cli`;
const node = (value: string): string => validateNodeName(value);

function jsonLine(value: unknown): void {
  console.log(JSON.stringify(value));
}

/** Asks on the terminal; a dangerous workflow needs the target's name typed. */
export async function confirm(prompt: string, typed?: string): Promise<boolean> {
  if (!process.stdin.isTTY) {
    throw new HvctlError('INVALID_ARGUMENT', 'not asking for confirmation without a terminal; nothing was changed', {
      nextSteps: ['pass --yes to run without a prompt, or --dry-run to see the plan'],
    });
  }
  const rl = createInterface({ input: process.stdin, output: process.stderr });
  try {
    if (typed) {
      const answer = await rl.question(`${prompt}\nType "${typed}" to confirm, anything else cancels: `);
      return answer.trim() === typed;
    }
    const answer = await rl.question(`${prompt} [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    rl.close();
  }
}

/** Plans on the coordinator, shows the plan, asks, submits, follows to the end; sets the exit code. */
export async function runWorkflow(cluster: ClusterFile, coordinator: string, spec: WorkflowSpec, options: RunOptions, dangerousTarget?: string): Promise<void> {
  const client = clientFor(cluster, coordinator);
  try {
    let plan;
    try {
      plan = await planOn(client, spec);
    } catch (error) {
      if (error instanceof HvctlError && error.code === 'FAILED_PRECONDITION') {
        if (options.json) jsonLine({ event: 'refused', coordinator, error: error.message });
        else console.error(`Refused: ${error.describe()}`);
        process.exitCode = EXIT.refused;
        return;
      }
      throw error;
    }
    if (options.json) jsonLine({ event: 'plan', coordinator, plan: { ...plan, data: undefined } });
    else console.log(`${formatPlan(plan)}\nCoordinator: ${coordinator}`);
    if (options.dryRun) return;
    if (!options.yes && !(await confirm(`Run this plan on ${coordinator}?`, dangerousTarget))) {
      console.error('Cancelled; nothing was changed.');
      process.exitCode = EXIT.refused;
      return;
    }
    let workflow: Workflow__Output;
    try {
      workflow = await submitOn(client, spec, owner());
    } catch (error) {
      if (error instanceof HvctlError && error.code === 'FAILED_PRECONDITION') {
        if (options.json) jsonLine({ event: 'refused', coordinator, error: error.message });
        else console.error(`Refused: ${error.describe()}`);
        process.exitCode = EXIT.refused;
        return;
      }
      throw error;
    }
    if (options.detach) {
      if (options.json) jsonLine({ event: 'submitted', id: workflow.id, coordinator });
      else console.log(`${workflow.id} submitted to ${coordinator}; follow it with: hvctl workflows watch ${workflow.id}`);
      return;
    }
    if (!options.json) console.log(`${workflow.id} running on ${coordinator} (Ctrl-C detaches; the workflow goes on)`);
    await followToEnd(cluster, coordinator, workflow.id, options.json ?? false);
  } finally {
    client.close();
  }
}

async function followToEnd(cluster: ClusterFile, coordinator: string, id: string, json: boolean): Promise<void> {
  const client = clientFor(cluster, coordinator);
  let previous: Workflow__Output | undefined;
  try {
    const final = await follow(
      client,
      id,
      (workflow) => {
        if (json) jsonLine({ event: 'progress', workflow: { ...workflow, plan: undefined } });
        else for (const line of stepChanges(previous, workflow)) console.log(line);
        previous = workflow;
      },
      (reason) => {
        if (!json) console.error(`lost the coordinator ${coordinator} (${reason}); waiting for it — the workflow is journaled and resumes when it restarts`);
      },
    );
    if (!final || final.state === 'running') {
      if (json) jsonLine({ event: 'interrupted', id });
      else console.error(`gave up waiting for ${coordinator}; ${id} is orphaned. See \`hvctl workflows\`; adopt it with \`hvctl resume ${id} --on NODE\`.`);
      process.exitCode = EXIT.interrupted;
      return;
    }
    if (json) jsonLine({ event: 'result', workflow: { ...final, plan: undefined } });
    else console.log(formatResult(final));
    process.exitCode = exitCodeFor(final.state);
  } finally {
    client.close();
  }
}

function requireNode(topology: Topology, name: string): void {
  if (!topology.nodes.some((candidate) => candidate.name === name)) {
    throw new HvctlError('INVALID_ARGUMENT', `unknown node "${name}"; nodes are ${topology.nodes.map((n) => n.name).join(', ')}`);
  }
}

/**
 * The agent that coordinates a start or stop: the VM's node when it answers, else a
 * reachable node of its pair, else any reachable node (the plan then says why it refuses).
 */
export function vmCoordinator(topology: Topology, vm: string): string {
  const entry = topology.vms.find((candidate) => candidate.name === vm);
  if (!entry) throw new HvctlError('INVALID_ARGUMENT', `unknown VM "${vm}"; hvctl status lists them`);
  const reachable = new Set(topology.nodes.filter((n) => n.reachable).map((n) => n.name));
  const pair = topology.resources.find((resource) => resource.name === entry.resource)?.replicas.filter((replica) => !replica.witness).map((replica) => replica.node) ?? [];
  const chosen = [entry.node, ...pair].find((candidate) => reachable.has(candidate)) ?? topology.nodes.find((n) => n.reachable)?.name;
  if (!chosen) throw new HvctlError('UNAVAILABLE', 'no agent of the cluster answers; nothing was changed');
  return chosen;
}

export function commonOptions(command: Command): Command {
  return command
    .option('--dry-run', 'print the plan and change nothing')
    .option('-y, --yes', 'do not ask for confirmation')
    .option('--json', 'JSON lines: the plan, progress events and the result')
    .option('--detach', 'submit, print the workflow id and return');
}

export const EXIT_HELP = '\nExit codes: 0 succeeded, 1 error, 2 invalid input, 3 refused by a precondition (nothing changed), 4 failed and rolled back, 5 interrupted or aborted.';

/** The workflow commands: migrate, drain, undrain, failover, failback, start, stop, workflows, resume, abort, locks. */
export function workflowCommands(): Command[] {
  const globals = (command: Command): { cluster?: string } => command.optsWithGlobals<{ cluster?: string }>();

  const migrate = commonOptions(new Command('migrate').argument('<vm>', 'VM to move'))
    .description('Live-migrate a VM to the other node of its DRBD pair (dual-primary only for the migration; its /32 moves after).')
    .option('--to <node>', 'destination node (default: the VM\'s DRBD peer)')
    .addHelpText('after', `\nExample:\n  hvctl migrate web-1 --to spb-1 --yes${EXIT_HELP}`)
    .action(async (vm: string, options: RunOptions & { to?: string }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const topology = await fetchTopology(cluster, 2000);
      const name = validateResourceName(vm, 'vm');
      const entry = topology.vms.find((candidate) => candidate.name === name);
      if (!entry) throw new HvctlError('INVALID_ARGUMENT', `unknown VM "${name}"`);
      if (options.to) requireNode(topology, node(options.to));
      await runWorkflow(cluster, entry.node, { migrate: { vm: name, targetNode: options.to ?? '' } }, options);
    });

  const drain = commonOptions(new Command('drain').argument('<node>', 'node to empty'))
    .description('Cordon a node, live-migrate all its VMs to their DRBD peers, withdraw its routes, mark it maintenance.')
    .option('--parallel <n>', 'migrations at once (1-16)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 16) throw new InvalidArgumentError('expected 1-16');
      return n;
    }, 2)
    .option('--skip-unmovable', 'finish even if some VMs cannot move (they are reported)')
    .addHelpText('after', `\nExample:\n  hvctl drain msk-1 --parallel 4 --yes${EXIT_HELP}`)
    .action(async (target: string, options: RunOptions & { parallel: number; skipUnmovable?: boolean }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const name = node(target);
      requireNode(await fetchTopology(cluster, 2000), name);
      await runWorkflow(cluster, name, { drain: { node: name, parallel: options.parallel, skipUnmovable: options.skipUnmovable ?? false } }, options);
    });

  const undrain = commonOptions(new Command('undrain').argument('<node>', 'drained node'))
    .description('Health-check a drained node, resync its DRBD, uncordon it, optionally migrate its VMs back.')
    .option('--return-vms', 'migrate back the VMs the drain moved')
    .addHelpText('after', `\nExample:\n  hvctl undrain msk-1 --return-vms --yes${EXIT_HELP}`)
    .action(async (target: string, options: RunOptions & { returnVms?: boolean }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const name = node(target);
      requireNode(await fetchTopology(cluster, 2000), name);
      await runWorkflow(cluster, name, { undrain: { node: name, returnVms: options.returnVms ?? false } }, options);
    });

  const failover = commonOptions(new Command('failover'))
    .description('Recover the VMs of a lost node or site on the survivors: evidence, fence, promote, start, move routes, verify.')
    .option('--node <node>', 'the lost node')
    .option('--site <site>', 'the lost site')
    .option('--force', 'promote even if the witness does not confirm the loss (operator override)')
    .addHelpText('after', `\nExamples:\n  hvctl failover --node spb-2 --yes\n  hvctl failover --site msk${EXIT_HELP}`)
    .action(async (options: RunOptions & { node?: string; site?: string; force?: boolean }, command: Command) => {
      if (!options.node === !options.site) throw new HvctlError('INVALID_ARGUMENT', 'give exactly one of --node NODE or --site SITE');
      const cluster = await loadCluster(globals(command).cluster);
      const topology = await fetchTopology(cluster, 2000);
      const lost = options.node ? [node(options.node)] : topology.nodes.filter((n) => n.site === node(options.site as string)).map((n) => n.name);
      if (options.node) requireNode(topology, lost[0] as string);
      if (!lost.length) throw new HvctlError('INVALID_ARGUMENT', `unknown site "${options.site}"`);
      const spec: WorkflowSpec = { failover: { node: options.node ?? '', site: options.site ?? '', force: options.force ?? false } };
      await runWorkflow(cluster, coordinatorFor(spec, topology), spec, options, options.node ?? (options.site as string));
    });

  const failback = commonOptions(new Command('failback').argument('<node>', 'the node that came back'))
    .description('After a failover: the returned node resyncs as SyncTarget, then its VMs migrate home.')
    .addHelpText('after', `\nExample:\n  hvctl failback spb-2 --yes${EXIT_HELP}`)
    .action(async (target: string, options: RunOptions, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const name = node(target);
      requireNode(await fetchTopology(cluster, 2000), name);
      await runWorkflow(cluster, name, { failback: { node: name } }, options);
    });

  const start = commonOptions(new Command('start').argument('<vm>', 'VM to start'))
    .description('Start a VM that runs nowhere: promote the replica that can safely be (UpToDate, quorum, peer not Primary), record its intent "running" on both nodes of its pair, start it, announce its /32, verify. Refuses, naming why, when no replica can be promoted safely.')
    .addHelpText('after', `\nExample:\n  hvctl start web-1 --yes${EXIT_HELP}`)
    .action(async (vm: string, options: RunOptions, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const topology = await fetchTopology(cluster, 2000);
      const name = validateResourceName(vm, 'vm');
      await runWorkflow(cluster, vmCoordinator(topology, name), { start: { vm: name } }, options);
    });

  const stop = commonOptions(new Command('stop').argument('<vm>', 'VM to stop'))
    .description('Shut a VM down (destroyed if the guest has not stopped within --timeout), withdraw its /32, demote its replica, record its intent "stopped" (not an outage).')
    .option('--timeout <seconds>', 'seconds to wait for the guest before destroying it (1-600)', (v) => {
      const n = Number(v);
      if (!Number.isInteger(n) || n < 1 || n > 600) throw new InvalidArgumentError('expected 1-600');
      return n;
    }, 60)
    .addHelpText('after', `\nExample:\n  hvctl stop web-1 --timeout 120 --yes${EXIT_HELP}`)
    .action(async (vm: string, options: RunOptions & { timeout: number }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const topology = await fetchTopology(cluster, 2000);
      const name = validateResourceName(vm, 'vm');
      await runWorkflow(cluster, vmCoordinator(topology, name), { stop: { vm: name, timeoutSeconds: options.timeout } }, options);
    });

  const workflows = new Command('workflows')
    .description('List workflows across the cluster (orphans: running, coordinator unreachable).')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const { items, reachable } = await gatherWorkflows(cluster);
      const status = (w: Workflow__Output): string => (isOrphan(w, reachable) ? 'ORPHANED' : w.state);
      if (options.json) {
        jsonLine(items.map((workflow) => ({ ...workflow, plan: { ...workflow.plan, data: undefined }, orphaned: isOrphan(workflow, reachable) })));
        return;
      }
      console.log(
        table(
          ['ID', 'STATE', 'COORDINATOR', 'OWNER', 'STEPS', 'TITLE'],
          items.map((workflow) => [
            workflow.id,
            status(workflow),
            workflow.coordinator,
            workflow.owner,
            `${workflow.steps.filter((s) => s.state === 'done').length}/${workflow.steps.length}`,
            workflow.plan?.title ?? '',
          ]),
        ),
      );
    });
  workflows
    .command('watch <id>')
    .description('Follow a workflow until it ends.')
    .option('--on <node>', 'its coordinator (default: found by asking every agent)')
    .option('--json', 'JSON lines')
    .action(async (id: string, options: { on?: string; json?: boolean }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const coordinator = options.on ? node(options.on) : await findCoordinator(cluster, id);
      await followToEnd(cluster, coordinator, id, options.json ?? false);
    });

  const resume = new Command('resume')
    .argument('<id>', 'workflow id')
    .requiredOption('--on <node>', 'the agent that adopts it (it must hold a journal copy)')
    .option('--json', 'JSON lines')
    .description('Adopt an orphaned workflow (its coordinator is lost) on another agent and finish or roll it back.')
    .action(async (id: string, options: { on: string; json?: boolean }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const adopter = node(options.on);
      const client = clientFor(cluster, adopter);
      try {
        await unary<ResumeResponse__Output>('Resume', (cb) => client.workflows.resume({ id, owner: owner() }, deadline(15_000), cb));
      } finally {
        client.close();
      }
      await followToEnd(cluster, adopter, id, options.json ?? false);
    });

  const abort = new Command('abort')
    .argument('<id>', 'workflow id')
    .option('--on <node>', 'its coordinator (default: found by asking every agent)')
    .description('Abort a running workflow; it rolls back to a safe state.')
    .action(async (id: string, options: { on?: string }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const coordinator = options.on ? node(options.on) : await findCoordinator(cluster, id);
      const client = clientFor(cluster, coordinator);
      try {
        const { workflow } = await unary<AbortResponse__Output>('Abort', (cb) => client.workflows.abort({ id, owner: owner() }, deadline(120_000), cb));
        if (workflow) console.log(formatResult(workflow));
        process.exitCode = EXIT.interrupted;
      } finally {
        client.close();
      }
    });

  const locks = new Command('locks')
    .description('List the leases workflows hold, on every agent.')
    .option('--json', 'machine-readable output')
    .action(async (options: { json?: boolean }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const { items, reachable } = await gatherLeases(cluster);
      if (options.json) {
        jsonLine(items);
        return;
      }
      const rows = items
        .map((lease) => [
          lease.on,
          lease.key,
          lease.workflowId,
          lease.owner,
          new Date(Number(lease.sinceUnixMs)).toISOString(),
          `${Math.max(0, Math.round((Number(lease.expiresUnixMs) - Date.now()) / 1000))}s`,
        ])
        .sort((a, b) => a.join().localeCompare(b.join()));
      console.log(rows.length ? table(['ON', 'KEY', 'WORKFLOW', 'OWNER', 'SINCE', 'EXPIRES IN'], rows) : 'no leases held');
      const missing = cluster.nodes.filter((entry) => !reachable.has(entry.name)).map((entry) => entry.name);
      if (missing.length) console.log(`unreachable (leases unknown): ${missing.join(', ')}`);
    });
  locks
    .command('break <key>')
    .description('Break a stale lease (admin; journaled on the agent).')
    .requiredOption('--on <node>', 'the agent holding the lease')
    .requiredOption('--reason <text>', 'why (journaled)')
    .action(async (key: string, options: { on: string; reason: string }, command: Command) => {
      const cluster = await loadCluster(globals(command).cluster);
      const client = clientFor(cluster, node(options.on));
      try {
        const { lease } = await unary<BreakResponse__Output>('Break', (cb) => client.leases.break({ key, owner: owner(), reason: options.reason }, deadline(), cb));
        console.log(`broke ${lease?.key} held by ${lease?.workflowId} (${lease?.owner})`);
      } finally {
        client.close();
      }
    });

  return [migrate, drain, undrain, failover, failback, start, stop, workflows, resume, abort, locks];
}

async function findCoordinator(cluster: ClusterFile, id: string): Promise<string> {
  const found = (await gatherWorkflows(cluster)).items.find((workflow) => workflow.id === id);
  if (!found) throw new HvctlError('NOT_FOUND', `no agent knows workflow ${id}`);
  return found.coordinator;
}
