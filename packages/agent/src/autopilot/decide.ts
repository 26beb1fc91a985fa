import type { AutopilotPolicy } from '@hvctl/common';

/**
 * The autopilot's decision function: pure, no I/O, no clock. The controller (controller.ts)
 * gathers one Evidence sample per tick, calls decide() with the memory the previous call
 * returned, and acts on the actions; tests replay recorded sequences of samples.
 *
 * A node is lost only when every vantage point agrees, continuously, for the grace
 * period: its agent does not answer the witness, the witness's own DRBD connections to it
 * (the diskless tie-breaker's, first-hand data-path evidence) are all down, each DRBD
 * partner reports its replication link to it down, and those partners have quorum. An
 * agent that died while its links stay Connected is a live host, not a lost node.
 */

/** One DRBD connection toward the node under judgement, seen from one side. */
export interface LinkEvidence {
  readonly resource: string;
  /** DRBD connection state ("Connected", "Connecting", "StandAlone", ...). */
  readonly state: string;
}

/** A DRBD partner's report of its link to the node under judgement (one per shared resource). */
export interface PartnerEvidence extends LinkEvidence {
  readonly partner: string;
  /** The witness reaches the partner's agent (otherwise `state` and `quorum` are its last report, not trusted). */
  readonly reachable: boolean;
  /** The partner has quorum on this resource. */
  readonly quorum: boolean;
}

/** What the witness knows about one main-site node at one moment. */
export interface NodeEvidence {
  readonly name: string;
  readonly site: string;
  /** The node's agent answers the witness. */
  readonly agentReachable: boolean;
  /** The witness's own DRBD connections to the node, one per resource they share. */
  readonly witnessLinks: readonly LinkEvidence[];
  readonly partners: readonly PartnerEvidence[];
  readonly cordoned: boolean;
  readonly maintenance: boolean;
  /** Leases of other workflows on the node or its resources ("node/msk-1 held by wf-… of alice"). */
  readonly leases: readonly string[];
}

/** One diskful replica of a VM's disk. */
export interface ReplicaEvidence {
  readonly node: string;
  readonly reachable: boolean;
  /** Disk state ("UpToDate", "Outdated", ...). */
  readonly disk: string;
  readonly quorum: boolean;
  readonly cordoned: boolean;
  readonly maintenance: boolean;
}

/** What the witness knows about one VM. */
export interface VmEvidence {
  readonly name: string;
  /** The VM's desired state; `unknown` when no intent was ever recorded: never acted on. */
  readonly intent: 'running' | 'stopped' | 'unknown';
  readonly runningOn: readonly string[];
  readonly replicas: readonly ReplicaEvidence[];
  /** Leases of other workflows on the VM or its resource. */
  readonly leases: readonly string[];
}

/** One sample of the evidence, as the witness gathered it at `atMs`. */
export interface Evidence {
  readonly atMs: number;
  /** The witness (the backup site's node) that gathered it. */
  readonly witness: string;
  /** The witness read its own DRBD state (without it there is no first-hand evidence). */
  readonly witnessState: boolean;
  /** Main-site nodes. */
  readonly nodes: readonly NodeEvidence[];
  readonly vms: readonly VmEvidence[];
}

/** Operator controls (AutopilotService Pause/Resume), as the controller holds them. */
export interface Controls {
  /** Paused for everything until this time (Infinity: until resumed); 0 when not paused. */
  readonly pausedUntilMs: number;
  /** Nodes paused on their own, with the time each pause ends. */
  readonly pausedNodes: Readonly<Record<string, number>>;
}

/** What the autopilot can submit: `start` needs a start workflow kind on the coordinators. */
export interface Capabilities {
  readonly start: boolean;
}

export type Action = { readonly kind: 'failover'; readonly node: string; readonly site: string; readonly partners: readonly string[] } | { readonly kind: 'start'; readonly vm: string; readonly on: readonly string[] };

/** An action the autopilot took (counted by the limits). */
export interface ActionRecord {
  readonly kind: Action['kind'];
  readonly subject: string;
  /** The node's site (failover); empty for a start. */
  readonly site: string;
  readonly atMs: number;
}

