import type { DestroyResponse__Output, Domain__Output, ShutdownResponse__Output, WithdrawResponse__Output, WorkflowSpec__Output } from '@hvctl/proto';
import { HvctlError, deadline, failedPrecondition, invalidArgument, notFound, unary, validateResourceName } from '@hvctl/common';
import type { ClusterAccess } from '../cluster-access.js';
import { demoteStep, intentStep, isRunning, requestId } from '../steps.js';
import type { Planned, Program, Step, WorkflowKind } from '../types.js';
import { makeMoveSafe } from './migrate.js';

const DEFAULT_SHUTDOWN_SECONDS = 60;
const MAX_SHUTDOWN_SECONDS = 600;

/** What a stop needs to run and to be made safe again. */
export interface StopData {
  readonly vm: string;
  readonly ip: string;
  readonly resource: string;
  /** Where the VM runs (or, when it runs nowhere, where its resource is Primary or it is defined). */
  readonly node: string;
  /** Every diskful member of the VM's pair. */
  readonly pair: readonly string[];
  readonly timeoutSeconds: number;
}

/** `virsh shutdown`, then `virsh destroy` when the guest has not stopped within the timeout. */
function shutdownStep(data: StopData): Step {
  const { vm, node } = data;
  return {
    id: 'shutdown',
    title: `shut ${vm} down on ${node} (destroy after ${data.timeoutSeconds} s)`,
    node,
    phase: 'stop',
    preconditions: [`${vm} defined on ${node}`],
    command: `virsh shutdown ${vm}; virsh destroy ${vm}  # only if still running after ${data.timeoutSeconds} s`,
    verify: `virsh domstate ${vm} is shut off on ${node}`,
    run: async (ctx) => {
      const before = await ctx.cluster.domain(node, vm);
      if (!before) throw failedPrecondition(`${vm} is not defined on ${node}`);
      if (before.state === 'DOMAIN_STATE_SHUTOFF') return 'already shut off';
      const client = ctx.cluster.client(node);
      let after: Domain__Output | null | undefined;
      let how = 'shut down';
      try {
        if (!isRunning(before)) throw new HvctlError('FAILED_PRECONDITION', `${vm} is ${before.state}; a guest shutdown needs it running`);
        ({ domain: after } = await unary<ShutdownResponse__Output>(`Shutdown ${vm} on ${node}`, (cb) =>
          client.kvm.shutdown({ requestId: requestId(ctx, 'shutdown'), name: vm, timeoutSeconds: data.timeoutSeconds }, deadline((data.timeoutSeconds + 10) * 1000), cb),
        ));
      } catch (error) {
        if (!(error instanceof HvctlError) || (error.code !== 'DEADLINE_EXCEEDED' && error.code !== 'FAILED_PRECONDITION')) throw error;
        how = `destroyed (${error.message.split('\n')[0]})`;
        ({ domain: after } = await unary<DestroyResponse__Output>(`Destroy ${vm} on ${node}`, (cb) =>
          client.kvm.destroy({ requestId: requestId(ctx, 'destroy'), name: vm }, deadline(10_000), cb),
        ));
      }
      if (after?.state !== 'DOMAIN_STATE_SHUTOFF') throw failedPrecondition(`${vm} is not shut off on ${node} after the shutdown`);
      return how;
    },
  };
}

/** Withdraw the VM's /32 from every node of its pair (it runs nowhere now). */
function withdrawStep(data: StopData): Step {
  const prefix = `${data.ip}/32`;
  return {
    id: 'withdraw',
    title: `withdraw ${prefix} (${data.vm}) from ${data.pair.join(', ')}`,
    node: data.node,
    phase: 'route',
    preconditions: [`${data.vm} runs nowhere`],
    command: `birdc configure  # on ${data.pair.join(', ')}: remove ${prefix} from the hvctl static protocol`,
    verify: `birdc show route ${prefix} shows no origin in the pair`,
    run: async (ctx) => {
      const notes: string[] = [];
      for (const node of data.pair) {
        const domain = await ctx.cluster.domain(node, data.vm).catch(() => undefined);
        if (isRunning(domain)) throw failedPrecondition(`${data.vm} runs on ${node}; its /32 stays announced there`);
        try {
          const client = ctx.cluster.client(node);
          const { withdrawn } = await unary<WithdrawResponse__Output>(`Withdraw ${prefix} on ${node}`, (cb) =>
            client.routing.withdraw({ requestId: requestId(ctx, 'withdraw', node), prefix }, deadline(3000), cb),
          );
          notes.push(withdrawn ? `withdrawn from ${node}` : `not announced from ${node}`);
        } catch (error) {
          notes.push(`could not withdraw from ${node} (${(error as Error).message.split('\n')[0]})`);
        }
      }
      return notes.join('; ');
    },
  };
}

