import type { Domain__Output, WorkflowSpec__Output } from '@hvctl/proto';
import { deadline, failedPrecondition, invalidArgument, notFound, unary, validateNodeName, validateResourceName } from '@hvctl/common';
import type { SetAllowTwoPrimariesResponse__Output, DemoteResponse__Output, AnnounceResponse__Output, WithdrawResponse__Output } from '@hvctl/proto';
import type { ClusterAccess } from '../cluster-access.js';
import { allowTwoPrimariesStep, demoteStep, intentStep, isRunning, liveMigrateStep, moveVmRouteStep, promoteStep, requestId, retryWhilePropagating } from '../steps.js';
import type { Planned, Program, Step, StepContext, WorkflowKind } from '../types.js';

/** How long make-safe waits for a migration in flight to end before judging where the VM runs. */
const MIGRATION_SETTLE_MS = 60_000;

/** One VM move: what a migration needs to run and to be made safe again. */
export interface Move {
  readonly vm: string;
  readonly ip: string;
  readonly resource: string;
  readonly from: string;
  readonly to: string;
  readonly memoryBytes: number;
}

/** Finds where a VM runs (or, if it runs nowhere, where it is defined). */
export async function locateVm(cluster: ClusterAccess, vm: string): Promise<{ node: string; domain: Domain__Output }> {
  const found: { node: string; domain: Domain__Output }[] = [];
  for (const node of cluster.nodes()) {
    try {
      const domain = await cluster.domain(node, vm);
      if (domain) found.push({ node, domain });
    } catch {
      // unreachable node: it cannot be the source of a live migration anyway
    }
  }
  const running = found.filter((entry) => isRunning(entry.domain));
  if (running.length > 1) throw failedPrecondition(`${vm} runs on ${running.map((entry) => entry.node).join(' and ')}: fix that first (hvctl check)`);
  const entry = running[0] ?? found[0];
  if (!entry) throw notFound(`no node defines a VM named ${vm}`);
  return entry;
}

/** Checks that `move` can run now; returns the reasons it cannot (empty when it can). */
export async function migrationBlockers(cluster: ClusterAccess, move: Move): Promise<string[]> {
  const reasons: string[] = [];
  const [source, target, targetInfo] = await Promise.all([
    cluster.resource(move.from, move.resource),
    cluster.resource(move.to, move.resource).catch(() => undefined),
    cluster.info(move.to).catch(() => undefined),
  ]);
  if (!isRunning(await cluster.domain(move.from, move.vm))) reasons.push(`${move.vm} is not running on ${move.from}`);
  if (!target) reasons.push(`${move.to} has no replica of ${move.resource} (a VM moves only within its DRBD pair)`);
  if (!targetInfo) reasons.push(`${move.to} is unreachable`);
  if (source.role !== 'Primary') reasons.push(`${move.resource} is ${source.role} on ${move.from}`);
  if (source.diskState !== 'UpToDate') reasons.push(`${move.resource} is ${source.diskState} on ${move.from}`);
  const link = source.peers.find((peer) => peer.node === move.to);
  if (!link || link.connectionState !== 'Connected' || link.replicationState !== 'Established') {
    reasons.push(`${move.resource} is not connected to ${move.to} (${link?.connectionState ?? 'no link'}/${link?.replicationState ?? '-'})`);
  }
  if (target && target.diskState !== 'UpToDate') reasons.push(`peer ${move.to} is not UpToDate for ${move.resource} (${target.diskState})`);
  if (target && target.role === 'Primary') reasons.push(`${move.resource} is already Primary on ${move.to}`);
  if (targetInfo?.flags?.cordoned) reasons.push(`target ${move.to} is cordoned${targetInfo.flags.cordonReason ? ` (${targetInfo.flags.cordonReason})` : ''}`);
  if (targetInfo?.flags?.maintenance) reasons.push(`target ${move.to} is in maintenance`);
  const facts = targetInfo?.facts;
  if (facts && Number(facts.memoryTotalBytes) - Number(facts.memoryUsedBytes) < move.memoryBytes) {
    reasons.push(`${move.to} has not enough free memory for ${move.vm}`);
  }
  return reasons;
}

