import type {
  AnnounceResponse__Output,
  Announcement__Output,
  DemoteResponse__Output,
  DestroyResponse__Output,
  Domain__Output,
  Evidence__Output,
  FailoverSpec__Output,
  ListRoutesResponse__Output,
  Resource__Output,
  WithdrawResponse__Output,
  WorkflowSpec__Output,
} from '@hvctl/proto';
import { HvctlError, deadline, failedPrecondition, invalidArgument, notFound, unary, validateNodeName } from '@hvctl/common';
import { lostQuorumEverywhere } from '../../quorum-guard.js';
import type { ClusterAccess } from '../cluster-access.js';
import { intentStep, isRunning, moveVmRouteStep, promoteStep, requestId, startVmStep } from '../steps.js';
import type { Planned, Program, Step, StepContext, WorkflowKind } from '../types.js';

/** The brief's targets: service back within 15 minutes, at most 1 minute of writes lost. */
export const RTO_BUDGET_MS = 15 * 60_000;
export const RPO_BUDGET_MS = 60_000;
/** A lost node is asked once, briefly: it is expected not to answer. */
const FENCE_MS = 1500;
const MUTATE_MS = 10_000;
/** Phases in the order they run (the RTO line lists them so). */
export const FAILOVER_PHASES = ['detect', 'fence', 'promote', 'start', 'route', 'verify'] as const;

/** One VM recovered on the survivor of its DRBD pair. */
export interface FailoverVm {
  readonly vm: string;
  readonly ip: string;
  readonly resource: string;
  /** The lost node it ran on. */
  readonly from: string;
  /** The surviving replica, where it is started. */
  readonly to: string;
  readonly priority: number;
  /** Replication protocol ("A", "B", "C"): what an acknowledged write promised. */
  readonly protocol: string;
  /** What the lost node lacked when planned: the survivor's out-of-sync bytes toward it. */
  readonly lostLacksBytes: number;
  /** The survivor's disk state when planned ("UpToDate" unless forced). */
  readonly survivorDisk: string;
  /**
   * What the survivor lacks of what the lost node wrote, when its copy is not UpToDate:
   * the bytes as the witness last knew them (absent when nobody knows), and the window in
   * which the lost node wrote without it (Unix ms; 0 when unknown).
   */
  readonly survivorLacks?: { readonly bytes?: number; readonly fromUnixMs: number; readonly untilUnixMs: number };
  /** The survivor is cordoned but holds the only surviving copy: promoted there anyway (past the cordon). */
  readonly cordonedSurvivor?: string;
}

/** What fencing does on one lost node. */
export interface FenceTarget {
  readonly node: string;
  /** The agent answered when planned: the node is cut off (no quorum), not down, so it can be fenced for real. */
  readonly answers: boolean;
  /** VMs failed over from it: stopped and demoted there if it answers. */
  readonly vms: readonly { readonly vm: string; readonly resource: string }[];
  /** Prefixes to withdraw there (the VMs' /32s and the public block). */
  readonly prefixes: readonly string[];
  /** BGP blocks it was seen announcing when planned (only known when it answers): failback announces them there again. */
  readonly bgpAnnounced: readonly string[];
}

/**
 * The public block taken from a lost site: moved to a survivor because no survivor announced
 * it any more, or (`kept`) left with the survivor `to` that announced it already while the
 * lost site, which no longer announces it, could not be asked.
 */
export interface BgpMove {
  readonly prefix: string;
  readonly to: string;
  /** The site that lost it (failback moves it back to a node of this site). */
  readonly lostSite: string;
  /** Lost nodes seen announcing it (empty when they could not be asked). */
  readonly formerly: readonly string[];
  /** `to` announced it before the failover: nothing was added there, and failback does not withdraw it there. */
  readonly kept?: boolean;
}

/** The journaled planning data of a failover (also read by failback). */
export interface FailoverData {
  readonly lost: readonly string[];
  /** The lost site ("" for a node failover). */
  readonly site: string;
  readonly coordinator: string;
  readonly force: boolean;
  /** When the survivors first saw the loss (0 when unknown): the start of the outage for the RTO. */
  readonly lossUnixMs: number;
  readonly fence: readonly FenceTarget[];
  /** In priority order. */
  readonly vms: readonly FailoverVm[];
  readonly bgp: readonly BgpMove[];
  /** Answering nodes outside the lost set that announce a public block without quorum: withdrawn there. */
  readonly quorumless?: readonly QuorumlessSpeaker[];
}

/** A node that announces a public block while it has lost quorum on every replicated resource. */
export interface QuorumlessSpeaker {
  readonly node: string;
  readonly prefixes: readonly string[];
}

// ---- small helpers ----------------------------------------------------------------------

const firstLine = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
const unique = <T>(values: readonly T[]): T[] => [...new Set(values)];
const clock = (unixMs: number): string => `${new Date(unixMs).toISOString().slice(11, 19)}Z`;
const seconds = (ms: number): string => `${(ms / 1000).toFixed(1)} s`;
/** A step id fragment for a prefix ("203.0.113.0/24" -> "203.0.113.0_24"): request ids allow no "/". */
export const prefixId = (prefix: string): string => prefix.replace('/', '_');

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

function since(unixMs: number, now: number): string {
  return unixMs > 0 ? ` since ${clock(unixMs)} (${Math.max(0, Math.round((now - unixMs) / 1000))} s ago)` : '';
}

/** Running or paused (a paused guest still holds its disk). */
const isUp = (domain: Domain__Output | undefined): boolean => isRunning(domain) || domain?.state === 'DOMAIN_STATE_PAUSED';

/** Reachable nodes (other than `except`) where `vm` runs now. */
async function runningOn(cluster: ClusterAccess, vm: string, except?: string): Promise<string[]> {
  const found = await Promise.all(
    cluster.nodes().map(async (node) => {
      if (node === except) return undefined;
      const domain = await cluster.domain(node, vm).catch(() => undefined);
      return isUp(domain) ? node : undefined;
    }),
  );
  return found.filter((node): node is string => node !== undefined);
}

/** Why a node that answers is not lost, or undefined when it is cut off (no quorum, no link to the survivors). */
export function notCutOff(node: string, resources: readonly Resource__Output[], lost: readonly string[]): string | undefined {
  const replicated = resources.filter((resource) => resource.peers.some((peer) => !lost.includes(peer.node)));
  if (!replicated.length) return `${node} answers and holds no replicated resource whose loss the cluster could see`;
  const connected = replicated.flatMap((resource) =>
    resource.peers.filter((peer) => !lost.includes(peer.node) && peer.connectionState === 'Connected').map((peer) => `${resource.name} to ${peer.node}`),
  );
  if (connected.length) return `${node} answers and is still connected (${connected.join(', ')})`;
  const quorate = replicated.filter((resource) => resource.quorum).map((resource) => resource.name);
  if (quorate.length) return `${node} answers and still has quorum for ${quorate.join(', ')} (it may be writing)`;
  return undefined;
}

