import type { Domain__Output, Resource__Output, WorkflowSpec__Output } from '@hvctl/proto';
import { failedPrecondition, invalidArgument, notFound, validateResourceName } from '@hvctl/common';
import type { ClusterAccess } from '../cluster-access.js';
import { intentStep, isRunning, moveVmRouteStep, promoteStep, startVmStep } from '../steps.js';
import type { Planned, Program, Step, StepContext, WorkflowKind } from '../types.js';
import { makeMoveSafe } from './migrate.js';

/** What a start needs to run and to be made safe again. */
export interface StartData {
  readonly vm: string;
  readonly ip: string;
  readonly resource: string;
  /** The node whose replica is promoted and where the VM starts. */
  readonly node: string;
  /** Every diskful member of the VM's pair (the intent is recorded on each that answers). */
  readonly pair: readonly string[];
}

/** A VM's definitions and replicas as the reachable nodes report them now. */
interface VmView {
  readonly domains: ReadonlyMap<string, Domain__Output>;
  readonly replicas: ReadonlyMap<string, Resource__Output>;
  readonly cordoned: ReadonlySet<string>;
  readonly unreachable: readonly string[];
}

/** A domain that is active on its node: running or paused (a paused guest still holds its disk). */
const active = (domain: Domain__Output | undefined): boolean => isRunning(domain) || domain?.state === 'DOMAIN_STATE_PAUSED';

const stateWord = (domain: Domain__Output): string => domain.state.replace('DOMAIN_STATE_', '').toLowerCase();

/** Reads the VM's domain, its resource and each node's flags on every node that answers. */
async function readVm(cluster: ClusterAccess, vm: string, resource?: string): Promise<VmView> {
  const domains = new Map<string, Domain__Output>();
  const replicas = new Map<string, Resource__Output>();
  const cordoned = new Set<string>();
  const unreachable: string[] = [];
  await Promise.all(
    cluster.nodes().map(async (node) => {
      try {
        const [domain, info] = await Promise.all([cluster.domain(node, vm), cluster.info(node)]);
        if (domain) domains.set(node, domain);
        if (info.flags?.cordoned) cordoned.add(node);
        const name = resource ?? domain?.resources[0];
        if (name) {
          const replica = await cluster.resource(node, name).catch(() => undefined);
          if (replica) replicas.set(node, replica);
        }
      } catch {
        unreachable.push(node);
      }
    }),
  );
  return { domains, replicas, cordoned, unreachable: unreachable.sort() };
}

/** Why the replica on `node` must not be promoted for `vm` now; empty when it may. */
export function promotionBlockers(node: string, replica: Resource__Output): string[] {
  const reasons: string[] = [];
  if (replica.client) return [`${node} holds no copy of ${replica.name} (diskless)`];
  if (replica.diskState !== 'UpToDate') reasons.push(`${replica.name} is ${replica.diskState} on ${node}: promoting it would serve an out-of-date or partial copy`);
  if (!replica.quorum) reasons.push(`${replica.name} has no quorum on ${node}: its peer may be writing on the other side of a partition`);
  for (const peer of replica.peers) {
    if (!peer.peerClient && peer.connectionState === 'Connected' && peer.peerRole === 'Primary') reasons.push(`${replica.name} is Primary on its peer ${peer.node}`);
  }
  return reasons;
}

/** Where the VM runs, as far as the reachable nodes say. */
function runningOn(view: VmView): string[] {
  return [...view.domains.entries()].filter(([, domain]) => active(domain)).map(([node]) => node);
}

/**
 * Chooses the replica to promote: UpToDate, with quorum, its peer not Primary, the node not
 * cordoned unless it holds the only promotable copy; among several, the node where the VM
 * last changed state (where it last ran). Throws FAILED_PRECONDITION naming every reason.
 */