/** The stop's steps, in plan order. */
export function stopSteps(data: StopData): Step[] {
  return [
    shutdownStep(data),
    withdrawStep(data),
    {
      ...demoteStep('demote', data.node, data.resource, 'stop'),
      run: async (ctx) => {
        // Re-read: never demote under a VM that runs.
        if (isRunning(await ctx.cluster.domain(data.node, data.vm))) throw failedPrecondition(`${data.vm} runs on ${data.node} again; ${data.resource} stays Primary`);
        return demoteStep('demote', data.node, data.resource, 'stop').run(ctx);
      },
    },
    intentStep('intent', data.vm, data.pair, 'stopped', 'stop'),
  ];
}

/** Plans a stop: where the VM runs (or its Primary is), and its pair. */
export async function planStop(cluster: ClusterAccess, vm: string, timeoutSeconds: number): Promise<Planned<StopData>> {
  const found: { node: string; domain: Domain__Output }[] = [];
  const unreachable: string[] = [];
  await Promise.all(
    cluster.nodes().map(async (node) => {
      try {
        const domain = await cluster.domain(node, vm);
        if (domain) found.push({ node, domain });
      } catch {
        unreachable.push(node);
      }
    }),
  );
  if (!found.length) throw notFound(`no reachable node defines a VM named ${vm}${unreachable.length ? ` (${unreachable.sort().join(', ')} did not answer)` : ''}`);
  const active = found.filter((entry) => entry.domain.state !== 'DOMAIN_STATE_SHUTOFF');
  if (active.length > 1) throw failedPrecondition(`${vm} is active on ${active.map((entry) => entry.node).join(' and ')}: fix that first (hvctl check); nothing was changed`);
  const resource = found[0]?.domain.resources[0];
  if (!resource) throw failedPrecondition(`${vm} has no DRBD-backed disk; hvctl stops only replicated VMs`);
  let node = active[0]?.node;
  if (!node) {
    const primaries = await Promise.all(found.map(async (entry) => ((await cluster.resource(entry.node, resource).catch(() => undefined))?.role === 'Primary' ? entry.node : undefined)));
    node = primaries.find((candidate) => candidate !== undefined) ?? [...found].sort((a, b) => Number(b.domain.stateChangedUnixMs) - Number(a.domain.stateChangedUnixMs))[0]?.node;
  }
  if (!node) throw notFound(`no reachable node defines ${vm}`);
  const replica = await cluster.resource(node, resource);
  const pair = [node, ...replica.peers.filter((peer) => !peer.peerClient).map((peer) => peer.node)];
  if (pair.length !== 2) throw failedPrecondition(`${resource} has ${pair.length - 1} diskful peers; hvctl stop handles a VM replicated between two nodes`);
  const domain = found.find((entry) => entry.node === node)?.domain as Domain__Output;
  const missing = pair.filter((member) => unreachable.includes(member));
  return {
    title: active.length ? `Stop ${vm} on ${node}` : `Record ${vm} stopped (it runs nowhere); tidy ${node}`,
    data: { vm, ip: domain.ip, resource, node, pair, timeoutSeconds },
    nodes: pair.filter((member) => !unreachable.includes(member)),
    resources: [resource],
    warnings: missing.map((member) => `${member} does not answer: the intent is recorded on the other node only, and wins when ${member} returns (newest wins)`),
    evidence: [],
  };
}

/** `hvctl stop VM`. */
export const stopKind: WorkflowKind<StopData> = {
  name: 'stop',
  claims: (spec) => (spec.stop?.vm ? [`vm/${validateResourceName(spec.stop.vm, 'vm')}`] : []),
  async plan(spec: WorkflowSpec__Output, cluster: ClusterAccess): Promise<Planned<StopData>> {
    if (!spec.stop) throw invalidArgument('missing stop spec');
    const timeout = spec.stop.timeoutSeconds || DEFAULT_SHUTDOWN_SECONDS;
    if (timeout > MAX_SHUTDOWN_SECONDS) throw invalidArgument(`timeout_seconds ${timeout} is above the limit of ${MAX_SHUTDOWN_SECONDS}`);
    return planStop(cluster, validateResourceName(spec.stop.vm, 'vm'), timeout);
  },
  program(data: StopData): Program {
    const peer = data.pair.find((node) => node !== data.node) as string;
    return {
      stages: [{ steps: stopSteps(data) }],
      // Wherever it stopped: the VM on at most one node with its /32 only there, no Primary without a VM.
      makeSafe: (ctx) => makeMoveSafe(ctx, { vm: data.vm, ip: data.ip, resource: data.resource, from: data.node, to: peer, memoryBytes: 0 }),
    };
  },
};
