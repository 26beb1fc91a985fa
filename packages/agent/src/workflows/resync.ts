import type { ConnectResponse__Output, PeerConnection__Output, Resource__Output } from '@hvctl/proto';
import { deadline, failedPrecondition, unary } from '@hvctl/common';
import type { ClusterAccess } from './cluster-access.js';
import { requestId } from './steps.js';
import type { Step } from './types.js';

/**
 * What the undrain and the failback wait for before a returning node takes VMs again:
 * each diskful resource of the node is classified at plan time, the resyncable ones are
 * waited for side by side, each with a bound derived from DRBD's own resync estimate,
 * and a wait ends early and clearly when its peer disappears or the pair splits.
 */

const MUTATE_MS = 10_000;
/** A link down this long while both agents answer is cut (DRBD retries a connect every few seconds, connect-int 10 s). */
export const LINK_GRACE_MS = 15_000;
/** A link down this long while the peer's agent is silent too: the peer is gone. */
export const GONE_GRACE_MS = 5_000;
/** Added to twice DRBD's estimate: the time a resync may take after its last progress. */
export const RESYNC_MARGIN_MS = 30_000;
/** Without an estimate (DRBD reports none, or the pair is not syncing yet): the time allowed without progress. */
export const STALL_MS = 60_000;
const POLL_MS = 250;

/**
 * How a resource of the returning node stands:
 * - `in-sync`: UpToDate on both sides and connected;
 * - `resync`: resyncable now (peer answers, link connected or connecting, no split brain, local disk attached);
 * - `peer-gone`: its peer's agent is silent and the DRBD link is down, or the link stayed down past LINK_GRACE_MS;
 * - `split-brain`: both sides changed while apart; an operator must choose which copy to discard;
 * - `disk-failed`: the local backing disk failed (Diskless): nothing to resync into.
 */
export type ResyncClass = 'in-sync' | 'resync' | 'peer-gone' | 'split-brain' | 'disk-failed';

/** One resource of the returning node, as classified at plan time (journaled with the plan). */
export interface ResyncEntry {
  readonly resource: string;
  /** Its diskful peer ("" when it has none). */
  readonly peer: string;
  readonly class: ResyncClass;
  /** The node's role for it at plan time. */
  readonly role: string;
  /** The peer's role as the peer reported it ("Unknown" when it did not answer). */
  readonly peerRole: string;
  /** One line: where it stands and what is done about it. */
  readonly reason: string;
  /** The commands an operator runs to fix it (split brain, failed disk); empty otherwise. */
  readonly fix: readonly string[];
  /** DRBD's resync estimate at plan time in seconds (0: none or not syncing). */
  readonly etaSeconds: number;
}

/** What a waiting step knows of its peer when the link is down. */
export interface PeerView {
  /** The peer's agent answered just now. */
  readonly reachable: boolean;
  /** The peer's own view of the resource, when it answered. */
  readonly theirs?: Resource__Output;
}

/** UTC wall-clock time of day, as operators read it in logs. */
export const clock = (ms: number): string => new Date(ms).toISOString().slice(11, 19);
const seconds = (ms: number): string => `${Math.round(ms / 1000)} s`;

/** The diskful peer connection of a replica (the witness is diskless). */
export const diskLink = (mine: Resource__Output): PeerConnection__Output | undefined => mine.peers.find((peer) => !peer.peerClient);

const diskFailed = (mine: Resource__Output): boolean => !mine.client && (mine.diskState === 'Diskless' || mine.diskState === 'Failed');

/** Why `resource` cannot resync between `node` and `peer` without an operator choosing a victim, or undefined. */
export function splitBrain(node: string, mine: Resource__Output, peer: string, theirs: Resource__Output): string | undefined {
  const myLink = mine.peers.find((candidate) => candidate.node === peer);
  const theirLink = theirs.peers.find((candidate) => candidate.node === node);
  if (mine.role === 'Primary' && theirs.role === 'Primary') return `${mine.name} is Primary on both ${node} and ${peer}`;
  if (myLink?.connectionState === 'StandAlone' && theirLink?.connectionState === 'StandAlone') {
    return `${mine.name}: ${node} and ${peer} refused each other (StandAlone on both: split brain or two primaries met)`;
  }
  if (myLink?.connectionState !== 'Connected' && Number(myLink?.outOfSyncBytes ?? 0) > 0 && Number(theirLink?.outOfSyncBytes ?? 0) > 0) {
    return `${mine.name}: both ${node} and ${peer} wrote while apart (split brain on reconnect)`;
  }
  return undefined;
}

