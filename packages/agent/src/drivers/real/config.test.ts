import { describe, expect, it } from 'vitest';
import { parseAgentConfig } from '../../config.js';
import { DEFAULT_TOOLS } from './config.js';

const base = { node: 'msk-1', site: 'msk', listen: '0.0.0.0:7400' };
const allReal = { drbd: 'real', kvm: 'real', routing: 'real', backup: 'real', host: 'real' };

describe('agent.yaml: the real drivers', () => {
  it('accepts an all-real config without a sim section, with defaults for every tool', () => {
    const config = parseAgentConfig({ ...base, drivers: allReal, backup: { repository: 'rest:https://bak-1:8000/hvctl', passwordFile: 'restic.pw' } }, '/etc/hvctl/agent.yaml');
    expect(config.sim).toBeUndefined();
    expect(config.drivers).toEqual(allReal);
    expect(config.real?.tools).toEqual(DEFAULT_TOOLS);
    expect(config.real?.backup).toMatchObject({ repository: 'rest:https://bak-1:8000/hvctl', passwordFile: '/etc/hvctl/restic.pw', restoreRoot: '/var/lib/hvctl/restore' });
    expect(config.real?.kvm).toMatchObject({ uri: 'qemu:///system', migrationUri: 'qemu+ssh://{node}/system' });
    expect(config.real?.routing).toMatchObject({ socket: '/run/bird/bird.ctl', includeFile: '/etc/bird/hvctl.conf' });
    expect(config.real?.routing.netns).toBeUndefined();
  });

  it('reads the network namespace the lab puts a node in', () => {
    const config = parseAgentConfig({ ...base, drivers: { ...allReal, backup: 'sim' }, sim: { link: '127.0.0.1:7501' }, routing: { netns: 'hvl-0a1b2c-msk-1' } }, '/etc/hvctl/agent.yaml');
    expect(config.real?.routing.netns).toBe('hvl-0a1b2c-msk-1');
  });

  it('refuses relative tool paths, a migration URI without {node}, and bad flags', () => {
    const parse = (extra: object) => () => parseAgentConfig({ ...base, drivers: { ...allReal, backup: 'sim' }, sim: { link: '127.0.0.1:7501' }, ...extra }, '/etc/hvctl/agent.yaml');
    expect(parse({ tools: { virsh: 'virsh' } })).toThrow(/tools.virsh must be an absolute path/);
    expect(parse({ kvm: { migrationUri: 'qemu+ssh://spb-1/system' } })).toThrow(/must contain \{node\}/);
    expect(parse({ kvm: { migrateFlags: ['--tls; rm -rf /'] } })).toThrow(/migrateFlags/);
    expect(parse({ routing: { vmInterface: 'br0"; }' } })).toThrow(/vmInterface/);
    expect(parse({ routing: { netns: '../../etc' } })).toThrow(/routing.netns/);
    expect(parse({ backup: { sourceTemplate: '/srv/backup' } })).toThrow(/\{vm\}/);
    expect(parse({ backup: { retention: { keepWithin: 'forever' } } })).toThrow(/keepWithin/);
  });

  it('reads LVM volume snapshots for backups from backup.volumes, with defaults, and refuses bad ones', () => {
    const backup = { repository: '/srv/restic', passwordFile: 'restic.pw' };
    const parse = (volumes: unknown) => parseAgentConfig({ ...base, drivers: allReal, backup: { ...backup, volumes } }, '/etc/hvctl/agent.yaml');
    expect(parseAgentConfig({ ...base, drivers: allReal, backup }, '/etc/hvctl/agent.yaml').real?.backup.volumes).toBeUndefined();
    expect(parse({ kind: 'lvm', volumeGroup: 'vg0', snapshotSize: '10G' }).real?.backup.volumes).toEqual({
      kind: 'lvm',
      volumeGroup: 'vg0',
      snapshotSize: '10G',
      volumeTemplate: '{vm}',
      lvcreate: '/usr/sbin/lvcreate',
      lvremove: '/usr/sbin/lvremove',
      lvs: '/usr/sbin/lvs',
    });
    expect(parse({ kind: 'lvm', volumeGroup: 'vg0', snapshotSize: '5G', volumeTemplate: '{vm}-disk', lvs: '/sbin/lvs' }).real?.backup.volumes).toMatchObject({ volumeTemplate: '{vm}-disk', lvs: '/sbin/lvs' });
    expect(() => parse({ kind: 'zfs', volumeGroup: 'vg0', snapshotSize: '5G' })).toThrow(/backup.volumes.kind must be lvm/);
    expect(() => parse({ kind: 'lvm', volumeGroup: 'vg0/../x', snapshotSize: '5G' })).toThrow(/volumeGroup/);
    expect(() => parse({ kind: 'lvm', volumeGroup: 'vg0', snapshotSize: 'lots' })).toThrow(/snapshotSize must be an LVM size/);
    expect(() => parse({ kind: 'lvm', volumeGroup: 'vg0', snapshotSize: '5G', volumeTemplate: 'disk' })).toThrow(/volumeTemplate/);
    expect(() => parse({ kind: 'lvm', volumeGroup: 'vg0', snapshotSize: '5G', lvcreate: 'lvcreate' })).toThrow(/backup.volumes.lvcreate must be an absolute path/);
    expect(() => parse({ kind: 'lvm', volumeGroup: 'vg0', snapshotSize: '5G', size: '5G' })).toThrow(/backup.volumes.size is not a setting/);
  });

  it('needs a repository and a password file for the real backup driver', () => {
    expect(() => parseAgentConfig({ ...base, drivers: allReal }, '/etc/hvctl/agent.yaml')).toThrow(/backup.repository is required/);
    expect(() => parseAgentConfig({ ...base, drivers: allReal, backup: { repository: '/srv/restic' } }, '/etc/hvctl/agent.yaml')).toThrow(/backup.passwordFile is required/);
  });

  it('still needs the sim section when any area is simulated', () => {
    expect(() => parseAgentConfig({ ...base, drivers: { ...allReal, kvm: 'sim' }, backup: { repository: '/r', passwordFile: '/p' } }, '/etc/hvctl/agent.yaml')).toThrow(/need a `sim:` section/);
  });
});
