import { describe, expect, it } from 'vitest';
import { LAB_AUTOPILOT_POLICY, type AutopilotPolicy } from '@hvctl/common';
import { EMPTY_MEMORY, decide, type Action, type Capabilities, type Controls, type Decision, type Evidence, type Memory, type NodeEvidence, type VmEvidence } from './decide.js';

/**
 * The decision function over recorded evidence sequences, like pve-ha-manager's simulator
 * tests: a small world (who is dead, whose agent died, which links are cut) is turned into
 * what the witness bak-1 would see each second, and decide() runs over it.
 */

const T0 = 1_800_000_000_000;
const POLICY: AutopilotPolicy = { ...LAB_AUTOPILOT_POLICY, mode: 'act', graceSeconds: 5, holdDownSeconds: 30, maxFailoversPerSitePerHour: 2, restartWindowMinutes: 10 };
const RUNNING: Controls = { pausedUntilMs: 0, pausedNodes: {} };
const CAN_START: Capabilities = { start: true };

/** DRBD pairs: each resource between two main-site nodes, bak-1 the diskless witness of all. */
const PAIRS = [
  { resource: 'db-1', a: 'msk-1', b: 'spb-1' },
  { resource: 'web-1', a: 'msk-1', b: 'spb-1' },
  { resource: 'git-1', a: 'msk-2', b: 'spb-2' },
];
const SITE: Record<string, string> = { 'msk-1': 'msk', 'msk-2': 'msk', 'spb-1': 'spb', 'spb-2': 'spb' };

interface World {
  /** Hosts down (kill -9, power cut): agent and DRBD gone. */
  readonly dead?: readonly string[];
  /** Agents down while the host (DRBD, VMs) runs on. */
  readonly agentDown?: readonly string[];
  /** The witness cut off from everyone. */
  readonly witnessCut?: boolean;
  /** The link between the witness and these nodes cut. */
  readonly cutFromWitness?: readonly string[];
  /** The link between the two main sites cut. */
  readonly mainCut?: boolean;
  readonly cordoned?: readonly string[];
  readonly leases?: Readonly<Record<string, readonly string[]>>;
  readonly vms?: readonly VmEvidence[];
}

function sample(world: World, atMs: number): Evidence {
  const dead = new Set(world.dead);
  const seenByWitness = (node: string): boolean => !dead.has(node) && !world.witnessCut && !world.cutFromWitness?.includes(node);
  const nodes = Object.keys(SITE).map((name): NodeEvidence => {
    const mine = PAIRS.filter((pair) => pair.a === name || pair.b === name);
    return {
      name,
      site: SITE[name] as string,
      agentReachable: seenByWitness(name) && !world.agentDown?.includes(name),
      witnessLinks: mine.map((pair) => ({ resource: pair.resource, state: seenByWitness(name) ? 'Connected' : 'Connecting' })),
      partners: mine.map((pair) => {
        const partner = pair.a === name ? pair.b : pair.a;
        const linked = !dead.has(name) && !dead.has(partner) && !world.mainCut;
        return {
          partner,
          resource: pair.resource,
          reachable: seenByWitness(partner) && !world.agentDown?.includes(partner),
          state: linked ? 'Connected' : 'Connecting',
          // Three members (two disks and the witness): a majority is the partner and one other.
          quorum: linked || seenByWitness(partner),
        };
      }),
      cordoned: world.cordoned?.includes(name) ?? false,
      maintenance: false,
      leases: world.leases?.[name] ?? [],
    };
  });
  return { atMs, witness: 'bak-1', witnessState: true, nodes, vms: world.vms ?? [] };
}

interface Run {
  readonly actions: { atMs: number; action: Action }[];
  readonly decisions: { atMs: number; decision: Decision }[];
  readonly memory: Memory;
}

