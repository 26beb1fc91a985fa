import type {
  AnnounceResponse__Output,
  DemoteResponse__Output,
  Domain__Output,
  MigrateResponse__Output,
  PromoteResponse__Output,
  SetAllowTwoPrimariesResponse__Output,
  StartResponse__Output,
  WithdrawResponse__Output,
  CordonResponse__Output,
  SetMaintenanceResponse__Output,
  UncordonResponse__Output,
  SetIntentResponse__Output,
} from '@hvctl/proto';
import { HvctlError, collectStream, deadline, failedPrecondition, unary } from '@hvctl/common';
import type { Step, StepContext } from './types.js';

const MUTATE_MS = 10_000;
/** How long a changed DRBD net option may take to reach the peer. */
const PROPAGATION_MS = 3000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * DRBD state changes reach the peers over the replication link a moment later; while a
 * call is refused only because a peer has not seen the change yet (`pattern`), retry it
 * for a few seconds. Each try has its own request id, so each acts at most once.
 */
export async function retryWhilePropagating<T>(pattern: RegExp, attemptCall: (attempt: number) => Promise<T>): Promise<T> {
  const until = Date.now() + PROPAGATION_MS;
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await attemptCall(attempt);
    } catch (error) {
      const propagating = error instanceof HvctlError && error.code === 'FAILED_PRECONDITION' && pattern.test(error.message);
      if (!propagating || Date.now() > until) throw error;
      await sleep(200);
    }
  }
}

/** The request id of one mutating call of a step run: retried calls of the same run act once. */
export const requestId = (ctx: StepContext, stepId: string, call = ''): string => `${ctx.workflowId}:${stepId}:${ctx.attempt}${call ? `:${call}` : ''}`;

export function isRunning(domain: Domain__Output | undefined): boolean {
  return domain?.state === 'DOMAIN_STATE_RUNNING';
}

/** `drbdadm net-options --allow-two-primaries=yes|no RES` on one node. */
export function allowTwoPrimariesStep(id: string, node: string, resource: string, allow: boolean, phase: string): Step {
  return {
    id,
    title: `${allow ? 'allow' : 'forbid'} two primaries for ${resource} on ${node}`,
    node,
    phase,
    preconditions: allow ? [`${resource} connected and UpToDate on both nodes`] : [`${resource} Primary on at most one node`],
    command: `drbdadm net-options --allow-two-primaries=${allow ? 'yes' : 'no'} ${resource}`,
    verify: `drbdsetup show ${resource} shows allow-two-primaries ${allow ? 'yes' : 'no'}`,
    run: async (ctx) => {
      const current = await ctx.cluster.resource(node, resource);
      if (current.allowTwoPrimaries === allow) return `already ${allow ? 'allowed' : 'forbidden'}`;
      const client = ctx.cluster.client(node);
      const { resource: after } = await retryWhilePropagating(/Primary here and on/, (attempt) =>
        unary<SetAllowTwoPrimariesResponse__Output>(`SetAllowTwoPrimaries on ${node}`, (cb) =>
          client.drbd.setAllowTwoPrimaries({ requestId: requestId(ctx, id, `try-${attempt}`), name: resource, allow }, deadline(MUTATE_MS), cb),
        ),
      );
      if (after?.allowTwoPrimaries !== allow) throw failedPrecondition(`${node} did not apply allow-two-primaries=${allow} to ${resource}`);
      return allow ? 'two primaries allowed' : 'two primaries forbidden';
    },
  };
}

