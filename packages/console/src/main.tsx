import { Command, InvalidArgumentError } from 'commander';
import { join } from 'node:path';
import { ClusterModel, HvctlError, clusterConnector, clusterIdentity, createLogger, loadClusterFile } from '@hvctl/common';
import { auditCommand } from './cli/audit-command.js';
import { loadCluster } from './cli/cluster.js';
import { certsCommand } from './cli/certs-command.js';
import { backupCommands } from './cli/backup-command.js';
import { checkCommand } from './cli/check.js';
import { forgetCommand } from './cli/forget-command.js';
import { exitCodeForError } from './cli/exit-code.js';
import { applyIdentityOptions, type IdentityOptions } from './cli/identity-options.js';
import { labCommand } from './cli/lab-command.js';
import { slaCommand } from './cli/sla-command.js';
import { autopilotCommand } from './cli/autopilot-command.js';
import { workflowCommands } from './cli/workflow-command.js';
import { fetchTopology, formatStatus } from './cli/status.js';
import { labDir } from './lab/state.js';
import { renderConsole } from './ui/render.js';
import { CONSOLE_VERSION } from './version.js';

async function openConsole(clusterFile: string): Promise<void> {
  if (!process.stdin.isTTY || !process.stdout.isTTY) {
    throw new HvctlError('FAILED_PRECONDITION', 'the console needs an interactive terminal', {
      nextSteps: ['run `hvctl status` (or `hvctl status --json`) from scripts and pipes'],
    });
  }
  const cluster = await loadClusterFile(clusterFile);
  // Ink owns stdout: the console logs to a file.
  const logger = createLogger({ name: 'hvctl-console', file: join(labDir(), '..', 'console.log') });
  const model = new ClusterModel({ cluster, connect: clusterConnector(cluster), logger });
  model.start();
  const instance = renderConsole(model, { title: cluster.name, role: clusterIdentity(cluster)?.role });
  try {
    await instance.waitUntilExit();
  } finally {
    model.stop();
    logger.flush();
  }
}

const milliseconds = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 100 || parsed > 120_000) throw new InvalidArgumentError('expected milliseconds from 100 to 120000');
  return parsed;
};

const program = new Command('hvctl')
  .description('hvctl: watch and operate KVM hypervisors with DRBD across sites. Without a command, opens the live console.')
  .version(CONSOLE_VERSION)
  .option('--cluster <file>', 'cluster file (default: $HVCTL_CLUSTER, else the running lab)')
  .option('--ca <file>', 'cluster CA certificate (overrides the cluster file\'s tls.ca; $HVCTL_CA)')
  .option('--cert <file>', 'your client certificate (tls.cert; $HVCTL_CERT)')
  .option('--key <file>', 'its private key (tls.key; $HVCTL_KEY)')
  .option('--token <token>', 'a bearer token instead of a certificate ($HVCTL_TOKEN)')
  .hook('preAction', (command) => applyIdentityOptions(command.opts<IdentityOptions>()))
  .addHelpText(
    'after',
    `
Examples:
  npx hvctl lab up --detach     start the lab in the background
  npx hvctl                     open the console on it (q quits, ? shows keys)
  npx hvctl status --json       the merged topology, for scripts
  npx hvctl lab fault kill spb-1
  npx hvctl lab down`,
  )
  .action(async (options: { cluster?: string }) => {
    const { clusterPath } = await import('./cli/cluster.js');
    await openConsole(clusterPath(options.cluster));
  });

program
  .command('status')
  .description('Print the merged cluster topology: sites, nodes, VMs, DRBD replicas, announcements.')
  .option('--json', 'machine-readable output (see docs/cli.md for the schema)')
  .option('--timeout <ms>', 'how long to wait for slow or dead agents', milliseconds, 2000)
  .action(async (options: { json?: boolean; timeout: number }, command: Command) => {
    const { cluster: clusterOption } = command.optsWithGlobals<{ cluster?: string }>();
    const cluster = await loadCluster(clusterOption);
    const topology = await fetchTopology(cluster, options.timeout);
    console.log(options.json ? JSON.stringify(topology, null, 2) : formatStatus(topology));
  });

program.addCommand(labCommand(openConsole));
for (const command of workflowCommands()) program.addCommand(command);
for (const command of backupCommands()) program.addCommand(command);
program.addCommand(checkCommand());
program.addCommand(forgetCommand());
program.addCommand(certsCommand());
program.addCommand(auditCommand());
program.addCommand(slaCommand());
program.addCommand(autopilotCommand());

/**
 * Leaves once stdout and stderr are flushed (a pipe such as `| jq` is written
 * asynchronously; exiting at once would cut a large JSON document), without waiting for
 * gRPC channels that may linger for a moment.
 */
function exitAfterFlush(code: number): void {
  process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
}

program.parseAsync(process.argv).then(
  () => exitAfterFlush(Number(process.exitCode ?? 0)),
  (error: unknown) => {
    if (error instanceof HvctlError) {
      console.error(`hvctl: ${error.describe()}`);
      exitAfterFlush(exitCodeForError(error));
      return;
    }
    console.error(`hvctl: ${(error as Error).stack ?? String(error)}`);
    exitAfterFlush(1);
  },
);