export interface NodeMemory {
  /** Since when every vantage point has agreed the node is lost (0: they do not). */
  readonly agreeSinceMs: number;
  /** When the node last came back from a loss that all agreed on (0: never); starts the hold-down. */
  readonly returnedAtMs: number;
  /** Since when the node has answered without interruption (0: it does not now). */
  readonly healthySinceMs: number;
  /** The autopilot failed this node over and it has not been stable for a hold-down since. */
  readonly failedOver: boolean;
}

export interface Memory {
  readonly nodes: Readonly<Record<string, NodeMemory>>;
  /** Since when each VM intended running has run nowhere. */
  readonly vmsDownSinceMs: Readonly<Record<string, number>>;
  /** Actions of the last 24 hours, oldest first. */
  readonly actions: readonly ActionRecord[];
}

export const EMPTY_MEMORY: Memory = { nodes: {}, vmsDownSinceMs: {}, actions: [] };

/**
 * How a decision ended: `none` (nothing wrong), `wait` (counting down or not confirmed),
 * `blocked` (a guard stopped it), `limit` (a limit reached: alerted), `observe` (would act,
 * mode observe), `act` (an action was emitted).
 */
export type Outcome = 'none' | 'wait' | 'blocked' | 'limit' | 'observe' | 'act';

export interface Decision {
  readonly kind: 'node' | 'vm' | 'cluster';
  readonly subject: string;
  readonly outcome: Outcome;
  /** A short stable code of the situation ("lost", "agent-down", "cordoned", ...): a change of it is logged. */
  readonly code: string;
  /** One line: what is seen and what follows ("msk-1 lost 4 s: …; failover in 6 s"). */
  readonly summary: string;
  /** The facts behind it, one per line. */
  readonly evidence: readonly string[];
  /** Until the action, while counting down (ms); 0 otherwise. */
  readonly countdownMs: number;
  /** How long the loss has been agreed on (ms); 0 when it is not. */
  readonly lostForMs: number;
}

export interface DecideResult {
  readonly memory: Memory;
  readonly decisions: readonly Decision[];
  readonly actions: readonly Action[];
}

const HOUR_MS = 3600_000;
const DAY_MS = 24 * HOUR_MS;

const seconds = (ms: number): string => `${Math.max(0, Math.floor(ms / 1000))} s`;
const secondsUp = (ms: number): string => `${Math.max(0, Math.ceil(ms / 1000))} s`;
const list = (items: readonly string[]): string => [...new Set(items)].join(', ');
const connected = (link: LinkEvidence): boolean => link.state === 'Connected';

function pausedFor(controls: Controls, subject: string, nowMs: number): string | undefined {
  if (controls.pausedUntilMs > nowMs) return controls.pausedUntilMs === Infinity ? 'paused until resumed' : `paused for ${secondsUp(controls.pausedUntilMs - nowMs)} more`;
  const until = controls.pausedNodes[subject] ?? 0;
  if (until > nowMs) return until === Infinity ? `paused for ${subject} until resumed` : `paused for ${subject} for ${secondsUp(until - nowMs)} more`;
  return undefined;
}

/** The facts about a node, one per line, for explain and the logs. */
function nodeFacts(node: NodeEvidence, witness: string): string[] {
  const facts = [`agent of ${node.name}: ${node.agentReachable ? 'answers' : 'does not answer'} ${witness}`];
  facts.push(
    node.witnessLinks.length
      ? `witness ${witness} DRBD: ${node.witnessLinks.map((link) => `${link.resource} ${link.state}`).join(', ')}`
      : `witness ${witness} shares no DRBD resource with ${node.name}`,
  );
  for (const partner of [...new Set(node.partners.map((entry) => entry.partner))]) {
    const links = node.partners.filter((entry) => entry.partner === partner);
    facts.push(
      links[0]?.reachable
        ? `partner ${partner} DRBD: ${links.map((link) => `${link.resource} ${link.state}${link.quorum ? '' : ' (no quorum)'}`).join(', ')}`
        : `partner ${partner}: its agent does not answer ${witness}; its report is not trusted`,
    );
  }
  if (node.cordoned) facts.push(`${node.name} is cordoned`);
  if (node.maintenance) facts.push(`${node.name} is in maintenance`);
  for (const lease of node.leases) facts.push(`lease: ${lease}`);
  return facts;
}

