/**
 * What the campaign can do to the lab, as data: every fault of `hvctl lab fault` and every
 * operator command, each with the CLI subcommand it needs (absent subcommands are left out,
 * so the campaign follows the CLI as it grows), how a schedule draws its target from the seed
 * (pure), and how the drawn event becomes an argv once the live lab is known (pure too).
 * Adding a fault the lab gains later (a link-level cut between the two main sites, say) is
 * one entry here.
 */
import type { Rng } from './rng.js';

/** The lab as the schedule sees it: names only, read once at the start. */
export interface LabModel {
  readonly nodes: readonly string[];
  /** Hypervisors (nodes of the main sites). */
  readonly mainNodes: readonly string[];
  readonly sites: readonly string[];
  /** Sites with hypervisors (not the backup site). */
  readonly mainSites: readonly string[];
  readonly vms: readonly string[];
  /** Diskful replicas: a resource's backing disk on a node. */
  readonly disks: readonly { readonly node: string; readonly resource: string }[];
}

/** What the harness knows about the live lab when it is about to act. */
export interface LiveLab {
  readonly deadNodes: readonly string[];
  readonly cutSites: readonly string[];
  readonly runningWorkflows: readonly string[];
  readonly orphanedWorkflows: readonly string[];
  /** Resources whose disk the campaign already failed somewhere (never fail a second copy). */
  readonly failedDiskResources: readonly string[];
}

/** One scheduled event: everything random is drawn when the schedule is built. */
export interface ChaosEvent {
  readonly kind: 'fault' | 'op';
  readonly name: string;
  /** Targets drawn from the model (nodes, sites, VMs, numbers as strings). */
  readonly args: readonly string[];
  /** A number drawn for choices that depend on the live lab (which cut site to heal). */
  readonly pick: number;
  /** Wait before acting, in ms. */
  readonly pauseMs: number;
  /** Start it and go on with the round's next events while it runs (operator actions). */
  readonly background: boolean;
  /** For a killed CLI: SIGKILL after this many ms. */
  readonly killAfterMs?: number;
}

/** An argv for hvctl (without the binary) and how long it may take, or why the event was skipped. */
export type Resolved = { readonly argv: readonly string[]; readonly boundMs: number; readonly killAfterMs?: number } | { readonly skip: string };

export interface ActionKind {
  readonly name: string;
  readonly kind: 'fault' | 'op';
  /** The CLI command path it needs, e.g. ['lab', 'fault', 'kill'] or ['migrate']. */
  readonly requires: readonly string[];
  /** Relative frequency in a schedule. */
  readonly weight: number;
  /** Draws the event's targets (pure: only the rng and the model). */
  draw(rng: Rng, model: LabModel): { args: string[]; killAfterMs?: number };
  /** Turns the event into an argv on the live lab (pure). */
  resolve(event: ChaosEvent, live: LiveLab): Resolved;
}

/** Bound of a `lab fault` command: a restart waits up to 15 s for its agent. */
const FAULT_BOUND_MS = 25_000;
/** Bounds of the operator commands in the lab (its timing is fast: 1.5 s heartbeat timeout). */
export const OP_BOUND_MS = { migrate: 30_000, drain: 60_000, undrain: 60_000, failover: 45_000, failback: 60_000, start: 30_000, abort: 15_000, resume: 60_000 } as const;

const nth = <T>(items: readonly T[], pick: number): T | undefined => (items.length ? items[pick % items.length] : undefined);
const fault = (argv: readonly string[]): Resolved => ({ argv: ['lab', 'fault', ...argv], boundMs: FAULT_BOUND_MS });
const arg = (event: ChaosEvent, index: number): string => event.args[index] ?? '';