/** True when every replicated resource of `node` has quorum (a side that lost quorum must not announce the public block). */
async function quorateProblems(cluster: ClusterAccess, node: string): Promise<string[]> {
  const resources = await cluster.resources(node);
  return resources.filter((resource) => !resource.client && resource.peers.length > 0 && !resource.quorum).map((resource) => resource.name);
}

/** The witness's view of `resource` toward `lostNode`: true when it lost that connection. */
function witnessConfirms(witnessResources: readonly Resource__Output[] | undefined, resource: string, lostNode: string): boolean {
  const peer = witnessResources?.find((candidate) => candidate.name === resource)?.peers.find((candidate) => candidate.node === lostNode);
  return peer !== undefined && peer.connectionState !== 'Connected';
}

// ---- plan -------------------------------------------------------------------------------

interface NodeView {
  readonly resources: Resource__Output[];
  readonly domains: Domain__Output[];
  readonly announcements: Announcement__Output[];
  readonly cordoned: string | undefined;
}

async function readNode(cluster: ClusterAccess, node: string): Promise<NodeView | undefined> {
  try {
    const [resources, domains, announcements, info] = await Promise.all([
      cluster.resources(node),
      cluster.domains(node),
      cluster.announcements(node),
      cluster.info(node),
    ]);
    const cordoned = info.flags?.cordoned ? info.flags.cordonReason || 'no reason given' : undefined;
    return { resources, domains, announcements, cordoned };
  } catch {
    return undefined;
  }
}

/** What the coordinator saw while planning: shared by the planning helpers below. */
interface Survey {
  readonly cluster: ClusterAccess;
  readonly now: number;
  readonly lost: readonly string[];
  readonly lostSites: readonly string[];
  /** What each answering node reported. */
  readonly views: ReadonlyMap<string, NodeView>;
  /** Answering nodes outside the lost set (the witness included). */
  readonly survivors: readonly string[];
  /** Lost nodes whose agent answers (cut off without quorum): fenced for real. */
  readonly cutOff: ReadonlySet<string>;
  readonly evidence: Evidence__Output[];
  readonly warnings: string[];
  /** Reasons to refuse even with --force. */
  readonly hard: string[];
  /** Reasons to refuse that --force overrides (they become FORCED warnings). */
  readonly overridable: string[];
  /** Earliest time a survivor or the witness lost a lost node (0 when unknown). */
  lossUnixMs: number;
}

const noteLoss = (survey: Survey, unixMs: number): void => {
  if (unixMs > 0 && (survey.lossUnixMs === 0 || unixMs < survey.lossUnixMs)) survey.lossUnixMs = unixMs;
};

const announcers = (survey: Survey, prefix: string, among: Iterable<string>): string[] =>
  [...among].filter((node) => survey.views.get(node)?.announcements.some((a) => a.prefix === prefix));

const bgpBlocksOf = (view: NodeView | undefined): string[] => (view?.announcements ?? []).filter((a) => a.kind === 'ANNOUNCEMENT_KIND_BGP').map((a) => a.prefix);

/** The lost set named by the spec: validated, main-site nodes, not the coordinator. */
function lostSet(request: FailoverSpec__Output, cluster: ClusterAccess): { lost: string[]; site: string; label: string } {
  if (Boolean(request.node) === Boolean(request.site)) throw invalidArgument('a failover names exactly one of node or site');
  let lost: string[];
  let site = '';
  if (request.node) {
    const node = validateNodeName(request.node, 'node');
    cluster.siteOf(node); // NOT_FOUND for a stranger
    lost = [node];
  } else {
    site = validateNodeName(request.site, 'site');
    if (!cluster.cluster.sites.some((candidate) => candidate.name === site)) {
      throw notFound(`"${site}" is not a site of cluster ${cluster.cluster.name}; sites are ${cluster.cluster.sites.map((s) => s.name).join(', ')}`);
    }
    lost = cluster.cluster.nodes.filter((node) => node.site === site).map((node) => node.name);
    if (!lost.length) throw failedPrecondition(`site ${site} has no nodes; nothing to fail over`);
  }
  const backupSite = unique(lost.map((node) => cluster.siteOf(node))).find((name) => cluster.cluster.sites.find((candidate) => candidate.name === name)?.kind === 'backup');
  if (backupSite) {
    throw failedPrecondition(`${request.node || site} is on the backup site ${backupSite}: it runs no VMs (it holds backups and the quorum witness); there is nothing to fail over`, {
      nextSteps: ['bring the witness back; until then each DRBD pair keeps quorum only while both of its nodes are up'],
    });
  }
  if (lost.includes(cluster.self)) {
    throw failedPrecondition(`the coordinator ${cluster.self} is itself in the lost set (${lost.join(', ')}); a lost node cannot recover its own VMs`, {
      nextSteps: ['submit the failover to a node of a surviving site (`hvctl failover` picks one)'],
    });
  }
  return { lost, site, label: request.node ? (lost[0] ?? '') : `site ${site}` };
}

/** Each lost node is down (agent silent) or cut off (answers, but no quorum and no link to the survivors); anything else is refused. */
function classifyLost(survey: Survey, cutOff: Set<string>): void {
  const source = `${survey.cluster.self} (coordinator)`;
  for (const node of survey.lost) {
    const view = survey.views.get(node);
    if (!view) {
      survey.evidence.push({ source, fact: `the agent of ${node} does not answer`, supportsLoss: true });
      continue;
    }
    const reason = notCutOff(node, view.resources, survey.lost);
    if (reason) {
      throw failedPrecondition(`${reason}: it is not lost, so it is not failed over`, {
        nextSteps: [`to empty a node that works, use \`hvctl drain ${node}\` (live migration, no downtime)`, 'if its links are flapping, repair them first; a failover now would split the brain'],
      });
    }
    cutOff.add(node);
    const replicated = view.resources.filter((r) => r.peers.length).map((r) => r.name);
    survey.evidence.push({ source, fact: `the agent of ${node} answers, but ${node} has no quorum and no link to the survivors for ${replicated.join(', ')}: it is cut off (its VMs cannot write), and will be fenced`, supportsLoss: true });
  }
}