/** Runs decide() once a second from T0 for `seconds`, the world at each second given by `at`. */
function replay(at: (second: number) => World, seconds: number, options: { policy?: AutopilotPolicy; controls?: Controls; capabilities?: Capabilities; memory?: Memory; fromMs?: number } = {}): Run {
  let memory = options.memory ?? EMPTY_MEMORY;
  const run: Run & { memory: Memory } = { actions: [], decisions: [], memory };
  for (let second = 0; second <= seconds; second += 1) {
    const atMs = (options.fromMs ?? T0) + second * 1000;
    const result = decide(memory, sample(at(second), atMs), options.policy ?? POLICY, options.controls ?? RUNNING, options.capabilities ?? CAN_START);
    memory = result.memory;
    run.actions.push(...result.actions.map((action) => ({ atMs, action })));
    run.decisions.push(...result.decisions.map((decision) => ({ atMs, decision })));
  }
  run.memory = memory;
  return run;
}

const about = (run: Run, subject: string, second: number): Decision | undefined => run.decisions.find((entry) => entry.atMs === T0 + second * 1000 && entry.decision.subject === subject)?.decision;
const failovers = (run: Run): string[] => run.actions.filter((entry) => entry.action.kind === 'failover').map((entry) => `${(entry.atMs - T0) / 1000}s ${entry.action.kind === 'failover' ? entry.action.node : ''}`);