/** Why a node is not (yet) agreed lost, or undefined when every vantage point agrees. */
function disagreement(node: NodeEvidence, witness: string): { code: string; summary: string } | undefined {
  const stillConnected = node.witnessLinks.filter(connected).map((link) => link.resource);
  if (stillConnected.length) {
    return { code: 'agent-down', summary: `${node.name}: agent down, host alive — witness ${witness} still Connected to it (${list(stillConnected)}); nothing to do` };
  }
  if (!node.witnessLinks.length) return { code: 'unconfirmed', summary: `${node.name}: agent down; witness ${witness} shares no DRBD resource with it, so the loss cannot be confirmed; nothing to do` };
  const partnerStillConnected = node.partners.filter((entry) => entry.reachable && connected(entry));
  if (partnerStillConnected.length) {
    return {
      code: 'witness-cut',
      summary: `${node.name}: ${witness} lost it but partner ${list(partnerStillConnected.map((entry) => entry.partner))} still replicates with it (${list(partnerStillConnected.map((entry) => entry.resource))}); a cut between ${witness} and ${node.name}, not a lost node; nothing to do`,
    };
  }
  if (!node.partners.length) return { code: 'no-partner', summary: `${node.name}: agent down and no DRBD partner holds its resources; nothing to fail over to` };
  const silent = node.partners.filter((entry) => !entry.reachable).map((entry) => entry.partner);
  if (silent.length) return { code: 'partner-silent', summary: `${node.name}: lost by ${witness}, but partner ${list(silent)} does not answer either, so the data path cannot be confirmed; nothing to do` };
  const noQuorum = node.partners.filter((entry) => !entry.quorum);
  if (noQuorum.length) {
    return {
      code: 'no-quorum',
      summary: `${node.name}: lost, but partner ${list(noQuorum.map((entry) => entry.partner))} has no quorum on ${list(noQuorum.map((entry) => entry.resource))}; promoting could split the brain; nothing to do`,
    };
  }
  return undefined;
}

/** "witness lost it (db-1, web-1), partner spb-1 lost it, spb-1 has quorum" */
function agreement(node: NodeEvidence): string {
  const partners = [...new Set(node.partners.map((entry) => entry.partner))];
  return `witness lost it (${list(node.witnessLinks.map((link) => link.resource))}), partner ${list(partners)} lost it, ${list(partners)} ${partners.length > 1 ? 'have' : 'has'} quorum`;
}

interface Step {
  readonly memory: NodeMemory;
  readonly decision: Decision;
  readonly action?: Action;
}

