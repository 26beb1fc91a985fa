import { accessSync, constants, existsSync, readFileSync, readdirSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { HvctlError, ProcessRunner, failedPrecondition, processAlive, type CommandRunner } from '@hvctl/common';
import { parseIpRoutes, renderBirdFragment, type AnnouncementRecord, type KernelRoute } from '@hvctl/agent';
import { renderNodeBirdConf, renderUpstreamBirdConf } from './bird-conf.js';
import { UPSTREAM, netnsDir, type NetnsPlan, type NetnsRouter } from './plan.js';

/** Absolute paths of the tools the netns lab runs (Debian's). */
export interface NetnsTools {
  readonly ip: string;
  readonly bird: string;
  readonly birdc: string;
}

export const DEFAULT_NETNS_TOOLS: NetnsTools = { ip: '/usr/sbin/ip', bird: '/usr/sbin/bird', birdc: '/usr/sbin/birdc' };

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const CALL_MS = 10_000;

/**
 * Refuses `lab up --netns` when it cannot work: not root (network namespaces need
 * CAP_NET_ADMIN and CAP_SYS_ADMIN) or a tool missing. Nothing has been created yet.
 */
export function requireNetnsPrerequisites(tools: NetnsTools = DEFAULT_NETNS_TOOLS, uid: number | undefined = process.getuid?.()): void {
  if (uid !== 0) {
    // FAILED_PRECONDITION, not PERMISSION_DENIED: no caller was refused, the command cannot run here (exit 3).
    throw failedPrecondition('`hvctl lab up --netns` needs root: it creates network namespaces and veth links and runs BIRD in them', {
      unchanged: 'nothing was created',
      nextSteps: ['run it as root: sudo npx hvctl lab up --netns', 'or start the lab without --netns (routing simulated)'],
    });
  }
  for (const [name, path, pkg] of [['bird', tools.bird, 'bird2'], ['birdc', tools.birdc, 'bird2'], ['ip', tools.ip, 'iproute2']] as const) {
    try {
      accessSync(path, constants.X_OK);
    } catch {
      throw failedPrecondition(`\`hvctl lab up --netns\` needs ${name} at ${path}, which is missing`, { nextSteps: [`install it: apt install ${pkg}`] });
    }
  }
}

/** True when `pid` is a live BIRD started with a config file under `configDir`. */
function isLabBird(pid: number, configDir: string): boolean {
  if (!(pid > 0) || !processAlive(pid)) return false;
  try {
    const args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return args.some((arg) => arg.startsWith(configDir) && arg.endsWith('bird.conf'));
  } catch {
    return false;
  }
}

/** The last lines of a log file, or '' when there is none. */
function tailOf(path: string, lines = 5): string {
  try {
    return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

function readPid(path: string): number {
  try {
    return Number(readFileSync(path, 'utf8').trim()) || 0;
  } catch {
    return 0;
  }
}

async function killAndWait(pids: readonly number[], signal: NodeJS.Signals, waitMs: number): Promise<number[]> {
  const signalled: number[] = [];
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
      signalled.push(pid);
    } catch {
      // already gone
    }
  }
  const until = Date.now() + waitMs;
  while (Date.now() < until && signalled.some((pid) => processAlive(pid))) await sleep(20);
  return signalled;
}

/** What a teardown removed, for `lab down` to report. */
export interface NetnsTeardown {
  readonly namespaces: string[];
  readonly birds: number[];
}

/**
 * The side effects of the netns lab: namespaces, veth links, addresses and one BIRD per
 * router, all through the process runner. Every namespace carries the plan's prefix and
 * every link is created inside its two namespaces (`ip link add … netns A type veth peer
 * … netns B`), so deleting the namespaces deletes every link; nothing is added to the
 * root namespace.
 */
export class LabNetwork {
  constructor(
    private readonly plan: NetnsPlan,
    private readonly dir: string,
    private readonly runner: CommandRunner = new ProcessRunner(),
    private readonly tools: NetnsTools = DEFAULT_NETNS_TOOLS,
  ) {}

  private ip(args: readonly string[]): Promise<{ stdout: string }> {
    return this.runner.run(this.tools.ip, { args, timeoutMs: CALL_MS });
  }

  /** Creates every namespace and link with its addresses, all up. */
  async create(): Promise<void> {
    for (const router of this.plan.routers) {
      await this.ip(['netns', 'add', router.namespace]);
      await this.ip(['-n', router.namespace, 'link', 'set', 'lo', 'up']);
    }
    const namespaceOf = (name: string): string => this.router(name).namespace;
    for (const link of this.plan.links) {
      await this.ip(['link', 'add', link.a.interface, 'netns', namespaceOf(link.a.router), 'type', 'veth', 'peer', 'name', link.b.interface, 'netns', namespaceOf(link.b.router)]);
    }
    for (const router of this.plan.routers) {
      for (const iface of router.interfaces) {
        await this.ip(['-n', router.namespace, 'addr', 'add', iface.cidr, 'dev', iface.name]);
        await this.ip(['-n', router.namespace, 'link', 'set', iface.name, 'up']);
      }
    }
  }

  /** Writes every bird.conf, and each node's include file with the announcements it starts with. */
  async writeConfigs(announcements: Readonly<Record<string, readonly AnnouncementRecord[]>>): Promise<void> {
    for (const router of this.plan.routers) {
      await mkdir(router.bird.dir, { recursive: true });
      if (router.name === UPSTREAM) {
        await writeFile(router.bird.config, renderUpstreamBirdConf(this.plan));
        continue;
      }
      await writeFile(router.bird.config, renderNodeBirdConf(this.plan, router));
      await this.writeAnnouncements(router.name, announcements[router.name] ?? []);
    }
  }

  /** Replaces a node's include file (before its BIRD starts: a rebooted host announces nothing). */
  async writeAnnouncements(node: string, records: readonly AnnouncementRecord[]): Promise<void> {
    await writeFile(this.router(node).bird.include, renderBirdFragment(records));
  }

  /** Starts the BIRD of `name` in its namespace (it daemonizes) and waits for its control socket. */
  async startBird(name: string): Promise<number> {
    const { namespace, bird } = this.router(name);
    await rm(bird.socket, { force: true });
    await this.runner.run(this.tools.ip, {
      args: ['netns', 'exec', namespace, this.tools.bird, '-c', bird.config, '-s', bird.socket, '-P', bird.pidFile],
      timeoutMs: CALL_MS,
    });
    const until = Date.now() + CALL_MS;
    for (;;) {
      const pid = readPid(bird.pidFile);
      if (pid && existsSync(bird.socket)) {
        const reply = await this.runner.run(this.tools.birdc, { args: ['-s', bird.socket, 'show', 'status'], timeoutMs: CALL_MS, okExitCodes: [0, 1] });
        if (/Daemon is up and running/.test(reply.stdout)) return pid;
      }
      if (Date.now() > until) {
        const said = tailOf(bird.log);
        throw new HvctlError('DEADLINE_EXCEEDED', `BIRD of ${name} did not answer on ${bird.socket} within ${CALL_MS} ms (pid ${pid || 'none'}${pid && !processAlive(pid) ? ', exited' : ''})${said ? `; its log ends:\n${said}` : ''}`, {
          nextSteps: [`read ${bird.log}`, `check the config: ${this.tools.bird} -p -c ${bird.config}`],
        });
      }
      await sleep(50);
    }
  }

  /** Stops the BIRD of `name`: SIGKILL is a crash (routes stay in its kernel, sessions drop), SIGTERM a clean stop. */
  async stopBird(name: string, signal: NodeJS.Signals = 'SIGKILL'): Promise<boolean> {
    const { bird } = this.router(name);
    const pid = readPid(bird.pidFile);
    if (!isLabBird(pid, netnsDir(this.dir))) return false;
    await killAndWait([pid], signal, 3000);
    if (processAlive(pid)) await killAndWait([pid], 'SIGKILL', 1000);
    await rm(bird.pidFile, { force: true });
    return true;
  }

  /** True when the BIRD of `name` runs. */
  birdRunning(name: string): boolean {
    return isLabBird(readPid(this.router(name).bird.pidFile), netnsDir(this.dir));
  }

  /** Sets a link down or up on both its ends (a cut wan link). */
  async setLink(router: string, iface: string, up: boolean): Promise<void> {
    const self = this.router(router);
    const end = self.interfaces.find((candidate) => candidate.name === iface);
    if (!end) throw new Error(`${router} has no interface ${iface}`);
    const peer = this.router(end.peer);
    const peerEnd = peer.interfaces.find((candidate) => candidate.peer === router && candidate.kind === end.kind);
    await this.ip(['-n', self.namespace, 'link', 'set', iface, up ? 'up' : 'down']);
    if (peerEnd) await this.ip(['-n', peer.namespace, 'link', 'set', peerEnd.name, up ? 'up' : 'down']);
  }

  /** The kernel routing table of a router's namespace (`ip -n NS -j route show`). */
  async routes(name: string): Promise<KernelRoute[]> {
    return parseIpRoutes((await this.ip(['-n', this.router(name).namespace, '-j', 'route', 'show'])).stdout);
  }

  private router(name: string): NetnsRouter {
    const router = this.plan.routers.find((candidate) => candidate.name === name);
    if (!router) throw new Error(`no router ${name} in the netns plan`);
    return router;
  }
}

/** Namespaces whose name starts with `prefix` (`ip -j netns list`). */
export async function listNamespaces(prefix: string, runner: CommandRunner = new ProcessRunner(), tools: NetnsTools = DEFAULT_NETNS_TOOLS): Promise<string[]> {
  const { stdout } = await runner.run(tools.ip, { args: ['-j', 'netns', 'list'], timeoutMs: CALL_MS });
  const list = stdout.trim() ? (JSON.parse(stdout) as { name?: unknown }[]) : [];
  return list.map((entry) => String(entry.name ?? '')).filter((name) => name.startsWith(prefix));
}

/**
 * Removes what a netns lab left, found by name rather than by a state file: every BIRD
 * whose pid file lies under the lab's netns directory, every process still inside a
 * namespace with the lab's prefix (`ip netns pids`), then the namespaces (which deletes
 * their veth links). Idempotent; works after a crash of the lab.
 */
export async function teardownNetns(options: {
  readonly dir: string;
  readonly prefix: string;
  readonly runner?: CommandRunner;
  readonly tools?: NetnsTools;
}): Promise<NetnsTeardown> {
  const runner = options.runner ?? new ProcessRunner();
  const tools = options.tools ?? DEFAULT_NETNS_TOOLS;
  const configDir = netnsDir(options.dir);
  const pids = new Set<number>();
  if (existsSync(configDir)) {
    for (const entry of readdirSync(configDir)) {
      const pid = readPid(join(configDir, entry, 'bird.pid'));
      if (isLabBird(pid, configDir)) pids.add(pid);
    }
  }
  const namespaces = await listNamespaces(options.prefix, runner, tools);
  for (const namespace of namespaces) {
    const { stdout } = await runner.run(tools.ip, { args: ['netns', 'pids', namespace], timeoutMs: CALL_MS });
    for (const line of stdout.split('\n')) if (/^\d+$/.test(line.trim())) pids.add(Number(line.trim()));
  }
  const birds = await killAndWait([...pids], 'SIGTERM', 1500);
  await killAndWait(birds.filter((pid) => processAlive(pid)), 'SIGKILL', 1000);
  for (const namespace of namespaces) await runner.run(tools.ip, { args: ['netns', 'del', namespace], timeoutMs: CALL_MS });
  return { namespaces, birds };
}
