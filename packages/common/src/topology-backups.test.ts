import { describe, expect, it } from 'vitest';
import { parseBackupsSection } from './backup-policy.js';
import { fakeClusterSnapshot, fakeLabStates } from './testing/fixtures.js';
import { buildTopology } from './topology.js';

const NOW = 1_700_000_000_000;

describe('topology: backup age against the policy', () => {
  it('flags a VM whose newest backup is older than its policy allows, and one under a policy without any backup', () => {
    // Given every VM's newest backup is 1 h old, and policies: vm-msk-1-1 max 30m, everything else max 2h
    const states = fakeLabStates(2, NOW);
    const bak = states.get('bak-1');
    if (bak) bak.snapshots = bak.snapshots.filter((snapshot) => snapshot.vm !== 'vm-spb-2-2');
    const snapshot = fakeClusterSnapshot(states);
    const backups = parseBackupsSection({
      policies: [
        { name: 'tight', vms: ['vm-msk-1-1'], schedule: '*/10 * * * *', retention: { keepLast: 3 }, maxAge: '30m' },
        { name: 'rest', vms: ['*'], schedule: '0 * * * *', retention: { keepLast: 3 }, maxAge: '2h' },
      ],
    });
    // When the topology is built
    const topology = buildTopology({ ...snapshot, cluster: { ...snapshot.cluster, backups } }, NOW);
    const entry = (vm: string) => topology.backups.find((backup) => backup.vm === vm);
    // Then the tight one is overdue, the others are not, and the VM without backups is listed as overdue
    expect(entry('vm-msk-1-1')).toMatchObject({ policy: 'tight', maxAgeSeconds: 1800, overdue: true, snapshots: 1, lastAtMs: NOW - 3_600_000 });
    expect(entry('vm-msk-1-2')).toMatchObject({ policy: 'rest', maxAgeSeconds: 7200, overdue: false });
    expect(entry('vm-spb-2-2')).toMatchObject({ policy: 'rest', snapshots: 0, lastAtMs: 0, overdue: true });
  });

  it('flags nothing without policies', () => {
    const topology = buildTopology(fakeClusterSnapshot(fakeLabStates(1, NOW)), NOW + 30 * 86_400_000);
    expect(topology.backups.length).toBe(4);
    expect(topology.backups.every((backup) => !backup.overdue && backup.policy === '' && backup.maxAgeSeconds === 0)).toBe(true);
  });
});