/** The survivors' view of their DRBD partners on the lost side, and the VMs to recover on them. */
function findRecoverable(survey: Survey): FailoverVm[] {
  const { cluster, views, survivors, lost } = survey;
  const witness = cluster.witness();
  const witnessView = witness ? views.get(witness) : undefined;
  const vms: FailoverVm[] = [];
  for (const survivor of survivors) {
    const view = views.get(survivor) as NodeView;
    const partners = new Map<string, { lostLinks: string[]; connected: string[]; changed: number }>();
    for (const resource of view.resources) {
      if (resource.client) continue;
      const link = resource.peers.find((peer) => lost.includes(peer.node) && !peer.peerClient);
      if (!link) continue;
      const fact = partners.get(link.node) ?? { lostLinks: [], connected: [], changed: 0 };
      partners.set(link.node, fact);
      if (link.connectionState === 'Connected') {
        fact.connected.push(`${resource.name} (peer ${link.peerRole})`);
        continue;
      }
      fact.lostLinks.push(`${resource.name} (${link.connectionState})`);
      fact.changed = Math.max(fact.changed, link.connectionChangedUnixMs);
      noteLoss(survey, link.connectionChangedUnixMs);
      const domain = view.domains.find((candidate) => candidate.resources.includes(resource.name)) ?? view.domains.find((candidate) => candidate.name === resource.vm);
      if (!domain) {
        survey.warnings.push(`${resource.name}: no VM using it is defined on ${survivor}; it stays ${resource.role} there`);
        continue;
      }
      if (domain.state === 'DOMAIN_STATE_PAUSED') {
        survey.hard.push(`${domain.name} is paused on ${survivor} (${domain.stateReason}): check it runs nowhere else and resume it by hand (virsh resume ${domain.name}); hvctl does not start a paused VM`);
        continue;
      }
      if (isRunning(domain)) {
        survey.warnings.push(`${domain.name} keeps running on ${survivor}; its replica on ${link.node} is lost, so it has no redundancy until \`hvctl failback ${link.node}\``);
        continue;
      }
      const elsewhere = survivors.filter((node) => node !== survivor && isUp(views.get(node)?.domains.find((d) => d.name === domain.name)));
      if (elsewhere.length) {
        survey.warnings.push(`${domain.name} runs on ${elsewhere.join(', ')}; nothing to recover for it`);
        continue;
      }
      // The VM ran on the lost node (or nowhere): recover it here.
      if (!witness) survey.overridable.push(`there is no witness site, so nothing tells "${link.node} is down" from "the link to ${link.node} is cut"`);
      else if (!witnessView) survey.overridable.push(`the witness ${witness} does not answer, so it cannot confirm that ${link.node} is lost`);
      else if (!witnessConfirms(witnessView.resources, resource.name, link.node)) survey.overridable.push(`the witness ${witness} does not confirm that ${link.node} is lost for ${resource.name}`);
      if (!resource.quorum) survey.overridable.push(`${survivor} has no quorum for ${resource.name}`);
      const lacks = resource.diskState === 'UpToDate' ? undefined : survivorLacks(survey, resource.name, survivor, link);
      if (lacks) {
        survey.overridable.push(
          `${survivor}'s copy of ${resource.name} is ${resource.diskState}, not UpToDate: ${describeLacks(lacks, survivor, link.node, witness)}; promoting it loses those writes`,
        );
      }
      vms.push({
        vm: domain.name,
        ip: domain.ip,
        resource: resource.name,
        from: link.node,
        to: survivor,
        priority: domain.priority,
        protocol: resource.protocol,
        lostLacksBytes: Number(link.outOfSyncBytes),
        survivorDisk: resource.diskState,
        ...(lacks ? { survivorLacks: lacks } : {}),
        ...(view.cordoned ? { cordonedSurvivor: view.cordoned } : {}),
      });
    }
    for (const [partner, fact] of partners) {
      if (fact.lostLinks.length) {
        survey.evidence.push({ source: survivor, fact: `lost its connection to ${partner} for ${fact.lostLinks.join(', ')}${since(fact.changed, survey.now)}`, supportsLoss: true });
      }
      if (fact.connected.length) {
        survey.evidence.push({ source: survivor, fact: `is still Connected to ${partner} for ${fact.connected.join(', ')}`, supportsLoss: false });
        survey.hard.push(`${survivor} is still Connected to ${partner} for ${fact.connected.join(', ')}: ${partner} is alive (only its agent may be down); restart hvctl-agent there instead`);
      }
    }
  }
  return pickSurvivors(survey, vms).sort((a, b) => a.priority - b.priority || a.vm.localeCompare(b.vm));
}

/**
 * One survivor per VM: an UpToDate copy on a node that is not cordoned first. A cordoned
 * node (drained, in maintenance) is used only when it holds the only surviving copy, and
 * the plan says so: a VM down is worse than a VM on a node being serviced.
 */
function pickSurvivors(survey: Survey, candidates: readonly FailoverVm[]): FailoverVm[] {
  const rank = (vm: FailoverVm): number => (vm.cordonedSurvivor ? 2 : 0) + (vm.survivorDisk === 'UpToDate' ? 0 : 1);
  const chosen = new Map<string, FailoverVm>();
  for (const vm of candidates) {
    const current = chosen.get(vm.vm);
    if (!current || rank(vm) < rank(current)) chosen.set(vm.vm, vm);
  }
  for (const vm of chosen.values()) {
    if (vm.cordonedSurvivor) {
      survey.warnings.push(`${vm.to} is cordoned (${vm.cordonedSurvivor}): it is the only surviving copy of ${vm.resource}, so ${vm.vm} starts there anyway`);
    }
  }
  return [...chosen.values()];
}

/** What `survivor` lacks of what the lost node wrote: the witness's figure and the window between the two losses. */
function survivorLacks(survey: Survey, resource: string, survivor: string, link: Resource__Output['peers'][number]): NonNullable<FailoverVm['survivorLacks']> {
  const witness = survey.cluster.witness();
  const witnessResource = witness ? survey.views.get(witness)?.resources.find((candidate) => candidate.name === resource) : undefined;
  const known = Number(witnessResource?.peers.find((peer) => peer.node === survivor)?.outOfSyncBytes ?? 0);
  const witnessLost = witnessResource?.peers.find((peer) => peer.node === link.node);
  const fromUnixMs = Number(link.connectionChangedUnixMs);
  const untilUnixMs = witnessLost && witnessLost.connectionState !== 'Connected' ? Number(witnessLost.connectionChangedUnixMs) : 0;
  return { ...(known > 0 ? { bytes: known } : {}), fromUnixMs, untilUnixMs: untilUnixMs > fromUnixMs ? untilUnixMs : 0 };
}

