import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { HvctlError, invalidArgument, validateAddress, validateNodeName } from '@hvctl/common';
import { parseRealConfig, requireRealSettings, type RealConfig } from './drivers/real/config.js';
import type { SimPeer } from './drivers/sim/simnet.js';
import { parseMetricsConfig, type MetricsConfig } from './metrics/config.js';
import { parseMonitorConfig, type MonitorConfig } from './monitor/config.js';
import type { SimTiming } from './drivers/sim/timing.js';
import { parseTlsSection, type AgentTlsConfig } from './security/tls-config.js';

/** The agent's default config file. */
export const DEFAULT_CONFIG_PATH = '/etc/hvctl/agent.yaml';

export type DriverKind = 'sim' | 'real';

/** The agent's configuration (agent.yaml), validated. Paths are absolute. */
export interface AgentConfig {
  /** This node's name in the cluster. */
  readonly node: string;
  readonly site: string;
  /** host:port for the gRPC API. */
  readonly listen: string;
  /** Where the agent keeps its state (flags, simulated state). */
  readonly stateDir: string;
  /** Interval of watch heartbeats. */
  readonly heartbeatMs: number;
  /** How often the driver probes run again (tools installed or broken after start); default 30000. */
  readonly probeIntervalMs?: number;
  /** The cluster file (membership), used by workflows to reach the other agents. */
  readonly cluster?: string;
  readonly log: { readonly file?: string; readonly level: string };
  readonly drivers: { readonly drbd: DriverKind; readonly kvm: DriverKind; readonly routing: DriverKind; readonly backup: DriverKind; readonly host: DriverKind };
  /** Tool paths and settings of the real drivers (parseAgentConfig always sets it; defaults apply when absent). */
  readonly real?: RealConfig;
  /** Simulation settings; required when any driver is "sim". */
  readonly sim?: SimConfig;
  /** The cluster watcher: availability journal, SLA reports, alerts (docs/sla.md). Normally on the backup site only. */
  readonly monitor?: MonitorConfig;
  /** The Prometheus endpoint (docs/metrics.md); absent: no endpoint. */
  readonly metrics?: MetricsConfig;
  /** Mutual TLS (docs/security.md). Without it the agent refuses to start unless insecureLab. */
  readonly tls?: AgentTlsConfig;
  /** Set only by `hvctl-agent --insecure-lab`, never from the file: plaintext, every caller an anonymous admin. */
  readonly insecureLab?: boolean;
}

export interface SimConfig {
  readonly siteKind: 'main' | 'backup';
  /** host:port of this node's simulated replication/routing link. */
  readonly link: string;
  readonly peers: readonly SimPeer[];
  /** Node holding the backup repository. */
  readonly repositoryNode: string;
  /** Initial state on first start (JSON, see drivers/sim/records.ts). */
  readonly seed?: string;
  readonly timing?: Partial<SimTiming>;
  readonly peerTimeoutMs?: number;
  /**
   * The unix socket of this node's simulated host process (`hvctl-agent sim-host`). Set:
   * the agent reaches the simulation through it and the host outlives the agent. Unset:
   * the simulation runs inside the agent (tests).
   */
  readonly host?: string;
}

function fail(path: string, message: string): never {
  throw invalidArgument(`agent config ${path}: ${message}`, {
    nextSteps: ['see packages/agent/agent.example.yaml for every option'],
  });
}

function driverKind(path: string, area: string, value: unknown): DriverKind {
  const kind = value ?? 'sim';
  if (kind !== 'sim' && kind !== 'real') fail(path, `drivers.${area} must be "sim" or "real"`);
  return kind;
}