/** Plans the move of a running VM to the other node of its DRBD pair. */
export async function planMove(cluster: ClusterAccess, vm: string, to?: string): Promise<Move> {
  const { node: from, domain } = await locateVm(cluster, vm);
  if (!isRunning(domain)) throw failedPrecondition(`${vm} is not running (it is ${domain.state.replace('DOMAIN_STATE_', '').toLowerCase()} on ${from}); only a running VM is live-migrated`);
  const resource = domain.resources[0];
  if (!resource) throw failedPrecondition(`${vm} has no DRBD-backed disk`);
  const replica = await cluster.resource(from, resource);
  const peer = replica.peers.find((candidate) => !candidate.peerClient)?.node;
  if (!peer) throw failedPrecondition(`${resource} has no diskful peer to migrate to`);
  const target = to ?? peer;
  if (target === from) throw invalidArgument(`${vm} already runs on ${from}`);
  if (target !== peer) throw failedPrecondition(`${vm} can only move to ${peer}, the other node of its DRBD pair (asked: ${target})`);
  return { vm, ip: domain.ip, resource, from, to: target, memoryBytes: Number(domain.memoryBytes) };
}

/** The steps of one live migration, with ids prefixed for use inside a drain. */
export function migrationSteps(move: Move, prefix = ''): Step[] {
  const { vm, resource, from, to } = move;
  const id = (name: string): string => `${prefix}${name}`;
  const preflight: Step = {
    id: id('preflight'),
    title: `check ${vm} can move from ${from} to ${to}`,
    node: from,
    phase: 'check',
    preconditions: [`${resource} UpToDate and connected on both`, `${to} not cordoned, enough memory`],
    command: `drbdadm status ${resource}; virsh domstate ${vm}`,
    verify: 'every precondition holds on live state',
    readOnly: true,
    run: async (ctx) => {
      if (isRunning(await ctx.cluster.domain(to, vm))) return `already running on ${to}`;
      const blockers = await migrationBlockers(ctx.cluster, move);
      if (blockers.length) throw failedPrecondition(`${vm} cannot move: ${blockers.join('; ')}`);
      return 'ready';
    },
  };
  return [
    preflight,
    allowTwoPrimariesStep(id('allow-two-primaries-target'), to, resource, true, 'prepare'),
    allowTwoPrimariesStep(id('allow-two-primaries-source'), from, resource, true, 'prepare'),
    promoteStep(id('promote-target'), to, resource, 'prepare'),
    liveMigrateStep(id('migrate'), vm, from, to, 'migrate'),
    demoteStep(id('demote-source'), from, resource, 'cleanup'),
    allowTwoPrimariesStep(id('forbid-two-primaries-source'), from, resource, false, 'cleanup'),
    allowTwoPrimariesStep(id('forbid-two-primaries-target'), to, resource, false, 'cleanup'),
    moveVmRouteStep(id('route'), vm, move.ip, to, [from], 'route'),
    // The definition carries the intent across the migration; recorded again so a VM that had none gets one.
    intentStep(id('intent'), vm, [to, from], 'running', 'route'),
    {
      id: id('verify'),
      title: `verify ${vm} runs only on ${to}, ${resource} Primary only there, /32 only from there`,
      node: to,
      phase: 'verify',
      preconditions: [],
      command: `virsh domstate ${vm}; drbdadm role ${resource}; birdc show route ${move.ip}/32`,
      verify: 'one running copy, one Primary, one announcement',
      readOnly: true,
      run: async (ctx) => {
        const problems: string[] = [];
        if (!isRunning(await ctx.cluster.domain(to, vm))) problems.push(`${vm} not running on ${to}`);
        if (isRunning(await ctx.cluster.domain(from, vm))) problems.push(`${vm} still running on ${from}`);
        if ((await ctx.cluster.resource(from, resource)).role === 'Primary') problems.push(`${resource} still Primary on ${from}`);
        if ((await ctx.cluster.resource(to, resource)).allowTwoPrimaries) problems.push(`allow-two-primaries still set on ${to}`);
        if (!(await ctx.cluster.announcements(to)).some((a) => a.prefix === `${move.ip}/32`)) problems.push(`${move.ip}/32 not announced from ${to}`);
        if (problems.length) throw failedPrecondition(`verification failed: ${problems.join('; ')}`);
        return 'verified';
      },
    },
  ];
}