function decideNode(node: NodeEvidence, previous: NodeMemory | undefined, evidence: Evidence, policy: AutopilotPolicy, controls: Controls, actions: readonly ActionRecord[]): Step {
  const now = evidence.atMs;
  const base = previous ?? { agreeSinceMs: 0, returnedAtMs: 0, healthySinceMs: 0, failedOver: false };
  const facts = nodeFacts(node, evidence.witness);
  const decision = (outcome: Outcome, code: string, summary: string, extra: Partial<Decision> = {}): Decision => ({
    kind: 'node',
    subject: node.name,
    outcome,
    code,
    summary,
    evidence: facts,
    countdownMs: 0,
    lostForMs: 0,
    ...extra,
  });
  const holdDownMs = policy.holdDownSeconds * 1000;

  if (node.agentReachable) {
    const healthySinceMs = base.healthySinceMs || now;
    const memory: NodeMemory = {
      agreeSinceMs: 0,
      returnedAtMs: base.agreeSinceMs ? now : base.returnedAtMs,
      healthySinceMs,
      // Failed over once: eligible again only after a hold-down of uninterrupted health.
      failedOver: base.failedOver && now - healthySinceMs < holdDownMs,
    };
    if (memory.failedOver) return { memory, decision: decision('none', 'returned', `${node.name} answers again after its failover; it stays Secondary until an operator runs \`hvctl failback ${node.name}\` (the autopilot never fails back)`) };
    if (memory.returnedAtMs && now - memory.returnedAtMs < holdDownMs) {
      return { memory, decision: decision('none', 'hold-down', `${node.name} answers again; hold-down ${secondsUp(memory.returnedAtMs + holdDownMs - now)} more (a new loss counts only after it)`) };
    }
    return { memory, decision: decision('none', 'healthy', `${node.name} answers`) };
  }

  const why = disagreement(node, evidence.witness);
  if (why) {
    const memory: NodeMemory = { ...base, agreeSinceMs: 0, healthySinceMs: 0, returnedAtMs: base.agreeSinceMs ? now : base.returnedAtMs };
    return { memory, decision: decision('wait', why.code, why.summary) };
  }

  const agreeSinceMs = base.agreeSinceMs || now;
  const memory: NodeMemory = { ...base, agreeSinceMs, healthySinceMs: 0 };
  const lostForMs = now - agreeSinceMs;
  const head = `${node.name} lost ${seconds(lostForMs)}: ${agreement(node)}`;
  if (base.failedOver) return { memory, decision: decision('none', 'failed-over', `${head}; already failed over by the autopilot, it is not moved again (failback is an operator's decision)`, { lostForMs }) };
  // The loss clock starts when every vantage point agrees, and not before the hold-down after its last return ends.
  const clockFromMs = Math.max(agreeSinceMs, base.returnedAtMs ? base.returnedAtMs + holdDownMs : 0);
  const countdownMs = clockFromMs + policy.graceSeconds * 1000 - now;
  if (countdownMs > 0) {
    const held = clockFromMs > agreeSinceMs && now < clockFromMs ? ` (hold-down after its return ${secondsUp(clockFromMs - now)} more)` : '';
    return { memory, decision: decision('wait', 'lost', `${head}; failover in ${secondsUp(countdownMs)}${held}`, { countdownMs, lostForMs }) };
  }
  const blocked = (code: string, reason: string, outcome: Outcome = 'blocked'): Step => ({ memory, decision: decision(outcome, code, `${head}; not failing over: ${reason}`, { lostForMs }) });
  if (node.cordoned) return blocked('cordoned', `${node.name} is cordoned (the autopilot never acts on a cordoned node; an operator may run \`hvctl failover --node ${node.name}\`)`);
  if (node.maintenance) return blocked('maintenance', `${node.name} is in maintenance`);
  if (node.leases.length) return blocked('leased', `another workflow holds it (${node.leases.join('; ')})`);
  const paused = pausedFor(controls, node.name, now);
  if (paused) return blocked('paused', `autopilot ${paused}`);
  const recent = actions.filter((action) => action.kind === 'failover' && action.site === node.site && now - action.atMs < HOUR_MS);
  if (recent.length >= policy.maxFailoversPerSitePerHour) {
    return blocked(
      'limit',
      `limit reached: ${recent.length} automatic failover${recent.length === 1 ? '' : 's'} in site ${node.site} in the last hour (maxFailoversPerSitePerHour ${policy.maxFailoversPerSitePerHour}); an operator decides (\`hvctl failover --node ${node.name}\`)`,
      'limit',
    );
  }
  const action: Action = { kind: 'failover', node: node.name, site: node.site, partners: [...new Set(node.partners.map((entry) => entry.partner))] };
  if (policy.mode === 'observe') return { memory, decision: decision('observe', 'would-fail-over', `${head}; would fail over ${node.name} now (mode observe: nothing done)`, { lostForMs }) };
  return { memory: { ...memory, failedOver: true }, decision: decision('act', 'fail-over', `${head}; failing over ${node.name} now`, { lostForMs }), action };
}