/** Validates a parsed agent config; relative paths resolve against the file's directory. */
export function parseAgentConfig(raw: unknown, path: string): AgentConfig {
  if (typeof raw !== 'object' || raw === null) fail(path, 'expected a mapping');
  const doc = raw as Record<string, unknown>;
  const base = dirname(resolve(path));
  const abs = (value: string): string => (isAbsolute(value) ? value : resolve(base, value));
  const wrap = <T>(fn: () => T): T => {
    try {
      return fn();
    } catch (error) {
      if (error instanceof HvctlError) fail(path, error.message);
      throw error;
    }
  };
  const node = wrap(() => validateNodeName(String(doc['node'] ?? ''), 'node'));
  const site = wrap(() => validateNodeName(String(doc['site'] ?? ''), 'site'));
  const listen = wrap(() => validateAddress(String(doc['listen'] ?? ''), 'listen'));
  const drivers = (doc['drivers'] ?? {}) as Record<string, unknown>;
  const log = (doc['log'] ?? {}) as Record<string, unknown>;
  const failHere = (message: string): never => fail(path, message);
  const real = parseRealConfig(doc, abs, failHere);
  const tls = parseTlsSection(doc['tls'], abs, failHere);
  const monitor = parseMonitorConfig(doc['monitor'], failHere);
  const metrics = parseMetricsConfig(doc['metrics'], failHere);
  const config: AgentConfig = {
    node,
    site,
    listen,
    stateDir: abs(String(doc['stateDir'] ?? '/var/lib/hvctl')),
    heartbeatMs: Number(doc['heartbeatMs'] ?? 1000),
    ...(doc['probeIntervalMs'] !== undefined ? { probeIntervalMs: Number(doc['probeIntervalMs']) } : {}),
    ...(typeof doc['cluster'] === 'string' ? { cluster: abs(doc['cluster']) } : {}),
    log: { ...(typeof log['file'] === 'string' ? { file: abs(log['file']) } : {}), level: String(log['level'] ?? 'info') },
    drivers: {
      drbd: driverKind(path, 'drbd', drivers['drbd']),
      kvm: driverKind(path, 'kvm', drivers['kvm']),
      routing: driverKind(path, 'routing', drivers['routing']),
      backup: driverKind(path, 'backup', drivers['backup']),
      host: driverKind(path, 'host', drivers['host']),
    },
    real,
    ...(tls ? { tls } : {}),
    ...(monitor ? { monitor } : {}),
    ...(metrics ? { metrics } : {}),
  };
  requireRealSettings(real, { backup: config.drivers.backup === 'real' }, failHere);
  if (!(config.heartbeatMs >= 100 && config.heartbeatMs <= 60_000)) fail(path, 'heartbeatMs must be between 100 and 60000');
  if (config.probeIntervalMs !== undefined && !(config.probeIntervalMs >= 100 && config.probeIntervalMs <= 3_600_000)) fail(path, 'probeIntervalMs must be between 100 and 3600000');
  const sim = doc['sim'] as Record<string, unknown> | undefined;
  const anySim = Object.values(config.drivers).some((kind) => kind === 'sim');
  // Only real drivers: no simulation to configure.
  if (!anySim && !sim) return config;
  if (!sim) fail(path, 'the simulated drivers need a `sim:` section (link, peers, repositoryNode)');
  const peers = (Array.isArray(sim['peers']) ? sim['peers'] : []).map((entry: unknown, index: number): SimPeer => {
    const peer = entry as Record<string, unknown>;
    return {
      name: wrap(() => validateNodeName(String(peer?.['name'] ?? ''), `sim.peers[${index}].name`)),
      site: wrap(() => validateNodeName(String(peer?.['site'] ?? ''), `sim.peers[${index}].site`)),
      address: wrap(() => validateAddress(String(peer?.['address'] ?? ''), `sim.peers[${index}].address`)),
    };
  });
  const siteKind = sim['siteKind'] ?? 'main';
  if (siteKind !== 'main' && siteKind !== 'backup') fail(path, 'sim.siteKind must be "main" or "backup"');
  return {
    ...config,
    sim: {
      siteKind,
      link: wrap(() => validateAddress(String(sim['link'] ?? ''), 'sim.link')),
      peers,
      repositoryNode: wrap(() => validateNodeName(String(sim['repositoryNode'] ?? node), 'sim.repositoryNode')),
      ...(typeof sim['seed'] === 'string' ? { seed: abs(sim['seed']) } : {}),
      ...(typeof sim['timing'] === 'object' && sim['timing'] ? { timing: sim['timing'] as Partial<SimTiming> } : {}),
      ...(typeof sim['peerTimeoutMs'] === 'number' ? { peerTimeoutMs: sim['peerTimeoutMs'] } : {}),
      ...(typeof sim['host'] === 'string' ? { host: abs(sim['host']) } : {}),
    },
  };
}

/** Reads and validates the agent config file. */
export async function loadAgentConfig(path: string): Promise<AgentConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new HvctlError('NOT_FOUND', `cannot read agent config ${path}: ${(error as Error).message}`, {
      nextSteps: [`create ${path} (see packages/agent/agent.example.yaml) or pass --config FILE`],
    });
  }
  try {
    return parseAgentConfig(parse(text), path);
  } catch (error) {
    if (error instanceof HvctlError) throw error;
    fail(path, `not valid YAML: ${(error as Error).message}`);
  }
}