/** The operator's way out of a split brain (hvctl never picks the victim). */
export function victimAdvice(resources: readonly string[]): string[] {
  const list = resources.join(' ');
  return [
    `an operator must choose which copy to discard (the victim); hvctl never picks one. On the victim: \`drbdadm secondary ${list}; drbdadm connect --discard-my-data ${list}\`; on the other node: \`drbdadm connect ${list}\``,
  ];
}

/** The operator's way back from a failed backing disk. */
export function diskAdvice(node: string, resource: string): string[] {
  return [`replace the failed backing disk of ${resource} on ${node}, then on ${node}: \`drbdadm create-md ${resource}; drbdadm attach ${resource}\` (a full resync from the peer follows)`];
}

/** A resync runs or is paused (SyncSource, SyncTarget, PausedSyncS, PausedSyncT): its percent is meaningful. */
const isSyncing = (link: PeerConnection__Output): boolean => /^(Paused)?Sync[ST]/.test(link.replicationState);

function inSync(mine: Resource__Output, link: PeerConnection__Output): boolean {
  return mine.diskState === 'UpToDate' && link.connectionState === 'Connected' && link.replicationState === 'Established' && link.peerDiskState === 'UpToDate';
}

/** "down since 12:01:03" for a link, from the time DRBD reports it changed (`fallbackMs` when it reports none). */
function downSince(link: PeerConnection__Output, fallbackMs: number): number {
  const changed = Number(link.connectionChangedUnixMs);
  return changed > 0 ? changed : fallbackMs;
}

/**
 * Classifies one diskful resource of `node` from its own view and what its peer answers
 * (pure). `peer.theirs` is the peer's view when its agent answered.
 */
export function classifyReplica(node: string, mine: Resource__Output, peer: PeerView, nowMs: number): ResyncEntry {
  const link = diskLink(mine);
  const base = { resource: mine.name, peer: link?.node ?? '', role: mine.role, peerRole: peer.theirs?.role ?? 'Unknown', fix: [] as string[], etaSeconds: 0 };
  if (diskFailed(mine)) {
    return { ...base, class: 'disk-failed', reason: `${mine.name}: the local disk on ${node} failed (${mine.diskState}); its data is only on ${link?.node || 'no other node'}`, fix: diskAdvice(node, mine.name) };
  }
  if (!link) return { ...base, class: 'in-sync', reason: `${mine.name}: no diskful peer; nothing to resync` };
  const split = peer.theirs ? splitBrain(node, mine, link.node, peer.theirs) : undefined;
  if (split) return { ...base, class: 'split-brain', reason: split, fix: victimAdvice([mine.name]) };
  if (link.connectionState === 'Connected') {
    if (inSync(mine, link)) return { ...base, class: 'in-sync', reason: `${mine.name}: UpToDate on ${node} and ${link.node}` };
    const syncing = isSyncing(link);
    return {
      ...base,
      class: 'resync',
      etaSeconds: syncing ? link.syncEtaSeconds : 0,
      reason: `${mine.name}: ${syncing ? `${link.replicationState} ${link.syncPercent.toFixed(0)}%${link.syncEtaSeconds ? `, ~${link.syncEtaSeconds} s left by DRBD's estimate` : ''}` : `${mine.diskState} on ${node}, ${link.peerDiskState} on ${link.node}`}`,
    };
  }
  const since = downSince(link, nowMs);
  if (!peer.reachable) {
    return { ...base, class: 'peer-gone', reason: `${mine.name}: peer ${link.node} unreachable since ${clock(since)} (its agent does not answer, DRBD link ${link.connectionState})` };
  }
  if (link.connectionState !== 'StandAlone' && nowMs - since >= LINK_GRACE_MS) {
    return { ...base, class: 'peer-gone', reason: `${mine.name}: DRBD link to ${link.node} ${link.connectionState} since ${clock(since)} while its agent answers (the replication link is cut)` };
  }
  return {
    ...base,
    class: 'resync',
    reason: `${mine.name}: ${link.connectionState} to ${link.node}${link.connectionState === 'StandAlone' ? ' (reconnected by the wait)' : ` since ${clock(since)}`}`,
  };
}

/** Classifies every diskful resource of `node`, reading each peer once (side by side). */
export async function classifyNode(cluster: ClusterAccess, node: string, nowMs: number = Date.now()): Promise<ResyncEntry[]> {
  const replicas = (await cluster.resources(node)).filter((resource) => !resource.client).sort((a, b) => a.name.localeCompare(b.name));
  const peers = [...new Set(replicas.flatMap((mine) => diskLink(mine)?.node ?? []))];
  const answers = new Map(await Promise.all(peers.map(async (peer) => [peer, await cluster.resources(peer).catch(() => undefined)] as const)));
  return replicas.map((mine) => {
    const peer = diskLink(mine)?.node ?? '';
    const listed = answers.get(peer);
    const theirs = listed?.find((resource) => resource.name === mine.name);
    return classifyReplica(node, mine, theirs ? { reachable: true, theirs } : { reachable: listed !== undefined }, nowMs);
  });
}

