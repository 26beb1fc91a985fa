import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NodeState__Output } from '@hvctl/proto';
import { buildTopology, LAB_AUTOPILOT_POLICY, silentLogger, type ClusterSnapshot } from '@hvctl/common';
import { fakeClusterSnapshot, fakeLabStates, makeTempDir, removeTempDir } from '@hvctl/common/testing';
import type { Alert } from '../alerts/types.js';
import type { ClusterAccess } from '../workflows/cluster-access.js';
import { Autopilot } from './controller.js';
import { gatherEvidence } from './evidence.js';


const T0 = 1_800_000_000_000;

/** The lab with `lost` killed hard: its agent silent, and the witness's and its partners' DRBD links to it down. */
function killed(lost: string): ClusterSnapshot {
  const states = fakeLabStates(2);
  for (const [name, state] of states) {
    if (name === lost) continue;
    const resources = state.resources.map((resource) => ({
      ...resource,
      peers: resource.peers.map((peer) => (peer.node === lost ? { ...peer, connectionState: 'Connecting', peerRole: 'Unknown', peerDiskState: 'DUnknown' } : peer)),
    }));
    states.set(name, { ...state, resources } as NodeState__Output);
  }
  return fakeClusterSnapshot(states, [lost]);
}

describe('evidence from the watcher', () => {
  it('reads the witness links and the partners from the snapshot', () => {
    const healthy = fakeClusterSnapshot(fakeLabStates(2));
    const evidence = gatherEvidence(healthy, buildTopology(healthy, T0), 'bak-1', [{ key: 'node/msk-1', workflowId: 'wf-1', owner: 'alice', coordinator: 'msk-1', sinceUnixMs: T0, expiresUnixMs: T0 + 1 }], T0);
    const msk1 = evidence.nodes.find((node) => node.name === 'msk-1');
    expect(evidence.witnessState).toBe(true);
    expect(evidence.nodes.map((node) => node.name)).toEqual(['msk-1', 'msk-2', 'spb-1', 'spb-2']);
    expect(msk1?.agentReachable).toBe(true);
    expect(msk1?.witnessLinks).toEqual([
      { resource: 'vm-msk-1-1', state: 'Connected' },
      { resource: 'vm-msk-1-2', state: 'Connected' },
      { resource: 'vm-spb-1-1', state: 'Connected' },
      { resource: 'vm-spb-1-2', state: 'Connected' },
    ]);
    expect(new Set(msk1?.partners.map((partner) => partner.partner))).toEqual(new Set(['spb-1']));
    expect(msk1?.partners.every((partner) => partner.reachable && partner.state === 'Connected' && partner.quorum)).toBe(true);
    expect(msk1?.leases).toEqual(['node/msk-1 held by wf-1 of alice']);
    // Intent is not recorded yet: every VM is `unknown`, which decide() never acts on
    expect(evidence.vms.every((vm) => vm.intent === 'unknown')).toBe(true);
  });

  it('an agent-only death keeps the links Connected; a hard kill drops them', () => {
    const agentOnly = fakeClusterSnapshot(fakeLabStates(2), ['msk-1']);
    const soft = gatherEvidence(agentOnly, buildTopology(agentOnly, T0), 'bak-1', [], T0).nodes.find((node) => node.name === 'msk-1');
    expect(soft?.agentReachable).toBe(false);
    expect(soft?.witnessLinks.every((link) => link.state === 'Connected')).toBe(true);
    const hard = killed('msk-1');
    const lost = gatherEvidence(hard, buildTopology(hard, T0), 'bak-1', [], T0).nodes.find((node) => node.name === 'msk-1');
    expect(lost?.witnessLinks.every((link) => link.state === 'Connecting')).toBe(true);
    expect(lost?.partners.every((partner) => partner.reachable && partner.state === 'Connecting' && partner.quorum)).toBe(true);
  });
});

/** A ClusterAccess whose agents accept a Submit and report the workflow succeeded. */
function fakeAccess(submitted: { node: string; request: Record<string, unknown> }[]): ClusterAccess {
  return {
    client: (node: string) => ({
      leases: { listLeases: (_request: unknown, _options: unknown, cb: (error: null, response: unknown) => void) => cb(null, { leases: [] }) },
      workflows: {
        submit: (request: Record<string, unknown>, _options: unknown, cb: (error: null, response: unknown) => void) => {
          submitted.push({ node, request });
          cb(null, { workflow: { id: 'wf-autopilot-1', plan: { title: 'Fail over msk-1' } } });
        },
        watchWorkflow: () => {
          const stream = new EventEmitter();
          setImmediate(() => {
            stream.emit('data', { workflow: { id: 'wf-autopilot-1', state: 'succeeded', summary: ['RTO: 2.0 s'], error: '' } });
            stream.emit('end');
          });
          return stream;
        },
      },
    }),
  } as unknown as ClusterAccess;
}