export function chooseStartNode(vm: string, view: VmView): { node: string; warnings: string[] } {
  const elsewhere = runningOn(view);
  if (elsewhere.length) {
    const where = elsewhere.map((node) => `${node} (${stateWord(view.domains.get(node) as Domain__Output)})`).join(', ');
    throw failedPrecondition(`${vm} is already running on ${where}; nothing was changed`, { nextSteps: [`hvctl migrate ${vm} to move it, or hvctl stop ${vm}`] });
  }
  const reasons: string[] = [];
  const candidates: string[] = [];
  for (const [node, replica] of view.replicas) {
    if (replica.client) continue;
    const blockers = promotionBlockers(node, replica);
    if (!view.domains.has(node)) blockers.push(`${vm} is not defined on ${node}`);
    if (blockers.length) reasons.push(...blockers);
    else candidates.push(node);
  }
  const lastRan = (node: string): number => Number(view.domains.get(node)?.stateChangedUnixMs ?? 0);
  const order = (nodes: string[]): string[] => [...nodes].sort((a, b) => lastRan(b) - lastRan(a) || a.localeCompare(b));
  const open = order(candidates.filter((node) => !view.cordoned.has(node)));
  if (open[0]) return { node: open[0], warnings: [] };
  const cordoned = order(candidates);
  if (cordoned[0]) {
    return { node: cordoned[0], warnings: [`${cordoned[0]} is cordoned, but it holds the only copy of ${vm} that can be promoted: starting it there`] };
  }
  const unseen = view.unreachable.length ? ` (${view.unreachable.join(', ')} did not answer)` : '';
  throw failedPrecondition(`no replica of ${vm} can be safely promoted: ${reasons.join('; ') || 'no node reports a copy'}${unseen}; nothing was changed`, {
    nextSteps: ['see hvctl status for the replicas; an out-of-date copy needs hvctl failover --force with the data at risk stated'],
  });
}

/** Before promoting and before starting: the choice still holds on live state. */
function guardStart(step: Step, data: StartData): Step {
  return {
    ...step,
    run: async (ctx) => {
      const view = await readVm(ctx.cluster, data.vm, data.resource);
      if (isRunning(view.domains.get(data.node))) return step.run(ctx);
      const elsewhere = runningOn(view).filter((node) => node !== data.node);
      if (elsewhere.length) throw failedPrecondition(`${data.vm} is running on ${elsewhere.join(', ')} now; refusing to start a second copy on ${data.node}`);
      const replica = view.replicas.get(data.node);
      if (!replica) throw failedPrecondition(`${data.node} does not answer for ${data.resource}; nothing more was changed`);
      const blockers = promotionBlockers(data.node, replica);
      if (blockers.length) throw failedPrecondition(`${data.vm} cannot start on ${data.node} now: ${blockers.join('; ')}`);
      return step.run(ctx);
    },
  };
}

function verifyStart(data: StartData): Step {
  return {
    id: 'verify',
    title: `verify ${data.vm} runs only on ${data.node}, ${data.resource} Primary only there, /32 only from there`,
    node: data.node,
    phase: 'verify',
    preconditions: [],
    command: `virsh domstate ${data.vm}; drbdadm role ${data.resource}; birdc show route ${data.ip}/32`,
    verify: 'one running copy, one Primary, one announcement',
    readOnly: true,
    run: async (ctx) => {
      const view = await readVm(ctx.cluster, data.vm, data.resource);
      const problems: string[] = [];
      const where = runningOn(view);
      if (where.length !== 1 || where[0] !== data.node) problems.push(`${data.vm} runs on ${where.join(', ') || 'no reachable node'} (expected ${data.node} only)`);
      for (const [node, replica] of view.replicas) {
        if (node === data.node && replica.role !== 'Primary') problems.push(`${data.resource} is ${replica.role} on ${node}`);
        if (node !== data.node && replica.role === 'Primary') problems.push(`${data.resource} is also Primary on ${node}`);
      }
      for (const node of data.pair) {
        const announced = (await ctx.cluster.announcements(node).catch(() => undefined))?.some((a) => a.prefix === `${data.ip}/32`);
        if (node === data.node && announced !== true) problems.push(`${data.ip}/32 is not announced from ${node}`);
        if (node !== data.node && announced === true) problems.push(`${data.ip}/32 is also announced from ${node}`);
      }
      if (problems.length) throw failedPrecondition(`verification failed: ${problems.join('; ')}`);
      return 'verified';
    },
  };
}