/** "spb-2 went on writing without it from 23:51:02Z until the witness lost spb-2 at 23:51:12Z (10.0 s); the witness bak-1 last knew msk-2 lacked 5.5 MiB". */
export function describeLacks(lacks: NonNullable<FailoverVm['survivorLacks']>, survivor: string, lost: string, witness: string | undefined): string {
  const window =
    lacks.fromUnixMs > 0 && lacks.untilUnixMs > 0
      ? `${lost} went on writing without it from ${clock(lacks.fromUnixMs)} until the witness lost ${lost} at ${clock(lacks.untilUnixMs)} (${seconds(lacks.untilUnixMs - lacks.fromUnixMs)})`
      : `${lost} may have written without it${lacks.fromUnixMs > 0 ? ` since ${clock(lacks.fromUnixMs)}` : ''}`;
  const bytes =
    lacks.bytes !== undefined
      ? `the witness ${witness ?? ''} last knew ${survivor} lacked ${formatBytes(lacks.bytes)}`.replace('  ', ' ')
      : `how much ${survivor} lacks is not known (${lost} does not answer and the witness holds no figure)`;
  return `${window}; ${bytes}`;
}

/** The witness's view: has it lost the lost nodes too? And which resources have no surviving replica at all. */
function witnessEvidence(survey: Survey): void {
  const witness = survey.cluster.witness();
  const view = witness ? survey.views.get(witness) : undefined;
  if (!witness) {
    survey.evidence.push({ source: 'cluster', fact: 'there is no witness (backup) site: nothing can tell a dead node from a cut link', supportsLoss: false });
    return;
  }
  const source = `witness ${witness}`;
  if (!view) {
    survey.evidence.push({ source, fact: 'does not answer', supportsLoss: false });
    return;
  }
  for (const node of survey.lost) {
    const links = view.resources.flatMap((resource) => resource.peers.filter((peer) => peer.node === node).map((peer) => ({ resource: resource.name, peer })));
    const gone = links.filter((link) => link.peer.connectionState !== 'Connected');
    const up = links.filter((link) => link.peer.connectionState === 'Connected');
    if (!links.length) survey.evidence.push({ source, fact: `holds no resource shared with ${node}; it cannot confirm the loss`, supportsLoss: false });
    if (gone.length) {
      gone.forEach((link) => noteLoss(survey, link.peer.connectionChangedUnixMs));
      const changed = Math.max(...gone.map((link) => link.peer.connectionChangedUnixMs));
      survey.evidence.push({ source, fact: `lost its connection to ${node} for ${gone.map((link) => link.resource).join(', ')}${since(changed, survey.now)}`, supportsLoss: true });
    }
    if (up.length) survey.evidence.push({ source, fact: `is still Connected to ${node} for ${up.map((link) => link.resource).join(', ')}`, supportsLoss: false });
  }
  for (const resource of view.resources) {
    const replicas = resource.peers.filter((peer) => !peer.peerClient).map((peer) => peer.node);
    if (!replicas.some((node) => survey.lost.includes(node)) || replicas.some((node) => survey.survivors.includes(node))) continue;
    survey.warnings.push(`${resource.name}: no surviving replica answers (replicas on ${replicas.join(', ')}); it cannot be failed over: restore it from its last backup`);
  }
}

/** Routes: who announces the recovered VMs' /32s, and whether the survivors still learn routes via the lost side. */
async function routeEvidence(survey: Survey, vms: readonly FailoverVm[]): Promise<void> {
  for (const vm of vms) {
    const prefix = `${vm.ip}/32`;
    const byLost = announcers(survey, prefix, survey.cutOff);
    const bySurvivors = announcers(survey, prefix, survey.survivors);
    if (byLost.length) survey.evidence.push({ source: 'routes', fact: `${prefix} (${vm.vm}) is still announced by ${byLost.join(', ')}, which lost quorum: fencing withdraws it`, supportsLoss: false });
    else survey.evidence.push({ source: 'routes', fact: `${prefix} (${vm.vm}) is announced by ${bySurvivors.join(', ') || 'no reachable node'}`, supportsLoss: bySurvivors.length === 0 });
  }
  await Promise.all(
    survey.survivors.map(async (survivor) => {
      try {
        const client = survey.cluster.client(survivor);
        const { routes } = await unary<ListRoutesResponse__Output>(`ListRoutes on ${survivor}`, (cb) => client.routing.listRoutes({}, deadline(2000), cb));
        const via = routes.filter((route) => survey.lost.includes(route.viaNode));
        if (via.length) {
          survey.evidence.push({ source: survivor, fact: `still learns ${via.map((r) => `${r.prefix} via ${r.viaNode}`).join(', ')} (${via[0]?.protocol})`, supportsLoss: false });
        } else if (vms.some((vm) => vm.to === survivor)) {
          survey.evidence.push({ source: survivor, fact: `learns no route via ${survey.lost.join(', ')} (the routing adjacency is gone)`, supportsLoss: true });
        }
      } catch {
        // routes are supporting evidence only
      }
    }),
  );
}

/**
 * The public block (the cluster file's, and any a cut-off node announces) moves only when
 * no survivor announces it any more: to a survivor of the lost site if one answers, else
 * to one of another main site (preferring a node that takes VMs, then the coordinator).
 */
function planPublicBlock(survey: Survey, vms: readonly FailoverVm[], quorumless: readonly QuorumlessSpeaker[]): { blocks: string[]; moves: BgpMove[] } {
  const { cluster } = survey;
  const blocks = unique([...(cluster.cluster.publicBlock ? [cluster.cluster.publicBlock] : []), ...[...survey.cutOff].flatMap((node) => bgpBlocksOf(survey.views.get(node)))]);
  const mainSites = new Set(cluster.cluster.sites.filter((candidate) => candidate.kind === 'main').map((candidate) => candidate.name));
  const withoutQuorum = new Set(quorumless.map((speaker) => speaker.node));
  const mainSurvivors = survey.survivors.filter((node) => mainSites.has(cluster.siteOf(node)) && !withoutQuorum.has(node));
  const preferred = (candidates: string[]): string | undefined =>
    candidates.find((node) => vms.some((vm) => vm.to === node)) ?? candidates.find((node) => node === cluster.self) ?? candidates[0];
  const moves: BgpMove[] = [];
  for (const prefix of blocks) {
    const formerly = announcers(survey, prefix, [...survey.cutOff, ...withoutQuorum]);
    const bySurvivors = announcers(survey, prefix, survey.survivors.filter((node) => !withoutQuorum.has(node)));
    if (bySurvivors.length) {
      const fenced = formerly.length ? ` (and from ${formerly.join(', ')}, fenced)` : '';
      survey.evidence.push({ source: 'routes', fact: `public block ${prefix} is announced by BGP from ${bySurvivors.join(', ')}${fenced}`, supportsLoss: false });
      // A silent lost node may have been its site's speaker (the fence withdraws it there, best
      // effort, and a rebooted host announces nothing until told): recorded so that failback
      // announces it from that site again. Not when a survivor of that site still announces it.
      for (const lostSite of survey.lostSites) {
        if (!mainSites.has(lostSite)) continue;
        const silent = survey.lost.filter((node) => cluster.siteOf(node) === lostSite && !survey.views.has(node));
        if (!silent.length || bySurvivors.some((node) => cluster.siteOf(node) === lostSite)) continue;
        const to = preferred(bySurvivors) as string;
        survey.evidence.push({ source: 'routes', fact: `public block ${prefix}: whether ${silent.join(', ')} announced it is unknown (no answer); failback announces it from site ${lostSite} again`, supportsLoss: false });
        moves.push({ prefix, to, lostSite, formerly: [], kept: true });
      }
      continue;
    }
    const onlyLost = formerly.length ? ` (only by ${formerly.join(', ')}, which lost quorum)` : '';
    survey.evidence.push({ source: 'routes', fact: `public block ${prefix} is announced by no surviving node${onlyLost}`, supportsLoss: true });
    const to =
      preferred(mainSurvivors.filter((node) => survey.lostSites.includes(cluster.siteOf(node)))) ??
      preferred(mainSurvivors.filter((node) => !survey.lostSites.includes(cluster.siteOf(node))));
    if (!to) survey.warnings.push(`public block ${prefix}: no reachable node of a main site can announce it`);
    else moves.push({ prefix, to, lostSite: survey.lostSites[0] ?? '', formerly });
  }
  return { blocks, moves };
}