describe('node failover decisions', () => {
  it('fails over a hard-killed node once the grace period has passed, with the evidence in the reason', () => {
    // Given msk-1 killed (agent and DRBD gone) at second 10
    const run = replay((s) => (s >= 10 ? { dead: ['msk-1'] } : {}), 60);
    // Then before: nothing; 2 s into the loss: counting down with every vantage point named
    expect(about(run, 'msk-1', 9)?.code).toBe('healthy');
    expect(about(run, 'msk-1', 12)?.summary).toBe('msk-1 lost 2 s: witness lost it (db-1, web-1), partner spb-1 lost it, spb-1 has quorum; failover in 3 s');
    expect(about(run, 'msk-1', 12)?.countdownMs).toBe(3000);
    // And exactly one failover, at grace (5 s) after the loss, naming its partner
    expect(failovers(run)).toEqual(['15s msk-1']);
    expect(run.actions[0]?.action).toEqual({ kind: 'failover', node: 'msk-1', site: 'msk', partners: ['spb-1'] });
    // And afterwards it is not moved again
    expect(about(run, 'msk-1', 30)?.code).toBe('failed-over');
  });

  it('does nothing when only the agent died and the DRBD links stay Connected', () => {
    // Given msk-1's agent killed, its host and DRBD alive, for two minutes
    const run = replay((s) => (s >= 5 ? { agentDown: ['msk-1'] } : {}), 120);
    // Then no action, and the reason says the host is alive
    expect(run.actions).toEqual([]);
    expect(about(run, 'msk-1', 60)?.code).toBe('agent-down');
    expect(about(run, 'msk-1', 60)?.summary).toBe('msk-1: agent down, host alive — witness bak-1 still Connected to it (db-1, web-1); nothing to do');
  });

  it('does nothing when only the link between the main sites is cut (both still see the witness)', () => {
    const run = replay((s) => (s >= 5 ? { mainCut: true } : {}), 120);
    expect(run.actions).toEqual([]);
    expect(about(run, 'msk-1', 60)?.code).toBe('healthy');
    expect(about(run, 'spb-1', 60)?.code).toBe('healthy');
  });

  it('does nothing when the witness is cut off from everyone, and says so', () => {
    const run = replay((s) => (s >= 5 ? { witnessCut: true } : {}), 120);
    expect(run.actions).toEqual([]);
    const decision = about(run, 'bak-1', 60);
    expect(decision?.code).toBe('witness-cut-off');
    expect(decision?.summary).toMatch(/bak-1 sees no main-site node .* the witness is cut off, not the cluster; nothing is done/);
  });

  it('does nothing when the witness cannot see a main-site node but its partner can', () => {
    const run = replay((s) => (s >= 5 ? { cutFromWitness: ['msk-1'] } : {}), 120);
    expect(run.actions).toEqual([]);
    expect(about(run, 'msk-1', 60)?.code).toBe('witness-cut');
    expect(about(run, 'msk-1', 60)?.summary).toMatch(/bak-1 lost it but partner spb-1 still replicates with it \(db-1, web-1\)/);
  });

  it('does nothing when the partner does not answer either (the data path cannot be confirmed)', () => {
    // msk-1 dead and spb-1 cut from the witness: nobody on the data path can confirm
    const run = replay((s) => (s >= 5 ? { dead: ['msk-1'], cutFromWitness: ['spb-1'] } : {}), 60);
    expect(run.actions).toEqual([]);
    expect(about(run, 'msk-1', 30)?.code).toBe('partner-silent');
  });

  it('does nothing when the surviving partner has no quorum', () => {
    const run = replay((s) => (s >= 5 ? { dead: ['msk-1'] } : {}), 30);
    const noQuorum = (second: number): Evidence => {
      const evidence = sample({ dead: ['msk-1'] }, T0 + second * 1000);
      return { ...evidence, nodes: evidence.nodes.map((node) => (node.name === 'msk-1' ? { ...node, partners: node.partners.map((p) => ({ ...p, quorum: false })) } : node)) };
    };
    let memory = EMPTY_MEMORY;
    const actions: Action[] = [];
    let last: Decision | undefined;
    for (let second = 0; second < 30; second += 1) {
      const result = decide(memory, noQuorum(second), POLICY, RUNNING, CAN_START);
      memory = result.memory;
      actions.push(...result.actions);
      last = result.decisions.find((decision) => decision.subject === 'msk-1');
    }
    expect(actions).toEqual([]);
    expect(last?.code).toBe('no-quorum');
    expect(last?.summary).toMatch(/partner spb-1 has no quorum on db-1, web-1; promoting could split the brain/);
    // (the same sequence with quorum fails over, so the guard is what stopped it)
    expect(failovers(run)).toEqual(['10s msk-1']);
  });

  it('moves a flapping node at most once (lost and back every 2 s for a minute: never)', () => {
    const flapping = replay((s) => (s >= 10 && s < 70 && Math.floor(s / 2) % 2 === 0 ? { dead: ['msk-1'] } : {}), 90);
    expect(failovers(flapping)).toEqual([]);
    // The hold-down after each return is in the reason
    expect(flapping.decisions.some((entry) => entry.decision.subject === 'msk-1' && /hold-down/.test(entry.decision.summary))).toBe(true);
  });

  it('moves a node that flaps slowly (lost 6 s, back 2 s) only once', () => {
    const slow = replay((s) => (s >= 10 && s < 130 && (s - 10) % 8 < 6 ? { dead: ['msk-1'] } : {}), 150);
    expect(failovers(slow)).toEqual(['15s msk-1']);
    expect(about(slow, 'msk-1', 140)?.code).toBe('returned');
  });

  it('stops at the per-site limit and says so', () => {
    // Given at most one automatic failover per site per hour
    const policy = { ...POLICY, maxFailoversPerSitePerHour: 1 };
    // When msk-1 dies, then msk-2 (same site)
    const run = replay((s) => (s >= 40 ? { dead: ['msk-1', 'msk-2'] } : s >= 10 ? { dead: ['msk-1'] } : {}), 80, { policy });
    // Then only msk-1 is failed over; msk-2 is refused with the limit named
    expect(failovers(run)).toEqual(['15s msk-1']);
    const limit = about(run, 'msk-2', 60);
    expect(limit?.outcome).toBe('limit');
    expect(limit?.summary).toMatch(/limit reached: 1 automatic failover in site msk in the last hour \(maxFailoversPerSitePerHour 1\)/);
    // And a spb node is not counted against msk's limit
    const other = replay((s) => (s >= 10 ? { dead: ['spb-2'] } : {}), 20, { policy, memory: run.memory, fromMs: T0 + 81_000 });
    expect(other.actions.map((entry) => entry.action)).toEqual([{ kind: 'failover', node: 'spb-2', site: 'spb', partners: ['msk-2'] }]);
  });

  it('never acts on a cordoned node, and gives the reason', () => {
    const run = replay((s) => ({ cordoned: ['msk-1'], ...(s >= 5 ? { dead: ['msk-1'] } : {}) }), 60);
    expect(run.actions).toEqual([]);
    const decision = about(run, 'msk-1', 30);
    expect(decision?.outcome).toBe('blocked');
    expect(decision?.summary).toMatch(/not failing over: msk-1 is cordoned/);
  });

  it("never acts on a node under another workflow's lease", () => {
    const run = replay((s) => ({ leases: { 'msk-1': ['node/msk-1 held by wf-1 of alice'] }, ...(s >= 5 ? { dead: ['msk-1'] } : {}) }), 30);
    expect(run.actions).toEqual([]);
    expect(about(run, 'msk-1', 20)?.summary).toMatch(/another workflow holds it \(node\/msk-1 held by wf-1 of alice\)/);
  });

  it('in observe mode says what it would do and does nothing', () => {
    const run = replay((s) => (s >= 5 ? { dead: ['msk-1'] } : {}), 30, { policy: { ...POLICY, mode: 'observe' } });
    expect(run.actions).toEqual([]);
    expect(about(run, 'msk-1', 20)?.outcome).toBe('observe');
    expect(about(run, 'msk-1', 20)?.summary).toMatch(/would fail over msk-1 now \(mode observe: nothing done\)/);
  });

  it('when paused (all, or one node) does nothing until resumed, then acts', () => {
    const paused = replay((s) => (s >= 5 ? { dead: ['msk-1'] } : {}), 30, { controls: { pausedUntilMs: Infinity, pausedNodes: {} } });
    expect(paused.actions).toEqual([]);
    expect(about(paused, 'msk-1', 20)?.summary).toMatch(/autopilot paused until resumed/);
    const node = replay((s) => (s >= 5 ? { dead: ['msk-1', 'msk-2'] } : {}), 30, { controls: { pausedUntilMs: 0, pausedNodes: { 'msk-1': T0 + 20_000 } } });
    // msk-2 goes at once; msk-1 when its pause ends
    expect(failovers(node)).toEqual(['10s msk-2', '20s msk-1']);
  });

  it('keeps what it remembers of a node missing from a sample (the witness restarting, the node not settled yet)', () => {
    const first = replay((s) => (s >= 5 ? { dead: ['msk-1'] } : {}), 20);
    expect(failovers(first)).toEqual(['10s msk-1']);
    // A sample without msk-1, then msk-1 lost again: it is still the node already failed over
    const missing = decide(first.memory, { ...sample({ dead: ['msk-1'] }, T0 + 21_000), nodes: [] }, POLICY, RUNNING, CAN_START);
    const later = replay(() => ({ dead: ['msk-1'] }), 20, { memory: missing.memory, fromMs: T0 + 22_000 });
    expect(later.actions).toEqual([]);
    expect(later.decisions.find((entry) => entry.decision.subject === 'msk-1')?.decision.code).toBe('failed-over');
  });

  it('decides nothing with mode off', () => {
    const run = replay((s) => (s >= 5 ? { dead: ['msk-1'] } : {}), 30, { policy: { ...POLICY, mode: 'off' } });
    expect(run.actions).toEqual([]);
    expect(run.decisions).toEqual([]);
  });
});

