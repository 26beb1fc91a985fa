import { dirname, join } from 'node:path';
import { Command } from 'commander';
import { HvctlError, createLogger, validateAddress } from '@hvctl/common';
import { startAgent } from './agent.js';
import { DEFAULT_CONFIG_PATH, loadAgentConfig } from './config.js';
import { INSECURE_WARNING } from './security/setup.js';
import { AGENT_VERSION } from './version.js';

const program = new Command('hvctl-agent')
  .description('The hvctl agent: serves DRBD, KVM, routing, backup and host facts of this node over gRPC (hvctl.v1).')
  .version(AGENT_VERSION)
  // `doctor --config FILE` belongs to doctor, not to the daemon's own --config.
  .enablePositionalOptions()
  .option('-c, --config <file>', 'agent config file', DEFAULT_CONFIG_PATH)
  .option('-l, --listen <host:port>', 'override the gRPC listen address from the config')
  .option('--insecure-lab', 'serve PLAINTEXT without authentication (lab on loopback only); without it the agent needs a tls: section')
  .addHelpText(
    'after',
    `
Examples:
  hvctl-agent --config /etc/hvctl/agent.yaml
  hvctl-agent --config ./lab/msk-1/agent.yaml --listen 127.0.0.1:7401 --insecure-lab

Security: the agent serves mutual TLS with the cluster CA from the config's tls: section
(hvctl certs init / issue, see docs/security.md). Without it, it refuses to start (exit 2)
unless --insecure-lab is given.

Stop it with SIGTERM or Ctrl-C: in-flight calls get 2 s to finish.`,
  )
  .action(async (options: { config: string; listen?: string; insecureLab?: boolean }) => {
    const loaded = await loadAgentConfig(options.config);
    const config = {
      ...loaded,
      ...(options.listen ? { listen: validateAddress(options.listen, '--listen') } : {}),
      ...(options.insecureLab ? { insecureLab: true } : {}),
    };
    if (config.insecureLab && !config.tls) console.error(INSECURE_WARNING);
    const logger = createLogger({ name: 'hvctl-agent', level: config.log.level, ...(config.log.file ? { file: config.log.file } : {}), bindings: { node: config.node } });
    const agent = await startAgent(config, logger);
    const kinds = Object.entries(config.drivers).map(([area, kind]) => `${area}=${kind}`).join(' ');
    const allSim = Object.values(config.drivers).every((kind) => kind === 'sim');
    console.error(`hvctl-agent ${config.node} (${config.site}) listening on ${config.listen.replace(/:\d+$/, `:${agent.port}`)} (${config.tls ? 'mutual TLS' : 'PLAINTEXT, insecure lab'}) [${allSim ? 'simulated drivers: lab' : `drivers: ${kinds}`}]`);
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      void agent.stop().then(() => {
        logger.flush();
        process.exit(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('sim-host')
  .description('Lab only: run the simulated host of a node (DRBD, domains, routes) on the unix socket `sim.host` of its agent config; it outlives its agent.')
  .option('-c, --config <file>', 'agent config file (the same as the node\'s agent)', DEFAULT_CONFIG_PATH)
  .action(async (options: { config: string }) => {
    const config = await loadAgentConfig(options.config);
    const logFile = config.log.file ? join(dirname(config.log.file), 'host.log') : undefined;
    const logger = createLogger({ name: 'hvctl-sim-host', level: config.log.level, ...(logFile ? { file: logFile } : {}), bindings: { node: config.node } });
    // Only this subcommand loads the simulation: a real agent never does.
    const { runSimHost } = await import('./drivers/sim/host-process.js');
    const host = await runSimHost(config, logger);
    console.error(`hvctl-agent sim-host ${config.node} (${config.site}) serving ${config.sim?.host ?? ''}`);
    let stopping = false;
    const stop = (signal: string): void => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'stopping');
      void host.stop().then(() => {
        logger.flush();
        process.exit(0);
      });
    };
    process.on('SIGTERM', () => stop('SIGTERM'));
    process.on('SIGINT', () => stop('SIGINT'));
  });

program
  .command('doctor')
  .description('Check this host for the agent: config, tools and versions, permissions, reachability of the peers. Changes nothing.')
  .option('-c, --config <file>', 'agent config file', DEFAULT_CONFIG_PATH)
  .option('--json', 'print the report as JSON')
  .addHelpText(
    'after',
    `
Exit status: 0 when every check passed (warnings allowed), 1 when something must be fixed.

Examples:
  hvctl-agent doctor
  hvctl-agent doctor --config ./agent.yaml --json | jq '.checks[] | select(.status == "fail")'`,
  )
  .action(async (options: { config: string; json?: boolean }) => {
    // Only this subcommand needs the checks (and the real drivers they probe with): the daemon does not load them.
    const { formatDoctorReport, runDoctor } = await import('./doctor/doctor.js');
    const report = await runDoctor(options.config);
    process.stdout.write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctorReport(report));
    process.exitCode = report.ok ? 0 : 1;
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  if (error instanceof HvctlError) {
    console.error(`hvctl-agent: ${error.describe()}`);
    process.exit(2);
  }
  console.error(`hvctl-agent: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
