import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '@hvctl/common';
import type { AgentConfig, SimConfig } from '../../config.js';
import type { SimNodeRecord } from './records.js';
import { SimWorld } from './world.js';

async function readRecord(path: string): Promise<SimNodeRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as SimNodeRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Boots a node's simulated host from its config: from the state it persisted (what a
 * disk keeps across a power cut; it then comes back as after a crash) or, on the first
 * start, from the lab's seed. Not started yet: the caller watches it first.
 */
export async function bootSimWorld(config: Pick<AgentConfig, 'node' | 'site' | 'stateDir'>, sim: SimConfig, logger: Logger): Promise<SimWorld> {
  const statePath = join(config.stateDir, 'sim-state.json');
  const persisted = await readRecord(statePath);
  const seed = persisted ?? (sim.seed ? await readRecord(sim.seed) : undefined) ?? { resources: [], domains: [], announcements: [] };
  return new SimWorld({
    self: { name: config.node, site: config.site },
    siteKind: sim.siteKind,
    peers: sim.peers,
    linkListen: sim.link,
    record: seed,
    rebooted: persisted !== undefined,
    statePath,
    ...(sim.timing ? { timing: sim.timing } : {}),
    ...(sim.peerTimeoutMs ? { peerTimeoutMs: sim.peerTimeoutMs } : {}),
    logger: logger.child({ area: 'sim' }),
  });
}