export const FAULTS: readonly ActionKind[] = [
  {
    name: 'kill',
    kind: 'fault',
    requires: ['lab', 'fault', 'kill'],
    weight: 4,
    draw: (rng, model) => ({ args: [rng.weighted(model.nodes, model.nodes.map((node) => (model.mainNodes.includes(node) ? 3 : 1)))] }),
    resolve: (event, live) => (live.deadNodes.includes(arg(event, 0)) ? { skip: `${arg(event, 0)} is already down` } : fault(['kill', arg(event, 0)])),
  },
  {
    name: 'agent-kill',
    kind: 'fault',
    requires: ['lab', 'fault', 'kill'],
    weight: 2,
    draw: (rng, model) => ({ args: [rng.pick(model.mainNodes)] }),
    resolve: (event, live) => (live.deadNodes.includes(arg(event, 0)) ? { skip: `${arg(event, 0)} is already down` } : fault(['kill', arg(event, 0), '--agent-only'])),
  },
  {
    name: 'cut',
    kind: 'fault',
    requires: ['lab', 'fault', 'cut'],
    weight: 3,
    draw: (rng, model) => ({ args: [rng.pick(model.sites)] }),
    resolve: (event, live) => (live.cutSites.includes(arg(event, 0)) ? { skip: `${arg(event, 0)} is already cut` } : fault(['cut', arg(event, 0)])),
  },
  {
    name: 'heal',
    kind: 'fault',
    requires: ['lab', 'fault', 'heal'],
    weight: 2,
    draw: () => ({ args: [] }),
    resolve: (event, live) => {
      const site = nth(live.cutSites, event.pick);
      return site ? fault(['heal', site]) : { skip: 'no site is cut' };
    },
  },
  {
    name: 'restart',
    kind: 'fault',
    requires: ['lab', 'fault', 'restart'],
    weight: 3,
    draw: () => ({ args: [] }),
    resolve: (event, live) => {
      const node = nth(live.deadNodes, event.pick);
      return node ? fault(['restart', node]) : { skip: 'no node is down' };
    },
  },
  {
    // `lab fault restart` on a running node: SIGKILL then start, a host reset.
    name: 'reboot',
    kind: 'fault',
    requires: ['lab', 'fault', 'restart'],
    weight: 1,
    draw: (rng, model) => ({ args: [rng.pick(model.nodes)] }),
    resolve: (event, live) => (live.deadNodes.includes(arg(event, 0)) ? { skip: `${arg(event, 0)} is down` } : fault(['restart', arg(event, 0)])),
  },
  {
    name: 'slow',
    kind: 'fault',
    requires: ['lab', 'fault', 'slow'],
    weight: 2,
    draw: (rng, model) => ({ args: [rng.pick(model.nodes), String(rng.pick([50, 200, 500, 1000, 2000]))] }),
    resolve: (event, live) => (live.deadNodes.includes(arg(event, 0)) ? { skip: `${arg(event, 0)} is down` } : fault(['slow', arg(event, 0), arg(event, 1)])),
  },
  {
    name: 'fail-migrations',
    kind: 'fault',
    requires: ['lab', 'fault', 'fail-migrations'],
    weight: 2,
    draw: (rng, model) => ({ args: [rng.pick(model.mainNodes), String(rng.between(1, 3))] }),
    resolve: (event, live) => (live.deadNodes.includes(arg(event, 0)) ? { skip: `${arg(event, 0)} is down` } : fault(['fail-migrations', arg(event, 0), arg(event, 1)])),
  },
  {
    name: 'disk',
    kind: 'fault',
    requires: ['lab', 'fault', 'disk'],
    weight: 1,
    draw: (rng, model) => {
      const disk = rng.pick(model.disks);
      return { args: [disk.node, disk.resource] };
    },
    resolve: (event, live) => {
      // Failing both copies of a resource is data loss, not a control-plane fault: one per resource.
      if (live.failedDiskResources.includes(arg(event, 1))) return { skip: `a disk of ${arg(event, 1)} already failed` };
      if (live.deadNodes.includes(arg(event, 0))) return { skip: `${arg(event, 0)} is down` };
      return fault(['disk', arg(event, 0), arg(event, 1)]);
    },
  },
  {
    // A CLI killed mid-workflow: the operator's terminal dies; the workflow must go on or end safely.
    name: 'cli-kill',
    kind: 'fault',
    requires: ['drain'],
    weight: 2,
    draw: (rng, model) => {
      const command = rng.weighted(['drain', 'undrain', 'failback', 'migrate'], [3, 2, 1, 2]);
      const target = command === 'migrate' ? rng.pick(model.vms) : rng.pick(model.mainNodes);
      return { args: [command, target], killAfterMs: rng.between(200, 4000) };
    },
    resolve: (event) => ({ argv: [arg(event, 0), arg(event, 1), '--yes'], boundMs: FAULT_BOUND_MS, killAfterMs: event.killAfterMs ?? 1000 }),
  },
];

