import type { AnnounceResponse__Output, Domain__Output, NodeInfo__Output, WithdrawResponse__Output, WorkflowSpec__Output } from '@hvctl/proto';
import { HvctlError, deadline, failedPrecondition, invalidArgument, unary, unavailable, validateNodeName } from '@hvctl/common';
import type { ClusterAccess } from '../cluster-access.js';
import { cordonStep, isRunning, maintenanceStep, requestId } from '../steps.js';
import type { Planned, Program, Step, StepContext, WorkflowKind } from '../types.js';
import { makeMoveSafe, migrationBlockers, migrationSteps, type Move } from './migrate.js';

const MUTATE_MS = 10_000;
const GIB = 1024 ** 3;
/** `parallel` when the spec leaves it 0, and its bounds. */
export const DEFAULT_PARALLEL = 2;
export const MAX_PARALLEL = 16;
/** The cordon reason a drain sets (undrain and the console show it). */
export const DRAIN_REASON = 'drain by workflow';

/** The BGP announcement of a public block moved off the drained node. */
export interface BgpHandover {
  readonly prefix: string;
  /** Node of the drained node's site that announces the prefix instead. */
  readonly to: string;
  /** True when `to` already announced it before the drain (undrain then leaves it announced there). */
  readonly alreadyAnnounced: boolean;
}

/** A VM the drain leaves where it runs (spec.skip_unmovable), and why. */
export interface SkippedVm {
  readonly vm: string;
  readonly reason: string;
}

/** What a drain plan records; the journaled plan data, read back by undrain --return-vms. */
export interface DrainData {
  readonly node: string;
  readonly site: string;
  readonly parallel: number;
  /** Every VM moved, in lane order: where it ran (`from`, the drained node) and where it went (`to`). */
  readonly moves: readonly Move[];
  readonly skipped: readonly SkippedVm[];
  readonly bgp: readonly BgpHandover[];
  /** BGP prefixes left announced from the node: no other node of its site could take them over. */
  readonly keptBgp: readonly string[];
}

/** A prefix as part of a step or request id (those allow no "/"). */
export const prefixId = (prefix: string): string => prefix.replace('/', '-');
const gib = (bytes: number): string => `${(bytes / GIB).toFixed(1)} GiB`;
const firstLine = (error: unknown): string => ((error as Error).message ?? String(error)).split('\n')[0] ?? '';

function freeMemory(info: NodeInfo__Output | undefined): number | undefined {
  const facts = info?.facts;
  return facts ? Number(facts.memoryTotalBytes) - Number(facts.memoryUsedBytes) : undefined;
}

/**
 * Groups moves by target and checks that all the VMs moving to one target fit in its
 * free memory together (migrationBlockers checks each VM alone). Greedy in lane order:
 * returns the moves that do not fit, with the reason.
 */
export async function capacityShortfalls(cluster: ClusterAccess, moves: readonly Move[]): Promise<SkippedVm[]> {
  const short: SkippedVm[] = [];
  const targets = [...new Set(moves.map((move) => move.to))];
  for (const target of targets) {
    const free = freeMemory(await cluster.info(target).catch(() => undefined));
    if (free === undefined) continue; // unreachable: migrationBlockers says so per VM
    const incoming = moves.filter((move) => move.to === target);
    const total = incoming.reduce((sum, move) => sum + move.memoryBytes, 0);
    let used = 0;
    for (const move of incoming) {
      if (used + move.memoryBytes > free) {
        short.push({ vm: move.vm, reason: `${target} has ${gib(free)} free but the ${incoming.length} VMs moving there need ${gib(total)} together` });
      } else {
        used += move.memoryBytes;
      }
    }
  }
  return short;
}

