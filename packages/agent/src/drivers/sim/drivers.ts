import type { AnnouncementKind } from '@hvctl/proto';
import type { BackupDriver, DrbdDriver, KvmDriver, ProbeResult, RoutingDriver } from '../types.js';
import { SimBackup } from './backup.js';
import { SimKvm } from './kvm.js';
import type { SimAnnouncementRecord } from './records.js';
import type { SimWorld } from './world.js';

const SIM_PROBE: ProbeResult = { available: true, driver: 'sim', detail: 'simulated (lab)' };

/** The simulated DRBD driver: a facade over the world's resources. */
export function simDrbd(world: SimWorld): DrbdDriver {
  return {
    probe: async () => ({ ...SIM_PROBE, detail: 'simulated DRBD 9 (lab)' }),
    list: async () => world.listResources(),
    promote: async (name, { force }) => world.promote(name, force),
    demote: async (name) => world.demote(name),
    connect: async (name, { discardMyData }) => world.connect(name, discardMyData),
    disconnect: async (name) => world.disconnect(name),
    setAllowTwoPrimaries: async (name, allow) => world.setAllowTwoPrimaries(name, allow),
  };
}

/** The simulated routing driver (OSPF mesh between nodes, BGP to each main site's upstream). */
export function simRouting(world: SimWorld): RoutingDriver {
  return {
    probe: async () => ({ ...SIM_PROBE, detail: 'simulated BIRD 2 (lab)' }),
    listRoutes: async () => world.listRoutes(),
    listAnnouncements: async () => world.listAnnouncements(),
    announce: async (prefix, kind: AnnouncementKind, vm) => world.announce(prefix, kind as SimAnnouncementRecord['kind'], vm),
    withdraw: async (prefix) => world.withdraw(prefix),
    listNeighbors: async () => world.listNeighbors(),
  };
}

export interface SimDrivers {
  readonly drbd: DrbdDriver;
  readonly kvm: KvmDriver;
  readonly routing: RoutingDriver;
  readonly backup: BackupDriver;
}

/** Every simulated driver over one world. */
export function createSimDrivers(world: SimWorld, repositoryNode: string, refuseIncoming: () => string | undefined | Promise<string | undefined>): SimDrivers {
  return {
    drbd: simDrbd(world),
    kvm: new SimKvm(world, refuseIncoming),
    routing: simRouting(world),
    backup: new SimBackup(world, repositoryNode),
  };
}