function decideVm(vm: VmEvidence, downSinceMs: number, evidence: Evidence, policy: AutopilotPolicy, controls: Controls, actions: readonly ActionRecord[], capabilities: Capabilities, lostNodes: ReadonlySet<string>): { decision?: Decision; action?: Action; downSinceMs: number } {
  const now = evidence.atMs;
  if (vm.intent !== 'running' || vm.runningOn.length) return { downSinceMs: 0 };
  const since = downSinceMs || now;
  const facts = [
    `intent: running; runs nowhere for ${seconds(now - since)}`,
    ...vm.replicas.map((replica) => `replica on ${replica.node}: ${replica.reachable ? `${replica.disk}${replica.quorum ? ', quorum' : ', no quorum'}` : 'agent does not answer'}${replica.cordoned ? ', cordoned' : ''}${replica.maintenance ? ', in maintenance' : ''}`),
    ...vm.leases.map((lease) => `lease: ${lease}`),
  ];
  const decision = (outcome: Outcome, code: string, summary: string, countdownMs = 0): Decision => ({ kind: 'vm', subject: vm.name, outcome, code, summary, evidence: facts, countdownMs, lostForMs: now - since });
  const head = `${vm.name} should run and runs nowhere (${seconds(now - since)})`;
  const done = (outcome: Outcome, code: string, reason: string): { decision: Decision; downSinceMs: number } => ({ decision: decision(outcome, code, `${head}; ${reason}`), downSinceMs: since });
  // A replica on a node the autopilot cannot see is the node failover's business: starting beside it could run the VM twice.
  const unseen = vm.replicas.filter((replica) => !replica.reachable).map((replica) => replica.node);
  if (unseen.some((node) => lostNodes.has(node))) return done('wait', 'node-lost', `its node ${list(unseen)} is lost: the node's failover recovers it`);
  if (unseen.length) return done('wait', 'replica-unseen', `${list(unseen)} does not answer, so it may still run there; not starting it`);
  const candidates = vm.replicas.filter((replica) => replica.disk === 'UpToDate' && replica.quorum);
  if (!candidates.length) return done('blocked', 'no-replica', 'no replica is UpToDate with quorum; an operator decides (`hvctl start` refuses too)');
  const countdownMs = since + policy.graceSeconds * 1000 - now;
  if (countdownMs > 0) return { decision: decision('wait', 'down', `${head}; start in ${secondsUp(countdownMs)}`, countdownMs), downSinceMs: since };
  const held = vm.replicas.filter((replica) => replica.cordoned || replica.maintenance).map((replica) => replica.node);
  if (held.length) return done('blocked', 'cordoned', `not starting it: ${list(held)} is cordoned or in maintenance`);
  if (vm.leases.length) return done('blocked', 'leased', `not starting it: another workflow holds it (${vm.leases.join('; ')})`);
  const paused = pausedFor(controls, vm.name, now) ?? vm.replicas.map((replica) => pausedFor(controls, replica.node, now)).find(Boolean);
  if (paused) return done('blocked', 'paused', `not starting it: autopilot ${paused}`);
  const windowMs = policy.restartWindowMinutes * 60_000;
  const last = actions.filter((action) => action.kind === 'start' && action.subject === vm.name && now - action.atMs < windowMs);
  if (last.length) return done('limit', 'limit', `limit reached: started automatically ${seconds(now - (last.at(-1)?.atMs ?? now))} ago, at most once per ${policy.restartWindowMinutes} min; an operator decides (\`hvctl start ${vm.name}\`)`);
  const action: Action = { kind: 'start', vm: vm.name, on: candidates.map((replica) => replica.node) };
  if (!capabilities.start) return done('blocked', 'no-start-workflow', `would start it on ${list(action.on)}, but the coordinators have no start workflow yet (issue #15); an operator must start it`);
  if (policy.mode === 'observe') return done('observe', 'would-start', `would start it on ${list(action.on)} now (mode observe: nothing done)`);
  return { decision: decision('act', 'start', `${head}; starting it (${list(action.on)})`), action, downSinceMs: since };
}