/** Where each running VM of `node` would go: the other diskful node of its DRBD pair, or why it cannot. */
async function candidateMoves(cluster: ClusterAccess, node: string, running: readonly Domain__Output[]): Promise<{ moves: Move[]; unmovable: SkippedVm[] }> {
  const resources = await cluster.resources(node);
  const moves: Move[] = [];
  const unmovable: SkippedVm[] = [];
  for (const domain of running) {
    const reject = (reason: string): void => {
      unmovable.push({ vm: domain.name, reason });
    };
    if (domain.resources.length !== 1) {
      reject(domain.resources.length ? `it has ${domain.resources.length} DRBD disks; hvctl live-migrates VMs with one` : 'it has no DRBD-backed disk');
      continue;
    }
    const resource = domain.resources[0] as string;
    const replica = resources.find((candidate) => candidate.name === resource);
    if (!replica) {
      reject(`its disk ${resource} is not a DRBD resource on ${node}`);
      continue;
    }
    const peer = replica.peers.find((candidate) => !candidate.peerClient)?.node;
    if (!peer) {
      reject(`${resource} has no diskful peer to migrate to`);
      continue;
    }
    const move: Move = { vm: domain.name, ip: domain.ip, resource, from: node, to: peer, memoryBytes: Number(domain.memoryBytes) };
    try {
      if (isRunning(await cluster.domain(peer, domain.name).catch(() => undefined))) {
        reject(`it runs on both ${node} and ${peer}: fix that first (hvctl check)`);
        continue;
      }
      const blockers = await migrationBlockers(cluster, move);
      if (blockers.length) {
        reject(blockers.join('; '));
        continue;
      }
    } catch (error) {
      reject(`cannot check it: ${firstLine(error)}`);
      continue;
    }
    moves.push(move);
  }
  return { moves, unmovable };
}

/** A node of the same site that can announce `prefix` instead of `node`: reachable, in service, with routing. */
async function bgpTakeover(cluster: ClusterAccess, node: string, site: string, prefix: string): Promise<BgpHandover | undefined> {
  const candidates: BgpHandover[] = [];
  for (const other of cluster.nodes()) {
    if (other === node || cluster.siteOf(other) !== site) continue;
    try {
      const info = await cluster.info(other);
      if (info.flags?.cordoned || info.flags?.maintenance) continue;
      if (info.capabilities.some((capability) => capability.area === 'routing' && !capability.available)) continue;
      const alreadyAnnounced = (await cluster.announcements(other)).some((a) => a.prefix === prefix && a.kind === 'ANNOUNCEMENT_KIND_BGP');
      candidates.push({ prefix, to: other, alreadyAnnounced });
    } catch {
      // unreachable: cannot take the announcement over
    }
  }
  return candidates.find((candidate) => candidate.alreadyAnnounced) ?? candidates[0];
}

/** The other nodes of the cluster that announce `prefix` by BGP now. */
async function otherSpeakers(cluster: ClusterAccess, node: string, prefix: string): Promise<string[]> {
  const speakers: string[] = [];
  for (const other of cluster.nodes()) {
    if (other === node) continue;
    const announced = await cluster.announcements(other).catch(() => []);
    if (announced.some((a) => a.prefix === prefix && a.kind === 'ANNOUNCEMENT_KIND_BGP')) speakers.push(other);
  }
  return speakers;
}

/** Announce the public block from the node taking it over (first half of a handover). */
export function announceBgpStep(id: string, prefix: string, node: string, instead: string, phase: string): Step {
  return {
    id,
    title: `announce ${prefix} by BGP from ${node} (instead of ${instead})`,
    node,
    phase,
    preconditions: [`${node} reachable and in service`],
    command: `birdc configure  # on ${node}: add ${prefix} to the hvctl BGP export`,
    verify: `birdc show route ${prefix} on ${node} shows it exported by BGP`,
    run: async (ctx) => {
      if ((await ctx.cluster.announcements(node)).some((a) => a.prefix === prefix && a.kind === 'ANNOUNCEMENT_KIND_BGP')) return `already announced from ${node}`;
      const client = ctx.cluster.client(node);
      const { announcement } = await unary<AnnounceResponse__Output>(`Announce ${prefix} on ${node}`, (cb) =>
        client.routing.announce({ requestId: requestId(ctx, id), prefix, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '' }, deadline(MUTATE_MS), cb),
      );
      if (announcement?.prefix !== prefix) throw failedPrecondition(`${node} did not announce ${prefix}`);
      return `announced from ${node}`;
    },
  };
}

/**
 * Withdraw the public block from `node` (second half of a handover), only while
 * `keeper` announces it: the block is never left unannounced by this step.
 */
export function withdrawBgpStep(id: string, prefix: string, node: string, keeper: string, phase: string): Step {
  return {
    id,
    title: `withdraw ${prefix} from ${node} (${keeper} announces it)`,
    node,
    phase,
    preconditions: [`${keeper} announces ${prefix} by BGP`],
    command: `birdc configure  # on ${node}: remove ${prefix} from the hvctl BGP export`,
    verify: `birdc show route ${prefix} on ${node} shows no BGP export; ${keeper} still exports it`,
    run: async (ctx) => {
      const keeperAnnounces = (await ctx.cluster.announcements(keeper)).some((a) => a.prefix === prefix && a.kind === 'ANNOUNCEMENT_KIND_BGP');
      if (!keeperAnnounces) throw failedPrecondition(`${keeper} does not announce ${prefix}; it stays announced from ${node} so that the block is not left unannounced`);
      if (!(await ctx.cluster.announcements(node)).some((a) => a.prefix === prefix)) return `already withdrawn from ${node}`;
      const client = ctx.cluster.client(node);
      await unary<WithdrawResponse__Output>(`Withdraw ${prefix} on ${node}`, (cb) => client.routing.withdraw({ requestId: requestId(ctx, id), prefix }, deadline(MUTATE_MS), cb));
      if ((await ctx.cluster.announcements(node)).some((a) => a.prefix === prefix)) throw failedPrecondition(`${node} still announces ${prefix} after the withdraw`);
      return `withdrawn from ${node}; ${keeper} announces it`;
    },
  };
}

