import type { ListWorkflowsResponse__Output, NodeInfo__Output, WithdrawResponse__Output, Workflow__Output, WorkflowSpec__Output } from '@hvctl/proto';
import { HvctlError, deadline, failedPrecondition, invalidArgument, unary, unavailable, validateNodeName } from '@hvctl/common';
import type { ClusterAccess } from '../cluster-access.js';
import { cordonStep, isRunning, maintenanceStep, requestId } from '../steps.js';
import { classifyNode, degradedLine, reconnectLaterStep, resyncStep, type ResyncEntry } from '../resync.js';
import type { Planned, Program, Step, StepContext, WorkflowKind } from '../types.js';
import { announceBgpStep, prefixId, type BgpHandover, type DrainData } from './drain.js';
import { makeMoveSafe, migrationSteps, type Move } from './migrate.js';

const MUTATE_MS = 10_000;
/** How many VMs migrate back at once. */
export const RETURN_PARALLEL = 2;
/** Driver areas a node needs to host VMs again. */
export const REQUIRED_CAPABILITIES = ['drbd', 'kvm', 'routing'] as const;
const GIB = 1024 ** 3;

/** The BGP announcement to bring back from the node that took it over during the drain. */
export interface BgpReturn {
  readonly prefix: string;
  /** The node that announced it instead during the drain. */
  readonly from: string;
  /** Withdraw it there afterwards (false when `from` announced it before the drain too). */
  readonly withdraw: boolean;
}

/** What an undrain plan records (journaled). */
export interface UndrainData {
  readonly node: string;
  /**
   * Every diskful DRBD resource of the node as classified at plan time: `in-sync` and
   * `resync` ones are waited for side by side, `peer-gone` ones are only told to reconnect,
   * `disk-failed` ones are named with their fix (a split brain refuses the undrain).
   */
  readonly resync: readonly ResyncEntry[];
  /** VMs migrated back (from the drain's target to the node), with return_vms. */
  readonly returns: readonly Move[];
  readonly bgp: readonly BgpReturn[];
  /** Id of the drain whose record was used ('' when none was needed). */
  readonly drainId: string;
}

const firstLine = (error: unknown): string => ((error as Error).message ?? String(error)).split('\n')[0] ?? '';
const gib = (bytes: number): string => `${(bytes / GIB).toFixed(1)} GiB`;

/** What a node lacks to host VMs (empty when it can): unavailable drivers. */
export function missingCapabilities(info: NodeInfo__Output): string[] {
  return REQUIRED_CAPABILITIES.flatMap((area) => {
    const capability = info.capabilities.find((candidate) => candidate.area === area);
    if (!capability) return [`${area}: not reported`];
    return capability.available ? [] : [`${area}: ${capability.detail || 'unavailable'}`];
  });
}

function isMove(value: unknown): value is Move {
  const move = value as Record<string, unknown> | null;
  return (
    typeof move === 'object' &&
    move !== null &&
    ['vm', 'ip', 'resource', 'from', 'to'].every((key) => typeof move[key] === 'string') &&
    typeof move['memoryBytes'] === 'number'
  );
}

function isHandover(value: unknown): value is BgpHandover {
  const handover = value as Record<string, unknown> | null;
  return typeof handover === 'object' && handover !== null && typeof handover['prefix'] === 'string' && typeof handover['to'] === 'string';
}

/** Reads the moves and BGP handovers out of a drain's journaled plan data; undefined when it is not a drain record. */
export function parseDrainData(json: string): Pick<DrainData, 'node' | 'moves' | 'bgp'> | undefined {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return undefined;
  }
  const data = raw as Record<string, unknown> | null;
  if (typeof data !== 'object' || data === null || typeof data['node'] !== 'string' || !Array.isArray(data['moves'])) return undefined;
  const moves = (data['moves'] as unknown[]).filter(isMove);
  const bgp = (Array.isArray(data['bgp']) ? (data['bgp'] as unknown[]) : []).filter(isHandover).map((handover) => ({ ...handover, alreadyAnnounced: handover.alreadyAnnounced === true }));
  return { node: data['node'], moves, bgp };
}

/** The newest drain of `node` that succeeded, as `node`'s own journal has it (it coordinated its drain). */
export async function lastDrain(cluster: ClusterAccess, node: string): Promise<Workflow__Output | undefined> {
  const client = cluster.client(node);
  const { workflows } = await unary<ListWorkflowsResponse__Output>(`ListWorkflows on ${node}`, (cb) => client.workflows.listWorkflows({}, deadline(5000), cb));
  return workflows
    .filter((workflow) => workflow.spec?.drain?.node === node && workflow.state === 'succeeded')
    .sort((a, b) => Number(b.createdUnixMs) - Number(a.createdUnixMs))[0];
}

