import { Command } from 'commander';
import type { ForgetVmResponse__Output } from '@hvctl/proto';
import { clusterConnector, deadline, HvctlError, unary, validateResourceName } from '@hvctl/common';
import { loadCluster } from './cluster.js';
import { watcherNodes } from './sla-command.js';
import { confirm } from './workflow-command.js';

/**
 * `hvctl forget VM`: remove a deleted VM from the backup site's registry, which otherwise
 * keeps it listed (state unknown) after both nodes of its pair are gone.
 */
export function forgetCommand(): Command {
  return new Command('forget')
    .argument('<vm>', 'the VM to forget')
    .description("Remove a deleted VM from the backup site's registry of known VMs (status keeps listing a VM whose nodes are down until it is forgotten). Refused while a reachable node defines it.")
    .option('-y, --yes', 'do not ask for confirmation')
    .addHelpText('after', '\nExample:\n  hvctl forget old-vm-1 --yes\n\nExit codes: 0 forgotten (or not known); 1 no watcher answered; 2 invalid input; 3 refused (still defined, or cancelled).')
    .action(async (vm: string, options: { yes?: boolean }, command: Command) => {
      const cluster = await loadCluster(command.optsWithGlobals<{ cluster?: string }>().cluster);
      const name = validateResourceName(vm, 'vm');
      if (!options.yes && !(await confirm(`Forget ${name}? It disappears from status until a node defines it again.`))) {
        console.error('Cancelled; nothing was changed.');
        process.exitCode = 3;
        return;
      }
      const connect = clusterConnector(cluster);
      const failures: string[] = [];
      for (const node of watcherNodes(cluster)) {
        const client = connect(node.address);
        try {
          const { forgotten } = await unary<ForgetVmResponse__Output>(`ForgetVm on ${node.name}`, (cb) =>
            client.availability.forgetVm({ requestId: `forget-${name}-${Date.now()}`, name }, deadline(5000), cb),
          );
          console.log(forgotten ? `${name} forgotten by ${node.name}` : `${node.name} did not know ${name}; nothing to forget`);
          return;
        } catch (error) {
          if (error instanceof HvctlError && error.code === 'FAILED_PRECONDITION') {
            console.error(`Refused: ${error.describe()}`);
            process.exitCode = 3;
            return;
          }
          if (error instanceof HvctlError && error.code === 'INVALID_ARGUMENT') throw error;
          failures.push(`${node.name}: ${(error as Error).message}`);
        } finally {
          client.close();
        }
      }
      throw new HvctlError('UNAVAILABLE', `no watcher answered, so nothing was forgotten (${failures.join('; ') || 'the cluster has no backup site'})`, {
        nextSteps: ["check that the backup site's agent runs (hvctl status)"],
      });
    });
}
