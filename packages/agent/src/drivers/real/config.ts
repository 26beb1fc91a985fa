import { isAbsolute } from 'node:path';
import { badEnvName, type RetentionPolicy } from './backup/driver.js';

/** Absolute paths of the tools the real drivers run (Debian 12 defaults). */
export interface ToolPaths {
  readonly drbdadm: string;
  readonly drbdsetup: string;
  readonly virsh: string;
  readonly birdc: string;
  readonly ip: string;
  readonly restic: string;
}

export const DEFAULT_TOOLS: ToolPaths = {
  drbdadm: '/usr/sbin/drbdadm',
  drbdsetup: '/usr/sbin/drbdsetup',
  virsh: '/usr/bin/virsh',
  birdc: '/usr/sbin/birdc',
  ip: '/usr/sbin/ip',
  restic: '/usr/bin/restic',
};

/** Settings of the real drivers (agent.yaml `tools:`, `drbd:`, `kvm:`, `routing:`, `backup:`). */
export interface RealConfig {
  readonly tools: ToolPaths;
  readonly drbd: {
    /** drbdadm -c FILE; drbdadm's default (/etc/drbd.conf) when unset. */
    readonly configFile?: string;
    /** Pass `--drbdsetup=<tools.drbdsetup>` to drbdadm. */
    readonly passDrbdsetup: boolean;
    readonly timeoutMs: number;
    readonly pollIntervalMs: number;
  };
  readonly kvm: {
    readonly uri: string;
    /** Destination URI template; `{node}` is replaced by the target node's name. */
    readonly migrationUri: string;
    readonly migrateFlags: readonly string[];
    readonly timeoutMs: number;
    readonly migrateTimeoutMs: number;
    /** Metadata namespace holding `<vm ip=… priority=…/>`; empty to not read it. */
    readonly metadataUri: string;
  };
  readonly routing: {
    readonly socket: string;
    readonly includeFile: string;
    /** Route VM /32s `via "IFACE"` instead of blackhole. */
    readonly vmInterface?: string;
    /** OSPF router id / BGP neighbour address → the name shown for that neighbour. */
    readonly peerNames: Readonly<Record<string, string>>;
    /** Read kernel routes in this network namespace (`ip -n NETNS`); the lab's `--netns` mode sets it. */
    readonly netns?: string;
    readonly timeoutMs: number;
    readonly pollMs: number;
    /** How long a starting agent waits for DRBD quorum before it withdraws the public block from the include file. */
    readonly bootQuorumWaitMs: number;
  };
  readonly backup: {
    readonly repository?: string;
    readonly passwordFile?: string;
    readonly cacheDir?: string;
    /** `backup.env`: names of the agent's environment variables passed on to restic (a backend's credentials). */
    readonly env: readonly string[];
    /** `backup.envFile`: a file of `NAME=value` lines passed on to restic. */
    readonly envFile?: string;
    /** Path of a VM's data to back up; `{vm}` is replaced by the VM name. */
    readonly sourceTemplate: string;
    readonly restoreRoot: string;
    readonly retention: RetentionPolicy;
    readonly timeoutMs: number;
    /** Volume snapshots a backup reads (`backup.volumes`); without them the live sourceTemplate is copied. */
    readonly volumes?: LvmVolumesConfig;
  };
}

/** `backup.volumes: {kind: lvm, …}`: LVM snapshots of the volumes backing the VMs' DRBD resources. */
export interface LvmVolumesConfig {
  readonly kind: 'lvm';
  readonly volumeGroup: string;
  /** Copy-on-write space of each snapshot (lvcreate --size), e.g. "10G". */
  readonly snapshotSize: string;
  /** Name of a VM's backing logical volume; `{vm}` is replaced by the VM name. */
  readonly volumeTemplate: string;
  /** Absolute paths of the LVM tools. */
  readonly lvcreate: string;
  readonly lvremove: string;
  readonly lvs: string;
}

const LVM_NAME = /^[A-Za-z0-9+_.-]{1,127}$/;