describe('restart decisions (a VM intended running that runs nowhere)', () => {
  const vm = (overrides: Partial<VmEvidence> = {}): VmEvidence => ({
    name: 'web-1',
    intent: 'running',
    runningOn: [],
    replicas: [
      { node: 'msk-1', reachable: true, disk: 'UpToDate', quorum: true, cordoned: false, maintenance: false },
      { node: 'spb-1', reachable: true, disk: 'UpToDate', quorum: true, cordoned: false, maintenance: false },
    ],
    leases: [],
    ...overrides,
  });
  const starts = (run: Run): string[] => run.actions.filter((entry) => entry.action.kind === 'start').map((entry) => `${(entry.atMs - T0) / 1000}s ${entry.action.kind === 'start' ? entry.action.vm : ''}`);

  it('starts it after the grace period, once per window, then reports the limit', () => {
    const run = replay((s) => ({ vms: [vm({ runningOn: s < 10 || (s >= 20 && s < 30) ? ['msk-1'] : [] })] }), 60);
    // Down at 10: started at 15; down again at 30: within the 10-minute window, so not again
    expect(starts(run)).toEqual(['15s web-1']);
    expect(run.actions[0]?.action).toEqual({ kind: 'start', vm: 'web-1', on: ['msk-1', 'spb-1'] });
    const limit = about(run, 'web-1', 40);
    expect(limit?.outcome).toBe('limit');
    expect(limit?.summary).toMatch(/limit reached: started automatically 25 s ago, at most once per 10 min/);
  });

  it('starts one VM per pair of nodes at a time: a second waits while the first start holds the nodes', () => {
    // Two VMs of the same pair down since 0; the first start's lease on the nodes shows from 6 s on
    const run = replay((s) => ({ vms: [vm(), vm({ name: 'db-1', leases: s >= 6 && s < 12 ? ['node/msk-1 held by wf-1 of autopilot@bak-1'] : [] })] }), 20);
    expect(starts(run)).toEqual(['5s web-1', '12s db-1']);
    expect(about(run, 'db-1', 5)).toMatchObject({ outcome: 'wait', code: 'queued', summary: expect.stringMatching(/queued behind another start on msk-1, spb-1/) });
    expect(about(run, 'db-1', 8)?.code).toBe('leased');
  });

  it('does not start it without a start workflow, and says why', () => {
    const run = replay(() => ({ vms: [vm()] }), 20, { capabilities: { start: false } });
    expect(run.actions).toEqual([]);
    expect(about(run, 'web-1', 10)?.code).toBe('no-start-workflow');
  });

  it('leaves a VM whose replica node does not answer to the node failover (it may still run there)', () => {
    const unseen = replay(() => ({ vms: [vm({ replicas: [{ node: 'msk-1', reachable: false, disk: 'DUnknown', quorum: false, cordoned: false, maintenance: false }, { node: 'spb-1', reachable: true, disk: 'UpToDate', quorum: true, cordoned: false, maintenance: false }] })] }), 20);
    expect(unseen.actions).toEqual([]);
    expect(about(unseen, 'web-1', 10)?.code).toBe('replica-unseen');
    const lost = replay(() => ({ dead: ['msk-1'], vms: [vm({ replicas: [{ node: 'msk-1', reachable: false, disk: 'DUnknown', quorum: false, cordoned: false, maintenance: false }] })] }), 3);
    expect(about(lost, 'web-1', 2)?.code).toBe('node-lost');
  });

  it('ignores VMs meant to be stopped or of unknown intent, and respects guards', () => {
    expect(replay(() => ({ vms: [vm({ intent: 'stopped' }), vm({ name: 'db-1', intent: 'unknown' })] }), 20).decisions.filter((entry) => entry.decision.kind === 'vm')).toEqual([]);
    const cordoned = replay(() => ({ vms: [vm({ replicas: [{ node: 'msk-1', reachable: true, disk: 'UpToDate', quorum: true, cordoned: true, maintenance: false }] })] }), 20);
    expect(cordoned.actions).toEqual([]);
    expect(about(cordoned, 'web-1', 10)?.summary).toMatch(/msk-1 is cordoned or in maintenance/);
    const noCopy = replay(() => ({ vms: [vm({ replicas: [{ node: 'msk-1', reachable: true, disk: 'Outdated', quorum: true, cordoned: false, maintenance: false }] })] }), 20);
    expect(about(noCopy, 'web-1', 10)?.code).toBe('no-replica');
    const observe = replay(() => ({ vms: [vm()] }), 20, { policy: { ...POLICY, mode: 'observe' } });
    expect(observe.actions).toEqual([]);
    expect(about(observe, 'web-1', 10)?.code).toBe('would-start');
  });
});
