import type { VolumeSnapshot__Output } from '@hvctl/proto';
import { ToolError, failedPrecondition, notFound, type CommandRunner, type Logger } from '@hvctl/common';
import { assertSafeName } from '../common.js';

export interface LvmSnapshotOptions {
  readonly runner: CommandRunner;
  /** Absolute paths of the tools. */
  readonly lvcreate: string;
  readonly lvremove: string;
  readonly lvs: string;
  readonly virsh: string;
  /** libvirt connection URI for virsh (`-c`). */
  readonly libvirtUri?: string;
  /** Volume group holding the VMs' backing volumes. */
  readonly volumeGroup: string;
  /** The logical volume backing a VM's DRBD resource (default: the VM's name). */
  readonly volumeOf?: (vm: string) => string;
  /** Copy-on-write space of a snapshot (lvcreate --size), e.g. "5G". */
  readonly snapshotSize: string;
  readonly node: string;
  readonly timeoutMs?: number;
  readonly logger?: Logger;
}

/** Names of hvctl's backup snapshots: `hvctl-bak-<vm>`, one per VM at a time. */
const PREFIX = 'hvctl-bak-';
const SIZE = /^\d+(\.\d+)?[bBsSkKmMgGtT]?$/;

/** The fields hvctl asks `lvs` for. */
const LVS_FIELDS = 'lv_name,origin,lv_time,lv_tags,lv_path';

/** The output of `lvs --reportformat json -o lv_name,origin,lv_time,lv_tags,lv_path VG`. */
interface LvsReport {
  report?: { lv?: { lv_name?: string; origin?: string; lv_time?: string; lv_tags?: string; lv_path?: string }[] }[];
}

/** The block device of each listed volume (`lv_path`, e.g. /dev/vg0/hvctl-bak-web-1), by name. */
export function parseLvsDevices(text: string): Map<string, string> {
  const report = JSON.parse(text) as LvsReport;
  const volumes = report.report?.flatMap((entry) => entry.lv ?? []) ?? [];
  return new Map(volumes.filter((lv) => lv.lv_name && lv.lv_path).map((lv) => [lv.lv_name as string, lv.lv_path as string]));
}

/** Parses `lvs --reportformat json` into hvctl's backup snapshots. */
export function parseLvsSnapshots(text: string, node: string): VolumeSnapshot__Output[] {
  const report = JSON.parse(text) as LvsReport;
  const volumes = report.report?.flatMap((entry) => entry.lv ?? []) ?? [];
  return volumes
    .filter((lv) => lv.lv_name?.startsWith(PREFIX) && lv.origin)
    .map((lv) => {
      const tags = (lv.lv_tags ?? '').split(',');
      const tag = (key: string): string => tags.find((entry) => entry.startsWith(`${key}=`))?.slice(key.length + 1) ?? '';
      const created = lv.lv_time ? Date.parse(lv.lv_time.replace(' ', 'T').replace(/ ([+-]\d\d)(\d\d)$/, '$1:$2')) : 0;
      return {
        id: lv.lv_name as string,
        vm: (lv.lv_name as string).slice(PREFIX.length),
        resource: lv.origin as string,
        node,
        createdUnixMs: Number.isFinite(created) ? created : 0,
        consistency: tag('consistency') || 'crash',
        checksum: '',
        owner: tag('owner'),
      };
    });
}

/**
 * Backup volume snapshots with LVM: the guest's file systems are frozen through its QEMU
 * guest agent (`virsh domfsfreeze`) for the instant of `lvcreate --snapshot`, and thawed
 * (`virsh domfsthaw`) whatever happens; a VM without a guest agent gets a crash-consistent
 * snapshot. Every command goes through the runner, argv only.
 */
export class LvmVolumeSnapshots {
  constructor(private readonly options: LvmSnapshotOptions) {
    if (!SIZE.test(options.snapshotSize)) throw failedPrecondition(`backup.volumes.snapshotSize "${options.snapshotSize}" is not an LVM size like 5G`);
    assertSafeName(options.volumeGroup, 'volume group');
  }