/**
 * Brings one move to a safe state wherever it stopped: the VM keeps running where it
 * runs; the other replica is demoted; allow-two-primaries is cleared on both; the /32
 * is announced only where the VM runs. Never starts or stops a VM.
 */
export async function makeMoveSafe(ctx: StepContext, move: Move): Promise<string[]> {
  const { cluster } = ctx;
  const notes: string[] = [];
  const where = async (node: string): Promise<Domain__Output | undefined> => cluster.domain(node, move.vm).catch(() => undefined);
  // A live migration cancelled from here may still be finishing in the hypervisor: judge
  // where the VM runs only once the source reports no migration in progress.
  const until = Date.now() + MIGRATION_SETTLE_MS;
  while ((await where(move.from))?.migrating && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 200));
  const [onFrom, onTo] = await Promise.all([where(move.from), where(move.to)]);
  if (onFrom?.migrating) notes.push(`${move.vm} was still migrating after ${MIGRATION_SETTLE_MS / 1000} s; judged on its state at that moment`);
  const runsOn = isRunning(onTo) ? move.to : isRunning(onFrom) ? move.from : undefined;
  const call = async (label: string, act: () => Promise<unknown>): Promise<void> => {
    try {
      await act();
      notes.push(label);
    } catch (error) {
      notes.push(`${label} FAILED: ${(error as Error).message.split('\n')[0]}`);
    }
  };
  if (!runsOn) {
    // The VM runs on neither reachable node: it may run on an unreachable one. A replica
    // that answers and holds no active VM is demoted, so a returning node cannot meet a
    // second Primary; a paused VM (a switchover in doubt) keeps its Primary.
    notes.push(`${move.vm} runs on neither ${move.from} nor ${move.to} as far as they answer (${onFrom?.state ?? 'unreachable'} / ${onTo?.state ?? 'unreachable'})`);
    for (const [node, domain] of [[move.from, onFrom], [move.to, onTo]] as const) {
      if (!domain || domain.state === 'DOMAIN_STATE_PAUSED') continue;
      const replica = await cluster.resource(node, move.resource).catch(() => undefined);
      if (!replica) continue;
      const client = cluster.client(node);
      if (replica.role === 'Primary') {
        await call(`demoted ${move.resource} on ${node} (no VM uses it there)`, () =>
          unary<DemoteResponse__Output>('Demote', (cb) => client.drbd.demote({ requestId: requestId(ctx, `safe-${move.vm}`, `demote-${node}`), name: move.resource }, deadline(), cb)),
        );
      }
      if (replica.allowTwoPrimaries) {
        await call(`forbade two primaries for ${move.resource} on ${node}`, () =>
          unary<SetAllowTwoPrimariesResponse__Output>('SetAllowTwoPrimaries', (cb) =>
            client.drbd.setAllowTwoPrimaries({ requestId: requestId(ctx, `safe-${move.vm}`, `forbid-${node}`), name: move.resource, allow: false }, deadline(), cb),
          ),
        );
      }
    }
    // Its /32 must not stay announced from a node that answers and does not run it (MISSION invariant 3).
    const prefix = `${move.ip}/32`;
    for (const [node, domain] of [[move.from, onFrom], [move.to, onTo]] as const) {
      if (!domain || domain.state === 'DOMAIN_STATE_PAUSED') continue;
      if (!(await cluster.announcements(node).catch(() => [])).some((a) => a.prefix === prefix)) continue;
      const client = cluster.client(node);
      await call(`withdrew ${prefix} from ${node} (${move.vm} does not run there)`, () =>
        unary<WithdrawResponse__Output>('Withdraw', (cb) => client.routing.withdraw({ requestId: requestId(ctx, `safe-${move.vm}`, `withdraw-${node}`), prefix }, deadline(), cb)),
      );
    }
    notes.push(`check where ${move.vm} runs before starting it anywhere`);
    return notes;
  }
  const other = runsOn === move.to ? move.from : move.to;
  const otherReplica = await cluster.resource(other, move.resource).catch(() => undefined);
  if (otherReplica?.role === 'Primary') {
    const client = cluster.client(other);
    await call(`demoted ${move.resource} on ${other}`, () =>
      unary<DemoteResponse__Output>('Demote', (cb) => client.drbd.demote({ requestId: requestId(ctx, `safe-${move.vm}`, `demote-${other}`), name: move.resource }, deadline(), cb)),
    );
  }
  for (const node of [move.from, move.to]) {
    const replica = await cluster.resource(node, move.resource).catch(() => undefined);
    if (replica?.allowTwoPrimaries) {
      const client = cluster.client(node);
      await call(`forbade two primaries for ${move.resource} on ${node}`, () =>
        retryWhilePropagating(/Primary here and on/, (attempt) =>
          unary<SetAllowTwoPrimariesResponse__Output>('SetAllowTwoPrimaries', (cb) =>
            client.drbd.setAllowTwoPrimaries({ requestId: requestId(ctx, `safe-${move.vm}`, `forbid-${node}-${attempt}`), name: move.resource, allow: false }, deadline(), cb),
          ),
        ),
      );
    }
  }
  const prefix = `${move.ip}/32`;
  const announcedOnRunning = (await cluster.announcements(runsOn).catch(() => [])).some((a) => a.prefix === prefix);
  if (!announcedOnRunning) {
    const client = cluster.client(runsOn);
    await call(`announced ${prefix} from ${runsOn}`, () =>
      unary<AnnounceResponse__Output>('Announce', (cb) =>
        client.routing.announce({ requestId: requestId(ctx, `safe-${move.vm}`, 'announce'), prefix, kind: 'ANNOUNCEMENT_KIND_VM', vm: move.vm }, deadline(), cb),
      ),
    );
  }
  if ((await cluster.announcements(other).catch(() => [])).some((a) => a.prefix === prefix)) {
    const client = cluster.client(other);
    await call(`withdrew ${prefix} from ${other}`, () =>
      unary<WithdrawResponse__Output>('Withdraw', (cb) => client.routing.withdraw({ requestId: requestId(ctx, `safe-${move.vm}`, 'withdraw'), prefix }, deadline(), cb)),
    );
  }
  notes.push(`${move.vm} runs on ${runsOn}`);
  return notes;
}