/** `drbdadm primary [--force] RES` on one node. */
export function promoteStep(
  id: string,
  node: string,
  resource: string,
  phase: string,
  force = false,
  extra: readonly string[] = [],
  options: { readonly ignoreCordon?: boolean } = {},
): Step {
  const ignoreCordon = options.ignoreCordon ?? false;
  return {
    id,
    title: `promote ${resource} on ${node}${force ? ' (forced)' : ''}`,
    node,
    phase,
    preconditions: [...extra, force ? `operator override or quorum on ${node}` : `${resource} UpToDate on ${node}`],
    command: `drbdadm primary${force ? ' --force' : ''} ${resource}`,
    verify: `drbdadm role ${resource} is Primary on ${node}`,
    run: async (ctx) => {
      const current = await ctx.cluster.resource(node, resource);
      if (current.role === 'Primary') return 'already Primary';
      const client = ctx.cluster.client(node);
      // allow-two-primaries set a moment ago must reach the peer first.
      const pattern = current.allowTwoPrimaries ? /two primaries are not allowed/ : /^$/;
      const { resource: after } = await retryWhilePropagating(pattern, (attempt) =>
        unary<PromoteResponse__Output>(`Promote ${resource} on ${node}`, (cb) =>
          client.drbd.promote({ requestId: requestId(ctx, id, `try-${attempt}`), name: resource, force, ignoreCordon }, deadline(MUTATE_MS), cb),
        ),
      );
      if (after?.role !== 'Primary') throw failedPrecondition(`${resource} is not Primary on ${node} after promote`);
      return 'Primary';
    },
  };
}

/** `drbdadm secondary RES` on one node. */
export function demoteStep(id: string, node: string, resource: string, phase: string): Step {
  return {
    id,
    title: `demote ${resource} on ${node}`,
    node,
    phase,
    preconditions: [`no VM uses ${resource} on ${node}`],
    command: `drbdadm secondary ${resource}`,
    verify: `drbdadm role ${resource} is Secondary on ${node}`,
    run: async (ctx) => {
      const current = await ctx.cluster.resource(node, resource);
      if (current.role === 'Secondary') return 'already Secondary';
      const client = ctx.cluster.client(node);
      const { resource: after } = await unary<DemoteResponse__Output>(`Demote ${resource} on ${node}`, (cb) =>
        client.drbd.demote({ requestId: requestId(ctx, id), name: resource }, deadline(MUTATE_MS), cb),
      );
      if (after?.role !== 'Secondary') throw failedPrecondition(`${resource} is not Secondary on ${node} after demote`);
      return 'Secondary';
    },
  };
}

/** `virsh migrate --live` of a VM from one node to another, with progress. */
export function liveMigrateStep(id: string, vm: string, from: string, to: string, phase: string): Step {
  return {
    id,
    title: `live-migrate ${vm} from ${from} to ${to}`,
    node: from,
    phase,
    preconditions: [`${vm} running on ${from}`, `its resource Primary on both nodes`],
    command: `virsh migrate --live --persistent ${vm} qemu+ssh://${to}/system`,
    verify: `virsh domstate ${vm} is running on ${to} and shut off on ${from}`,
    run: async (ctx) => {
      if (isRunning(await ctx.cluster.domain(to, vm))) return `already running on ${to}`;
      if (!isRunning(await ctx.cluster.domain(from, vm))) {
        throw failedPrecondition(`${vm} runs neither on ${from} nor on ${to}; refusing to guess where it is`);
      }
      const client = ctx.cluster.client(from);
      const stream = client.kvm.migrate({ requestId: requestId(ctx, id), name: vm, targetNode: to }, { deadline: new Date(Date.now() + 600_000) });
      const abort = (): void => stream.cancel();
      ctx.signal.addEventListener('abort', abort, { once: true });
      try {
        await collectStream<MigrateResponse__Output>(`Migrate ${vm} to ${to}`, stream, (message) => {
          if (message.progress) ctx.progress(message.progress.percent, `${message.progress.phase} ${message.progress.percent.toFixed(0)}%`);
        });
      } finally {
        ctx.signal.removeEventListener('abort', abort);
      }
      if (!isRunning(await ctx.cluster.domain(to, vm))) throw failedPrecondition(`${vm} is not running on ${to} after the migration`);
      return `running on ${to}`;
    },
  };
}

