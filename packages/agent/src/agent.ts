import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { loadClusterFile, ProcessRunner, type ClusterFile, type Logger } from '@hvctl/common';
import { AuditJournal } from './audit/journal.js';
import { configuredSecrets } from './audit/secrets.js';
import type { AgentConfig } from './config.js';
import type { AgentContext } from './context.js';
import type { SimDrivers } from './drivers/sim/drivers.js';
import type { SimNodeRecord } from './drivers/sim/records.js';
import type { SimWorld } from './drivers/sim/world.js';
import type { Area, DriverChange, Drivers, HostDriver, StateSource } from './drivers/types.js';
import { FlagStore } from './flags.js';
import { EventHub, newEpoch } from './hub.js';
import { RequestLedger } from './ledger.js';
import type { Monitor } from './monitor/monitor.js';
import { NodeInfoSource } from './node-info.js';
import { CapabilityWatch } from './probes/capability-watch.js';
import { reportUnavailableTools } from './probes/failure-report.js';
import { describeTransition } from './probes/transitions.js';
import { authInterceptor } from './security/interceptor.js';
import { peerConnector } from './security/peer-client.js';
import { loadAgentSecurity } from './security/setup.js';
import { bindServer, createServer } from './server.js';
import { startBackupScheduler } from './backups/setup.js';
import { rpcMetricsInterceptor } from './metrics/interceptor.js';
import type { MetricsServer } from './metrics/http.js';
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
  /** The metrics endpoint's port (0 without `metrics:`). */
  readonly metricsPort: number;
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

/**
 * Builds, binds and starts an agent from its config. What only some configs use is loaded
 * only by the agents that use it (dynamic imports below): the simulation, the real
 * drivers, the cluster watcher, the metrics endpoint (prom-client, node:http).
 */
