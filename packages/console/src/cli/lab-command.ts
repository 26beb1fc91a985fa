import { Command, InvalidArgumentError } from 'commander';
import { AUTOPILOT_MODES, validateNodeName, validateResourceName, type AutopilotMode } from '@hvctl/common';
import { labCorruptBackup, labCut, labCutLink, labDown, labFailDisk, labFailMigrations, labHeal, labHealLink, labKill, labRestart, labSlow, labStatus, labUp } from '../lab/lab.js';
import { labClusterPath, labDir } from '../lab/state.js';
import { table } from './format.js';

const integer = (min: number, max: number) => (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < min || parsed > max) throw new InvalidArgumentError(`expected an integer from ${min} to ${max}`);
  return parsed;
};

const name = (value: string): string => validateNodeName(value);

export interface LabUpActionOptions {
  readonly dir?: string;
  readonly vms: number;
  readonly detach?: boolean;
  readonly console: boolean;
  readonly netns?: boolean;
  readonly tls?: boolean;
  readonly autopilot?: AutopilotMode;
}

/**
 * `hvctl lab ...`: the embedded lab. `openConsole` runs the TUI against the lab's
 * cluster file and resolves when the operator quits.
 */
export function labCommand(openConsole: (clusterFile: string) => Promise<void>): Command {
  const lab = new Command('lab').description('Run a simulated five-node, three-site cluster on this machine (msk-1 msk-2 spb-1 spb-2 bak-1).');
  const dirOption = ['--dir <dir>', 'lab directory (default: $HVCTL_LAB_DIR or ~/.local/state/hvctl/lab)'] as const;

  lab
    .command('up')
    .description('Start the lab agents; without --detach, open the console and stop the lab when it quits.')
    .option(...dirOption)
    .option('--vms <n>', 'number of VMs, spread over the msk and spb nodes', integer(0, 2000), 12)
    .option('--detach', 'start the agents in the background and return')
    .option('--no-console', 'stay in the foreground without the console; Ctrl-C stops the lab')
    .option('--tls', 'mutual TLS: a lab CA in DIR/ca, node certificates for the agents, an admin certificate for the console (see docs/security.md)')
    .option('--netns', 'real routing (root only): each msk/spb node in a network namespace with its own BIRD, OSPF between them, BGP to an upstream namespace')
    .option('--autopilot <mode>', 'the autopilot on bak-1: act (default: a killed node is failed over on its own), observe or off', (value: string): AutopilotMode => {
      if (!AUTOPILOT_MODES.includes(value as AutopilotMode)) throw new InvalidArgumentError(`expected one of ${AUTOPILOT_MODES.join(', ')}`);
      return value as AutopilotMode;
    })
    .addHelpText(
      'after',
      '\nExamples:\n  hvctl lab up                 # start and open the console; q stops the lab\n  hvctl lab up --detach        # start in the background\n  hvctl lab up --vms 40 --dir /tmp/lab\n  hvctl lab up --tls --detach    # agents serve mutual TLS; the cluster file carries the console\'s admin certificate\n  sudo npx hvctl lab up --netns --detach   # real BIRD routing; see docs/lab.md "Real routing (--netns)"',
    )
    .action(async (options: LabUpActionOptions) => {
      const dir = labDir(options.dir);
      const onProgress = (line: string): void => {
        if (options.console && !options.detach) return;
        console.error(line);
      };
      if (options.console && !options.detach) process.stderr.write(`starting the lab in ${dir} ...\n`);
      if (!options.tls) process.stderr.write('warning: the lab agents serve PLAINTEXT gRPC with no authentication (--insecure-lab), on loopback only; use `hvctl lab up --tls` for mutual TLS\n');
      await labUp({ dir, vms: options.vms, onProgress, ...(options.netns ? { netns: true } : {}), ...(options.tls ? { tls: true } : {}), ...(options.autopilot ? { autopilot: options.autopilot } : {}) });
      if (options.detach) {
        console.log(`lab running in ${dir}\ncluster file: ${labClusterPath(dir)}\nnext: npx hvctl status, npx hvctl, npx hvctl lab down`);
        return;
      }
      try {
        if (options.console) {
          await openConsole(labClusterPath(dir));
        } else {
          console.error('lab running; Ctrl-C stops it');
          await new Promise<void>((resolve) => {
            process.once('SIGINT', resolve);
            process.once('SIGTERM', resolve);
          });
        }
      } finally {
        const stopped = await labDown({ dir });
        console.error(`lab stopped: ${stopped.join(', ') || 'nothing was running'}`);
      }
    });

  lab
    .command('down')
    .description('Stop every lab agent (SIGTERM, then SIGKILL after 3 s); in --netns mode also every BIRD and network namespace.')
    .option(...dirOption)
    .option('--force', 'also kill leftover agent processes, BIRDs and hvl-* namespaces of this lab directory (after a crash, even without lab.json)')
    .action(async (options: { dir?: string; force?: boolean }) => {
      const stopped = await labDown({ dir: labDir(options.dir), ...(options.force ? { force: true } : {}) });
      console.log(stopped.length ? `stopped: ${stopped.join(', ')}` : 'nothing was running');
    });

  lab
    .command('status')
    .description('Show which lab agents are running.')
    .option(...dirOption)
    .option('--json', 'machine-readable output')
    .action(async (options: { dir?: string; json?: boolean }) => {
      const { state, running } = await labStatus(labDir(options.dir));
      if (options.json) {
        const routing = state.netns ? { mode: 'netns', ...state.netns } : { mode: 'sim' };
        console.log(JSON.stringify({ dir: state.dir, cutSites: state.cutSites, cutLinks: state.cutLinks ?? [], routing, nodes: state.nodes.map((n) => ({ ...n, running: running[n.name]?.agent === true, hostRunning: running[n.name]?.host === true })) }, null, 2));
        return;
      }
      const routingOf = (node: string): string => (state.netns?.routers.includes(node) ? `real (${state.netns.prefix}${node})` : 'sim');
      const processOf = (pid: number, up: boolean | undefined): string => (up ? `pid ${pid}` : 'stopped');
      console.log(table(['NODE', 'SITE', 'HOST', 'AGENT', 'ADDRESS', 'ROUTING', 'METRICS'], state.nodes.map((n) => [n.name, n.site, processOf(n.hostPid, running[n.name]?.host), processOf(n.pid, running[n.name]?.agent), n.address, routingOf(n.name), n.metrics ? `http://${n.metrics}/metrics` : '-'])));
      if (state.netns) console.log(`routing: real BIRD in network namespaces ${state.netns.prefix}*; upstream routes: ip -n ${state.netns.upstream} route`);
      if (state.cutSites.length) console.log(`cut off: ${state.cutSites.join(', ')}`);
      if (state.cutLinks?.length) console.log(`links cut: ${state.cutLinks.join(', ')}`);
    });

  const fault = lab.command('fault').description('Inject a fault into the running lab.');
  fault
    .command('kill <node>')
    .description('kill -9 a node (its simulated host and its agent): the host "crashes" (peers see it lost within 3 s)')
    .option(...dirOption)
    .option('--agent-only', 'kill only the agent process: the simulated host runs on (peers stay Connected, VMs run, routes stay announced)')
    .action(async (node: string, options: { dir?: string; agentOnly?: boolean }) => {
      await labKill(labDir(options.dir), name(node), { agentOnly: options.agentOnly ?? false });
      console.log(`killed ${node}${options.agentOnly ? ' (agent only)' : ''}`);
    });
  fault
    .command('restart <node>')
    .description('start what of a node is not running, host first (after kill: it boots like a rebooted host, DRBD Secondary, VMs off), then its agent; after kill --agent-only only the agent; a running node is rebooted')
    .option(...dirOption)
    .action(async (node: string, options: { dir?: string }) => {
      await labRestart(labDir(options.dir), name(node));
      console.log(`restarted ${node}`);
    });
  fault
    .command('cut <site>')
    .description('cut a site off from the other sites; both sides see each other lost, processes live on')
    .option(...dirOption)
    .action(async (site: string, options: { dir?: string }) => {
      await labCut(labDir(options.dir), name(site));
      console.log(`cut off site ${site}`);
    });
  fault
    .command('heal <site>')
    .description('reconnect a cut site')
    .option(...dirOption)
    .action(async (site: string, options: { dir?: string }) => {
      await labHeal(labDir(options.dir), name(site));
      console.log(`healed site ${site}`);
    });
  fault
    .command('cut-link <site> <other>')
    .description('cut only the link between two sites: they lose each other, both still reach the third (e.g. msk spb: both still see bak)')
    .option(...dirOption)
    .action(async (site: string, other: string, options: { dir?: string }) => {
      await labCutLink(labDir(options.dir), name(site), name(other));
      console.log(`cut the link ${site}-${other}`);
    });
  fault
    .command('heal-link <site> <other>')
    .description('reconnect a link cut with cut-link')
    .option(...dirOption)
    .action(async (site: string, other: string, options: { dir?: string }) => {
      await labHealLink(labDir(options.dir), name(site), name(other));
      console.log(`healed the link ${site}-${other}`);
    });
  fault
    .command('disk <node> <resource>')
    .description("fail a resource's local disk on a node (it becomes Diskless)")
    .option(...dirOption)
    .action(async (node: string, resource: string, options: { dir?: string }) => {
      await labFailDisk(labDir(options.dir), name(node), validateResourceName(resource, 'resource'));
      console.log(`failed the disk of ${resource} on ${node}`);
    });
  fault
    .command('slow <node> <ms>')
    .description("add latency to every link of a node (0 removes it)")
    .option(...dirOption)
    .action(async (node: string, ms: string, options: { dir?: string }) => {
      await labSlow(labDir(options.dir), name(node), integer(0, 60_000)(ms));
      console.log(`links of ${node} slowed by ${ms} ms`);
    });
  fault
    .command('fail-migrations <node> [count]')
    .description('make the next COUNT (default 1) outgoing live migrations of a node fail midway')
    .option(...dirOption)
    .action(async (node: string, count: string | undefined, options: { dir?: string }) => {
      await labFailMigrations(labDir(options.dir), name(node), integer(0, 1000)(count ?? '1'));
      console.log(`the next ${count ?? 1} migration(s) from ${node} will fail`);
    });
  fault
    .command('corrupt-backup <vm>')
    .description("damage a VM's stored backup in bak-1's repository: `hvctl backup verify` then fails")
    .option(...dirOption)
    .option('--snapshot <id>', 'the snapshot to damage (id or prefix; default: the newest of the VM)')
    .addHelpText('after', '\nExamples:\n  hvctl lab fault corrupt-backup web-1\n  hvctl backup verify        # now exits 6 naming the damaged snapshot')
    .action(async (vm: string, options: { dir?: string; snapshot?: string }) => {
      const damaged = await labCorruptBackup(labDir(options.dir), validateResourceName(vm, 'vm'), options.snapshot ?? '');
      console.log(`damaged the stored data of snapshot ${damaged.shortId} of ${vm} on bak-1`);
    });
  return lab;
}
