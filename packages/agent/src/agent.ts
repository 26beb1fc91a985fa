import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadClusterFile, type ClusterFile, type Logger } from '@hvctl/common';
import type { AgentConfig } from './config.js';
import type { AgentContext } from './context.js';
import { RealHostDriver } from './drivers/host/real.js';
import { createSimDrivers } from './drivers/sim/drivers.js';
import { SimHostDriver } from './drivers/sim/host.js';
import type { SimNodeRecord } from './drivers/sim/records.js';
import { SimWorld } from './drivers/sim/world.js';
import { createRealDrivers, defaultRealConfig } from './drivers/real/index.js';
import type { Area, DriverChange, Drivers, StateSource } from './drivers/types.js';
import { FlagStore } from './flags.js';
import { EventHub, newEpoch } from './hub.js';
import { RequestLedger } from './ledger.js';
import { NodeInfoSource } from './node-info.js';
import { bindServer, createServer } from './server.js';
import { ClusterAccess } from './workflows/cluster-access.js';
import { WorkflowEngine } from './workflows/engine.js';
import { WorkflowJournal } from './workflows/journal.js';
import { WORKFLOW_KINDS } from './workflows/kinds/index.js';
import { LeaseTable } from './workflows/leases.js';

/** How often host facts are re-measured and published. */
const FACTS_REFRESH_MS = 5000;

export interface RunningAgent {
  /** The gRPC port actually bound. */
  readonly port: number;
  /** The simulated link's port (sim mode). */
  readonly linkPort: number;
  readonly context: AgentContext;
  /** Graceful stop: drains calls for up to `graceMs`, then closes everything. */
  stop(graceMs?: number): Promise<void>;
}

async function readRecord(path: string): Promise<SimNodeRecord | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as SimNodeRecord;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * A file the lab writes into a node's state directory before killing only its agent
 * (`lab fault kill NODE --agent-only`): the next start keeps the simulated host's state.
 */
export const AGENT_ONLY_RESTART_MARKER = 'agent-only-restart';

async function consumeMarker(path: string): Promise<boolean> {
  try {
    await rm(path);
    return true;
  } catch {
    return false;
  }
}

/** Which area a change from a driver belongs to (logs and node info belong to none). */
function areaOfChange(change: DriverChange): Area | undefined {
  switch (change.change) {
    case 'resource':
    case 'resourceRemoved':
      return 'drbd';
    case 'domain':
    case 'domainRemoved':
      return 'kvm';
    case 'announcement':
    case 'announcementRemoved':
    case 'neighbor':
    case 'neighborRemoved':
      return 'routing';
    case 'snapshot':
    case 'snapshotRemoved':
      return 'backup';
    default:
      return undefined;
  }
}