export async function startAgent(config: AgentConfig, logger: Logger): Promise<RunningAgent> {
  // First: an agent without certificates (and without --insecure-lab) must not even start its drivers.
  const security = await loadAgentSecurity(config, logger);
  const sim = config.sim;
  const kinds = config.drivers;
  const anySim = (Object.keys(kinds) as Area[]).some((area) => kinds[area] === 'sim');
  if (anySim && !sim) throw new Error('the simulated drivers need a `sim:` section in the agent config');
  const flags = new FlagStore(join(config.stateDir, 'flags.json'));
  await flags.load();

  let world: SimWorld | undefined;
  let simDrivers: SimDrivers | undefined;
  if (sim) {
    const [{ SimWorld }, { createSimDrivers }] = await Promise.all([import('./drivers/sim/world.js'), import('./drivers/sim/drivers.js')]);
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
  const real = anyRealTool
    ? await import('./drivers/real/index.js').then(({ createRealDrivers, defaultRealConfig }) => createRealDrivers(config.real ?? defaultRealConfig(), { node: config.node, logger }))
    : undefined;
  const pick = <T>(area: Area, simDriver: T | undefined, realDriver: T | undefined): T => {
    const driver = kinds[area] === 'real' ? realDriver : simDriver;
    if (!driver) throw new Error(`no ${kinds[area]} driver for ${area}: check the agent config (backup needs backup.repository and backup.passwordFile)`);
    return driver;
  };
  const host: HostDriver =
    kinds.host === 'real'
      ? await import('./drivers/host/real.js').then(({ RealHostDriver }) => new RealHostDriver(FACTS_REFRESH_MS))
      : await import('./drivers/sim/host.js').then(({ SimHostDriver }) => new SimHostDriver(world as SimWorld));
  const drivers: Drivers = {
    drbd: pick('drbd', simDrivers?.drbd, real?.drbd),
    kvm: pick('kvm', simDrivers?.kvm, real?.kvm),
    routing: pick('routing', simDrivers?.routing, real?.routing),
    backup: pick('backup', simDrivers?.backup, real?.backup),
    host,
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
  const hub = new EventHub({ node: nodeInfo.info(), resources, domains, announcements, neighbors, snapshots, log: [], knownVms: [] }, { epoch });
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

  // Probes run again every probeIntervalMs and soon after a call fails as "tool unavailable".
  const capabilityWatch = new CapabilityWatch({
    target: nodeInfo,
    ...(config.probeIntervalMs ? { intervalMs: config.probeIntervalMs } : {}),
    logger: logger.child({ area: 'probe' }),
    onChange: (transitions) => {
      for (const transition of transitions) hub.log({ level: transition.available ? 'info' : 'warn', area: transition.area, message: describeTransition(transition) });
      hub.setNode(nodeInfo.info());
      agentServer.updateHealth();
    },
  });

  const context: AgentContext = {
    identity: { name: config.node, site: config.site },
    drivers: reportUnavailableTools(drivers, (area) => capabilityWatch.suspect(area)),
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
  // The one connector to the other agents: workflows and the cluster watcher share it.
  const connect = peerConnector(cluster, security.identity);
  const engine = new WorkflowEngine({
    self: config.node,
    cluster: new ClusterAccess(cluster, config.node, connect),
    journal,
    leases,
    kinds: WORKFLOW_KINDS,
    logger: logger.child({ area: 'workflow' }),
    announce: (level, message) => hub.log({ level, area: 'workflow', message }),
  });
  // Opened before the server: interrupted calls of the last run are closed before any new one.
  const audit = await AuditJournal.open({ dir: join(config.stateDir, 'audit'), node: config.node, logger: logger.child({ area: 'audit' }), secrets: await configuredSecrets(config, logger) });
  const monitorConfig = config.monitor?.enabled ? config.monitor : undefined;
  const monitor: Monitor | undefined = monitorConfig
    ? await import('./monitor/monitor.js').then(
        ({ Monitor }) =>
          new Monitor({
            self: config.node,
            cluster,
            connect,
            config: monitorConfig,
            dir: join(config.stateDir, 'monitor'),
            runner: new ProcessRunner({ logger: logger.child({ area: 'exec' }) }),
            announce: (level, message) => hub.log({ level, area: 'alert', message }),
            publish: (change) => hub.apply(change),
            logger: logger.child({ area: 'monitor' }),
          }),
      )
    : undefined;
  // Prometheus metrics in a registry of this agent's own, read from the hub at scrape time.
  const metrics = config.metrics
    ? await import('./metrics/registry.js').then(({ createAgentMetrics }) =>
        createAgentMetrics({
          node: config.node,
          site: config.site,
          state: () => hub.state(),
          workflows: async () => (await engine.list()).filter((workflow) => workflow.coordinator === config.node),
        }),
      )
    : undefined;
  const agentServer = createServer({ ...(metrics ? { rpcMetrics: rpcMetricsInterceptor(metrics.countRpc) } : {}), ctx: context, ...(world ? { faults: world } : {}), ...(monitor ? { monitor } : {}), workflows: { engine, leases, journal }, audit, ...(security.revocations ? { revocations: security.revocations } : {}),
    auth: authInterceptor({
      authenticator: security.authenticator,
      lookup: async (id) => (await engine.list()).find((workflow) => workflow.id === id)?.spec?.kind ?? undefined,
      logger: logger.child({ area: 'auth' }),
      onDenied: (caller, method, reason) => void audit.denied(caller, method, 'PERMISSION_DENIED', reason),
    }),
  });
  let port: number;
  try {
    port = await bindServer(agentServer.server, config.listen, security.serverCredentials);
  } catch (error) {
    await world?.stop();
    for (const unwatch of unwatches) unwatch();
    await real?.stop();
    throw error;
  }
  agentServer.updateHealth();
  capabilityWatch.start();
  // Resume after binding: the steps of a resumed workflow may call this very agent.
  await engine.start();
  await monitor?.start();
  let metricsServer: MetricsServer | undefined;
  if (metrics && config.metrics) {
    try {
      const { startMetricsServer } = await import('./metrics/http.js');
      metricsServer = await startMetricsServer(config.metrics.listen, metrics.registry, logger.child({ area: 'metrics' }));
    } catch (error) {
      logger.error({ err: error, listen: config.metrics.listen }, 'cannot bind the metrics endpoint; the agent runs without it');
      hub.log({ level: 'error', area: 'metrics', message: `metrics endpoint ${config.metrics.listen} not started: ${(error as Error).message}` });
    }
  }
  // The backup site's agent runs the cluster's one backup scheduler.
  const scheduler = await startBackupScheduler({
    self: config.node,
    clusterPath: config.cluster,
    cluster,
    access: new ClusterAccess(cluster, config.node, connect),
    backup: drivers.backup,
    logger: logger.child({ area: 'backup-scheduler' }),
    announce: (level, message) => hub.log({ level, area: 'backup', message }),
  });
  logger.info({ port, linkPort, node: config.node, drivers: kinds, security: security.mode }, anyRealTool ? 'agent started' : 'agent started (simulated drivers)');

  return {
    port,
    linkPort,
    metricsPort: metricsServer?.port ?? 0,
    context,
    stop: async (graceMs = 2000) => {
      engine.stop();
      await monitor?.stop();
      scheduler?.stop();
      await metricsServer?.close();
      clearInterval(factsTimer);
      capabilityWatch.stop();
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
