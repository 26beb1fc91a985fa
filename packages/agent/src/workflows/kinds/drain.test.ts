import { describe, expect, it } from 'vitest';
import { fakeNodeInfo } from '@hvctl/common/testing';
import { flattenSteps } from '../types.js';
import { drainProgram, prefixId, type DrainData } from './drain.js';
import { missingCapabilities, parseDrainData, undrainProgram, type UndrainData } from './undrain.js';

const GIB = 1024 ** 3;

const DRAIN: DrainData = {
  node: 'msk-1',
  site: 'msk',
  parallel: 2,
  moves: [
    { vm: 'web-1', ip: '10.20.0.10', resource: 'web-1', from: 'msk-1', to: 'spb-1', memoryBytes: 4 * GIB },
    { vm: 'db-1', ip: '10.20.0.11', resource: 'db-1', from: 'msk-1', to: 'spb-2', memoryBytes: 8 * GIB },
  ],
  skipped: [],
  bgp: [{ prefix: '203.0.113.0/24', to: 'msk-2', alreadyAnnounced: false }],
  keptBgp: [],
};

const outline = (steps: readonly { phase: string; title: string }[]): string[] => steps.map((step) => `${step.phase}: ${step.title}`);

describe('drain program (pure: rebuilt from the journaled plan data)', () => {
  it('cordons, checks, migrates each VM in its own lane, hands BGP over, withdraws routes, enters maintenance', () => {
    // Given a plan moving two VMs and the BGP announcement
    const program = drainProgram(DRAIN);
    // Then the stages are: cordon + check, the lanes (2 at once), the rest in order
    expect(program.stages.map((stage) => ('lanes' in stage ? `lanes x${stage.lanes.length} parallel ${stage.parallel}` : `steps x${stage.steps.length}`))).toEqual([
      'steps x2',
      'lanes x2 parallel 2',
      'steps x5',
    ]);
    const steps = flattenSteps(program);
    expect(new Set(steps.map((step) => step.id)).size).toBe(steps.length);
    expect(outline(steps.filter((step) => !step.id.includes(':') || step.id.startsWith('bgp-')))).toEqual([
      'cordon: cordon msk-1',
      'check: check the 2 VM(s) of msk-1 can move (peers UpToDate and connected, targets in service, memory)',
      'route: announce 203.0.113.0/24 by BGP from msk-2 (instead of msk-1)',
      'route: withdraw 203.0.113.0/24 from msk-1 (msk-2 announces it)',
      'route: withdraw from msk-1 the /32 of every VM that no longer runs there',
      'maintenance: mark msk-1 maintenance',
      'verify: verify msk-1 is drained: its VMs run only on their targets, cordoned, in maintenance',
    ]);
    expect(steps.filter((step) => step.id.startsWith('db-1:')).map((step) => step.id)).toEqual([
      'db-1:preflight',
      'db-1:allow-two-primaries-target',
      'db-1:allow-two-primaries-source',
      'db-1:promote-target',
      'db-1:migrate',
      'db-1:demote-source',
      'db-1:forbid-two-primaries-source',
      'db-1:forbid-two-primaries-target',
      'db-1:route',
      'db-1:intent',
      'db-1:verify',
    ]);
    // And the cordon step says the node stays cordoned after a failure
    expect(steps[0]?.preconditions.join(' ')).toContain('stays cordoned if the drain fails');
    // And the only read-only steps are the checks
    expect(steps.filter((step) => step.readOnly).map((step) => step.id)).toEqual(['preflight', 'web-1:preflight', 'web-1:verify', 'db-1:preflight', 'db-1:verify', 'verify']);
  });

  it('leaves maintenance out when VMs were skipped, and has no lanes when nothing moves', () => {
    const program = drainProgram({ ...DRAIN, moves: [], bgp: [], skipped: [{ vm: 'big-1', reason: 'no peer' }] });
    expect(outline(flattenSteps(program))).toEqual([
      'cordon: cordon msk-1',
      'check: check the 0 VM(s) of msk-1 can move (peers UpToDate and connected, targets in service, memory)',
      'route: withdraw from msk-1 the /32 of every VM that no longer runs there',
      'verify: verify msk-1 is drained: cordoned',
    ]);
    expect(program.stages.some((stage) => 'lanes' in stage)).toBe(false);
  });

  it('builds step ids that request ids accept (no "/")', () => {
    expect(prefixId('203.0.113.0/24')).toBe('203.0.113.0-24');
    for (const step of flattenSteps(drainProgram(DRAIN))) expect(step.id).toMatch(/^[A-Za-z0-9._:-]+$/);
  });
});

