import type { AnnounceResponse__Output, ListWorkflowsResponse__Output, WithdrawResponse__Output, Workflow__Output, WorkflowSpec__Output } from '@hvctl/proto';
import { deadline, failedPrecondition, invalidArgument, unary, validateNodeName } from '@hvctl/common';
import type { ClusterAccess } from '../cluster-access.js';
import { isRunning, requestId } from '../steps.js';
import { classifyNode, degradedLine, resyncStep, victimAdvice, type ResyncEntry } from '../resync.js';
import type { Planned, Program, Stage, Step, StepContext, WorkflowKind } from '../types.js';
import { prefixId, type FailoverData } from './failover.js';
import { makeMoveSafe, migrationSteps, type Move } from './migrate.js';

const MUTATE_MS = 10_000;
/** How many VMs migrate home at once. */
const PARALLEL = 2;

/** One resource of the returned node to resync from its peer, as classified at plan time. */
export type FailbackResync = ResyncEntry;

/**
 * A public block the failover took from the node or its site: announced from the node
 * again, and withdrawn from `from`, the survivor that took it over ("" when the failover
 * only withdrew it from the node while other sites kept announcing it).
 */
export interface FailbackBgp {
  readonly prefix: string;
  readonly from: string;
}

export interface FailbackData {
  readonly node: string;
  /** The failover being undone ("" when none was found: resync only). */
  readonly failover: string;
  readonly resync: readonly FailbackResync[];
  readonly moves: readonly Move[];
  readonly bgp: readonly FailbackBgp[];
}

const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];

/** The newest succeeded failover of `node` (by node or by its site) that any reachable agent knows. */
async function lastFailover(cluster: ClusterAccess, node: string): Promise<Workflow__Output | undefined> {
  const site = cluster.siteOf(node);
  const seen = new Map<string, Workflow__Output>();
  await Promise.all(
    cluster.nodes().map(async (member) => {
      try {
        const client = cluster.client(member);
        const { workflows } = await unary<ListWorkflowsResponse__Output>(`ListWorkflows on ${member}`, (cb) => client.workflows.listWorkflows({}, deadline(2000), cb));
        for (const workflow of workflows) if (!seen.has(workflow.id)) seen.set(workflow.id, workflow);
      } catch {
        // an agent that does not answer holds nothing we can use
      }
    }),
  );
  return [...seen.values()]
    .filter((workflow) => {
      const failover = workflow.spec?.failover;
      return workflow.state === 'succeeded' && workflow.spec?.kind === 'failover' && failover && (failover.node === node || (failover.site !== '' && failover.site === site));
    })
    .sort((a, b) => Number(b.createdUnixMs) - Number(a.createdUnixMs))[0];
}

/** True when a reachable node of `site` other than `except` announces `prefix`. */
async function announcedBySite(cluster: ClusterAccess, site: string, except: string, prefix: string): Promise<boolean> {
  const mates = cluster.nodes().filter((member) => member !== except && cluster.siteOf(member) === site);
  const seen = await Promise.all(mates.map(async (mate) => (await cluster.announcements(mate).catch(() => [])).some((a) => a.prefix === prefix)));
  return seen.includes(true);
}