/** Re-checks every move of the drain on live state: each VM alone, then the memory of each target for all of them together. */
function preflightStep(data: DrainData): Step {
  const { node, moves } = data;
  return {
    id: 'preflight',
    title: `check the ${moves.length} VM(s) of ${node} can move (peers UpToDate and connected, targets in service, memory)`,
    node,
    phase: 'check',
    preconditions: ['every moved resource UpToDate and connected on both nodes', 'targets not cordoned nor in maintenance', 'the VMs moving to one target fit in its free memory together'],
    command: moves.length ? `drbdadm status ${moves.map((move) => move.resource).join(' ')}; hvctl node info ${[...new Set(moves.map((move) => move.to))].join(' ')}` : `virsh list  # on ${node}`,
    verify: 'every precondition holds on live state',
    readOnly: true,
    run: async (ctx) => {
      const pending: Move[] = [];
      for (const move of moves) {
        // A resumed drain: VMs that already run on their target are done.
        if (!isRunning(await ctx.cluster.domain(move.to, move.vm))) pending.push(move);
      }
      const problems: string[] = [];
      for (const move of pending) {
        const blockers = await migrationBlockers(ctx.cluster, move);
        if (blockers.length) problems.push(`${move.vm}: ${blockers.join('; ')}`);
      }
      for (const short of await capacityShortfalls(ctx.cluster, pending)) problems.push(`${short.vm}: ${short.reason}`);
      if (problems.length) throw failedPrecondition(`cannot continue the drain of ${node} (it stays cordoned): ${problems.join(' | ')}`);
      return pending.length === moves.length ? `${moves.length} VM(s) ready to move` : `${pending.length} of ${moves.length} VM(s) still to move`;
    },
  };
}

/** Withdraws the /32 of every VM that no longer runs on the node (those still running there keep theirs). */
function withdrawVmRoutesStep(data: DrainData): Step {
  const { node } = data;
  return {
    id: 'withdraw-routes',
    title: `withdraw from ${node} the /32 of every VM that no longer runs there`,
    node,
    phase: 'route',
    preconditions: [`the moved VMs' /32s announced from their targets`],
    command: `birdc configure  # on ${node}: remove the /32 of VMs not running here from the hvctl static protocol`,
    verify: `birdc show route protocol hvctl on ${node} lists only VMs running on ${node}`,
    run: async (ctx) => {
      const client = ctx.cluster.client(node);
      const running = new Set((await ctx.cluster.domains(node)).filter(isRunning).map((domain) => domain.name));
      const stale = (await ctx.cluster.announcements(node)).filter((a) => a.kind === 'ANNOUNCEMENT_KIND_VM' && !running.has(a.vm));
      for (const announcement of stale) {
        await unary<WithdrawResponse__Output>(`Withdraw ${announcement.prefix} on ${node}`, (cb) =>
          client.routing.withdraw({ requestId: requestId(ctx, 'withdraw-routes', prefixId(announcement.prefix)), prefix: announcement.prefix }, deadline(MUTATE_MS), cb),
        );
      }
      const kept = [...running].sort();
      return `${stale.length ? `withdrew ${stale.map((a) => a.prefix).join(', ')}` : 'no VM route left to withdraw'}${kept.length ? `; kept the /32 of ${kept.join(', ')} (still running here)` : ''}`;
    },
  };
}

