import { constants } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { HvctlError, ProcessRunner, loadClusterFile, silentLogger, type CommandRunner } from '@hvctl/common';
import { loadAgentConfig, type AgentConfig } from '../config.js';
import { createRealDrivers, defaultRealConfig, type RealConfig, type ToolPaths } from '../drivers/real/index.js';
import type { Area, Driver } from '../drivers/types.js';
import { tlsChecks } from './tls-checks.js';

export type CheckStatus = 'ok' | 'warn' | 'fail' | 'skip';

export interface DoctorCheck {
  /** What was checked ("config", "tool virsh", "peer spb-1", …). */
  readonly name: string;
  readonly status: CheckStatus;
  readonly detail: string;
  /** How to fix it, when it is not ok. */
  readonly fix?: string;
}

export interface DoctorReport {
  readonly config: string;
  /** False when any check failed. */
  readonly ok: boolean;
  readonly checks: readonly DoctorCheck[];
}

export interface DoctorOptions {
  readonly runner?: CommandRunner;
  /** Time to wait for each peer's TCP connect. */
  readonly connectTimeoutMs?: number;
}

/** The Debian package of each tool, for the fix hints. */
const PACKAGES: Record<keyof ToolPaths, string> = {
  drbdadm: 'drbd-utils',
  drbdsetup: 'drbd-utils',
  virsh: 'libvirt-clients',
  birdc: 'bird2',
  ip: 'iproute2',
  restic: 'restic',
};

const TOOLS_OF: Record<Exclude<Area, 'host'>, readonly (keyof ToolPaths)[]> = {
  drbd: ['drbdadm', 'drbdsetup'],
  kvm: ['virsh'],
  routing: ['birdc', 'ip'],
  backup: ['restic'],
};

/** How to ask each tool its version (birdc has no --version: bird, next to it, has). */
const VERSION_OF: Record<keyof ToolPaths, { readonly command?: (path: string) => string; readonly args: readonly string[]; readonly pattern: RegExp }> = {
  drbdadm: { args: ['--version'], pattern: /^DRBDADM_VERSION=(\S+)/m },
  drbdsetup: { command: (path) => join(dirname(path), 'drbdadm'), args: ['--version'], pattern: /^DRBDADM_VERSION=(\S+)/m },
  virsh: { args: ['--version'], pattern: /^(\d+\.\d+\.\d+)/m },
  birdc: { command: (path) => join(dirname(path), 'bird'), args: ['--version'], pattern: /BIRD version (\S+)/ },
  ip: { args: ['-V'], pattern: /iproute2-(\S+?),?\s/ },
  restic: { args: ['version'], pattern: /^restic (\S+)/m },
};

async function toolVersion(runner: CommandRunner, tool: keyof ToolPaths, path: string): Promise<string> {
  const how = VERSION_OF[tool];
  try {
    const result = await runner.run(how.command?.(path) ?? path, { args: how.args, timeoutMs: 5000, okExitCodes: [0, 1, 20] });
    return how.pattern.exec(`${result.stdout}\n${result.stderr}`)?.[1] ?? 'version unknown';
  } catch {
    return 'version unknown';
  }
}

async function writableDir(path: string): Promise<{ ok: boolean; detail: string }> {
  try {
    const info = await stat(path);
    if (!info.isDirectory()) return { ok: false, detail: `${path} is not a directory` };
    await access(path, constants.W_OK);
    return { ok: true, detail: `${path} is writable` };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') return { ok: false, detail: `${path}: ${(error as Error).message}` };
  }
  // Missing: can it be created?
  try {
    await mkdir(path, { recursive: true, mode: 0o700 });
    return { ok: true, detail: `${path} created` };
  } catch (error) {
    return { ok: false, detail: `${path} does not exist and cannot be created: ${(error as Error).message}` };
  }
}

function tcpReachable(address: string, timeoutMs: number): Promise<string | undefined> {
  const match = /^(.*):(\d+)$/.exec(address);
  if (!match) return Promise.resolve(`"${address}" is not host:port`);
  const host = (match[1] ?? '').replace(/^\[|\]$/g, '');
  return new Promise((resolve) => {
    const socket = connect({ host, port: Number(match[2]) });
    const done = (problem: string | undefined): void => {
      socket.destroy();
      resolve(problem);
    };
    socket.setTimeout(timeoutMs, () => done(`no answer within ${timeoutMs} ms`));
    socket.once('connect', () => done(undefined));
    socket.once('error', (error) => done(error.message));
  });
}