async function planFailback(spec: WorkflowSpec__Output, cluster: ClusterAccess): Promise<Planned<FailbackData>> {
  const request = spec.failback;
  if (!request) throw invalidArgument('missing failback spec');
  const node = validateNodeName(request.node, 'node');
  const site = cluster.siteOf(node);
  if (!(await cluster.reachable(node))) {
    throw failedPrecondition(`${node} does not answer: a failback needs it running`, {
      nextSteps: [`start ${node} (and hvctl-agent on it), check \`hvctl status\`, then run \`hvctl failback ${node}\``],
    });
  }
  const warnings: string[] = [];
  const resync: FailbackResync[] = [];
  const classified = await classifyNode(cluster, node);
  const splits = classified.filter((entry) => entry.class === 'split-brain');
  if (splits.length) {
    const resources = splits.map((split) => split.resource);
    throw failedPrecondition(`not failing back ${node}: ${splits.map((split) => split.reason).join('; ')}. Resyncing now would throw away one side's writes, so ${victimAdvice(resources)[0]}`, {
      nextSteps: [...victimAdvice(resources), 'then run `hvctl failback` again'],
    });
  }
  // A resource that cannot resync now is not waited for: its VM stays where it runs.
  const blocked = new Map<string, ResyncEntry>();
  for (const entry of classified) {
    if (!entry.peer) continue;
    if (entry.class === 'peer-gone' || entry.class === 'disk-failed') {
      blocked.set(entry.resource, entry);
      warnings.push(degradedLine(node, entry));
      continue;
    }
    if ((entry.peerRole === 'Primary' && entry.role === 'Secondary') || (entry.class === 'resync' && entry.role !== 'Primary')) resync.push(entry);
    else if (entry.class === 'resync') warnings.push(`${entry.resource} is Primary on ${node} and not in sync with ${entry.peer}; it resyncs by itself from ${node}`);
  }

  const record = await lastFailover(cluster, node);
  const moves: Move[] = [];
  const bgp: FailbackBgp[] = [];
  if (!record) {
    warnings.push(`no succeeded failover of ${node} (or of site ${site}) is known to the reachable agents: failback only resyncs ${node}; move VMs home by hand (hvctl migrate VM --to ${node})`);
  } else {
    let data: Partial<FailoverData> = {};
    try {
      data = JSON.parse(record.plan?.data || '{}') as Partial<FailoverData>;
    } catch {
      warnings.push(`failover ${record.id} has unreadable planning data; failback only resyncs`);
    }
    for (const vm of data.vms ?? []) {
      if (vm.from !== node) continue;
      const [home, away] = await Promise.all([cluster.domain(node, vm.vm).catch(() => undefined), cluster.domain(vm.to, vm.vm).catch(() => undefined)]);
      if (isRunning(home)) {
        warnings.push(`${vm.vm} already runs on ${node}`);
        continue;
      }
      if (!isRunning(away) || !away) {
        warnings.push(`${vm.vm} does not run on ${vm.to}, where failover ${record.id} started it; it is not moved`);
        continue;
      }
      const stuck = blocked.get(vm.resource);
      if (stuck) {
        warnings.push(`${vm.vm} stays on ${vm.to}: only a VM whose disk is UpToDate and connected on both sides moves home, and ${vm.resource} is not resynced now`);
        continue;
      }
      moves.push({ vm: vm.vm, ip: vm.ip, resource: vm.resource, from: vm.to, to: node, memoryBytes: Number(away.memoryBytes) });
      const entry = classified.find((candidate) => candidate.resource === vm.resource);
      if (entry && !resync.some((candidate) => candidate.resource === vm.resource)) resync.push({ ...entry, peer: vm.to });
    }
    const here = (await cluster.announcements(node)).map((a) => a.prefix);
    for (const move of data.bgp ?? []) {
      if (move.lostSite !== site || move.to === node) continue;
      // Withdrawn from the survivor only if the failover put it there (the layout before it).
      const from = move.kept ? '' : move.to;
      const still = from ? (await cluster.announcements(from).catch(() => [])).some((a) => a.prefix === move.prefix) : false;
      if (!still && here.includes(move.prefix)) continue;
      if (move.kept && (await announcedBySite(cluster, site, node, move.prefix))) continue;
      bgp.push({ prefix: move.prefix, from });
    }
    // Blocks the fence withdrew from this very node (it answered, cut off without quorum).
    for (const prefix of (data.fence ?? []).find((target) => target.node === node)?.bgpAnnounced ?? []) {
      if (here.includes(prefix) || bgp.some((move) => move.prefix === prefix)) continue;
      bgp.push({ prefix, from: '' });
    }
  }
  const nodes = unique([node, ...resync.map((entry) => entry.peer), ...moves.map((move) => move.from), ...bgp.map((move) => move.from).filter(Boolean)]);
  return {
    title: `Fail back ${node}: resync ${resync.length} resource(s), move ${moves.length} VM(s) home${bgp.length ? ', public block back' : ''}`,
    data: { node, failover: record?.id ?? '', resync, moves, bgp },
    nodes,
    resources: unique([...resync.map((entry) => entry.resource), ...moves.map((move) => move.resource)]),
    warnings,
    evidence: record ? [{ source: record.coordinator, fact: `failover ${record.id} moved ${moves.length} VM(s) of ${node} away`, supportsLoss: false }] : [],
  };
}

/** The shared resync wait, then the returned node must be the SyncTarget's end state: Secondary and UpToDate. */
function failbackResync(node: string, entry: FailbackResync): Step {
  const base = resyncStep(`resync-${entry.resource}`, node, entry, 'resync');
  return {
    ...base,
    title: `resync ${entry.resource} on ${node} from ${entry.peer} (SyncTarget) until UpToDate`,
    preconditions: [...base.preconditions, `${entry.resource} Secondary on ${node}`],
    run: async (ctx) => {
      const mine = await ctx.cluster.resource(node, entry.resource);
      if (mine.role === 'Primary') throw failedPrecondition(`${entry.resource} is Primary on ${node}; it cannot become SyncTarget`);
      const detail = await base.run(ctx);
      const after = await ctx.cluster.resource(node, entry.resource);
      if (after.role !== 'Secondary' || after.diskState !== 'UpToDate') throw failedPrecondition(`${entry.resource} on ${node} is ${after.role}/${after.diskState} after the resync`);
      return detail;
    },
  };
}