/** `hvctl migrate VM --to NODE`. */
export const migrateKind: WorkflowKind<Move> = {
  name: 'migrate',
  claims: (spec) => (spec.migrate?.vm ? [`vm/${validateResourceName(spec.migrate.vm, 'vm')}`] : []),
  async plan(spec: WorkflowSpec__Output, cluster: ClusterAccess): Promise<Planned<Move>> {
    const request = spec.migrate;
    if (!request) throw invalidArgument('missing migrate spec');
    const vm = validateResourceName(request.vm, 'vm');
    const to = request.targetNode ? validateNodeName(request.targetNode, 'target_node') : undefined;
    const move = await planMove(cluster, vm, to);
    const blockers = await migrationBlockers(cluster, move);
    if (blockers.length) throw failedPrecondition(`${vm} cannot move from ${move.from} to ${move.to}: ${blockers.join('; ')}`);
    return {
      title: `Live-migrate ${vm} from ${move.from} to ${move.to}`,
      data: move,
      nodes: [move.from, move.to],
      resources: [move.resource],
      warnings: [],
      evidence: [],
    };
  },
  program(move: Move): Program {
    return {
      stages: [{ steps: migrationSteps(move) }],
      makeSafe: (ctx) => makeMoveSafe(ctx, move),
    };
  },
};