function parseVolumes(raw: unknown, fail: (message: string) => never): LvmVolumesConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) fail('backup.volumes must be a map like {kind: lvm, volumeGroup: vg0, snapshotSize: 10G}');
  const volumes = raw as Raw;
  const known = ['kind', 'volumeGroup', 'snapshotSize', 'volumeTemplate', 'lvcreate', 'lvremove', 'lvs'];
  for (const key of Object.keys(volumes)) if (!known.includes(key)) fail(`backup.volumes.${key} is not a setting (known: ${known.join(', ')})`);
  if (volumes['kind'] !== 'lvm') fail('backup.volumes.kind must be lvm (the only kind of volume snapshot hvctl takes)');
  const volumeGroup = volumes['volumeGroup'];
  if (typeof volumeGroup !== 'string' || !LVM_NAME.test(volumeGroup)) fail('backup.volumes.volumeGroup must be the name of the volume group holding the VMs\' volumes');
  const snapshotSize = volumes['snapshotSize'];
  if (typeof snapshotSize !== 'string' || !/^\d+(\.\d+)?[bBsSkKmMgGtT]?$/.test(snapshotSize)) fail('backup.volumes.snapshotSize must be an LVM size like 10G');
  const volumeTemplate = volumes['volumeTemplate'] ?? '{vm}';
  if (typeof volumeTemplate !== 'string' || !volumeTemplate.includes('{vm}') || !LVM_NAME.test(volumeTemplate.split('{vm}').join('x'))) {
    fail('backup.volumes.volumeTemplate must be a logical volume name containing {vm}, like {vm} or {vm}-disk');
  }
  const tool = (name: 'lvcreate' | 'lvremove' | 'lvs'): string => {
    const value = volumes[name] ?? `/usr/sbin/${name}`;
    if (typeof value !== 'string' || !isAbsolute(value)) fail(`backup.volumes.${name} must be an absolute path (the agent never searches PATH)`);
    return value;
  };
  return { kind: 'lvm', volumeGroup, snapshotSize, volumeTemplate, lvcreate: tool('lvcreate'), lvremove: tool('lvremove'), lvs: tool('lvs') };
}

type Raw = Record<string, unknown>;

const section = (doc: Raw, key: string): Raw => {
  const value = doc[key];
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? (value as Raw) : {};
};

/**
 * Validates the real drivers' settings. `abs` resolves a path against the config file's
 * directory, `fail` throws the config error. Requirements that depend on which areas
 * are real (a repository for backup) are checked by `requireRealSettings`.
 */