/** What a wait remembers between two reads of the resource. */
export interface WaitMemo {
  readonly startedMs: number;
  /** When progress was last seen (the wait started, or the resync advanced). */
  lastProgressMs: number;
  lastPercent: number;
}

export type WaitVerdict =
  | { readonly kind: 'done'; readonly detail: string }
  | { readonly kind: 'waiting'; readonly percent: number; readonly detail: string }
  | { readonly kind: 'failed'; readonly message: string };

/**
 * One look at a resource being waited for (pure): done, still waiting (with what for),
 * or failed because what it waits for cannot happen within its bound. `peer` is read
 * only while the link is down.
 */
export function assessWait(node: string, peerName: string, state: Resource__Output, peer: PeerView | undefined, memo: WaitMemo, nowMs: number): WaitVerdict {
  const name = state.name;
  if (diskFailed(state)) return { kind: 'failed', message: `${name}: the local disk on ${node} failed (${state.diskState}); ${diskAdvice(node, name)[0]}` };
  const link = state.peers.find((candidate) => candidate.node === peerName) ?? diskLink(state);
  if (!link) return state.diskState === 'UpToDate' ? { kind: 'done', detail: 'UpToDate (no diskful peer)' } : { kind: 'failed', message: `${name} is ${state.diskState} on ${node} and has no diskful peer to resync from` };
  if (inSync(state, link)) return { kind: 'done', detail: 'UpToDate on both sides' };
  if (link.connectionState !== 'Connected') {
    const since = Math.max(downSince(link, memo.startedMs), memo.startedMs);
    const theirs = peer?.theirs;
    const split = theirs ? splitBrain(node, state, link.node, theirs) : undefined;
    if (split) return { kind: 'failed', message: `${split}; ${victimAdvice([name])[0]}` };
    if (link.connectionState === 'StandAlone') {
      return { kind: 'failed', message: `${name} on ${node} went StandAlone with ${link.node} during the resync (it refused the peer, or was disconnected by hand); nothing more will sync until \`drbdadm connect ${name}\`` };
    }
    const shown = clock(downSince(link, memo.startedMs));
    if (peer && !peer.reachable) {
      if (nowMs - since >= GONE_GRACE_MS) return { kind: 'failed', message: `${name}: peer ${link.node} unreachable since ${shown} (its agent does not answer, DRBD link ${link.connectionState}); the resync cannot finish until it returns` };
      return { kind: 'waiting', percent: 0, detail: `${name}: peer ${link.node} unreachable since ${shown}` };
    }
    if (nowMs - since >= LINK_GRACE_MS) {
      return { kind: 'failed', message: `${name}: DRBD link to ${link.node} ${link.connectionState} since ${shown} while its agent answers (the replication link is cut); the resync cannot finish until it heals` };
    }
    return { kind: 'waiting', percent: 0, detail: `${name}: ${link.connectionState} to ${link.node} since ${shown}` };
  }
  const syncing = isSyncing(link);
  if (syncing && link.syncPercent > memo.lastPercent) {
    memo.lastPercent = link.syncPercent;
    memo.lastProgressMs = nowMs;
  }
  const eta = syncing ? link.syncEtaSeconds : 0;
  const boundMs = eta > 0 ? 2 * eta * 1000 + RESYNC_MARGIN_MS : STALL_MS;
  if (nowMs - memo.lastProgressMs > boundMs) {
    return {
      kind: 'failed',
      message: `${name} on ${node} made no resync progress for ${seconds(nowMs - memo.lastProgressMs)} (${syncing ? `${link.replicationState} ${link.syncPercent.toFixed(0)}%` : `${state.diskState}, peer ${link.peerDiskState}`}; bound ${seconds(boundMs)}${eta ? ` from DRBD's estimate of ${eta} s` : ''})`,
    };
  }
  if (!syncing) return { kind: 'waiting', percent: 0, detail: `${name}: ${state.diskState} on ${node}, ${link.peerDiskState} on ${link.node}, waiting for the resync to start` };
  return { kind: 'waiting', percent: link.syncPercent, detail: `${name}: ${link.replicationState} ${link.syncPercent.toFixed(0)}%${eta ? `, ~${eta} s left` : ''}` };
}

/**
 * Reconnects a resource of `node` (when StandAlone without a split brain) and waits until
 * it is UpToDate and connected to `entry.peer`, reporting what it waits for. Refuses to
 * reconnect a split brain, and fails as soon as its peer is gone or its resync stalls past
 * the bound: it never waits for what cannot happen.
 */