/** Answering nodes outside the lost set that announce a public block although they lost quorum on every replicated resource. */
function findQuorumless(survey: Survey): QuorumlessSpeaker[] {
  const speakers: QuorumlessSpeaker[] = [];
  for (const node of survey.survivors) {
    const view = survey.views.get(node);
    const prefixes = bgpBlocksOf(view);
    if (!view || !prefixes.length || !lostQuorumEverywhere(view.resources)) continue;
    survey.evidence.push({ source: 'routes', fact: `${node} announces ${prefixes.join(', ')} but has lost quorum on every resource: the failover withdraws it there`, supportsLoss: false });
    speakers.push({ node, prefixes });
  }
  return speakers;
}

async function planFailover(spec: WorkflowSpec__Output, cluster: ClusterAccess): Promise<Planned<FailoverData>> {
  const request = spec.failover;
  if (!request) throw invalidArgument('missing failover spec');
  const { lost, site, label } = lostSet(request, cluster);
  const force = request.force;

  const views = new Map<string, NodeView>();
  await Promise.all(
    cluster.nodes().map(async (node) => {
      const view = (await cluster.reachable(node)) ? await readNode(cluster, node) : undefined;
      if (view) views.set(node, view);
    }),
  );
  const cutOff = new Set<string>();
  const survey: Survey = {
    cluster,
    now: Date.now(),
    lost,
    lostSites: unique(lost.map((node) => cluster.siteOf(node))),
    views,
    survivors: cluster.nodes().filter((node) => !lost.includes(node) && views.has(node)),
    cutOff,
    evidence: [],
    warnings: [],
    hard: [],
    overridable: [],
    lossUnixMs: 0,
  };
  classifyLost(survey, cutOff);
  const vms = findRecoverable(survey);
  witnessEvidence(survey);
  await routeEvidence(survey, vms);
  const quorumless = findQuorumless(survey);
  const { blocks, moves: bgp } = planPublicBlock(survey, vms, quorumless);

  const hard = unique(survey.hard);
  const overridable = unique(survey.overridable);
  if (hard.length || (overridable.length && !force)) {
    const override = hard.length
      ? ''
      : ` --force is the operator override: it promotes anyway, and if ${lost.join(', ')} is in fact alive behind a cut link and still writing, both copies change independently (split brain) and the writes of one side are discarded at failback`;
    throw failedPrecondition(`not failing over ${label}: ${[...hard, ...(force ? [] : overridable)].join('; ')}.${override}`, {
      nextSteps: hard.length
        ? ['fix what is named above, then plan the failover again']
        : [`confirm ${lost.join(', ')} is really down (console, IPMI, the site's staff), then \`hvctl failover ${request.node ? `--node ${lost[0]}` : `--site ${site}`} --force\``],
    });
  }
  const warnings = [...survey.warnings, ...(force ? overridable.map((reason) => `FORCED: ${reason}`) : [])];
  if (!vms.length) warnings.push(`no VM of ${label} has a surviving replica to start: the failover only fences${bgp.some((move) => !move.kept) ? ' and moves the public block' : ''}`);

  const fence: FenceTarget[] = lost.map((node) => {
    const bgpAnnounced = cutOff.has(node) ? bgpBlocksOf(views.get(node)) : [];
    const ownVms = vms.filter((vm) => vm.from === node);
    return {
      node,
      answers: cutOff.has(node),
      vms: ownVms.map((vm) => ({ vm: vm.vm, resource: vm.resource })),
      // An unreachable node is asked (best effort) to withdraw the public block too: whether it announced it is unknown.
      prefixes: unique([...ownVms.map((vm) => `${vm.ip}/32`), ...(cutOff.has(node) ? bgpAnnounced : blocks)]),
      bgpAnnounced,
    };
  });
  const targets = unique([...vms.map((vm) => vm.to), ...bgp.filter((move) => !move.kept).map((move) => move.to)]);
  return {
    title: `Fail over ${label}: ${vms.length} VM(s) to ${targets.join(', ') || 'no survivor'}${force ? ' (forced)' : ''}`,
    data: { lost, site, coordinator: cluster.self, force, lossUnixMs: survey.lossUnixMs, fence, vms, bgp, quorumless },
    nodes: unique([cluster.self, ...targets]).sort(),
    resources: vms.map((vm) => vm.resource),
    warnings,
    evidence: survey.evidence,
  };
}

// ---- steps ------------------------------------------------------------------------------

