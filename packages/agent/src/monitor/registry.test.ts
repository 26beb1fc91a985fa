import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { StateChange__Output } from '@hvctl/proto';
import { buildTopology, silentLogger } from '@hvctl/common';
import { fakeClusterSnapshot, fakeLabStates, makeTempDir, removeTempDir } from '@hvctl/common/testing';
import { VmRegistry, foldSnapshot } from './registry.js';

const NOW = 1_700_000_000_000;

/** The lab (3 VMs per main node) with every definition of vm-msk-1-1 intended running. */
function states() {
  const all = fakeLabStates(3, NOW);
  for (const state of all.values()) {
    for (const domain of state.domains.filter((d) => d.name === 'vm-msk-1-1')) Object.assign(domain, { intent: 'DOMAIN_INTENT_RUNNING', intentSetUnixMs: 7, intentSetBy: 'alice' });
  }
  return all;
}

describe('foldSnapshot', () => {
  it('learns every VM a reachable node defines: ip, resource, pair, where it runs, its newest intent', () => {
    const entries = foldSnapshot(new Map(), fakeClusterSnapshot(states()), NOW);
    expect(entries).toHaveLength(12);
    expect(entries.find((entry) => entry.name === 'vm-msk-1-1')).toEqual({
      name: 'vm-msk-1-1',
      ip: expect.stringMatching(/^10\.20\./),
      resource: 'vm-msk-1-1',
      pair: ['msk-1', 'spb-1'],
      lastNode: 'msk-1',
      intent: 'DOMAIN_INTENT_RUNNING',
      intentSetUnixMs: 7,
      intentSetBy: 'alice',
      lastSeenUnixMs: NOW,
    });
  });

  it('keeps what it knew while the pair is down, and reports nothing unchanged', () => {
    const known = new Map(foldSnapshot(new Map(), fakeClusterSnapshot(states()), NOW).map((entry) => [entry.name, entry]));
    // Nothing changed a moment later
    expect(foldSnapshot(known, fakeClusterSnapshot(states()), NOW + 1000)).toEqual([]);
    // Both nodes of the pair down: their VMs are not re-learned, nor dropped
    const changed = foldSnapshot(known, fakeClusterSnapshot(states(), ['msk-1', 'spb-1']), NOW + 2000);
    expect(changed.map((entry) => entry.name)).toEqual([]);
  });
});

describe('VmRegistry', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir) await removeTempDir(dir);
    dir = undefined;
  });

  it('persists, publishes on load, and forgets on request', async () => {
    dir = await makeTempDir('hvctl-registry-');
    const path = join(dir, 'vms.json');
    const published: StateChange__Output[] = [];
    const first = new VmRegistry({ path, publish: (change) => published.push(change), logger: silentLogger() });
    await first.load();
    await first.observe(fakeClusterSnapshot(states()), NOW);
    expect(published.filter((change) => change.change === 'knownVm')).toHaveLength(12);

    // A restarted watcher publishes what it knew before seeing any node
    const again: StateChange__Output[] = [];
    const second = new VmRegistry({ path, publish: (change) => again.push(change), logger: silentLogger() });
    await second.load();
    expect(again.map((change) => change.knownVm?.name)).toContain('vm-msk-1-1');

    // Forgetting removes it and says so; an unknown name is not an error
    expect(await second.forget('vm-msk-1-1')).toBe(true);
    expect(again.at(-1)).toEqual({ change: 'knownVmRemoved', knownVmRemoved: 'vm-msk-1-1' });
    expect(await second.forget('nosuch')).toBe(false);
    const third = new VmRegistry({ path, publish: () => undefined, logger: silentLogger() });
    await third.load();
    expect(third.entries().map((entry) => entry.name)).not.toContain('vm-msk-1-1');
  });

  it('keeps a VM listed (unknown, where it last ran, with its intent) when both nodes of its pair are down', async () => {
    // Given the watcher learned the cluster, and a client that never heard from msk-1 and spb-1
    const entries = foldSnapshot(new Map(), fakeClusterSnapshot(states()), NOW);
    const later = states();
    later.get('bak-1')!.knownVms = entries;
    later.delete('msk-1');
    later.delete('spb-1');
    const topology = buildTopology(fakeClusterSnapshot(later), NOW);

    // Then their VMs are still listed, unknown, on the node they last ran on, and counted
    expect(topology.vms.find((vm) => vm.name === 'vm-msk-1-1')).toMatchObject({ state: 'unknown', node: 'msk-1', intent: 'running', stale: true, lastSeenUnixMs: NOW });
    expect(topology.vms).toHaveLength(12);
    expect(topology.health.vmsUnknown).toBe(6);
  });
});