export function resyncStep(id: string, node: string, entry: ResyncEntry, phase: string): Step {
  const { resource } = entry;
  const shown = entry.peer || 'its peer';
  return {
    id,
    title: `wait until ${resource} on ${node} is UpToDate and connected to ${shown}`,
    node,
    phase,
    preconditions: [`${node} and ${shown} reachable`, `no split brain between them`, `${resource} has its local disk on ${node}`],
    command: `drbdadm connect ${resource}  # only if StandAlone; then drbdadm status ${resource} until UpToDate`,
    verify: `${resource} Connected/Established and UpToDate on ${node} and ${shown}; gives up when ${shown} is gone or no progress for 2 x DRBD's estimate + ${seconds(RESYNC_MARGIN_MS)}`,
    run: async (ctx) => {
      const { cluster } = ctx;
      const current = await cluster.resource(node, resource);
      // A plan journaled before resources were classified named no peer: the node's DRBD does.
      const peer = entry.peer || diskLink(current)?.node || '';
      const peerView = async (): Promise<PeerView> => {
        const theirs = await cluster.resource(peer, resource).catch(() => undefined);
        return theirs ? { reachable: true, theirs } : { reachable: await cluster.reachable(peer) };
      };
      const link = current.peers.find((candidate) => candidate.node === peer);
      if (link?.connectionState === 'StandAlone' && !diskFailed(current)) {
        const view = await peerView();
        const split = view.theirs ? splitBrain(node, current, peer, view.theirs) : undefined;
        // Reconnecting a split brain would only be refused again: the operator chooses the victim.
        if (split) throw failedPrecondition(`${split}; ${victimAdvice([resource])[0]}`);
        const client = cluster.client(node);
        await unary<ConnectResponse__Output>(`Connect ${resource} on ${node}`, (cb) =>
          client.drbd.connect({ requestId: requestId(ctx, id), name: resource, discardMyData: false }, deadline(MUTATE_MS), cb),
        );
      }
      const now = Date.now();
      const memo: WaitMemo = { startedMs: now, lastProgressMs: now, lastPercent: -1 };
      for (;;) {
        const state = await cluster.resource(node, resource);
        const down = (state.peers.find((candidate) => candidate.node === peer) ?? diskLink(state))?.connectionState !== 'Connected';
        const verdict = assessWait(node, peer, state, down ? await peerView() : undefined, memo, Date.now());
        if (verdict.kind === 'done') return verdict.detail;
        if (verdict.kind === 'failed') throw failedPrecondition(verdict.message);
        ctx.progress(verdict.percent, verdict.detail);
        if (ctx.signal.aborted) throw failedPrecondition(`aborted while waiting for ${resource} to resync`);
        await new Promise((resolve) => setTimeout(resolve, POLL_MS));
      }
    },
  };
}

/**
 * A resource whose peer is gone: not waited for. When it is StandAlone it is told to
 * connect, so that DRBD resyncs it by itself once the peer returns.
 */
export function reconnectLaterStep(id: string, node: string, entry: ResyncEntry, phase: string): Step {
  const { resource, peer } = entry;
  return {
    id,
    title: `let ${resource} on ${node} reconnect to ${peer} by itself (peer gone: not waited for)`,
    node,
    phase,
    preconditions: [`${node} reachable`],
    command: `drbdadm connect ${resource}  # only if StandAlone`,
    verify: `${resource} is Connecting (or Connected) on ${node}, not StandAlone`,
    run: async (ctx) => {
      const current = await ctx.cluster.resource(node, resource);
      const link = current.peers.find((candidate) => candidate.node === peer);
      if (link?.connectionState !== 'StandAlone') return `${link?.connectionState ?? 'no link'} to ${peer}; DRBD resyncs ${resource} when ${peer} returns`;
      const client = ctx.cluster.client(node);
      await unary<ConnectResponse__Output>(`Connect ${resource} on ${node}`, (cb) =>
        client.drbd.connect({ requestId: requestId(ctx, id), name: resource, discardMyData: false }, deadline(MUTATE_MS), cb),
      );
      return `connecting to ${peer}; DRBD resyncs ${resource} when ${peer} returns`;
    },
  };
}

/** The plan's line for a resource that is not waited for, with its fix. */
export function degradedLine(node: string, entry: ResyncEntry): string {
  if (entry.class === 'peer-gone') {
    return `${entry.reason}: not waited for; ${node} goes back in service with ${entry.resource} degraded until ${entry.peer} returns (DRBD resyncs it then by itself)`;
  }
  return `${entry.reason}: not resynced; ${entry.fix.join('; ')}`;
}