function healthStep(node: string): Step {
  return {
    id: 'health',
    title: `health-check ${node}: agent answers, ${REQUIRED_CAPABILITIES.join(', ')} drivers available`,
    node,
    phase: 'check',
    preconditions: [`${node} booted and its agent running`],
    command: `hvctl node info ${node}`,
    verify: `${REQUIRED_CAPABILITIES.join(', ')} capabilities available`,
    readOnly: true,
    run: async (ctx) => {
      const info = await ctx.cluster.info(node);
      const missing = missingCapabilities(info);
      if (missing.length) throw failedPrecondition(`${node} cannot host VMs yet: ${missing.join('; ')}; it stays cordoned`);
      return `agent ${info.agentVersion} answers; ${REQUIRED_CAPABILITIES.join(', ')} available`;
    },
  };
}

/** Withdraws the public block from the node that carried it during the drain, once `node` announces it again. */
function withdrawTakeoverStep(handover: BgpReturn, node: string): Step {
  const { prefix, from } = handover;
  const id = `bgp-withdraw:${prefixId(prefix)}`;
  return {
    id,
    title: `withdraw ${prefix} from ${from} (${node} announces it again)`,
    node: from,
    phase: 'route',
    preconditions: [`${node} announces ${prefix} by BGP`],
    command: `birdc configure  # on ${from}: remove ${prefix} from the hvctl BGP export`,
    verify: `birdc show route ${prefix} on ${from} shows no BGP export; ${node} exports it`,
    run: async (ctx) => {
      if (!(await ctx.cluster.announcements(node)).some((a) => a.prefix === prefix && a.kind === 'ANNOUNCEMENT_KIND_BGP')) {
        throw failedPrecondition(`${node} does not announce ${prefix}; ${from} keeps announcing it`);
      }
      if (!(await ctx.cluster.announcements(from)).some((a) => a.prefix === prefix)) return `already withdrawn from ${from}`;
      const client = ctx.cluster.client(from);
      await unary<WithdrawResponse__Output>(`Withdraw ${prefix} on ${from}`, (cb) => client.routing.withdraw({ requestId: requestId(ctx, id), prefix }, deadline(MUTATE_MS), cb));
      return `withdrawn from ${from}; ${node} announces it`;
    },
  };
}

function verifyUndrainStep(data: UndrainData): Step {
  const { node, returns } = data;
  return {
    id: 'verify',
    title: `verify ${node} is back in service${returns.length ? ' and its VMs run there' : ''}`,
    node,
    phase: 'verify',
    preconditions: [],
    command: `hvctl node info ${node}; drbdadm status; virsh list`,
    verify: `${node} not cordoned, not in maintenance; its resources UpToDate${returns.length ? '; each returned VM runs only there' : ''}`,
    readOnly: true,
    run: async (ctx) => {
      const { cluster } = ctx;
      const problems: string[] = [];
      const info = await cluster.info(node);
      if (info.flags?.cordoned) problems.push(`${node} is still cordoned`);
      if (info.flags?.maintenance) problems.push(`${node} is still in maintenance`);
      const resources = await cluster.resources(node);
      for (const { resource: name } of waited(data)) {
        const replica = resources.find((resource) => resource.name === name);
        if (replica && replica.diskState !== 'UpToDate') problems.push(`${name} is ${replica.diskState} on ${node}`);
      }
      for (const move of returns) {
        if (!isRunning(await cluster.domain(node, move.vm))) problems.push(`${move.vm} does not run on ${node}`);
        if (isRunning(await cluster.domain(move.from, move.vm))) problems.push(`${move.vm} still runs on ${move.from}`);
      }
      if (problems.length) throw failedPrecondition(`undrain verification failed: ${problems.join('; ')}`);
      const left = degraded(data).map((entry) => entry.resource);
      return `in service${returns.length ? `; ${returns.map((move) => move.vm).join(', ')} back on ${node}` : ''}${left.length ? `; degraded: ${left.join(', ')}` : ''}`;
    },
  };
}

const isWaited = (entry: ResyncEntry): boolean => entry.class === 'in-sync' || entry.class === 'resync';

