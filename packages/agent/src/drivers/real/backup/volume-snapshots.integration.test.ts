import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ProcessRunner, silentLogger } from '@hvctl/common';
import { fakeToolbox, type FakeToolbox } from '../testing/fake-tools.js';
import { LvmVolumeSnapshots, parseLvsSnapshots } from './volume-snapshots.js';

/**
 * LVM snapshots with guest freeze, against fake lvcreate/lvremove/lvs/virsh (LVM needs
 * root and a volume group, which these machines do not offer): the argv each tool gets,
 * the order freeze -> snapshot -> thaw, thaw also when lvcreate fails, crash consistency
 * without a guest agent, and idempotent release. The `lvs` output follows lvm2's
 * `--reportformat json` layout.
 */
const LVS_NONE = JSON.stringify({ report: [{ lv: [{ lv_name: 'web-1', origin: '', lv_time: '2026-01-01 10:00:00 +0000', lv_tags: '' }] }] });
const LVS_SNAP = (consistency: string): string =>
  JSON.stringify({
    report: [
      {
        lv: [
          { lv_name: 'web-1', origin: '', lv_time: '2026-01-01 10:00:00 +0000', lv_tags: '' },
          { lv_name: 'hvctl-bak-web-1', origin: 'web-1', lv_time: '2026-03-04 05:06:07 +0000', lv_tags: `consistency=${consistency},owner=wf-1` },
        ],
      },
    ],
  });

let box: FakeToolbox;
let lvm: LvmVolumeSnapshots;

beforeEach(async () => {
  box = await fakeToolbox('hvctl-lvm-');
  await box.set('lvs.json', LVS_NONE);
  const lvs = await box.tool('lvs', 'cat "$STATE/lvs.json"');
  const lvcreate = await box.tool('lvcreate', '[ -f "$STATE/lvcreate.fail" ] && { echo "  Insufficient free space: 1280 extents needed" >&2; exit 5; }\ncp "$STATE/lvs-after.json" "$STATE/lvs.json"');
  const lvremove = await box.tool('lvremove', 'printf \'%s\' \'' + LVS_NONE + '\' > "$STATE/lvs.json"');
  const virsh = await box.tool('virsh', 'case "$1" in domfsfreeze) [ -f "$STATE/no-agent" ] && { echo "error: Guest agent is not responding: QEMU guest agent is not connected" >&2; exit 1; }; echo "Froze 2 filesystem(s)";; domfsthaw) echo "Thawed 2 filesystem(s)";; esac');
  lvm = new LvmVolumeSnapshots({ runner: new ProcessRunner({ logger: silentLogger() }), lvs, lvcreate, lvremove, virsh, volumeGroup: 'vg0', snapshotSize: '5G', node: 'msk-1' });
});
afterEach(async () => {
  await box.cleanup();
});

describe('LvmVolumeSnapshots', () => {
  it('freezes, snapshots, thaws: application-consistent', async () => {
    await box.set('lvs-after.json', LVS_SNAP('application'));
    const { snapshot, freezeDetail } = await lvm.snapshot('web-1', 'wf-1');
    expect(snapshot).toMatchObject({ id: 'hvctl-bak-web-1', vm: 'web-1', resource: 'web-1', node: 'msk-1', consistency: 'application', owner: 'wf-1' });
    expect(snapshot.createdUnixMs).toBe(Date.UTC(2026, 2, 4, 5, 6, 7));
    expect(freezeDetail).toMatch(/froze web-1.*thawed/);
    const calls = (await box.calls()).map((call) => call.join(' '));
    expect(calls).toEqual([
      'lvs --reportformat json -o lv_name,origin,lv_time,lv_tags,lv_path vg0',
      'virsh domfsfreeze web-1',
      'lvcreate --snapshot --name hvctl-bak-web-1 --size 5G --addtag consistency=application --addtag owner=wf-1 vg0/web-1',
      'virsh domfsthaw web-1',
      'lvs --reportformat json -o lv_name,origin,lv_time,lv_tags,lv_path vg0',
    ]);
  });

  it('without a guest agent takes a crash-consistent snapshot and does not thaw', async () => {
    await box.set('no-agent', '');
    await box.set('lvs-after.json', LVS_SNAP('crash'));
    const { snapshot, freezeDetail } = await lvm.snapshot('web-1', 'wf-2');
    expect(snapshot.consistency).toBe('crash');
    expect(freezeDetail).toMatch(/could not be frozen \(error: Guest agent is not responding.*crash-consistent/);
    expect((await box.calls()).some((call) => call[1] === 'domfsthaw')).toBe(false);
  });

  it('thaws the guest even when lvcreate fails, and reports the failure', async () => {
    await box.set('lvcreate.fail', '');
    await expect(lvm.snapshot('web-1', 'wf-3')).rejects.toThrow(/Insufficient free space/);
    const tools = (await box.calls()).map((call) => `${call[0]} ${call[1]}`);
    expect(tools.slice(1)).toEqual(['virsh domfsfreeze', 'lvcreate --snapshot', 'virsh domfsthaw']);
  });

  it('reuses the snapshot a resumed workflow took, and releases idempotently', async () => {
    await box.set('lvs.json', LVS_SNAP('application'));
    const { snapshot, freezeDetail } = await lvm.snapshot('web-1', 'wf-1');
    expect(snapshot.id).toBe('hvctl-bak-web-1');
    expect(freezeDetail).toMatch(/^reused snapshot/);
    expect(await lvm.release('web-1')).toEqual(['hvctl-bak-web-1']);
    expect(await lvm.release('web-1')).toEqual([]);
    expect((await box.calls()).filter((call) => call[0] === 'lvremove').map((call) => call.slice(1))).toEqual([['-f', 'vg0/hvctl-bak-web-1']]);
    expect(await lvm.list()).toEqual([]);
  });

  it('refuses names that are not names before running anything', async () => {
    await expect(lvm.snapshot('web-1; rm -rf /', 'wf')).rejects.toThrow(/not a valid name/);
    expect(await box.calls()).toEqual([]);
    expect(parseLvsSnapshots('{"report":[{"lv":[{"lv_name":"other","origin":"web-1"}]}]}', 'n')).toEqual([]);
  });
});
