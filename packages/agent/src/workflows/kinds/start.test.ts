import { describe, expect, it } from 'vitest';
import type { Domain__Output, Resource__Output } from '@hvctl/proto';
import { fakeDomain, fakePeer, fakeResource } from '@hvctl/common/testing';
import { chooseStartNode } from './start.js';

/** vm-a replicated between msk-1 and spb-1 with bak-1 as witness, shut off on both. */
function view(overrides: { msk?: Partial<Resource__Output>; spb?: Partial<Resource__Output>; cordoned?: string[]; running?: string; unreachable?: string[] } = {}) {
  const replica = (peer: string, extra: Partial<Resource__Output> = {}): Resource__Output =>
    fakeResource('vm-a', { role: 'Secondary', peers: [fakePeer(peer, { peerRole: 'Secondary' }), fakePeer('bak-1', { peerClient: true, peerDiskState: 'Diskless' })], ...extra });
  const domain = (node: string, changed: number): Domain__Output =>
    fakeDomain('vm-a', { state: overrides.running === node ? 'DOMAIN_STATE_RUNNING' : 'DOMAIN_STATE_SHUTOFF', stateChangedUnixMs: changed });
  const unreachable = overrides.unreachable ?? [];
  const replicas = new Map<string, Resource__Output>();
  const domains = new Map<string, Domain__Output>();
  if (!unreachable.includes('msk-1')) {
    replicas.set('msk-1', replica('spb-1', overrides.msk));
    domains.set('msk-1', domain('msk-1', 100));
  }
  if (!unreachable.includes('spb-1')) {
    replicas.set('spb-1', replica('msk-1', overrides.spb));
    domains.set('spb-1', domain('spb-1', 200));
  }
  return { domains, replicas, cordoned: new Set(overrides.cordoned ?? []), unreachable };
}

describe('chooseStartNode', () => {
  it('chooses the replica where the VM last ran', () => {
    expect(chooseStartNode('vm-a', view())).toEqual({ node: 'spb-1', warnings: [] });
  });

  it('skips an Outdated copy and a copy without quorum', () => {
    expect(chooseStartNode('vm-a', view({ spb: { diskState: 'Outdated' } })).node).toBe('msk-1');
    expect(chooseStartNode('vm-a', view({ spb: { quorum: false } })).node).toBe('msk-1');
  });

  it('refuses, naming every reason, when no copy can be promoted safely', () => {
    expect(() => chooseStartNode('vm-a', view({ msk: { diskState: 'Outdated' }, unreachable: ['spb-1'] }))).toThrow(
      'no replica of vm-a can be safely promoted: vm-a is Outdated on msk-1: promoting it would serve an out-of-date or partial copy (spb-1 did not answer); nothing was changed',
    );
    expect(() => chooseStartNode('vm-a', view({ msk: { quorum: false, diskState: 'Inconsistent' }, spb: { quorum: false } }))).toThrow(
      /vm-a is Inconsistent on msk-1.*; vm-a has no quorum on msk-1.*; vm-a has no quorum on spb-1/,
    );
  });

  it('refuses while the peer is Primary, and while the VM runs anywhere', () => {
    const peerPrimary = view({ unreachable: ['spb-1'], msk: { peers: [fakePeer('spb-1', { peerRole: 'Primary' })] } });
    expect(() => chooseStartNode('vm-a', peerPrimary)).toThrow(/vm-a is Primary on its peer spb-1/);
    expect(() => chooseStartNode('vm-a', view({ running: 'msk-1' }))).toThrow('vm-a is already running on msk-1 (running); nothing was changed');
  });

  it('uses a cordoned node only when it holds the only promotable copy, and says so', () => {
    expect(chooseStartNode('vm-a', view({ cordoned: ['spb-1'] }))).toEqual({ node: 'msk-1', warnings: [] });
    expect(chooseStartNode('vm-a', view({ cordoned: ['spb-1'], msk: { diskState: 'Outdated' } }))).toEqual({
      node: 'spb-1',
      warnings: ['spb-1 is cordoned, but it holds the only copy of vm-a that can be promoted: starting it there'],
    });
  });
});