/** Builds, binds and starts an agent from its config. */
export async function startAgent(config: AgentConfig, logger: Logger): Promise<RunningAgent> {
  const sim = config.sim;
  const kinds = config.drivers;
  const anySim = (Object.keys(kinds) as Area[]).some((area) => kinds[area] === 'sim');
  if (anySim && !sim) throw new Error('the simulated drivers need a `sim:` section in the agent config');
  const flags = new FlagStore(join(config.stateDir, 'flags.json'));
  await flags.load();

  let world: SimWorld | undefined;
  let simDrivers: ReturnType<typeof createSimDrivers> | undefined;
  if (sim) {
    const statePath = join(config.stateDir, 'sim-state.json');
    const persisted = await readRecord(statePath);
    const seed = persisted ?? (sim.seed ? await readRecord(sim.seed) : undefined) ?? { resources: [], domains: [], announcements: [] };
    world = new SimWorld({
      self: { name: config.node, site: config.site },
      siteKind: sim.siteKind,
      peers: sim.peers,
      linkListen: sim.link,
      record: seed,
      ...(persisted ? { restart: (await consumeMarker(join(config.stateDir, AGENT_ONLY_RESTART_MARKER))) ? 'agent-only' : 'host-crash' } : {}),
      statePath,
      ...(sim.timing ? { timing: sim.timing } : {}),
      ...(sim.peerTimeoutMs ? { peerTimeoutMs: sim.peerTimeoutMs } : {}),
      logger: logger.child({ area: 'sim' }),
    });
    simDrivers = createSimDrivers(world, sim.repositoryNode, () => (flags.get().cordoned ? `it is cordoned (${flags.get().cordonReason || 'no reason given'})` : undefined));
  }
  const anyRealTool = (['drbd', 'kvm', 'routing', 'backup'] as const).some((area) => kinds[area] === 'real');
  const real = anyRealTool ? createRealDrivers(config.real ?? defaultRealConfig(), { node: config.node, logger }) : undefined;
  const pick = <T>(area: Area, simDriver: T | undefined, realDriver: T | undefined): T => {
    const driver = kinds[area] === 'real' ? realDriver : simDriver;
    if (!driver) throw new Error(`no ${kinds[area]} driver for ${area}: check the agent config (backup needs backup.repository and backup.passwordFile)`);
    return driver;
  };
  const drivers: Drivers = {
    drbd: pick('drbd', simDrivers?.drbd, real?.drbd),
    kvm: pick('kvm', simDrivers?.kvm, real?.kvm),
    routing: pick('routing', simDrivers?.routing, real?.routing),
    backup: pick('backup', simDrivers?.backup, real?.backup),
    host: kinds.host === 'real' ? new RealHostDriver(FACTS_REFRESH_MS) : new SimHostDriver(world as SimWorld),
  };
  if (kinds.routing === 'real') await real?.routing.ensureIncludeFile().catch((error: unknown) => logger.warn({ err: error }, 'cannot write the BIRD include file'));

  const epoch = newEpoch();
  const nodeInfo = new NodeInfoSource({ name: config.node, site: config.site }, epoch, flags, drivers);
  await nodeInfo.probe();
  await nodeInfo.refreshFacts();

  // A real area whose tool is missing starts empty (its probe says why) instead of failing the agent.
  const initial = <T>(area: Area, read: () => Promise<T[]>): Promise<T[]> =>
    kinds[area] === 'real'
      ? read().catch((error: unknown) => {
          logger.warn({ err: error, area }, 'initial read failed; the area starts empty');
          return [];
        })
      : read();
  const [resources, domains, announcements, neighbors, snapshots] = await Promise.all([
    initial('drbd', () => drivers.drbd.list()),
    initial('kvm', () => drivers.kvm.list()),
    initial('routing', () => drivers.routing.listAnnouncements()),
    initial('routing', () => drivers.routing.listNeighbors()),
    initial('backup', () => drivers.backup.localSnapshots()),
  ]);
  const hub = new EventHub({ node: nodeInfo.info(), resources, domains, announcements, neighbors, snapshots, log: [] }, { epoch });
  const unwatches: (() => void)[] = [];
  // Watch before starting: the world's first refresh carries what it logged while loading (a crash report).
  if (world) {
    unwatches.push(
      anyRealTool
        ? // Mixed mode: the world reports only the areas it simulates.
          world.watch((change) => {
            const area = areaOfChange(change);
            if (area === undefined || kinds[area] === 'sim') hub.apply(change);
          })
        : world.watch((change) => hub.apply(change)),
    );
  }
  if (real) {
    const sources: [Area, StateSource][] = [
      ['drbd', real.drbd],
      ['kvm', real.kvm],
      ['routing', real.routing],
      ...(real.backup ? [['backup', real.backup] as [Area, StateSource]] : []),
    ];
    for (const [area, source] of sources) if (kinds[area] === 'real') unwatches.push(source.watch((change) => hub.apply(change)));
  }
  const linkPort = world ? await world.start() : 0;

  const factsTimer = setInterval(() => {
    void nodeInfo.refreshFacts().then(() => hub.setNode(nodeInfo.info()));
  }, FACTS_REFRESH_MS);
  factsTimer.unref();

  const context: AgentContext = {
    identity: { name: config.node, site: config.site },
    drivers,
    hub,
    ledger: new RequestLedger(),
    flags,
    nodeInfo,
    logger,
    heartbeatMs: config.heartbeatMs,
  };
  // Without a cluster file the agent only knows itself: workflows can then touch this node only.
  const cluster: ClusterFile = config.cluster
    ? await loadClusterFile(config.cluster)
    : { name: 'single', sites: [{ name: config.site, kind: 'main' }], nodes: [{ name: config.node, site: config.site, address: config.listen }] };
  const journal = new WorkflowJournal(join(config.stateDir, 'workflows'));
  const leases = new LeaseTable(join(config.stateDir, 'leases.json'));
  const engine = new WorkflowEngine({
    self: config.node,
    cluster: new ClusterAccess(cluster, config.node),
    journal,
    leases,
    kinds: WORKFLOW_KINDS,
    logger: logger.child({ area: 'workflow' }),
    announce: (level, message) => hub.log({ level, area: 'workflow', message }),
  });
  const agentServer = createServer({ ctx: context, ...(world ? { faults: world } : {}), workflows: { engine, leases, journal } });
  let port: number;
  try {
    port = await bindServer(agentServer.server, config.listen);
  } catch (error) {
    await world?.stop();
    for (const unwatch of unwatches) unwatch();
    await real?.stop();
    throw error;
  }
  agentServer.updateHealth();
  // Resume after binding: the steps of a resumed workflow may call this very agent.
  await engine.start();
  logger.info({ port, linkPort, node: config.node, drivers: kinds }, anyRealTool ? 'agent started' : 'agent started (simulated drivers)');

  return {
    port,
    linkPort,
    context,
    stop: async (graceMs = 2000) => {
      engine.stop();
      clearInterval(factsTimer);
      for (const unwatch of unwatches) unwatch();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          agentServer.server.forceShutdown();
          resolve();
        }, graceMs);
        agentServer.server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      await world?.stop();
      await real?.stop();
    },
  };
}