/**
 * One decision round: every main-site node and every VM intended running that runs
 * nowhere, judged on `evidence` with the memory of the previous rounds. Returns the new
 * memory, one decision per subject worth reporting (healthy nodes included, for status),
 * and the actions to submit (none unless the mode is `act`).
 */
export function decide(memory: Memory, evidence: Evidence, policy: AutopilotPolicy, controls: Controls, capabilities: Capabilities): DecideResult {
  const now = evidence.atMs;
  const actions = memory.actions.filter((action) => now - action.atMs < DAY_MS);
  if (policy.mode === 'off') return { memory: { ...EMPTY_MEMORY, actions }, decisions: [], actions: [] };
  const cluster = (code: string, summary: string, facts: readonly string[]): Decision => ({ kind: 'cluster', subject: evidence.witness, outcome: 'wait', code, summary, evidence: facts, countdownMs: 0, lostForMs: 0 });
  if (!evidence.witnessState) {
    return { memory: { ...memory, nodes: {}, actions }, decisions: [cluster('no-witness-state', `${evidence.witness} cannot read its own DRBD state: without first-hand evidence nothing is done`, [])], actions: [] };
  }
  // The witness itself cut off: it sees no main-site node, neither agents nor DRBD links. Its view proves nothing.
  const seesSomeone = evidence.nodes.some((node) => node.agentReachable || node.witnessLinks.some(connected));
  if (evidence.nodes.length && !seesSomeone) {
    const facts = evidence.nodes.flatMap((node) => nodeFacts(node, evidence.witness));
    return {
      memory: { ...memory, nodes: Object.fromEntries(Object.entries(memory.nodes).map(([name, node]) => [name, { ...node, agreeSinceMs: 0, healthySinceMs: 0 }])), actions },
      decisions: [cluster('witness-cut-off', `${evidence.witness} sees no main-site node (no agent answers, no DRBD link is up): the witness is cut off, not the cluster; nothing is done`, facts)],
      actions: [],
    };
  }
  // A node missing from this sample (not settled yet, after a restart of the witness) keeps its memory.
  const nodes: Record<string, NodeMemory> = { ...memory.nodes };
  const decisions: Decision[] = [];
  const emitted: Action[] = [];
  const taken: ActionRecord[] = [...actions];
  const lostNodes = new Set<string>();
  for (const node of evidence.nodes) {
    const step = decideNode(node, memory.nodes[node.name], evidence, policy, controls, taken);
    nodes[node.name] = step.memory;
    decisions.push(step.decision);
    if (step.memory.agreeSinceMs) lostNodes.add(node.name);
    if (step.action) {
      emitted.push(step.action);
      taken.push({ kind: 'failover', subject: node.name, site: node.site, atMs: now });
    }
  }
  const vmsDownSinceMs: Record<string, number> = {};
  // A start leases both nodes of the VM's pair: a second start on one of them this round would be refused, so it waits for the next.
  const startingOn = new Set<string>();
  for (const vm of evidence.vms) {
    const step = decideVm(vm, memory.vmsDownSinceMs[vm.name] ?? 0, evidence, policy, controls, taken, capabilities, lostNodes);
    if (step.downSinceMs) vmsDownSinceMs[vm.name] = step.downSinceMs;
    const pair = vm.replicas.map((replica) => replica.node);
    const busy = step.action ? pair.filter((node) => startingOn.has(node)) : [];
    if (step.decision && busy.length) {
      decisions.push({ ...step.decision, outcome: 'wait', code: 'queued', summary: `${vm.name} should run and runs nowhere; queued behind another start on ${list(busy)}` });
      continue;
    }
    if (step.decision) decisions.push(step.decision);
    if (step.action) {
      emitted.push(step.action);
      taken.push({ kind: 'start', subject: vm.name, site: '', atMs: now });
      pair.forEach((node) => startingOn.add(node));
    }
  }
  return { memory: { nodes, vmsDownSinceMs, actions: taken }, decisions, actions: emitted };
}
