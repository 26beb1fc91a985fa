import { ProcessRunner, type CommandRunner, type Logger } from '@hvctl/common';
import { RealBackupDriver } from './backup/driver.js';
import { LvmVolumeSnapshots } from './backup/volume-snapshots.js';
import type { LvmVolumesConfig, RealConfig } from './config.js';
import { RealDrbdDriver } from './drbd/driver.js';
import { RealKvmDriver } from './kvm/driver.js';
import { RealRoutingDriver } from './routing/driver.js';

export { RealBackupDriver } from './backup/driver.js';
export { DEFAULT_TOOLS, defaultRealConfig, parseRealConfig, requireRealSettings, type RealConfig, type ToolPaths } from './config.js';
export { RealDrbdDriver } from './drbd/driver.js';
export { RealKvmDriver } from './kvm/driver.js';
export { RealRoutingDriver } from './routing/driver.js';

export interface RealDriverSet {
  readonly drbd: RealDrbdDriver;
  readonly kvm: RealKvmDriver;
  readonly routing: RealRoutingDriver;
  /** Undefined when backup has no repository configured (backup is then not real). */
  readonly backup: RealBackupDriver | undefined;
  /** Stops every follower and poller. */
  stop(): Promise<void>;
}

export interface RealDriverContext {
  readonly node: string;
  readonly logger: Logger;
  readonly runner?: CommandRunner;
}

/** Builds the real drivers from config. Nothing runs until a driver is called or watched. */
export function createRealDrivers(config: RealConfig, context: RealDriverContext): RealDriverSet {
  const runner = context.runner ?? new ProcessRunner({ logger: context.logger.child({ area: 'exec' }) });
  const { tools } = config;
  const drbd = new RealDrbdDriver({
    runner,
    drbdadm: tools.drbdadm,
    drbdsetup: tools.drbdsetup,
    ...(config.drbd.configFile ? { configFile: config.drbd.configFile } : {}),
    passDrbdsetup: config.drbd.passDrbdsetup,
    timeoutMs: config.drbd.timeoutMs,
    pollIntervalMs: config.drbd.pollIntervalMs,
    logger: context.logger.child({ area: 'drbd' }),
  });
  const kvm = new RealKvmDriver({
    runner,
    virsh: tools.virsh,
    uri: config.kvm.uri,
    migrationUri: (node) => config.kvm.migrationUri.split('{node}').join(node),
    migrateFlags: config.kvm.migrateFlags,
    timeoutMs: config.kvm.timeoutMs,
    migrateTimeoutMs: config.kvm.migrateTimeoutMs,
    ...(config.kvm.metadataUri ? { metadataUri: config.kvm.metadataUri } : {}),
    logger: context.logger.child({ area: 'kvm' }),
  });
  const routing = new RealRoutingDriver({
    runner,
    birdc: tools.birdc,
    ip: tools.ip,
    socket: config.routing.socket,
    includeFile: config.routing.includeFile,
    node: context.node,
    ...(config.routing.vmInterface ? { fragment: { vmInterface: config.routing.vmInterface } } : {}),
    peerNames: config.routing.peerNames,
    ...(config.routing.netns ? { netns: config.routing.netns } : {}),
    timeoutMs: config.routing.timeoutMs,
    pollMs: config.routing.pollMs,
    logger: context.logger.child({ area: 'routing' }),
  });
  const { backup: settings } = config;
  const backup =
    settings.repository && settings.passwordFile
      ? new RealBackupDriver({
          runner,
          restic: tools.restic,
          repository: settings.repository,
          passwordFile: settings.passwordFile,
          ...(settings.cacheDir ? { cacheDir: settings.cacheDir } : {}),
          passEnv: settings.env,
          ...(settings.envFile ? { envFile: settings.envFile } : {}),
          node: context.node,
          sourcePath: (vm) => settings.sourceTemplate.split('{vm}').join(vm),
          restoreRoot: settings.restoreRoot,
          retention: settings.retention,
          timeoutMs: settings.timeoutMs,
          ...(settings.volumes
            ? {
                volumeSnapshots: new LvmVolumeSnapshots({
                  runner,
                  lvcreate: settings.volumes.lvcreate,
                  lvremove: settings.volumes.lvremove,
                  lvs: settings.volumes.lvs,
                  virsh: tools.virsh,
                  libvirtUri: config.kvm.uri,
                  volumeGroup: settings.volumes.volumeGroup,
                  volumeOf: (vm) => (settings.volumes as LvmVolumesConfig).volumeTemplate.split('{vm}').join(vm),
                  snapshotSize: settings.volumes.snapshotSize,
                  node: context.node,
                  timeoutMs: settings.timeoutMs,
                  logger: context.logger.child({ area: 'backup' }),
                }),
              }
            : {}),
          logger: context.logger.child({ area: 'backup' }),
        })
      : undefined;
  return {
    drbd,
    kvm,
    routing,
    backup,
    stop: async () => {
      routing.stop();
      backup?.stop();
      await Promise.all([drbd.stop(), kvm.stop()]);
    },
  };
}