/**
 * The classified resources of a plan. An undrain journaled before plans classified them
 * listed only names (`resources`); resumed, each of those is waited for.
 */
function entriesOf(data: Omit<UndrainData, 'resync'> & { readonly resync?: readonly ResyncEntry[]; readonly resources?: readonly string[] }): readonly ResyncEntry[] {
  return (
    data.resync ??
    (data.resources ?? []).map((resource) => ({ resource, peer: '', class: 'resync' as const, role: 'Secondary', peerRole: 'Unknown', reason: resource, fix: [], etaSeconds: 0 }))
  );
}
const waited = (data: UndrainData): ResyncEntry[] => entriesOf(data).filter(isWaited);
const degraded = (data: UndrainData): ResyncEntry[] => entriesOf(data).filter((entry) => !isWaited(entry));

/** The undrain's steps and rollback for a plan (pure). */
export function undrainProgram(data: UndrainData): Program {
  const { node, returns } = data;
  const waits = waited(data).map((entry) => [resyncStep(`resync:${entry.resource}`, node, entry, 'resync')]);
  const later = degraded(data).filter((entry) => entry.class === 'peer-gone').map((entry) => reconnectLaterStep(`reconnect:${entry.resource}`, node, entry, 'resync'));
  const bgpSteps = data.bgp.flatMap((handover) => [
    announceBgpStep(`bgp-announce:${prefixId(handover.prefix)}`, handover.prefix, node, handover.from, 'route'),
    ...(handover.withdraw ? [withdrawTakeoverStep(handover, node)] : []),
  ]);
  return {
    stages: [
      { steps: [healthStep(node), ...later] },
      // Every resource is waited for at once: the phase lasts as long as the slowest resync, not their sum.
      ...(waits.length ? [{ lanes: waits, parallel: waits.length }] : []),
      { steps: [cordonStep('uncordon', node, false, '', 'service'), maintenanceStep('maintenance-off', node, false, 'service')] },
      ...(returns.length ? [{ lanes: returns.map((move) => migrationSteps(move, `${move.vm}:`)), parallel: RETURN_PARALLEL }] : []),
      { steps: [...bgpSteps, verifyUndrainStep(data)] },
    ],
    makeSafe: async (ctx: StepContext) => {
      const notes = (await Promise.all(returns.map((move) => makeMoveSafe(ctx, move).catch((error: unknown) => [`${move.vm}: make-safe failed: ${firstLine(error)}`])))).flat();
      notes.push(`${node} keeps its cordon and maintenance flags as the undrain left them; run \`hvctl undrain ${node}\` again once the cause is fixed`);
      notes.push('resyncs DRBD has started go on by themselves; the next undrain does not wait for a resource whose peer is gone by then');
      return notes;
    },
    summarize: async () => degraded(data).map((entry) => `degraded: ${degradedLine(node, entry)}`),
  };
}

/**
 * `hvctl undrain NODE [--return-vms]`: health-check the node, wait side by side for every
 * diskful resource that can resync (a resource whose peer is gone is not waited for, a
 * split brain refuses), uncordon it, clear maintenance and, on request, migrate back the
 * VMs its last successful drain moved away (and its BGP announcement). Idempotent: it
 * verifies each step and does only what is missing.
 */
