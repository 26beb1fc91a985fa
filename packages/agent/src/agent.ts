import { join } from 'node:path';
import { DEFAULT_AUTOPILOT_POLICY, loadClusterFile, ProcessRunner, type ClusterFile, type Logger } from '@hvctl/common';
import type { Autopilot } from './autopilot/controller.js';
import { AuditJournal } from './audit/journal.js';
import { configuredSecrets } from './audit/secrets.js';
import type { AgentConfig } from './config.js';
import type { AgentContext } from './context.js';
import type { SimDrivers } from './drivers/sim/drivers.js';
import type { HostSnapshot } from './drivers/sim/host-api.js';
import type { RemoteSimHost } from './drivers/sim/remote.js';
import type { SimWorld } from './drivers/sim/world.js';
import type { Area, DriverChange, Drivers, HostDriver, StateSource } from './drivers/types.js';
import { FlagStore } from './flags.js';
import type { FaultTarget } from './services/faults.js';
import { EventHub, newEpoch } from './hub.js';
import { QuorumGuard, routingTrackedBy } from './quorum-guard.js';
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
  /** The simulated link's port (simulation in this process; 0 otherwise). */
  readonly linkPort: number;
  readonly context: AgentContext;
  /** The metrics endpoint's port (0 without `metrics:`). */
  readonly metricsPort: number;
  /** Graceful stop: drains calls for up to `graceMs`, then closes everything. */
  stop(graceMs?: number): Promise<void>;
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
  let remote: RemoteSimHost | undefined;
  let simDrivers: SimDrivers | undefined;
  let simHost: HostDriver | undefined;
  let simSource: StateSource | undefined;
  let faults: FaultTarget | undefined;
  const refuseIncoming = (): string | undefined => (flags.get().cordoned ? `it is cordoned (${flags.get().cordonReason || 'no reason given'})` : undefined);
  if (sim?.host) {
    // The lab: the simulated host is its own process and outlives this agent.
    const { RemoteSimHost } = await import('./drivers/sim/remote.js');
    remote = await RemoteSimHost.connect({ socketPath: sim.host, node: config.node, logger: logger.child({ area: 'sim-host' }), refuseIncoming });
    simDrivers = remote.drivers;
    simHost = remote.drivers.host;
    simSource = remote;
    faults = remote.faults;
  } else if (sim) {
    // Tests: the simulated host lives and dies with this agent.
    const [{ bootSimWorld }, { createSimDrivers }, { SimHostDriver }] = await Promise.all([import('./drivers/sim/boot.js'), import('./drivers/sim/drivers.js'), import('./drivers/sim/host.js')]);
    world = await bootSimWorld(config, sim, logger);
    simDrivers = createSimDrivers(world, sim.repositoryNode, refuseIncoming);
    simHost = new SimHostDriver(world);
    simSource = world;
    faults = world;
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
    kinds.host === 'real' ? await import('./drivers/host/real.js').then(({ RealHostDriver }) => new RealHostDriver(FACTS_REFRESH_MS)) : pick('host', simHost, undefined);
  const drivers: Drivers = {
    drbd: pick('drbd', simDrivers?.drbd, real?.drbd),
    kvm: pick('kvm', simDrivers?.kvm, real?.kvm),
    routing: pick('routing', simDrivers?.routing, real?.routing),
    backup: pick('backup', simDrivers?.backup, real?.backup),
    host,
  };
  // Before anything is served or announced: a rebooted host withdraws what it no longer runs.
  const bootNotes: { level: 'info' | 'warn' | 'error'; area: string; message: string }[] = [];
  if (kinds.routing === 'real' && real) {
    const [{ bootReconcile }, { defaultRealConfig }] = await Promise.all([import('./boot-reconcile.js'), import('./drivers/real/index.js')]);
    await bootReconcile({
      routing: real.routing,
      kvm: drivers.kvm,
      drbd: kinds.drbd === 'real' ? drivers.drbd : 'simulated',
      quorumWaitMs: (config.real ?? defaultRealConfig()).routing.bootQuorumWaitMs,
      ...(kinds.kvm === 'real' ? { autostart: real.kvm } : {}),
      logger: logger.child({ area: 'boot' }),
    }).then(
      (report) => bootNotes.push(...report.notes),
      (error: unknown) => {
        logger.error({ err: error }, 'start-up reconcile of the BIRD include file failed');
        bootNotes.push({ level: 'error', area: 'routing', message: `start-up reconcile of the BIRD include file failed: ${(error as Error).message}` });
      },
    );
  }

  const epoch = newEpoch();
  const nodeInfo = new NodeInfoSource({ name: config.node, site: config.site }, epoch, flags, drivers);
  await nodeInfo.probe();
  await nodeInfo.refreshFacts();

  // A real area whose tool is missing starts empty (its probe says why) instead of failing the agent.
  // A simulated host process answered with one snapshot, read at one instant: its changes follow it.
  const initial = <T>(area: Area, read: () => Promise<T[]>, fromHost: (snapshot: HostSnapshot) => T[]): Promise<T[]> =>
    kinds[area] === 'real'
      ? read().catch((error: unknown) => {
          logger.warn({ err: error, area }, 'initial read failed; the area starts empty');
          return [];
        })
      : remote
        ? Promise.resolve(fromHost(remote.initial))
        : read();
  const [resources, domains, announcements, neighbors, snapshots] = await Promise.all([
    initial('drbd', () => drivers.drbd.list(), (snapshot) => snapshot.resources),
    initial('kvm', () => drivers.kvm.list(), (snapshot) => snapshot.domains),
    initial('routing', () => drivers.routing.listAnnouncements(), (snapshot) => snapshot.announcements),
    initial('routing', () => drivers.routing.listNeighbors(), (snapshot) => snapshot.neighbors),
    initial('backup', () => drivers.backup.localSnapshots(), (snapshot) => snapshot.snapshots),
  ]);
  const hub = new EventHub({ node: nodeInfo.info(), resources, domains, announcements, neighbors, snapshots, log: [], knownVms: [] }, { epoch });
  for (const note of bootNotes) hub.log(note);
  const unwatches: (() => void)[] = [];
  // Watch before starting: the world's first refresh carries what it logged while loading (a crash report).
  if (simSource) {
    unwatches.push(
      anyRealTool
        ? // Mixed mode: the simulation reports only the areas it simulates.
          simSource.watch((change) => {
            const area = areaOfChange(change);
            if (area === undefined || kinds[area] === 'sim') hub.apply(change);
          })
        : simSource.watch((change) => hub.apply(change)),
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
  // The node withdraws its public block by itself while it has no quorum anywhere (quorum-guard.ts).
  const quorumGuard = new QuorumGuard({
    read: () => {
      const state = hub.state();
      return { resources: state.resources.values(), announcements: state.announcements.values() };
    },
    routing: drivers.routing,
    log: (level, message) => hub.log({ level, area: 'quorum', message }),
    logger: logger.child({ area: 'quorum-guard' }),
  });
  unwatches.push(
    hub.observe((change) => {
      if (change.change === 'resource' || change.change === 'resourceRemoved' || change.change === 'announcement') quorumGuard.changed();
    }),
    () => quorumGuard.stop(),
  );
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
  // The host process went away or came back: probe its areas again now, not at the next round.
  if (remote) unwatches.push(remote.onAvailability(() => void capabilityWatch.probeNow()));

  // libvirtd restarted: its event stream resynced, so the kvm capability need not wait for the next probe.
  if (kinds.kvm === 'real' && real) unwatches.push(real.kvm.onConnected(() => capabilityWatch.recovered('kvm')));

  const context: AgentContext = {
    identity: { name: config.node, site: config.site },
    drivers: reportUnavailableTools({ ...drivers, routing: routingTrackedBy(drivers.routing, quorumGuard) }, (area) => capabilityWatch.suspect(area)),
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
  // The autopilot runs beside the watcher on the backup site's node (docs/autopilot.md), deciding on the watcher's view.
  const witness = new ClusterAccess(cluster, config.node, connect).witness();
  const autopilot: Autopilot | undefined =
    monitor && witness === config.node
      ? await import('./autopilot/controller.js').then(
          ({ Autopilot }) =>
            new Autopilot({
              self: config.node,
              policy: cluster.autopilot ?? DEFAULT_AUTOPILOT_POLICY,
              snapshot: () => monitor.snapshot(),
              access: new ClusterAccess(cluster, config.node, connect),
              kinds: Object.keys(WORKFLOW_KINDS),
              statePath: join(config.stateDir, 'monitor', 'autopilot.json'),
              announce: (level, message) => hub.log({ level, area: 'autopilot', message }),
              alert: (alert) => monitor.deliver(alert),
              logger: logger.child({ area: 'autopilot' }),
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
  const agentServer = createServer({ ...(metrics ? { rpcMetrics: rpcMetricsInterceptor(metrics.countRpc) } : {}), ctx: context, ...(faults ? { faults } : {}), ...(monitor ? { monitor } : {}), ...(autopilot ? { autopilot } : {}), workflows: { engine, leases, journal }, audit, ...(security.revocations ? { revocations: security.revocations } : {}),
    auth: authInterceptor({
      authenticator: security.authenticator,
      lookup: async (id) => (await engine.list()).find((workflow) => workflow.id === id)?.spec?.kind ?? undefined,
      logger: logger.child({ area: 'auth' }),
      onDenied: (caller, method, reason) => void audit.denied(caller, method, 'PERMISSION_DENIED', reason),
      ...(witness ? { autopilotNodes: [witness] } : {}),
    }),
  });
  let port: number;
  try {
    port = await bindServer(agentServer.server, config.listen, security.serverCredentials);
  } catch (error) {
    await world?.stop();
    remote?.stop();
    for (const unwatch of unwatches) unwatch();
    await real?.stop();
    throw error;
  }
  agentServer.updateHealth();
  capabilityWatch.start();
  // Resume after binding: the steps of a resumed workflow may call this very agent.
  await engine.start();
  await monitor?.start();
  await autopilot?.start();
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
      await autopilot?.stop();
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
      remote?.stop();
      await real?.stop();
    },
  };
}