function verifyDrainStep(data: DrainData, maintenance: boolean): Step {
  const { node, moves, skipped } = data;
  return {
    id: 'verify',
    title: `verify ${node} is drained: ${moves.length ? 'its VMs run only on their targets, ' : ''}cordoned${maintenance ? ', in maintenance' : ''}`,
    node,
    phase: 'verify',
    preconditions: [],
    command: `hvctl node info ${node}; virsh list --all; drbdadm role all`,
    verify: 'each moved VM runs once, on its target; no moved resource Primary or allowing two primaries on either node',
    readOnly: true,
    run: async (ctx) => {
      const { cluster } = ctx;
      const problems: string[] = [];
      const info = await cluster.info(node);
      if (!info.flags?.cordoned) problems.push(`${node} is not cordoned`);
      if (maintenance && !info.flags?.maintenance) problems.push(`${node} is not in maintenance`);
      const here = await cluster.domains(node);
      const skippedNames = new Set(skipped.map((entry) => entry.vm));
      const strays = here.filter((domain) => isRunning(domain) && !skippedNames.has(domain.name)).map((domain) => domain.name);
      if (strays.length) problems.push(`${strays.join(', ')} run(s) on ${node}`);
      const resourcesHere = await cluster.resources(node);
      for (const move of moves) {
        if (!isRunning(await cluster.domain(move.to, move.vm))) problems.push(`${move.vm} does not run on ${move.to}`);
        const replica = resourcesHere.find((resource) => resource.name === move.resource);
        if (replica?.role === 'Primary') problems.push(`${move.resource} is still Primary on ${node}`);
        if (replica?.allowTwoPrimaries || (await cluster.resource(move.to, move.resource)).allowTwoPrimaries) problems.push(`allow-two-primaries still set for ${move.resource}`);
      }
      if (problems.length) throw failedPrecondition(`drain verification failed: ${problems.join('; ')}`);
      return skipped.length ? `drained, except ${[...skippedNames].join(', ')} (left running on ${node})` : 'drained';
    },
  };
}

/** The drain's steps and rollback for a plan (pure: a resumed drain rebuilds it from the journaled data). */
export function drainProgram(data: DrainData): Program {
  const { node, moves } = data;
  const maintenance = data.skipped.length === 0;
  const cordon: Step = {
    ...cordonStep('cordon', node, true, DRAIN_REASON, 'cordon'),
    // The drain never uncordons by itself: after a failure the node stays cordoned until `hvctl undrain`.
    preconditions: [`${node} reachable`, `stays cordoned if the drain fails (undo with hvctl undrain ${node})`],
  };
  const routeSteps: Step[] = data.bgp.flatMap((handover) => [
    announceBgpStep(`bgp-announce:${prefixId(handover.prefix)}`, handover.prefix, handover.to, node, 'route'),
    withdrawBgpStep(`bgp-withdraw:${prefixId(handover.prefix)}`, handover.prefix, node, handover.to, 'route'),
  ]);
  const finish: Step[] = [...routeSteps, withdrawVmRoutesStep(data)];
  if (maintenance) finish.push(maintenanceStep('maintenance', node, true, 'maintenance'));
  finish.push(verifyDrainStep(data, maintenance));
  return {
    stages: [
      { steps: [cordon, preflightStep(data)] },
      ...(moves.length ? [{ lanes: moves.map((move) => migrationSteps(move, `${move.vm}:`)), parallel: data.parallel }] : []),
      { steps: finish },
    ],
    makeSafe: async (ctx: StepContext) => {
      const notes = (await Promise.all(moves.map((move) => makeMoveSafe(ctx, move).catch((error: unknown) => [`${move.vm}: make-safe failed: ${firstLine(error)}`])))).flat();
      notes.push(`${node} stays cordoned; once the cause is fixed, drain it again or bring it back with \`hvctl undrain ${node}\``);
      return notes;
    },
    summarize: async (ctx: StepContext) => {
      const lines: string[] = [];
      for (const move of moves) {
        const where = isRunning(await ctx.cluster.domain(move.to, move.vm).catch(() => undefined)) ? move.to : 'unknown';
        lines.push(`${move.vm} moved from ${node} to ${where}`);
      }
      for (const entry of data.skipped) lines.push(`${entry.vm} left running on ${node}: ${entry.reason}`);
      for (const handover of data.bgp) lines.push(`${handover.prefix} announced from ${handover.to} instead of ${node}`);
      for (const prefix of data.keptBgp) lines.push(`${prefix} still announced from ${node}`);
      lines.push(`undo with \`hvctl undrain ${node}${moves.length ? ' --return-vms' : ''}\``);
      return lines;
    },
  };
}

/**
 * `hvctl drain NODE`: cordon, pre-flight every running VM, live-migrate them to their DRBD
 * peers with bounded parallelism, hand the node's BGP announcement to another node of its
 * site, withdraw its routes, mark it maintenance. Planning refuses (nothing changes, the
 * node is not cordoned) when a VM cannot move, unless skip_unmovable leaves such VMs where
 * they run. A failure during the drain rolls every VM back to exactly one running copy and
 * one Primary, and leaves the node cordoned.
 */