function bgpBackStep(node: string, move: FailbackBgp): Step {
  const id = `bgp-back-${prefixId(move.prefix)}`;
  return {
    id,
    title: `announce public block ${move.prefix} from ${node} again${move.from ? `, withdraw it from ${move.from}` : ''}`,
    node,
    phase: 'route',
    preconditions: [`${node} has quorum for its resources`],
    command: `birdc configure  # on ${node}: add ${move.prefix} to the BGP export${move.from ? `; on ${move.from}: remove it` : ''}`,
    verify: `birdc show route export ${move.prefix} on ${node}${move.from ? `, not on ${move.from}` : ''}`,
    run: async (ctx) => {
      const { cluster } = ctx;
      const noQuorum = (await cluster.resources(node)).filter((r) => !r.client && r.peers.length > 0 && !r.quorum).map((r) => r.name);
      if (noQuorum.length) throw failedPrecondition(`${node} has no quorum for ${noQuorum.join(', ')}; it must not announce ${move.prefix}`);
      const notes: string[] = [];
      if (!(await cluster.announcements(node)).some((a) => a.prefix === move.prefix)) {
        const client = cluster.client(node);
        await unary<AnnounceResponse__Output>(`Announce ${move.prefix} on ${node}`, (cb) =>
          client.routing.announce({ requestId: requestId(ctx, id, 'announce'), prefix: move.prefix, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '' }, deadline(MUTATE_MS), cb),
        );
        notes.push(`announced from ${node}`);
      } else {
        notes.push(`already announced from ${node}`);
      }
      if (!move.from) return notes.join('; ');
      const other = cluster.client(move.from);
      const { withdrawn } = await unary<WithdrawResponse__Output>(`Withdraw ${move.prefix} on ${move.from}`, (cb) =>
        other.routing.withdraw({ requestId: requestId(ctx, id, 'withdraw'), prefix: move.prefix }, deadline(MUTATE_MS), cb),
      );
      notes.push(withdrawn ? `withdrawn from ${move.from}` : `${move.from} no longer announced it`);
      return notes.join('; ');
    },
  };
}

function verifyStep(data: FailbackData): Step {
  return {
    id: 'verify',
    title: `verify ${data.node}: every resynced resource UpToDate on both sides, one Primary each${data.moves.length ? `, ${data.moves.map((m) => m.vm).join(', ')} home` : ''}`,
    node: data.node,
    phase: 'verify',
    preconditions: [],
    command: `drbdadm status ${data.resync.map((entry) => entry.resource).join(' ')}`,
    verify: 'UpToDate/UpToDate, Established, at most one Primary',
    readOnly: true,
    run: async (ctx) => {
      const problems: string[] = [];
      for (const entry of data.resync) {
        const [mine, theirs] = await Promise.all([ctx.cluster.resource(data.node, entry.resource), ctx.cluster.resource(entry.peer, entry.resource)]);
        if (mine.diskState !== 'UpToDate' || theirs.diskState !== 'UpToDate') problems.push(`${entry.resource} is ${mine.diskState} on ${data.node}, ${theirs.diskState} on ${entry.peer}`);
        if (mine.role === 'Primary' && theirs.role === 'Primary') problems.push(`${entry.resource} is Primary on both`);
      }
      for (const move of data.moves) {
        if (!isRunning(await ctx.cluster.domain(data.node, move.vm))) problems.push(`${move.vm} does not run on ${data.node}`);
      }
      if (problems.length) throw failedPrecondition(`verification failed: ${problems.join('; ')}`);
      return 'verified';
    },
  };
}

/** The failback's stages: resync, then the migrations home side by side, then the public block. */
export function failbackStages(data: FailbackData): Stage[] {
  // Every resource is waited for at once: the phase lasts as long as the slowest resync, not their sum.
  const stages: Stage[] = data.resync.length ? [{ lanes: data.resync.map((entry) => [failbackResync(data.node, entry)]), parallel: data.resync.length }] : [];
  if (data.moves.length) stages.push({ lanes: data.moves.map((move) => migrationSteps(move, `${move.vm}:`)), parallel: PARALLEL });
  stages.push({ steps: [...data.bgp.map((move) => bgpBackStep(data.node, move)), verifyStep(data)] });
  return stages;
}

async function makeFailbackSafe(ctx: StepContext, data: FailbackData): Promise<string[]> {
  const notes: string[] = [];
  for (const move of data.moves) notes.push(...(await makeMoveSafe(ctx, move)));
  if (data.resync.length) notes.push(`resyncs started on ${data.node} continue by themselves (DRBD)`);
  return notes;
}

/** `hvctl failback NODE`. */
export const failbackKind: WorkflowKind<FailbackData> = {
  name: 'failback',
  claims: (spec) => (spec.failback?.node ? [`node/${validateNodeName(spec.failback.node, 'node')}`] : []),
  plan: planFailback,
  program(data: FailbackData): Program {
    return {
      stages: failbackStages(data),
      makeSafe: (ctx) => makeFailbackSafe(ctx, data),
    };
  },
};