/** Announce a VM's /32 from the node where it runs and withdraw it everywhere else. */
export function moveVmRouteStep(id: string, vm: string, ip: string, to: string, others: readonly string[], phase: string): Step {
  const prefix = `${ip}/32`;
  return {
    id,
    title: `announce ${prefix} (${vm}) from ${to}${others.length ? `, withdraw it from ${others.join(', ')}` : ''}`,
    node: to,
    phase,
    preconditions: [`${vm} running on ${to}`],
    command: `birdc configure  # on ${to}: add ${prefix} to the hvctl static protocol; on ${others.join(', ') || '-'}: remove it`,
    verify: `birdc show route ${prefix} shows ${to} as the only origin`,
    run: async (ctx) => {
      if (!isRunning(await ctx.cluster.domain(to, vm))) throw failedPrecondition(`${vm} is not running on ${to}; its /32 must not be announced from there`);
      const target = ctx.cluster.client(to);
      await unary<AnnounceResponse__Output>(`Announce ${prefix} on ${to}`, (cb) =>
        target.routing.announce({ requestId: requestId(ctx, id, 'announce'), prefix, kind: 'ANNOUNCEMENT_KIND_VM', vm }, deadline(MUTATE_MS), cb),
      );
      const notes: string[] = [`announced from ${to}`];
      for (const other of others) {
        try {
          const client = ctx.cluster.client(other);
          const { withdrawn } = await unary<WithdrawResponse__Output>(`Withdraw ${prefix} on ${other}`, (cb) =>
            client.routing.withdraw({ requestId: requestId(ctx, id, `withdraw-${other}`), prefix }, deadline(3000), cb),
          );
          if (withdrawn) notes.push(`withdrawn from ${other}`);
        } catch (error) {
          notes.push(`could not withdraw from ${other} (${(error as Error).message.split('\n')[0]}); it must not come back announcing it`);
        }
      }
      return notes.join('; ');
    },
  };
}

/** `virsh start VM` on a node. */
export function startVmStep(id: string, vm: string, node: string, phase: string, options: { readonly ignoreCordon?: boolean } = {}): Step {
  const ignoreCordon = options.ignoreCordon ?? false;
  return {
    id,
    title: `start ${vm} on ${node}`,
    node,
    phase,
    preconditions: [`${vm} runs nowhere else`, `its resource Primary on ${node}`],
    command: `virsh start ${vm}`,
    verify: `virsh domstate ${vm} is running on ${node}`,
    run: async (ctx) => {
      if (isRunning(await ctx.cluster.domain(node, vm))) return 'already running';
      const client = ctx.cluster.client(node);
      const { domain } = await unary<StartResponse__Output>(`Start ${vm} on ${node}`, (cb) =>
        client.kvm.start({ requestId: requestId(ctx, id), name: vm, ignoreCordon }, deadline(MUTATE_MS), cb),
      );
      if (!isRunning(domain ?? undefined)) throw failedPrecondition(`${vm} is not running on ${node} after start`);
      return 'running';
    },
  };
}

/** Cordon or uncordon a node. */
export function cordonStep(id: string, node: string, cordon: boolean, reason: string, phase: string): Step {
  return {
    id,
    title: `${cordon ? 'cordon' : 'uncordon'} ${node}`,
    node,
    phase,
    preconditions: [],
    command: `hvctl node ${cordon ? 'cordon' : 'uncordon'} ${node}  # no new VMs or promotions${cordon ? '' : ' again allowed'}`,
    verify: `${node} reports cordoned=${cordon}`,
    run: async (ctx) => {
      const client = ctx.cluster.client(node);
      const { flags } = cordon
        ? await unary<CordonResponse__Output>(`Cordon ${node}`, (cb) => client.node.cordon({ requestId: requestId(ctx, id), reason }, deadline(MUTATE_MS), cb))
        : await unary<UncordonResponse__Output>(`Uncordon ${node}`, (cb) => client.node.uncordon({ requestId: requestId(ctx, id) }, deadline(MUTATE_MS), cb));
      if (flags?.cordoned !== cordon) throw failedPrecondition(`${node} did not ${cordon ? 'cordon' : 'uncordon'}`);
      return cordon ? 'cordoned' : 'uncordoned';
    },
  };
}