export function parseRealConfig(doc: Raw, abs: (path: string) => string, fail: (message: string) => never): RealConfig {
  const tools = section(doc, 'tools');
  const tool = (name: keyof ToolPaths): string => {
    const value = tools[name] ?? DEFAULT_TOOLS[name];
    if (typeof value !== 'string' || !isAbsolute(value)) fail(`tools.${name} must be an absolute path (the agent never searches PATH)`);
    return value;
  };
  const number = (raw: Raw, key: string, fallback: number, where: string, min = 1, max = 86_400_000): number => {
    const value = raw[key] ?? fallback;
    if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max) fail(`${where}.${key} must be a number between ${min} and ${max}`);
    return value;
  };
  const text = (raw: Raw, key: string, where: string): string | undefined => {
    const value = raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'string' || value === '') fail(`${where}.${key} must be a non-empty string`);
    return value;
  };
  const path = (raw: Raw, key: string, where: string): string | undefined => {
    const value = text(raw, key, where);
    return value === undefined ? undefined : abs(value);
  };

  const drbd = section(doc, 'drbd');
  const kvm = section(doc, 'kvm');
  const routing = section(doc, 'routing');
  const backup = section(doc, 'backup');

  const migrationUri = text(kvm, 'migrationUri', 'kvm') ?? 'qemu+ssh://{node}/system';
  if (!migrationUri.includes('{node}')) fail('kvm.migrationUri must contain {node} (replaced by the target node name)');
  const migrateFlags = kvm['migrateFlags'] ?? [];
  if (!Array.isArray(migrateFlags) || !migrateFlags.every((flag) => typeof flag === 'string' && /^--[a-z][a-z0-9-]*$/.test(flag))) {
    fail('kvm.migrateFlags must be a list of virsh migrate flags like --tls or --auto-converge');
  }
  const peerNames = section(routing, 'peerNames');
  for (const [key, value] of Object.entries(peerNames)) if (typeof value !== 'string') fail(`routing.peerNames.${key} must be a name`);
  const vmInterface = text(routing, 'vmInterface', 'routing');
  if (vmInterface !== undefined && !/^[A-Za-z0-9_.:-]{1,15}$/.test(vmInterface)) fail('routing.vmInterface must be an interface name');
  const netns = text(routing, 'netns', 'routing');
  if (netns !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(netns)) fail('routing.netns must be a network namespace name (letters, digits, . _ -)');

  const sourceTemplate = text(backup, 'sourceTemplate', 'backup') ?? '/var/lib/hvctl/backup/{vm}';
  if (!sourceTemplate.includes('{vm}') || !isAbsolute(sourceTemplate)) fail('backup.sourceTemplate must be an absolute path containing {vm}');
  const retentionRaw = section(backup, 'retention');
  const retention: Record<string, number | string> = {};
  for (const key of ['keepLast', 'keepHourly', 'keepDaily', 'keepWeekly', 'keepMonthly', 'keepYearly']) {
    if (retentionRaw[key] !== undefined) retention[key] = number(retentionRaw, key, 0, 'backup.retention', 1, 100_000);
  }
  const within = text(retentionRaw, 'keepWithin', 'backup.retention');
  if (within !== undefined) {
    if (!/^(\d+[ymdh])+$/.test(within)) fail('backup.retention.keepWithin must be a restic duration like 30d or 1y2m');
    retention['keepWithin'] = within;
  }
  const repository = text(backup, 'repository', 'backup');
  const passwordFile = path(backup, 'passwordFile', 'backup');
  const cacheDir = path(backup, 'cacheDir', 'backup');
  const passEnv = backup['env'] ?? [];
  if (!Array.isArray(passEnv) || !passEnv.every((name) => typeof name === 'string')) fail('backup.env must be a list of environment variable names, like [AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY]');
  for (const name of passEnv as string[]) {
    const bad = badEnvName(name);
    if (bad) fail(`backup.env: ${bad}`);
  }
  const envFile = path(backup, 'envFile', 'backup');
  const configFile = path(drbd, 'configFile', 'drbd');
  const volumes = parseVolumes(backup['volumes'], fail);

  return {
    tools: { drbdadm: tool('drbdadm'), drbdsetup: tool('drbdsetup'), virsh: tool('virsh'), birdc: tool('birdc'), ip: tool('ip'), restic: tool('restic') },
    drbd: {
      ...(configFile ? { configFile } : {}),
      passDrbdsetup: drbd['passDrbdsetup'] === true,
      timeoutMs: number(drbd, 'timeoutMs', 30_000, 'drbd'),
      pollIntervalMs: number(drbd, 'pollIntervalMs', 5000, 'drbd', 100),
    },
    kvm: {
      uri: text(kvm, 'uri', 'kvm') ?? 'qemu:///system',
      migrationUri,
      migrateFlags: migrateFlags as string[],
      timeoutMs: number(kvm, 'timeoutMs', 20_000, 'kvm'),
      migrateTimeoutMs: number(kvm, 'migrateTimeoutMs', 30 * 60_000, 'kvm'),
      metadataUri: typeof kvm['metadataUri'] === 'string' ? kvm['metadataUri'] : 'https://hvctl.dev/xmlns/vm/1',
    },
    routing: {
      socket: path(routing, 'socket', 'routing') ?? '/run/bird/bird.ctl',
      includeFile: path(routing, 'includeFile', 'routing') ?? '/etc/bird/hvctl.conf',
      ...(vmInterface ? { vmInterface } : {}),
      peerNames: peerNames as Record<string, string>,
      ...(netns ? { netns } : {}),
      timeoutMs: number(routing, 'timeoutMs', 15_000, 'routing'),
      pollMs: number(routing, 'pollMs', 5000, 'routing', 500),
      bootQuorumWaitMs: number(routing, 'bootQuorumWaitMs', 15_000, 'routing', 0, 600_000),
    },
    backup: {
      ...(repository ? { repository: repository.startsWith('/') || /^[a-z0-9]+:/.test(repository) ? repository : abs(repository) } : {}),
      ...(passwordFile ? { passwordFile } : {}),
      ...(cacheDir ? { cacheDir } : {}),
      env: passEnv as string[],
      ...(envFile ? { envFile } : {}),
      sourceTemplate,
      restoreRoot: path(backup, 'restoreRoot', 'backup') ?? '/var/lib/hvctl/restore',
      retention: retention as RetentionPolicy,
      timeoutMs: number(backup, 'timeoutMs', 60_000, 'backup'),
      ...(volumes ? { volumes } : {}),
    },
  };
}

/** Settings a real area cannot work without. */
export function requireRealSettings(config: RealConfig, areas: { readonly backup: boolean }, fail: (message: string) => never): void {
  if (areas.backup) {
    if (!config.backup.repository) fail('backup.repository is required for the real backup driver (a path or a restic backend URL)');
    if (!config.backup.passwordFile) fail('backup.passwordFile is required for the real backup driver (a file readable only by the agent, mode 0600)');
  }
}

/** The real drivers' settings when agent.yaml has none (all defaults). */
export function defaultRealConfig(): RealConfig {
  return parseRealConfig({}, (path) => path, (message) => {
    throw new Error(message);
  });
}
