/**
 * The lab's own functions for the `hvctl lab fault ...` and `lab status` commands, called
 * in-process: each CLI start costs about a second of CPU, and a round injects several faults.
 * The event keeps the CLI's argv, so the history prints the command an operator replays by
 * hand. A fault the table does not know runs through the CLI.
 */
import { labCut, labFailDisk, labFailMigrations, labHeal, labKill, labRestart, labSlow, labStatus } from '@hvctl/console/dist/lab/lab.js';

type LabCall = (dir: string, args: readonly string[]) => Promise<string>;

const IN_PROCESS: Readonly<Record<string, LabCall>> = {
  kill: async (dir, [node = '', flag]) => {
    await labKill(dir, node, { agentOnly: flag === '--agent-only' });
    return `killed ${node}${flag === '--agent-only' ? ' (agent only)' : ''}`;
  },
  restart: async (dir, [node = '']) => {
    await labRestart(dir, node);
    return `restarted ${node}`;
  },
  cut: async (dir, [site = '']) => {
    await labCut(dir, site);
    return `cut off site ${site}`;
  },
  heal: async (dir, [site = '']) => {
    await labHeal(dir, site);
    return `healed site ${site}`;
  },
  disk: async (dir, [node = '', resource = '']) => {
    await labFailDisk(dir, node, resource);
    return `failed the disk of ${resource} on ${node}`;
  },
  slow: async (dir, [node = '', ms = '0']) => {
    await labSlow(dir, node, Number(ms));
    return `links of ${node} slowed by ${ms} ms`;
  },
  'fail-migrations': async (dir, [node = '', count = '1']) => {
    await labFailMigrations(dir, node, Number(count));
    return `the next ${count} migration(s) from ${node} will fail`;
  },
};

/** The in-process call for `lab fault VERB ...`, or undefined when it must run through the CLI. */
export function labFault(argv: readonly string[]): ((dir: string) => Promise<string>) | undefined {
  if (argv[0] !== 'lab' || argv[1] !== 'fault') return undefined;
  const call = IN_PROCESS[argv[2] ?? ''];
  return call ? (dir) => call(dir, argv.slice(3)) : undefined;
}

/** `hvctl lab status --json`: which nodes run (host and agent both up) and which sites are cut. */
export async function labNow(dir: string): Promise<{ cutSites: readonly string[]; nodes: readonly { name: string; running: boolean }[] }> {
  const { state, running } = await labStatus(dir);
  return { cutSites: state.cutSites, nodes: state.nodes.map((node) => ({ name: node.name, running: Boolean(running[node.name]?.agent && running[node.name]?.host) })) };
}