function detectStep(data: FailoverData): Step {
  const { lost, force, coordinator } = data;
  return {
    id: 'detect',
    title: `confirm ${lost.join(', ')} still lost${force ? ' (forced: the witness is not asked)' : ' and the witness agrees'}`,
    node: coordinator,
    phase: 'detect',
    preconditions: [],
    command: `hvctl status; drbdadm status  # on the survivors${force ? '' : ' and the witness'}`,
    verify: `${lost.join(', ')} down or cut off; every survivor lost its link to it${force ? '' : '; the witness too'}`,
    readOnly: true,
    run: async (ctx) => {
      const { cluster } = ctx;
      const notes: string[] = [];
      for (const target of data.fence) {
        const resources = await cluster.resources(target.node).catch(() => undefined);
        if (resources && !target.answers) {
          throw failedPrecondition(`${target.node} answers again: it came back since the plan; plan again (\`hvctl failback ${target.node}\` if it returned)`);
        }
        if (resources) {
          const reason = notCutOff(target.node, resources, lost);
          if (reason) throw failedPrecondition(`${reason}: it is no longer lost; plan again`);
          notes.push(`${target.node} still cut off`);
        } else {
          notes.push(`${target.node} still silent`);
        }
      }
      const witness = cluster.witness();
      const witnessResources = force || !witness ? undefined : await cluster.resources(witness).catch(() => undefined);
      for (const vm of data.vms) {
        const survivor = await cluster.resource(vm.to, vm.resource);
        const link = survivor.peers.find((peer) => peer.node === vm.from);
        if (link?.connectionState === 'Connected') throw failedPrecondition(`${vm.to} is Connected to ${vm.from} again for ${vm.resource}; ${vm.from} is not lost; plan again`);
        if (!force && !witnessConfirms(witnessResources, vm.resource, vm.from)) {
          throw failedPrecondition(`the witness ${witness ?? '(none)'} no longer confirms that ${vm.from} is lost for ${vm.resource}; nothing was promoted; plan again`);
        }
      }
      if (!force && witness && data.vms.length) notes.push(`witness ${witness} agrees`);
      return notes.join('; ') || 'confirmed';
    },
  };
}

async function withdrawOn(ctx: StepContext, stepId: string, node: string, prefix: string, ms: number): Promise<boolean> {
  const client = ctx.cluster.client(node);
  const { withdrawn } = await unary<WithdrawResponse__Output>(`Withdraw ${prefix} on ${node}`, (cb) =>
    client.routing.withdraw({ requestId: requestId(ctx, stepId, `withdraw-${prefixId(prefix)}`), prefix }, deadline(ms), cb),
  );
  return withdrawn;
}

function fenceStep(target: FenceTarget, data: FailoverData): Step {
  const { node, vms, prefixes } = target;
  const id = `fence-${node}`;
  const vmNames = vms.map((vm) => vm.vm).join(', ');
  const resources = vms.map((vm) => vm.resource).join(' ');
  const withdraw = prefixes.length ? `birdc configure  # on ${node}: remove ${prefixes.join(', ')}` : '';
  return {
    id,
    title: target.answers
      ? `fence ${node} (cut off): withdraw its announcements${vms.length ? `, stop ${vmNames} there and demote` : ''}`
      : `fence ${node}: withdraw its announcements if it can still be reached (best effort)`,
    node,
    phase: 'fence',
    preconditions: target.answers ? [`${node} has no quorum for ${resources || 'its resources'}`] : [],
    command: target.answers
      ? [withdraw, ...vms.map((vm) => `virsh destroy ${vm.vm}; drbdadm secondary ${vm.resource}`)].filter(Boolean).join('; ')
      : `${withdraw || 'nothing to withdraw'}  # ${node} does not answer; DRBD quorum (survivor + witness) keeps it from being promoted`,
    verify: target.answers ? `${node} announces none of ${prefixes.join(', ') || '-'}; ${vmNames || 'nothing'} not running and not Primary there` : 'nothing (an unreachable node cannot be read back)',
    run: async (ctx) => {
      const { cluster } = ctx;
      const live = await cluster.resources(node).catch(() => undefined);
      if (!live) {
        // Down, or unreachable behind the cut: it cannot be told anything, nor outdated.
        const notes: string[] = [];
        for (const prefix of prefixes) {
          try {
            if (await withdrawOn(ctx, id, node, prefix, FENCE_MS)) notes.push(`withdrew ${prefix} from ${node}`);
          } catch (error) {
            notes.push(`could not reach ${node} (${error instanceof HvctlError ? error.code : firstLine(error)}); it cannot announce without quorum`);
            break;
          }
        }
        notes.push(
          `${node} cannot be outdated while unreachable: DRBD quorum on the survivor and the witness (2 of 3 votes) is what keeps ${node} from being promoted; it comes back Secondary and resyncs (hvctl failback ${node})`,
        );
        return notes.join('; ');
      }
      const reason = notCutOff(node, live, data.lost);
      if (reason) throw failedPrecondition(`${reason}: not fencing it; nothing was changed on ${node}`);
      const client = cluster.client(node);
      const notes: string[] = [];
      for (const prefix of prefixes) {
        if (await withdrawOn(ctx, id, node, prefix, MUTATE_MS)) notes.push(`withdrew ${prefix}`);
      }
      for (const { vm, resource } of vms) {
        const replica = live.find((candidate) => candidate.name === resource);
        if (replica?.quorum) throw failedPrecondition(`${node} has quorum for ${resource} again; not stopping ${vm} there`);
        if (isRunning(await cluster.domain(node, vm))) {
          await unary<DestroyResponse__Output>(`Destroy ${vm} on ${node}`, (cb) => client.kvm.destroy({ requestId: requestId(ctx, id, `destroy-${vm}`), name: vm }, deadline(MUTATE_MS), cb));
          notes.push(`stopped ${vm} (its disk had no quorum: it could not write)`);
        }
        if (replica?.role === 'Primary') {
          const { resource: after } = await unary<DemoteResponse__Output>(`Demote ${resource} on ${node}`, (cb) =>
            client.drbd.demote({ requestId: requestId(ctx, id, `demote-${resource}`), name: resource }, deadline(MUTATE_MS), cb),
          );
          if (after?.role !== 'Secondary') throw failedPrecondition(`${resource} is still ${after?.role ?? 'unknown'} on ${node} after demote`);
          notes.push(`demoted ${resource}`);
        }
      }
      const left = (await cluster.announcements(node)).filter((a) => prefixes.includes(a.prefix));
      if (left.length) throw failedPrecondition(`${node} still announces ${left.map((a) => a.prefix).join(', ')}`);
      return notes.join('; ') || 'nothing to fence';
    },
  };
}