describe('undrain program', () => {
  const UNDRAIN: UndrainData = {
    node: 'msk-1',
    resync: [
      { resource: 'db-1', peer: 'spb-1', class: 'in-sync', role: 'Secondary', peerRole: 'Primary', reason: 'db-1: UpToDate on msk-1 and spb-1', fix: [], etaSeconds: 0 },
      { resource: 'web-1', peer: 'spb-1', class: 'resync', role: 'Secondary', peerRole: 'Primary', reason: 'web-1: SyncTarget 40%, ~12 s left', fix: [], etaSeconds: 12 },
      { resource: 'git-1', peer: 'spb-2', class: 'peer-gone', role: 'Secondary', peerRole: 'Unknown', reason: 'git-1: peer spb-2 unreachable since 12:01:03', fix: [], etaSeconds: 0 },
      { resource: 'log-1', peer: 'spb-2', class: 'disk-failed', role: 'Secondary', peerRole: 'Unknown', reason: 'log-1: the local disk on msk-1 failed', fix: ['attach it'], etaSeconds: 0 },
    ],
    returns: [{ vm: 'web-1', ip: '10.20.0.10', resource: 'web-1', from: 'spb-1', to: 'msk-1', memoryBytes: 4 * GIB }],
    bgp: [{ prefix: '203.0.113.0/24', from: 'msk-2', withdraw: true }],
    drainId: 'wf-20261123-abcd',
  };

  it('checks health, resyncs every resource, returns to service, then brings VMs and BGP back', () => {
    const steps = flattenSteps(undrainProgram(UNDRAIN));
    expect(outline(steps.filter((step) => !step.id.startsWith('web-1:')))).toEqual([
      'check: health-check msk-1: agent answers, drbd, kvm, routing drivers available',
      'resync: let git-1 on msk-1 reconnect to spb-2 by itself (peer gone: not waited for)',
      'resync: wait until db-1 on msk-1 is UpToDate and connected to spb-1',
      'resync: wait until web-1 on msk-1 is UpToDate and connected to spb-1',
      'service: uncordon msk-1',
      'service: unmark msk-1 maintenance',
      'route: announce 203.0.113.0/24 by BGP from msk-1 (instead of msk-2)',
      'route: withdraw 203.0.113.0/24 from msk-2 (msk-1 announces it again)',
      'verify: verify msk-1 is back in service and its VMs run there',
    ]);
    expect(steps.find((step) => step.id === 'web-1:migrate')?.title).toBe('live-migrate web-1 from spb-1 to msk-1');
  });

  it('waits for every resyncable resource side by side, and for none whose peer is gone or disk failed', () => {
    const [, waits] = undrainProgram(UNDRAIN).stages;
    expect(waits && 'lanes' in waits ? { lanes: waits.lanes.map((lane) => lane.map((step) => step.id)), parallel: waits.parallel } : waits).toEqual({
      lanes: [['resync:db-1'], ['resync:web-1']],
      parallel: 2,
    });
  });

  it('resumes an undrain journaled before resources were classified: each named resource is waited for', () => {
    const legacy = { node: 'msk-1', resources: ['db-1'], returns: [], bgp: [], drainId: '' } as unknown as UndrainData;
    const steps = flattenSteps(undrainProgram(legacy));
    expect(steps.map((step) => step.id)).toEqual(['health', 'resync:db-1', 'uncordon', 'maintenance-off', 'verify']);
    expect(steps[1]?.title).toBe('wait until db-1 on msk-1 is UpToDate and connected to its peer');
  });

  it('keeps the BGP announcement where it was before the drain', () => {
    const steps = flattenSteps(undrainProgram({ ...UNDRAIN, returns: [], bgp: [{ prefix: '203.0.113.0/24', from: 'msk-2', withdraw: false }] }));
    expect(steps.map((step) => step.id)).toEqual(['health', 'reconnect:git-1', 'resync:db-1', 'resync:web-1', 'uncordon', 'maintenance-off', 'bgp-announce:203.0.113.0-24', 'verify']);
  });
});

describe('parseDrainData', () => {
  it('reads the moves and BGP handovers of a drain record', () => {
    expect(parseDrainData(JSON.stringify(DRAIN))).toEqual({ node: 'msk-1', moves: DRAIN.moves, bgp: DRAIN.bgp });
  });

  it('rejects what is not a drain record and drops malformed entries', () => {
    expect(parseDrainData('not json')).toBeUndefined();
    expect(parseDrainData(JSON.stringify({ vm: 'web-1' }))).toBeUndefined();
    expect(parseDrainData(JSON.stringify({ node: 'msk-1', moves: [{ vm: 'web-1' }, DRAIN.moves[0]] }))).toEqual({ node: 'msk-1', moves: [DRAIN.moves[0]], bgp: [] });
  });
});

describe('missingCapabilities', () => {
  it('names the drivers a node lacks to host VMs', () => {
    expect(missingCapabilities(fakeNodeInfo('msk-1', 'msk'))).toEqual([]);
    const info = fakeNodeInfo('msk-1', 'msk', {
      capabilities: [
        { area: 'drbd', driver: 'real', available: false, detail: 'drbdadm not found' },
        { area: 'kvm', driver: 'sim', available: true, detail: '' },
      ],
    });
    expect(missingCapabilities(info)).toEqual(['drbd: drbdadm not found', 'routing: not reported']);
  });
});