/** Set or clear the maintenance flag. */
export function maintenanceStep(id: string, node: string, maintenance: boolean, phase: string): Step {
  return {
    id,
    title: `${maintenance ? 'mark' : 'unmark'} ${node} maintenance`,
    node,
    phase,
    preconditions: maintenance ? [`no VM runs on ${node}`] : [],
    command: `hvctl node maintenance ${node} ${maintenance ? 'on' : 'off'}`,
    verify: `${node} reports maintenance=${maintenance}`,
    run: async (ctx) => {
      if (maintenance) {
        const running = (await ctx.cluster.domains(node)).filter(isRunning).map((domain) => domain.name);
        if (running.length) throw failedPrecondition(`${running.join(', ')} still run on ${node}; it cannot enter maintenance`);
      }
      const client = ctx.cluster.client(node);
      const { flags } = await unary<SetMaintenanceResponse__Output>(`SetMaintenance ${node}`, (cb) =>
        client.node.setMaintenance({ requestId: requestId(ctx, id), maintenance }, deadline(MUTATE_MS), cb),
      );
      if (flags?.maintenance !== maintenance) throw failedPrecondition(`${node} did not change its maintenance flag`);
      return maintenance ? 'in maintenance' : 'in service';
    },
  };
}

/**
 * Records a VM's intent on every node of its pair that answers: newest wins on each
 * node, so every node gets the same decision time. A node that does not answer is
 * reported, not waited for: the answering node's newer intent wins when it is back.
 */
export async function setIntentOn(ctx: StepContext, stepId: string, vm: string, nodes: readonly string[], intent: 'running' | 'stopped'): Promise<string[]> {
  const setUnixMs = Date.now();
  const notes: string[] = [];
  let recorded = 0;
  for (const node of nodes) {
    try {
      const client = ctx.cluster.client(node);
      const { applied } = await unary<SetIntentResponse__Output>(`SetIntent ${vm} on ${node}`, (cb) =>
        client.kvm.setIntent(
          {
            requestId: requestId(ctx, stepId, `intent-${node}`),
            name: vm,
            intent: intent === 'running' ? 'DOMAIN_INTENT_RUNNING' : 'DOMAIN_INTENT_STOPPED',
            setUnixMs,
            onBehalfOf: ctx.owner,
          },
          deadline(3000),
          cb,
        ),
      );
      recorded += 1;
      notes.push(applied ? `intent ${intent} on ${node}` : `${node} holds a newer intent (kept)`);
    } catch (error) {
      notes.push(`could not record the intent on ${node} (${(error as Error).message.split('\n')[0]})`);
    }
  }
  if (recorded === 0) throw new HvctlError('UNAVAILABLE', `the intent of ${vm} could not be recorded on any of ${nodes.join(', ')}`);
  return notes;
}

/** Records a VM's intent (running or stopped) on the nodes of its pair; see setIntentOn. */
export function intentStep(id: string, vm: string, nodes: readonly string[], intent: 'running' | 'stopped', phase: string): Step {
  return {
    id,
    title: `record intent ${intent} for ${vm} on ${nodes.join(' and ')}`,
    node: nodes[0] ?? '',
    phase,
    preconditions: [],
    command: `virsh metadata ${vm} --uri https://hvctl.dev/xmlns/intent/1 --key hvctl-intent --set '<intent state="${intent}" …/>' --config  # on ${nodes.join(', ')}`,
    verify: `the newest intent of ${vm} is ${intent}`,
    run: async (ctx) => (await setIntentOn(ctx, id, vm, nodes, intent)).join('; '),
  };
}