/** Withdraws the public block from a node outside the lost set that lost quorum on every resource (left alone if it regained quorum). */
function withdrawQuorumlessStep(speaker: QuorumlessSpeaker): Step {
  const { node, prefixes } = speaker;
  const id = `unannounce-${node}`;
  return {
    id,
    title: `withdraw ${prefixes.join(', ')} from ${node}: it lost quorum on every resource`,
    node,
    phase: 'fence',
    preconditions: [`${node} has no quorum on any replicated resource`],
    command: `birdc configure  # on ${node}: remove ${prefixes.join(', ')} from the BGP export`,
    verify: `${node} announces none of ${prefixes.join(', ')}`,
    run: async (ctx) => {
      const resources = await ctx.cluster.resources(node).catch(() => undefined);
      if (!resources) return `${node} does not answer any more; its agent withdraws the block on its own while it lacks quorum`;
      if (!lostQuorumEverywhere(resources)) return `${node} has quorum again; its announcement of ${prefixes.join(', ')} is left as it is`;
      const notes: string[] = [];
      for (const prefix of prefixes) {
        if (await withdrawOn(ctx, id, node, prefix, MUTATE_MS)) notes.push(`withdrew ${prefix} from ${node}`);
      }
      const left = (await ctx.cluster.announcements(node)).filter((a) => prefixes.includes(a.prefix));
      if (left.length) throw failedPrecondition(`${node} still announces ${left.map((a) => a.prefix).join(', ')}`);
      return notes.join('; ') || 'already withdrawn';
    },
  };
}

/** A step that refuses when `vm` runs on a reachable node other than `node`. */
function guardSingleCopy(step: Step, vm: string, node: string): Step {
  return {
    ...step,
    run: async (ctx) => {
      const elsewhere = await runningOn(ctx.cluster, vm, node);
      if (elsewhere.length) throw failedPrecondition(`${vm} runs on ${elsewhere.join(', ')}; it must never run twice, so it is not recovered on ${node}`);
      return step.run(ctx);
    },
  };
}

function bgpStep(move: BgpMove): Step {
  const { prefix, to } = move;
  const id = `bgp-${prefixId(prefix)}`;
  return {
    id,
    title: `announce public block ${prefix} by BGP from ${to}`,
    node: to,
    phase: 'route',
    preconditions: [`${to} has quorum (a side that lost quorum never announces the public block)`],
    command: `birdc configure  # on ${to}: add ${prefix} to the BGP export`,
    verify: `birdc show route export ${prefix} on ${to}`,
    run: async (ctx) => {
      const noQuorum = await quorateProblems(ctx.cluster, to);
      if (noQuorum.length) throw failedPrecondition(`${to} has no quorum for ${noQuorum.join(', ')}; it must not announce ${prefix}`);
      if ((await ctx.cluster.announcements(to)).some((a) => a.prefix === prefix)) return `already announced from ${to}`;
      const client = ctx.cluster.client(to);
      await unary<AnnounceResponse__Output>(`Announce ${prefix} on ${to}`, (cb) =>
        client.routing.announce({ requestId: requestId(ctx, id), prefix, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '' }, deadline(MUTATE_MS), cb),
      );
      return `announced from ${to}`;
    },
  };
}

function verifyStep(data: FailoverData): Step {
  return {
    id: 'verify',
    title: `verify ${data.vms.map((vm) => vm.vm).join(', ') || 'the recovered VMs'}: each running once, Primary and announced only where it runs`,
    node: data.coordinator,
    phase: 'verify',
    preconditions: [],
    command: data.vms.map((vm) => `virsh domstate ${vm.vm}; drbdadm role ${vm.resource}; birdc show route ${vm.ip}/32`).join('; ') || 'hvctl status',
    verify: 'one running copy, one Primary, one /32 origin per VM',
    readOnly: true,
    run: async (ctx) => {
      const { cluster } = ctx;
      const problems: string[] = [];
      for (const vm of data.vms) {
        const where = await runningOn(cluster, vm.vm);
        if (where.length !== 1 || where[0] !== vm.to) problems.push(`${vm.vm} runs on ${where.join(', ') || 'no reachable node'} (expected ${vm.to} only)`);
        for (const node of cluster.nodes()) {
          const replica = await cluster.resource(node, vm.resource).catch(() => undefined);
          if (!replica) continue;
          if (node === vm.to && replica.role !== 'Primary') problems.push(`${vm.resource} is ${replica.role} on ${vm.to}`);
          if (node !== vm.to && replica.role === 'Primary') problems.push(`${vm.resource} is also Primary on ${node}`);
          const announced = (await cluster.announcements(node).catch(() => [])).some((a) => a.prefix === `${vm.ip}/32`);
          if (node === vm.to && !announced) problems.push(`${vm.ip}/32 is not announced from ${vm.to}`);
          if (node !== vm.to && announced) problems.push(`${vm.ip}/32 is also announced from ${node}`);
        }
      }
      for (const move of data.bgp) {
        if (!(await cluster.announcements(move.to)).some((a) => a.prefix === move.prefix)) problems.push(`${move.prefix} is not announced from ${move.to}`);
      }
      if (problems.length) throw failedPrecondition(`verification failed: ${problems.join('; ')}`);
      return `${data.vms.length} VM(s) verified`;
    },
  };
}

/** The failover's steps, in plan order. */
export function failoverSteps(data: FailoverData): Step[] {
  const promotes = data.vms.map((vm) =>
    guardSingleCopy(
      promoteStep(
        `promote-${vm.resource}`,
        vm.to,
        vm.resource,
        'promote',
        data.force,
        [`${vm.from} lost (detect)`, `${vm.vm} runs nowhere`, ...(vm.cordonedSurvivor ? [`${vm.to} is cordoned but holds the only surviving copy`] : [])],
        { ignoreCordon: vm.cordonedSurvivor !== undefined },
      ),
      vm.vm,
      vm.to,
    ),
  );
  const starts = data.vms.map((vm) => guardSingleCopy(startVmStep(`start-${vm.vm}`, vm.vm, vm.to, 'start', { ignoreCordon: vm.cordonedSurvivor !== undefined }), vm.vm, vm.to));
  const routes = data.vms.map((vm) => moveVmRouteStep(`route-${vm.vm}`, vm.vm, vm.ip, vm.to, [vm.from], 'route'));
  const bgpMoves = data.bgp.filter((move) => !move.kept);
  // Running on the survivor only: the lost node is not waited for; this newer intent wins when it returns.
  const intents = data.vms.map((vm) => intentStep(`intent-${vm.vm}`, vm.vm, [vm.to], 'running', 'route'));
  return [
    detectStep(data),
    ...data.fence.map((target) => fenceStep(target, data)),
    ...(data.quorumless ?? []).map(withdrawQuorumlessStep),
    ...promotes,
    ...starts,
    ...routes,
    ...intents,
    ...bgpMoves.map(bgpStep),
    verifyStep(data),
  ];
}

// ---- make-safe and summary --------------------------------------------------------------