/** The start's steps, in plan order. */
export function startSteps(data: StartData): Step[] {
  const others = data.pair.filter((node) => node !== data.node);
  return [
    {
      id: 'preflight',
      title: `check ${data.vm} runs nowhere and ${data.resource} can be promoted on ${data.node}`,
      node: data.node,
      phase: 'check',
      preconditions: [`${data.vm} runs nowhere`, `${data.resource} UpToDate with quorum on ${data.node}`, 'its peer not Primary'],
      command: `virsh domstate ${data.vm}  # on ${data.pair.join(', ')}; drbdadm status ${data.resource}`,
      verify: 'every precondition holds on live state',
      readOnly: true,
      run: async (ctx) => {
        const view = await readVm(ctx.cluster, data.vm, data.resource);
        if (isRunning(view.domains.get(data.node))) return `already running on ${data.node}`;
        const elsewhere = runningOn(view).filter((node) => node !== data.node);
        if (elsewhere.length) throw failedPrecondition(`${data.vm} is already running on ${elsewhere.join(', ')}; nothing was changed`);
        const replica = view.replicas.get(data.node);
        const blockers = replica ? promotionBlockers(data.node, replica) : [`${data.node} does not answer for ${data.resource}`];
        if (blockers.length) throw failedPrecondition(`${data.vm} cannot start on ${data.node} now: ${blockers.join('; ')}; nothing was changed`);
        return 'ready';
      },
    },
    guardStart(promoteStep('promote', data.node, data.resource, 'promote'), data),
    intentStep('intent', data.vm, [data.node, ...others], 'running', 'promote'),
    guardStart(startVmStep('start', data.vm, data.node, 'start'), data),
    moveVmRouteStep('route', data.vm, data.ip, data.node, others, 'route'),
    verifyStart(data),
  ];
}

/** Plans a start from live state; refuses naming the reason when no replica can be promoted safely. */
export async function planStart(cluster: ClusterAccess, vm: string): Promise<Planned<StartData>> {
  const first = await readVm(cluster, vm);
  const defined = [...first.domains.values()][0];
  if (!defined) {
    const unseen = first.unreachable.length ? ` (${first.unreachable.join(', ')} did not answer)` : '';
    throw notFound(`no reachable node defines a VM named ${vm}${unseen}`);
  }
  const resource = defined.resources[0];
  if (!resource) throw failedPrecondition(`${vm} has no DRBD-backed disk; hvctl starts only replicated VMs`);
  const view = first.replicas.size ? first : await readVm(cluster, vm, resource);
  const { node, warnings } = chooseStartNode(vm, view);
  const replica = view.replicas.get(node) as Resource__Output;
  const pair = [node, ...replica.peers.filter((peer) => !peer.peerClient).map((peer) => peer.node)];
  // make-safe judges the VM between its two replicas, as a migration's does.
  if (pair.length !== 2) throw failedPrecondition(`${resource} has ${pair.length - 1} diskful peers; hvctl start handles a VM replicated between two nodes`);
  const unreachablePair = pair.filter((member) => view.unreachable.includes(member));
  return {
    title: `Start ${vm} on ${node}`,
    data: { vm, ip: (view.domains.get(node) ?? defined).ip, resource, node, pair },
    nodes: pair.filter((member) => !view.unreachable.includes(member)),
    resources: [resource],
    warnings: [
      ...warnings,
      ...unreachablePair.map((member) => `${member} does not answer: the intent is recorded on ${node} only, and wins there when ${member} returns (newest wins)`),
    ],
    evidence: [],
  };
}

/** `hvctl start VM`. */
export const startKind: WorkflowKind<StartData> = {
  name: 'start',
  claims: (spec) => (spec.start?.vm ? [`vm/${validateResourceName(spec.start.vm, 'vm')}`] : []),
  async plan(spec: WorkflowSpec__Output, cluster: ClusterAccess): Promise<Planned<StartData>> {
    if (!spec.start) throw invalidArgument('missing start spec');
    return planStart(cluster, validateResourceName(spec.start.vm, 'vm'));
  },
  program(data: StartData): Program {
    const peer = data.pair.find((node) => node !== data.node) as string;
    return {
      stages: [{ steps: startSteps(data) }],
      // One Primary at most and the VM on at most one node: a VM that did not start leaves
      // no Primary behind; one that runs keeps it, with its /32 only there.
      makeSafe: (ctx: StepContext) => makeMoveSafe(ctx, { vm: data.vm, ip: data.ip, resource: data.resource, from: data.node, to: peer, memoryBytes: 0 }),
    };
  },
};