  private virshArgs(args: readonly string[]): string[] {
    return [...(this.options.libvirtUri ? ['-c', this.options.libvirtUri] : []), ...args];
  }

  private async lvs(): Promise<string> {
    const { stdout } = await this.options.runner.run(this.options.lvs, {
      args: ['--reportformat', 'json', '-o', LVS_FIELDS, this.options.volumeGroup],
      timeoutMs: this.options.timeoutMs ?? 30_000,
    });
    return stdout;
  }

  async list(): Promise<VolumeSnapshot__Output[]> {
    return parseLvsSnapshots(await this.lvs(), this.options.node);
  }

  async snapshot(vm: string, owner: string): Promise<{ snapshot: VolumeSnapshot__Output; freezeDetail: string }> {
    const name = assertSafeName(vm, 'vm');
    const existing = (await this.list()).find((snapshot) => snapshot.vm === name);
    // A resumed workflow finds the snapshot it took before the restart.
    if (existing) return { snapshot: existing, freezeDetail: `reused snapshot ${existing.id} taken at ${new Date(Number(existing.createdUnixMs)).toISOString()}` };
    const timeoutMs = this.options.timeoutMs ?? 30_000;
    let frozen = false;
    let freezeDetail: string;
    try {
      await this.options.runner.run(this.options.virsh, { args: this.virshArgs(['domfsfreeze', name]), timeoutMs });
      frozen = true;
      freezeDetail = `froze ${name}'s file systems (virsh domfsfreeze)`;
    } catch (error) {
      if (!(error instanceof ToolError)) throw error;
      freezeDetail = `${name} could not be frozen (${error.firstStderrLine || error.message}): crash-consistent copy`;
    }
    const volume = assertSafeName(this.options.volumeOf?.(name) ?? name, 'volume');
    const consistency = frozen ? 'application' : 'crash';
    try {
      await this.options.runner.run(this.options.lvcreate, {
        args: [
          '--snapshot',
          '--name',
          `${PREFIX}${name}`,
          '--size',
          this.options.snapshotSize,
          '--addtag',
          `consistency=${consistency}`,
          '--addtag',
          `owner=${owner.replace(/[^A-Za-z0-9_+.=-]/g, '_').slice(0, 100)}`,
          `${this.options.volumeGroup}/${volume}`,
        ],
        timeoutMs,
      });
    } finally {
      if (frozen) {
        await this.options.runner.run(this.options.virsh, { args: this.virshArgs(['domfsthaw', name]), timeoutMs }).then(
          () => {
            freezeDetail += ', snapshotted, thawed (virsh domfsthaw)';
          },
          (error: unknown) => {
            this.options.logger?.error({ err: error, vm: name }, 'domfsthaw failed; the guest may stay frozen');
            freezeDetail += `, snapshotted, but THAW FAILED: run \`virsh domfsthaw ${name}\``;
          },
        );
      }
    }
    const taken = (await this.list()).find((snapshot) => snapshot.vm === name);
    if (!taken) throw failedPrecondition(`lvcreate reported success but ${this.options.volumeGroup}/${PREFIX}${name} is not listed by lvs`);
    return { snapshot: { ...taken, consistency, owner }, freezeDetail };
  }

  async release(vm: string): Promise<string[]> {
    const name = assertSafeName(vm, 'vm');
    const held = (await this.list()).filter((snapshot) => snapshot.vm === name);
    for (const snapshot of held) {
      await this.options.runner.run(this.options.lvremove, { args: ['-f', `${this.options.volumeGroup}/${snapshot.id}`], timeoutMs: this.options.timeoutMs ?? 30_000 });
    }
    return held.map((snapshot) => snapshot.id);
  }

  /** Where a snapshot's data can be read: its block device as lvs reports it (`lv_path`). */
  async devicePath(snapshotId: string): Promise<string> {
    const id = assertSafeName(snapshotId, 'snapshot');
    const device = parseLvsDevices(await this.lvs()).get(id);
    if (!device) throw notFound(`volume snapshot ${this.options.volumeGroup}/${id} is not listed by lvs on ${this.options.node}`, { nextSteps: ['run the backup again: it takes a new snapshot'] });
    return device;
  }
}