export const undrainKind: WorkflowKind<UndrainData> = {
  name: 'undrain',
  // The node is leased before planning: a second undrain of it is refused naming the first, not planned on moving state.
  claims: (spec) => (spec.undrain?.node ? [`node/${validateNodeName(spec.undrain.node, 'node')}`] : []),
  async plan(spec: WorkflowSpec__Output, cluster: ClusterAccess): Promise<Planned<UndrainData>> {
    const request = spec.undrain;
    if (!request) throw invalidArgument('missing undrain spec');
    const node = validateNodeName(request.node, 'node');
    cluster.siteOf(node); // NOT_FOUND unless a member
    let info: NodeInfo__Output;
    try {
      info = await cluster.info(node);
    } catch (error) {
      if (error instanceof HvctlError && error.code !== 'UNAVAILABLE' && error.code !== 'DEADLINE_EXCEEDED') throw error;
      throw unavailable(`cannot undrain ${node}: its agent does not answer (${firstLine(error)}); nothing was changed`, {
        nextSteps: [`start the agent on ${node} (it must be booted and healthy before it takes VMs again)`],
      });
    }
    const missing = missingCapabilities(info);
    if (missing.length) {
      throw failedPrecondition(`${node} cannot host VMs yet: ${missing.join('; ')}`, {
        unchanged: `nothing was changed; ${node} stays cordoned`,
        nextSteps: [`fix the drivers on ${node} (hvctl node info ${node} shows why), then undrain again`],
      });
    }
    const resync = await classifyNode(cluster, node);
    const splits = resync.filter((entry) => entry.class === 'split-brain');
    if (splits.length) {
      // Back in service, the node could be chosen to run a VM on a copy the operator then decides to discard.
      throw failedPrecondition(`not undraining ${node}: ${splits.map((entry) => entry.reason).join('; ')}`, {
        unchanged: `nothing was changed; ${node} stays cordoned`,
        nextSteps: [...new Set(splits.flatMap((entry) => entry.fix)), `then run \`hvctl undrain ${node}\` again`],
      });
    }
    const warnings = resync.flatMap((entry) =>
      entry.class === 'resync' ? [`${entry.reason}; waited for (side by side with the others)`] : entry.class === 'in-sync' ? [] : [degradedLine(node, entry)],
    );
    const resources = resync.map((entry) => entry.resource);
    const ready = new Set(resync.filter(isWaited).map((entry) => entry.resource));

    const returns: Move[] = [];
    const bgp: BgpReturn[] = [];
    let drainId = '';
    if (request.returnVms) {
      const drain = await lastDrain(cluster, node).catch((error: unknown) => {
        throw unavailable(`cannot read the workflow journal of ${node}: ${firstLine(error)}; nothing was changed`);
      });
      const record = drain ? parseDrainData(drain.plan?.data ?? '') : undefined;
      if (!drain || !record) {
        throw failedPrecondition(`--return-vms: ${node}'s journal holds no successful drain of ${node}, so where its VMs ran before is unknown`, {
          unchanged: 'nothing was changed',
          nextSteps: [`undrain without --return-vms, then move VMs one by one with \`hvctl migrate VM --to ${node}\``],
        });
      }
      drainId = drain.id;
      for (const move of record.moves) {
        const where = await cluster.domain(move.to, move.vm).catch(() => undefined);
        if (isRunning(await cluster.domain(node, move.vm).catch(() => undefined))) continue; // already home
        if (!isRunning(where)) {
          warnings.push(`${move.vm} no longer runs on ${move.to}, where drain ${drain.id} moved it; it is not moved back`);
          continue;
        }
        if (!resources.includes(move.resource)) {
          warnings.push(`${node} has no replica of ${move.resource} any more; ${move.vm} stays on ${move.to}`);
          continue;
        }
        if (!ready.has(move.resource)) {
          warnings.push(`${move.vm} stays on ${move.to}: only a VM whose disk is UpToDate and connected on both sides moves back, and ${move.resource} is not resynced now`);
          continue;
        }
        returns.push({ vm: move.vm, ip: move.ip, resource: move.resource, from: move.to, to: node, memoryBytes: Number(where?.memoryBytes ?? move.memoryBytes) });
      }
      const facts = info.facts;
      const need = returns.reduce((sum, move) => sum + move.memoryBytes, 0);
      if (facts && Number(facts.memoryTotalBytes) - Number(facts.memoryUsedBytes) < need) {
        throw failedPrecondition(`${node} has ${gib(Number(facts.memoryTotalBytes) - Number(facts.memoryUsedBytes))} free but the ${returns.length} VMs to return need ${gib(need)}`, {
          unchanged: `nothing was changed; ${node} stays cordoned`,
          nextSteps: [`undrain without --return-vms and move VMs back one by one`],
        });
      }
      const announcedHere = await cluster.announcements(node);
      for (const handover of record.bgp) {
        if (announcedHere.some((a) => a.prefix === handover.prefix && a.kind === 'ANNOUNCEMENT_KIND_BGP')) continue;
        bgp.push({ prefix: handover.prefix, from: handover.to, withdraw: !handover.alreadyAnnounced });
      }
    }

    const data: UndrainData = { node, resync, returns, bgp, drainId };
    const sources = [...new Set(returns.map((move) => move.from))];
    return {
      title: `Undrain ${node}${returns.length ? `: bring ${returns.length} VM(s) back from ${sources.join(', ')}` : ''}`,
      data,
      nodes: [...new Set([node, ...sources, ...bgp.map((handover) => handover.from)])],
      resources: [...new Set([...resources, ...returns.map((move) => move.resource)])],
      warnings,
      evidence: [],
    };
  },
  program: undrainProgram,
};