async function probeCheck(area: Area, driver: Driver, fix: string): Promise<DoctorCheck> {
  try {
    const result = await driver.probe();
    return result.available ? { name: `${area} driver`, status: 'ok', detail: result.detail } : { name: `${area} driver`, status: 'fail', detail: result.detail, fix };
  } catch (error) {
    return { name: `${area} driver`, status: 'fail', detail: `probe failed: ${(error as Error).message}`, fix };
  }
}

/**
 * `hvctl-agent doctor`: checks the config, the TLS files (tls-checks.ts), every tool a
 * real driver needs (present, version, usable), permissions (state dir, password file
 * mode) and the TCP reachability of the other agents in the cluster file. Changes
 * nothing except creating missing
 * directories the agent would create itself.
 */
export async function runDoctor(configPath: string, options: DoctorOptions = {}): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [];
  const finish = (): DoctorReport => ({ config: configPath, ok: !checks.some((check) => check.status === 'fail'), checks });
  let config: AgentConfig;
  try {
    config = await loadAgentConfig(configPath);
  } catch (error) {
    const hvctl = error instanceof HvctlError ? error : undefined;
    checks.push({ name: 'config', status: 'fail', detail: hvctl ? hvctl.message : (error as Error).message, fix: hvctl?.details.nextSteps?.join('; ') ?? 'fix the file' });
    return finish();
  }
  const kinds = config.drivers;
  checks.push({
    name: 'config',
    status: 'ok',
    detail: `node ${config.node} (site ${config.site}), listen ${config.listen}; drivers ${(Object.keys(kinds) as Area[]).map((area) => `${area}=${kinds[area]}`).join(' ')}`,
  });

  const state = await writableDir(config.stateDir);
  checks.push({ name: 'state dir', status: state.ok ? 'ok' : 'fail', detail: state.detail, ...(state.ok ? {} : { fix: `mkdir -p ${config.stateDir} and make it writable by the agent's user` }) });
  if (config.log.file) {
    const logs = await writableDir(dirname(config.log.file));
    checks.push({ name: 'log dir', status: logs.ok ? 'ok' : 'fail', detail: logs.detail, ...(logs.ok ? {} : { fix: `create ${dirname(config.log.file)} writable by the agent` }) });
  }

  checks.push(...(await tlsChecks(config)));

  const real: RealConfig = config.real ?? defaultRealConfig();
  const realAreas = (['drbd', 'kvm', 'routing', 'backup'] as const).filter((area) => kinds[area] === 'real');
  for (const area of ['drbd', 'kvm', 'routing', 'backup'] as const) {
    if (kinds[area] !== 'real') checks.push({ name: `${area} driver`, status: 'skip', detail: 'simulated (lab); set drivers.' + area + ': real on a hypervisor' });
  }

  // Tools: present and executable.
  const needed = new Set(realAreas.flatMap((area) => TOOLS_OF[area]));
  const runner = options.runner ?? new ProcessRunner();
  const missing = new Set<keyof ToolPaths>();
  for (const tool of needed) {
    const path = real.tools[tool];
    try {
      await access(path, constants.X_OK);
      checks.push({ name: `tool ${tool}`, status: 'ok', detail: `${path} (${PACKAGES[tool]} ${await toolVersion(runner, tool, path)})` });
    } catch {
      missing.add(tool);
      checks.push({ name: `tool ${tool}`, status: 'fail', detail: `${path} is missing or not executable`, fix: `apt install ${PACKAGES[tool]} (or set tools.${tool} to its absolute path)` });
    }
  }

  if (realAreas.length > 0) {
    const drivers = createRealDrivers(real, { node: config.node, logger: silentLogger(), runner });
    const usable = (area: (typeof realAreas)[number]): boolean => TOOLS_OF[area].every((tool) => !missing.has(tool));
    if (kinds.drbd === 'real' && usable('drbd')) {
      checks.push(await probeCheck('drbd', drivers.drbd, 'install the DRBD 9 kernel module and load it (modprobe drbd)'));
      const parsed = await drivers.drbd.checkConfig().catch((error: unknown) => ({ ok: false, resources: [], message: (error as Error).message }));
      checks.push({ name: 'drbd config', status: parsed.ok ? 'ok' : 'fail', detail: parsed.message, ...(parsed.ok ? {} : { fix: `fix ${real.drbd.configFile ?? '/etc/drbd.conf'} (drbdadm dump shows the error)` }) });
    }
    if (kinds.kvm === 'real' && usable('kvm')) checks.push(await probeCheck('kvm', drivers.kvm, `start libvirtd and check kvm.uri (${real.kvm.uri})`));
    if (kinds.routing === 'real') {
      const includeDir = await writableDir(dirname(real.routing.includeFile));
      checks.push({ name: 'bird include', status: includeDir.ok ? 'ok' : 'fail', detail: `${real.routing.includeFile}: ${includeDir.detail}`, ...(includeDir.ok ? {} : { fix: `make ${dirname(real.routing.includeFile)} writable by the agent` }) });
      if (usable('routing')) checks.push(await probeCheck('routing', drivers.routing, `start bird, check routing.socket (${real.routing.socket}) and add include "${real.routing.includeFile}"; to bird.conf`));
    }
    if (kinds.backup === 'real') {
      const file = real.backup.passwordFile;
      if (file) {
        try {
          const info = await stat(file);
          const loose = (info.mode & 0o077) !== 0;
          checks.push({
            name: 'restic password file',
            status: loose ? 'fail' : 'ok',
            detail: `${file} mode ${(info.mode & 0o777).toString(8).padStart(4, '0')}`,
            ...(loose ? { fix: `chmod 600 ${file}` } : {}),
          });
        } catch (error) {
          checks.push({ name: 'restic password file', status: 'fail', detail: `${file}: ${(error as Error).message}`, fix: `create it: install -m 600 /dev/null ${file}, then write the repository password into it` });
        }
      }
      const restore = await writableDir(real.backup.restoreRoot);
      checks.push({ name: 'restore root', status: restore.ok ? 'ok' : 'fail', detail: restore.detail, ...(restore.ok ? {} : { fix: `mkdir -p ${real.backup.restoreRoot}` }) });
      if (drivers.backup && usable('backup')) checks.push(await probeCheck('backup', drivers.backup, 'check backup.repository and backup.passwordFile; create the repository with restic init'));
    }
    await drivers.stop();
  }

  if (config.cluster) {
    try {
      const cluster = await loadClusterFile(config.cluster);
      const peers = cluster.nodes.filter((node) => node.name !== config.node);
      const results = await Promise.all(peers.map(async (peer) => ({ peer, problem: await tcpReachable(peer.address, options.connectTimeoutMs ?? 2000) })));
      for (const { peer, problem } of results) {
        checks.push(
          problem
            ? { name: `peer ${peer.name}`, status: 'fail', detail: `${peer.address}: ${problem}`, fix: `check that hvctl-agent runs on ${peer.name} and that the firewall allows TCP ${peer.address}` }
            : { name: `peer ${peer.name}`, status: 'ok', detail: `${peer.address} accepts connections` },
        );
      }
      if (!cluster.nodes.some((node) => node.name === config.node)) {
        checks.push({ name: 'cluster', status: 'warn', detail: `${config.node} is not in ${config.cluster}`, fix: 'add this node to the cluster file on every node' });
      }
    } catch (error) {
      checks.push({ name: 'cluster', status: 'fail', detail: (error as Error).message, fix: 'fix the cluster file' });
    }
  } else {
    checks.push({ name: 'cluster', status: 'warn', detail: 'no cluster file configured: workflows can touch this node only', fix: 'set `cluster:` in agent.yaml' });
  }
  return finish();
}

const MARK: Record<CheckStatus, string> = { ok: 'ok  ', warn: 'WARN', fail: 'FAIL', skip: '--  ' };

/** The report for people: one line per check, fixes under failures, a verdict. */
export function formatDoctorReport(report: DoctorReport): string {
  const width = Math.max(...report.checks.map((check) => check.name.length), 6);
  const lines = [`hvctl-agent doctor: ${report.config}`];
  for (const check of report.checks) {
    lines.push(`  ${MARK[check.status]}  ${check.name.padEnd(width)}  ${check.detail}`);
    if (check.fix && check.status !== 'ok' && check.status !== 'skip') lines.push(`  ${' '.repeat(4)}  ${' '.repeat(width)}  fix: ${check.fix}`);
  }
  const failed = report.checks.filter((check) => check.status === 'fail').length;
  const warned = report.checks.filter((check) => check.status === 'warn').length;
  lines.push(failed ? `${failed} problem(s) to fix${warned ? `, ${warned} warning(s)` : ''}.` : `All checks passed${warned ? ` (${warned} warning(s))` : ''}.`);
  return `${lines.join('\n')}\n`;
}