export const drainKind: WorkflowKind<DrainData> = {
  name: 'drain',
  // The node is leased before planning: a second drain of it is refused naming the first, not planned on moving state.
  claims: (spec) => (spec.drain?.node ? [`node/${validateNodeName(spec.drain.node, 'node')}`] : []),
  async plan(spec: WorkflowSpec__Output, cluster: ClusterAccess): Promise<Planned<DrainData>> {
    const request = spec.drain;
    if (!request) throw invalidArgument('missing drain spec');
    const node = validateNodeName(request.node, 'node');
    const site = cluster.siteOf(node);
    const parallel = request.parallel === 0 ? DEFAULT_PARALLEL : request.parallel;
    if (!(parallel >= 1 && parallel <= MAX_PARALLEL)) throw invalidArgument(`parallel must be between 1 and ${MAX_PARALLEL} (0 means ${DEFAULT_PARALLEL}), got ${request.parallel}`);
    let domains: Domain__Output[];
    try {
      await cluster.info(node);
      domains = await cluster.domains(node);
    } catch (error) {
      if (error instanceof HvctlError && error.code !== 'UNAVAILABLE' && error.code !== 'DEADLINE_EXCEEDED') throw error;
      throw unavailable(`cannot drain ${node}: its agent does not answer (${firstLine(error)}); nothing was changed`, {
        nextSteps: [`check the agent on ${node}`, `if ${node} is lost, recover its VMs with \`hvctl failover --node ${node}\``],
      });
    }
    const running = domains.filter(isRunning).sort((a, b) => a.priority - b.priority || a.name.localeCompare(b.name));
    const { moves: candidates, unmovable } = await candidateMoves(cluster, node, running);
    const short = await capacityShortfalls(cluster, candidates);
    const shortNames = new Set(short.map((entry) => entry.vm));
    const moves = candidates.filter((move) => !shortNames.has(move.vm));
    const blocked = [...unmovable, ...short];
    if (blocked.length && !request.skipUnmovable) {
      throw failedPrecondition(`cannot drain ${node}: ${blocked.map((entry) => `${entry.vm} cannot move (${entry.reason})`).join('; ')}`, {
        unchanged: `nothing was changed; ${node} is not cordoned`,
        nextSteps: ['fix the reasons above and plan the drain again', `or drain with --skip-unmovable to leave ${blocked.map((entry) => entry.vm).join(', ')} running on ${node}`],
      });
    }
    const warnings = blocked.map((entry) => `${entry.vm} is left running on ${node}: ${entry.reason}`);
    if (blocked.length) warnings.push(`${node} will not be marked maintenance while ${blocked.map((entry) => entry.vm).join(', ')} run(s) there`);
    const runningNames = new Set(running.map((domain) => domain.name));
    for (const resource of await cluster.resources(node)) {
      if (resource.role === 'Primary' && !runningNames.has(resource.vm || resource.name)) {
        warnings.push(`${resource.name} is Primary on ${node} but no VM using it runs there; the drain leaves it as it is`);
      }
    }

    const bgp: BgpHandover[] = [];
    const keptBgp: string[] = [];
    for (const announcement of (await cluster.announcements(node)).filter((a) => a.kind === 'ANNOUNCEMENT_KIND_BGP')) {
      const handover = await bgpTakeover(cluster, node, site, announcement.prefix);
      if (handover) {
        bgp.push(handover);
        continue;
      }
      keptBgp.push(announcement.prefix);
      const speakers = await otherSpeakers(cluster, node, announcement.prefix);
      warnings.push(
        `${node} keeps announcing ${announcement.prefix}: no other reachable node of ${site} in service can take it over; ` +
          (speakers.length
            ? `when ${node} goes down, ${speakers.join(', ')} carr${speakers.length > 1 ? 'y' : 'ies'} it`
            : `nobody else announces it, so it becomes unannounced when ${node} goes down`),
      );
    }

    const data: DrainData = { node, site, parallel, moves, skipped: blocked, bgp, keptBgp };
    const targets = [...new Set(moves.map((move) => move.to))];
    const nodes = [...new Set([node, ...targets, ...bgp.map((handover) => handover.to)])];
    return {
      title: moves.length ? `Drain ${node}: live-migrate ${moves.length} VM(s) to ${targets.join(', ')}` : `Drain ${node} (no VM to move)`,
      data,
      nodes,
      resources: moves.map((move) => move.resource),
      warnings,
      evidence: [],
    };
  },
  program: drainProgram,
};
