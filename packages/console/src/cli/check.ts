import { Command } from 'commander';
import { checkInvariants } from '@hvctl/common';
import { loadCluster } from './cluster.js';
import { gatherLeases, gatherWorkflows } from './gather.js';
import { fetchTopology } from './status.js';

/** Exit code of `hvctl check` when an invariant is broken. */
export const EXIT_VIOLATIONS = 6;

/** `hvctl check`: verify the safety invariants across the cluster now. */
export function checkCommand(): Command {
  return new Command('check')
    .description('Verify the safety invariants across the whole cluster now (dual Primary, VM running twice, misplaced /32, no UpToDate replica, stale allow-two-primaries, stale leases) and the outages (a VM intended running that runs nowhere, the public block announced by no node).')
    .option('--json', 'machine-readable output')
    .addHelpText('after', `\nExit codes: 0 every invariant holds; ${EXIT_VIOLATIONS} a violation was found; 1 error.`)
    .action(async (options: { json?: boolean }, command: Command) => {
      const cluster = await loadCluster(command.optsWithGlobals<{ cluster?: string }>().cluster);
      const [topology, leases, workflows] = await Promise.all([fetchTopology(cluster, 2000), gatherLeases(cluster), gatherWorkflows(cluster)]);
      const report = checkInvariants(topology, leases.items, workflows.items);
      if (options.json) {
        console.log(JSON.stringify({ ok: report.violations.length === 0, ...report }, null, 2));
      } else {
        for (const violation of report.violations) console.log(`${violation.severity === 'outage' ? 'OUTAGE' : 'VIOLATION'} [${violation.rule}] ${violation.message}`);
        for (const note of report.unchecked) console.log(`unchecked: ${note}`);
        console.log(report.violations.length === 0 ? 'ok: every invariant holds' : `${report.violations.length} violation(s)`);
      }
      if (report.violations.length) process.exitCode = EXIT_VIOLATIONS;
    });
}