describe('the autopilot controller', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await makeTempDir('hvctl-autopilot-');
  });
  afterEach(async () => {
    await removeTempDir(dir);
  });

  it('reports each change of decision once, submits one failover as autopilot@bak-1, and remembers it across a restart', async () => {
    let now = T0;
    let snapshot = fakeClusterSnapshot(fakeLabStates(2));
    const lines: string[] = [];
    const alerts: Alert[] = [];
    const submitted: { node: string; request: Record<string, unknown> }[] = [];
    const make = (): Autopilot =>
      new Autopilot({
        self: 'bak-1',
        policy: LAB_AUTOPILOT_POLICY,
        snapshot: () => snapshot,
        access: fakeAccess(submitted),
        kinds: ['migrate', 'drain', 'undrain', 'failover', 'failback', 'backup'],
        statePath: join(dir, 'autopilot.json'),
        announce: (level, message) => lines.push(`${level} ${message}`),
        alert: (alert) => alerts.push(alert),
        logger: silentLogger(),
        now: () => now,
        tickMs: 3_600_000,
      });
    const pilot = make();
    await pilot.start();
    // Given a healthy cluster for 3 s: nothing worth a line
    for (let second = 0; second < 3; second += 1, now += 1000) await pilot.tick();
    expect(lines.filter((line) => line.includes('autopilot:'))).toEqual([]);
    // When msk-1 is killed, and 7 s pass
    snapshot = killed('msk-1');
    for (let second = 0; second <= 7; second += 1, now += 1000) await pilot.tick();
    await new Promise((resolve) => setImmediate(resolve));
    await pilot.idle();
    // Then the countdown was logged once (not every second), then the action, then the outcome
    const mine = lines.filter((line) => line.includes('msk-1'));
    expect(mine[0]).toMatch(/^warn autopilot: msk-1 lost 0 s: witness lost it \(.*\), partner spb-1 lost it, spb-1 has quorum; failover in 5 s$/);
    expect(mine.filter((line) => line.includes('failover in'))).toHaveLength(1);
    expect(mine).toContainEqual(expect.stringMatching(/^error autopilot: msk-1 lost 5 s: .*; failing over msk-1 now$/));
    expect(mine).toContainEqual('warn autopilot: failover of msk-1 submitted to spb-1 as wf-autopilot-1 (owner autopilot@bak-1)');
    expect(mine).toContainEqual('info autopilot: failover of msk-1 (wf-autopilot-1 on spb-1) succeeded: RTO: 2.0 s');
    // And exactly one submission, to the partner, without force, owned by the autopilot
    expect(submitted).toHaveLength(1);
    expect(submitted[0]).toMatchObject({ node: 'spb-1', request: { spec: { failover: { node: 'msk-1', site: '', force: false } }, owner: 'autopilot@bak-1' } });
    // And the hooks heard the countdown (warning), the decision to act (critical, resolved once acted on),
    // and the action itself: firing while it ran, resolved when it succeeded
    const heard = (id: string): string[] => alerts.filter((alert) => alert.id === id).map((alert) => `${alert.status} ${alert.severity}: ${alert.summary}`);
    expect(heard('autopilot/msk-1')).toEqual([
      expect.stringMatching(/^firing warning: msk-1 lost 0 s: .*failover in 5 s$/),
      expect.stringMatching(/^firing critical: msk-1 lost 5 s: .*failing over msk-1 now$/),
      expect.stringMatching(/^resolved warning: .*already failed over by the autopilot/),
    ]);
    expect(heard('autopilot-action/msk-1')).toEqual([
      'firing critical: failover of msk-1 submitted to spb-1 as wf-autopilot-1 (owner autopilot@bak-1)',
      'resolved warning: failover of msk-1 succeeded: RTO: 2.0 s',
    ]);
    expect(pilot.explain('msk-1').actions).toEqual([expect.objectContaining({ kind: 'failover', outcome: 'succeeded', coordinator: 'spb-1' })]);
    await pilot.stop();

    // When the backup-site agent restarts while msk-1 is still lost
    const again = make();
    await again.start();
    for (let second = 0; second < 10; second += 1, now += 1000) await again.tick();
    // Then it remembers it already failed msk-1 over, and does not submit again
    expect(submitted).toHaveLength(1);
    expect(again.explain('msk-1').decision.code).toBe('failed-over');
    expect(again.status().actions).toEqual([expect.objectContaining({ subject: 'msk-1', outcome: 'succeeded' })]);
    await again.stop();
  });
});