export const OPS: readonly ActionKind[] = [
  {
    name: 'migrate',
    kind: 'op',
    requires: ['migrate'],
    weight: 4,
    draw: (rng, model) => ({ args: [rng.pick(model.vms)] }),
    resolve: (event) => ({ argv: ['migrate', arg(event, 0), '--yes'], boundMs: OP_BOUND_MS.migrate }),
  },
  {
    name: 'drain',
    kind: 'op',
    requires: ['drain'],
    weight: 2,
    draw: (rng, model) => ({ args: [rng.pick(model.mainNodes)] }),
    resolve: (event) => ({ argv: ['drain', arg(event, 0), '--yes'], boundMs: OP_BOUND_MS.drain }),
  },
  {
    name: 'undrain',
    kind: 'op',
    requires: ['undrain'],
    weight: 2,
    draw: (rng, model) => ({ args: [rng.pick(model.mainNodes), rng.chance(0.5) ? '--return-vms' : ''] }),
    resolve: (event) => ({ argv: ['undrain', arg(event, 0), ...(arg(event, 1) ? [arg(event, 1)] : []), '--yes'], boundMs: OP_BOUND_MS.undrain }),
  },
  {
    name: 'failover',
    kind: 'op',
    requires: ['failover'],
    weight: 3,
    draw: (rng, model) => (rng.chance(0.3) ? { args: ['--site', rng.pick(model.mainSites)] } : { args: ['--node', rng.pick(model.mainNodes)] }),
    resolve: (event) => ({ argv: ['failover', arg(event, 0), arg(event, 1), '--yes'], boundMs: OP_BOUND_MS.failover }),
  },
  {
    name: 'failback',
    kind: 'op',
    requires: ['failback'],
    weight: 2,
    draw: (rng, model) => ({ args: [rng.pick(model.mainNodes)] }),
    resolve: (event) => ({ argv: ['failback', arg(event, 0), '--yes'], boundMs: OP_BOUND_MS.failback }),
  },
  {
    name: 'start',
    kind: 'op',
    requires: ['start'],
    weight: 2,
    draw: (rng, model) => ({ args: [rng.pick(model.vms)] }),
    resolve: (event) => ({ argv: ['start', arg(event, 0), '--yes'], boundMs: OP_BOUND_MS.start }),
  },
  {
    name: 'abort',
    kind: 'op',
    requires: ['abort'],
    weight: 1,
    draw: () => ({ args: [] }),
    resolve: (event, live) => {
      const id = nth(live.runningWorkflows, event.pick);
      return id ? { argv: ['abort', id], boundMs: OP_BOUND_MS.abort } : { skip: 'no workflow is running' };
    },
  },
  {
    name: 'resume',
    kind: 'op',
    requires: ['resume'],
    weight: 1,
    draw: () => ({ args: [] }),
    resolve: (event, live) => {
      const id = nth(live.orphanedWorkflows, event.pick);
      return id ? { argv: ['resume', id], boundMs: OP_BOUND_MS.resume } : { skip: 'no workflow is orphaned' };
    },
  },
];

/** Every fault name the campaign knows (`--faults` takes a subset). */
export const FAULT_NAMES = FAULTS.map((kind) => kind.name);
export const OP_NAMES = OPS.map((kind) => kind.name);