/** Never a Primary without its VM, never a VM twice: demote what was promoted for a VM that did not start. */
export async function makeFailoverSafe(ctx: StepContext, data: FailoverData): Promise<string[]> {
  const { cluster } = ctx;
  const notes: string[] = [];
  for (const vm of data.vms) {
    const where = await runningOn(cluster, vm.vm);
    if (where.includes(vm.to)) {
      notes.push(`${vm.vm} runs on ${vm.to}${where.length > 1 ? ` AND on ${where.filter((n) => n !== vm.to).join(', ')}: stop one by hand` : ''}`);
      const prefix = `${vm.ip}/32`;
      if (!(await cluster.announcements(vm.to).catch(() => [])).some((a) => a.prefix === prefix)) {
        try {
          const client = cluster.client(vm.to);
          await unary<AnnounceResponse__Output>('Announce', (cb) =>
            client.routing.announce({ requestId: requestId(ctx, `safe-${vm.vm}`, 'announce'), prefix, kind: 'ANNOUNCEMENT_KIND_VM', vm: vm.vm }, deadline(MUTATE_MS), cb),
          );
          notes.push(`announced ${prefix} from ${vm.to}`);
        } catch (error) {
          notes.push(`announcing ${prefix} from ${vm.to} FAILED: ${firstLine(error)}`);
        }
      }
      continue;
    }
    const replica = await cluster.resource(vm.to, vm.resource).catch(() => undefined);
    if (replica?.role === 'Primary') {
      try {
        const client = cluster.client(vm.to);
        await unary<DemoteResponse__Output>('Demote', (cb) => client.drbd.demote({ requestId: requestId(ctx, `safe-${vm.vm}`, 'demote'), name: vm.resource }, deadline(MUTATE_MS), cb));
        notes.push(`demoted ${vm.resource} on ${vm.to} (${vm.vm} did not start there)`);
      } catch (error) {
        notes.push(`demoting ${vm.resource} on ${vm.to} FAILED: ${firstLine(error)}`);
      }
    }
    notes.push(
      where.length
        ? `${vm.vm} runs on ${where.join(', ')}, not recovered on ${vm.to}`
        : `${vm.vm} is NOT RUNNING anywhere reachable: check ${vm.from}, then plan the failover again or start it by hand on ${vm.to}`,
    );
  }
  return notes;
}

/** "RTO: 4.2 s of 900 s budget (detect 0.0 s, ...)", phases in run order. */
export function rtoLines(data: FailoverData, timings: ReadonlyMap<string, number>, finishedUnixMs: number): string[] {
  const phases = [...FAILOVER_PHASES.filter((phase) => timings.has(phase)), ...[...timings.keys()].filter((phase) => !(FAILOVER_PHASES as readonly string[]).includes(phase))];
  const total = phases.reduce((sum, phase) => sum + (timings.get(phase) ?? 0), 0);
  const within = total <= RTO_BUDGET_MS ? 'within' : 'OVER';
  const lines = [`RTO: ${seconds(total)} of ${RTO_BUDGET_MS / 1000} s budget, ${within} (${phases.map((phase) => `${phase} ${seconds(timings.get(phase) ?? 0)}`).join(', ')})`];
  if (data.lossUnixMs > 0 && finishedUnixMs > data.lossUnixMs) {
    const outage = finishedUnixMs - data.lossUnixMs;
    lines.push(`Outage since the survivors lost ${data.lost.join(', ')} at ${clock(data.lossUnixMs)}: ${seconds(outage)} of ${RTO_BUDGET_MS / 1000} s (including the time to decide)`);
  }
  return lines;
}

/** Data at risk per resource, against the RPO. `lacksNow` is what the lost node lacks now (resource -> bytes). */
export function rpoLines(data: FailoverData, lacksNow: ReadonlyMap<string, number>): string[] {
  return data.vms.map((vm) => {
    const lacks = `${vm.from} lacked ${formatBytes(vm.lostLacksBytes)} at planning${lacksNow.has(vm.resource) ? `, ${formatBytes(lacksNow.get(vm.resource) ?? 0)} now` : ''} (failback resyncs it)`;
    if (vm.survivorDisk !== 'UpToDate') {
      const behind = vm.survivorLacks;
      const window = behind && behind.fromUnixMs > 0 && behind.untilUnixMs > 0 ? behind.untilUnixMs - behind.fromUnixMs : undefined;
      const amount = behind?.bytes !== undefined ? formatBytes(behind.bytes) : 'an unknown amount';
      const verdict = window === undefined ? `the ${RPO_BUDGET_MS / 1000} s RPO cannot be confirmed` : window <= RPO_BUDGET_MS ? `${seconds(window)} of writes, within the ${RPO_BUDGET_MS / 1000} s RPO` : `${seconds(window)} of writes, OVER the ${RPO_BUDGET_MS / 1000} s RPO`;
      return `RPO ${vm.resource} (protocol ${vm.protocol}): ${vm.to}'s copy was ${vm.survivorDisk} and was forced: ${amount} that ${vm.from} wrote without ${vm.to} ${window === undefined ? 'is' : 'are'} LOST (${verdict}); ${lacks}.`;
    }
    if (vm.protocol === 'C') {
      return `RPO ${vm.resource} (protocol C): 0 acknowledged writes at risk (protocol C acknowledges a write only once both disks have it), within the ${RPO_BUDGET_MS / 1000} s RPO; ${lacks}.`;
    }
    return `RPO ${vm.resource} (protocol ${vm.protocol}): writes ${vm.from} acknowledged but had not yet replicated are UNKNOWN (protocol ${vm.protocol} acknowledges before the peer's disk has them), so the ${RPO_BUDGET_MS / 1000} s RPO cannot be confirmed; ${lacks}.`;
  });
}

async function summarizeFailover(ctx: StepContext, data: FailoverData, timings: ReadonlyMap<string, number>): Promise<string[]> {
  const lacksNow = new Map<string, number>();
  for (const vm of data.vms) {
    const replica = await ctx.cluster.resource(vm.to, vm.resource).catch(() => undefined);
    const link = replica?.peers.find((peer) => peer.node === vm.from);
    if (link) lacksNow.set(vm.resource, Number(link.outOfSyncBytes));
  }
  return [...rtoLines(data, timings, Date.now()), ...rpoLines(data, lacksNow)];
}

/** `hvctl failover (--node N | --site S) [--force]`. */
export const failoverKind: WorkflowKind<FailoverData> = {
  name: 'failover',
  // A node failover claims the lost node (one failover of it at a time, none while a drain of it holds it).
  claims: (spec) => (spec.failover?.node ? [`node/${validateNodeName(spec.failover.node, 'node')}`] : []),
  plan: planFailover,
  program(data: FailoverData): Program {
    return {
      stages: [{ steps: failoverSteps(data) }],
      makeSafe: (ctx) => makeFailoverSafe(ctx, data),
      summarize: (ctx, timings) => summarizeFailover(ctx, data, timings),
    };
  },
};
