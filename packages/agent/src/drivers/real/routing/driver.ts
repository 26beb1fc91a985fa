import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Announcement__Output, AnnouncementKind, Neighbor__Output, Route__Output } from '@hvctl/proto';
import { HvctlError, ToolError, failedPrecondition, invalidArgument, validatePrefix, type CommandRunner, type Logger } from '@hvctl/common';
import type { ChangeListener, DriverChange, ProbeResult, RoutingDriver, StateSource, Unsubscribe } from '../../types.js';
import { ChangeListeners, Mutex, probeFailed, probeFailure, probeOk } from '../common.js';
import { DEFAULT_FRAGMENT_OPTIONS, isSafePrefix, parseBirdFragment, renderBirdFragment, type AnnouncementRecord, type BirdFragmentOptions } from './bird-config.js';
import { birdVersionOf, configureOutcome, ospfNeighborUp, parseBirdProtocols, parseBirdProtocolsAll, parseBirdRoutes, parseOspfNeighbors, type BirdProtocol } from './parse-bird.js';
import { parseIpRoutes } from './parse-ip-route.js';

/** What the start-up rewrite of the include file did. */
export interface BootRoutingOutcome {
  readonly kept: readonly AnnouncementRecord[];
  readonly withdrawn: readonly AnnouncementRecord[];
  /** `reconfigured`: birdc configure ran; `not-running`: BIRD reads the file when it starts. */
  readonly bird: 'unchanged' | 'reconfigured' | 'not-running';
}

export interface RealRoutingOptions {
  readonly runner: CommandRunner;
  /** Absolute paths. */
  readonly birdc: string;
  readonly ip: string;
  /** BIRD's control socket (`birdc -s`). */
  readonly socket: string;
  /** The include file the agent owns (bird.conf must `include` it). */
  readonly includeFile: string;
  /** This node's name, reported as the announcing node. */
  readonly node: string;
  readonly fragment?: Partial<BirdFragmentOptions>;
  /** Names for neighbours: OSPF router id / neighbour address → node name ("upstream" for the BGP edge). */
  readonly peerNames?: Readonly<Record<string, string>>;
  /** Read kernel routes in this network namespace (`ip -n NS`), for the lab. */
  readonly netns?: string;
  readonly timeoutMs?: number;
  /** How often neighbours are polled for watch deltas. */
  readonly pollMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/** birdc exits 1 on 8xxx/9xxx replies and when it cannot connect (docs/reference/tools.md §3.1); other codes are failures. */
function classifyBirdc(_code: number | null, stderr: string): HvctlError['code'] {
  return /Unable to connect to server control socket/.test(stderr) ? 'UNAVAILABLE' : 'INTERNAL';
}

const PROTOCOL_KIND: Record<string, string> = { OSPF: 'ospf', BGP: 'bgp', Static: 'static', Direct: 'kernel', Kernel: 'kernel', Device: 'kernel' };

/** BIRD's `since` (time-only by default, or `timeformat … iso long`) → Unix ms, local time. */
export function birdSinceToMs(since: string, now = Date.now()): number {
  const full = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/.exec(since);
  if (full) {
    const [, y, mo, d, h, mi, s, frac] = full;
    return new Date(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), Number((frac ?? '0').padEnd(3, '0').slice(0, 3))).getTime();
  }
  const time = /^(\d\d):(\d\d):(\d\d)(?:\.(\d+))?$/.exec(since);
  if (!time) return 0;
  const [, h, mi, s, frac] = time;
  const today = new Date(now);
  today.setHours(Number(h), Number(mi), Number(s), Number((frac ?? '0').padEnd(3, '0').slice(0, 3)));
  // Time-only values are ambiguous across days: a time later than now was yesterday.
  return today.getTime() > now ? today.getTime() - 86_400_000 : today.getTime();
}

/**
 * Routing through BIRD 2's control socket with `birdc -s SOCKET` (one command per
 * process, arguments form). Announcements live in an include file the agent owns: two
 * static protocols and two export filters; announce/withdraw rewrite it atomically,
 * run `configure check`, then `configure`, and verify the route; on any failure the
 * previous file is put back. Kernel routes come from `ip -j route`.
 */
export class RealRoutingDriver implements RoutingDriver, StateSource {
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly fragment: BirdFragmentOptions;
  private readonly mutex = new Mutex();
  private readonly listeners = new ChangeListeners({ start: () => this.startPolling(), stop: () => this.stop() });
  private readonly now: () => number;
  private emitted = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RealRoutingOptions) {
    this.runner = options.runner;
    this.timeoutMs = options.timeoutMs ?? 15_000;
    this.fragment = { ...DEFAULT_FRAGMENT_OPTIONS, ...options.fragment };
    this.now = options.now ?? Date.now;
  }

  /** Runs one birdc command; a refused command (8xxx/9xxx reply, exit 1) throws FAILED_PRECONDITION with BIRD's words. */
  private async birdc(words: readonly string[]): Promise<string> {
    const reply = await this.birdcReply(words);
    if (!reply.ok) {
      const said = reply.text.split('\n').filter((line) => line.trim() && !/^BIRD .* ready\.$/.test(line)).join(' / ');
      throw failedPrecondition(`birdc ${words.join(' ')}: ${said || 'refused'}`);
    }
    return reply.text;
  }

  /** Runs one birdc command; a refused command gives its reply text (stdout and stderr) instead of throwing. */
  private async birdcReply(words: readonly string[]): Promise<{ ok: boolean; text: string }> {
    const result = await this.runner.run(this.options.birdc, { args: ['-s', this.options.socket, ...words], timeoutMs: this.timeoutMs, okExitCodes: [0, 1], classifyExit: classifyBirdc });
    if (/Unable to connect to server control socket/.test(result.stderr + result.stdout)) {
      throw new HvctlError('UNAVAILABLE', `BIRD is not reachable on ${this.options.socket}: ${(result.stderr || result.stdout).trim()}`, {
        nextSteps: ['check that bird runs (systemctl status bird) and the socket path in agent.yaml'],
      });
    }
    return { ok: result.exitCode === 0, text: [result.stdout, result.stderr].filter(Boolean).join('\n') };
  }

  async probe(): Promise<ProbeResult> {
    let status: string;
    try {
      status = await this.birdc(['show', 'status']);
    } catch (error) {
      if (error instanceof HvctlError && !(error instanceof ToolError)) return probeFailed(error.message);
      return probeFailure('birdc', error, 'install bird2 (apt install bird2)');
    }
    const version = birdVersionOf(status) ?? '?';
    let protocols: BirdProtocol[];
    try {
      protocols = parseBirdProtocols(await this.birdc(['show', 'protocols']));
    } catch (error) {
      return probeFailed(`BIRD ${version}: show protocols failed: ${(error as Error).message}`);
    }
    const missing = [this.fragment.vmProtocol, this.fragment.publicProtocol].filter((name) => !protocols.some((protocol) => protocol.name === name));
    if (missing.length) {
      return probeFailed(`BIRD ${version} runs, but ${missing.join(' and ')} are not configured: add \`include "${this.options.includeFile}";\` to bird.conf (hvctl-agent doctor writes the file)`);
    }
    return probeOk(`BIRD ${version} on ${this.options.socket}, announcements in ${this.options.includeFile}`);
  }

  async listRoutes(): Promise<Route__Output[]> {
    const [routesText, protocolsText, kernelText] = await Promise.all([
      this.birdc(['show', 'route']),
      this.birdc(['show', 'protocols']),
      this.kernelRoutes().catch((error: unknown) => {
        this.options.logger?.warn({ err: error }, 'ip -j route failed');
        return undefined;
      }),
    ]);
    const kinds = new Map(parseBirdProtocols(protocolsText).map((protocol) => [protocol.name, PROTOCOL_KIND[protocol.proto] ?? protocol.proto.toLowerCase()]));
    const own = new Set([this.fragment.vmProtocol, this.fragment.publicProtocol]);
    const routes = new Map<string, Route__Output>();
    for (const route of parseBirdRoutes(routesText)) {
      if (!route.primary || routes.has(route.prefix)) continue;
      const kind = kinds.get(route.protocol) ?? 'static';
      routes.set(route.prefix, {
        prefix: route.prefix,
        viaNode: route.gateway ? (this.options.peerNames?.[route.gateway] ?? route.gateway) : '',
        protocol: kind,
        metric: route.metric ?? 0,
        local: own.has(route.protocol) || kind === 'kernel',
      });
    }
    // Kernel routes BIRD does not know (set by hand or by the system): reported as kernel.
    for (const route of kernelText ?? []) {
      if (route.protocol === 'bird' || route.prefix === 'default' || routes.has(route.prefix)) continue;
      routes.set(route.prefix, { prefix: route.prefix, viaNode: route.gateway ? (this.options.peerNames?.[route.gateway] ?? route.gateway) : '', protocol: 'kernel', metric: route.metric, local: route.gateway === undefined });
    }
    return [...routes.values()].sort((a, b) => a.prefix.localeCompare(b.prefix));
  }

  private async kernelRoutes(): Promise<ReturnType<typeof parseIpRoutes>> {
    const args = [...(this.options.netns ? ['-n', this.options.netns] : []), '-j', 'route', 'show'];
    // Check the exit status before parsing: on errors ip prints a lone `[` (docs/reference/tools.md §5).
    const result = await this.runner.run(this.options.ip, { args, timeoutMs: this.timeoutMs });
    return parseIpRoutes(result.stdout);
  }

  async listAnnouncements(): Promise<Announcement__Output[]> {
    return (await this.records()).map((record) => this.announcement(record));
  }

  async announce(prefix: string, kind: AnnouncementKind, vm: string): Promise<Announcement__Output> {
    const canonical = validatePrefix(prefix);
    if (!isSafePrefix(canonical)) throw invalidArgument(`prefix ${prefix} is not an IPv4 prefix`);
    if (kind !== 'ANNOUNCEMENT_KIND_VM' && kind !== 'ANNOUNCEMENT_KIND_BGP') throw invalidArgument('kind must be VM or BGP');
    if (kind === 'ANNOUNCEMENT_KIND_VM' && !canonical.endsWith('/32')) throw invalidArgument(`a VM announcement must be a /32, not ${canonical}`);
    return this.mutex.run(async () => {
      const records = await this.records();
      const existing = records.find((record) => record.prefix === canonical);
      if (existing && existing.kind === kind && existing.vm === vm) return this.announcement(existing);
      const record: AnnouncementRecord = { prefix: canonical, kind, vm, sinceUnixMs: existing?.sinceUnixMs ?? this.now() };
      await this.apply([...records.filter((other) => other.prefix !== canonical), record], `announce ${canonical}`);
      await this.verify(canonical, kind === 'ANNOUNCEMENT_KIND_VM' ? this.fragment.vmProtocol : this.fragment.publicProtocol, true);
      const view = this.announcement(record);
      this.emit({ change: 'announcement', announcement: view });
      return view;
    });
  }

  async withdraw(prefix: string): Promise<boolean> {
    const canonical = validatePrefix(prefix);
    return this.mutex.run(async () => {
      const records = await this.records();
      const existing = records.find((record) => record.prefix === canonical);
      if (!existing) return false;
      await this.apply(
        records.filter((record) => record.prefix !== canonical),
        `withdraw ${canonical}`,
      );
      await this.verify(canonical, existing.kind === 'ANNOUNCEMENT_KIND_VM' ? this.fragment.vmProtocol : this.fragment.publicProtocol, false);
      this.emit({ change: 'announcementRemoved', announcementRemoved: canonical });
      return true;
    });
  }

  async listNeighbors(): Promise<Neighbor__Output[]> {
    const protocols = parseBirdProtocolsAll(await this.birdc(['show', 'protocols', 'all']));
    const neighbors: Neighbor__Output[] = [];
    for (const protocol of protocols.filter((p) => p.proto === 'BGP')) {
      const address = protocol.details['Neighbor address'] ?? '';
      const bgpState = protocol.details['BGP state'] ?? (protocol.info.split(/\s+/)[0] || protocol.state);
      neighbors.push({
        name: this.options.peerNames?.[address] ?? protocol.name,
        protocol: 'bgp',
        state: bgpState,
        up: protocol.state === 'up' && bgpState === 'Established',
        sinceUnixMs: birdSinceToMs(protocol.since, this.now()),
      });
    }
    if (protocols.some((p) => p.proto === 'OSPF')) {
      const reply = await this.birdcReply(['show', 'ospf', 'neighbors']);
      if (reply.ok) {
        for (const neighbor of parseOspfNeighbors(reply.text)) {
          neighbors.push({
            name: this.options.peerNames?.[neighbor.routerId] ?? this.options.peerNames?.[neighbor.routerIp] ?? neighbor.routerId,
            protocol: 'ospf',
            state: neighbor.state,
            up: ospfNeighborUp(neighbor.state),
            sinceUnixMs: 0,
          });
        }
      }
    }
    return neighbors.sort((a, b) => a.protocol.localeCompare(b.protocol) || a.name.localeCompare(b.name));
  }

  /** Writes the include file with no announcements if it does not exist (first start). */
  async ensureIncludeFile(): Promise<void> {
    await this.reconcile(() => true);
  }

  /**
   * The agent's start-up: keeps in the include file only the records `keep` accepts (the file
   * survives a crash, and BIRD read it at boot), then `birdc configure` when anything was
   * removed. Writes an empty file when there is none (BIRD cannot have read a missing file).
   * A BIRD that is not running reads the rewritten file when it starts.
   */
  async reconcile(keep: (record: AnnouncementRecord) => boolean): Promise<BootRoutingOutcome> {
    return this.mutex.run(async () => {
      let text: string | undefined;
      try {
        text = await readFile(this.options.includeFile, 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      }
      const records = text === undefined ? [] : parseBirdFragment(text);
      const kept = records.filter((record) => keep(record));
      const withdrawn = records.filter((record) => !kept.includes(record));
      if (text !== undefined && !withdrawn.length) return { kept, withdrawn, bird: 'unchanged' };
      await this.write(renderBirdFragment(kept, this.fragment));
      if (text === undefined) return { kept, withdrawn, bird: 'unchanged' };
      let reply: { ok: boolean; text: string };
      try {
        reply = await this.birdcReply(['configure']);
      } catch (error) {
        if (error instanceof HvctlError && error.code === 'UNAVAILABLE') return { kept, withdrawn, bird: 'not-running' };
        throw error;
      }
      const outcome = configureOutcome(reply.text);
      if (!reply.ok || !outcome.ok) {
        throw new HvctlError('INTERNAL', `BIRD did not reconfigure after the start-up rewrite of ${this.options.includeFile}: ${outcome.message || 'configure failed'}`, {
          unchanged: `BIRD keeps announcing ${withdrawn.map((record) => record.prefix).join(', ')} until it reconfigures`,
          nextSteps: ['check the BIRD log, then `birdc configure`'],
        });
      }
      return { kept, withdrawn, bird: 'reconfigured' };
    });
  }

  watch(listener: ChangeListener): Unsubscribe {
    return this.listeners.add(listener);
  }

  /** Starts the poll that turns re-listing into watch deltas (once). */
  private startPolling(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.options.pollMs ?? 5000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  // ---- internals ------------------------------------------------------------------------

  private announcement(record: AnnouncementRecord): Announcement__Output {
    return { prefix: record.prefix, kind: record.kind, node: this.options.node, vm: record.vm, sinceUnixMs: record.sinceUnixMs };
  }

  private async records(): Promise<AnnouncementRecord[]> {
    try {
      return parseBirdFragment(await readFile(this.options.includeFile, 'utf8'));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
  }

  private async write(text: string): Promise<void> {
    const temporary = join(dirname(this.options.includeFile), `.hvctl-${randomBytes(4).toString('hex')}.tmp`);
    await writeFile(temporary, text, { mode: 0o644 });
    try {
      await rename(temporary, this.options.includeFile);
    } catch (error) {
      await rm(temporary, { force: true });
      throw error;
    }
  }

  /** Rewrites the include file and reconfigures BIRD; puts the old file back on any failure. */
  private async apply(records: readonly AnnouncementRecord[], what: string): Promise<void> {
    let previous: string | undefined;
    try {
      previous = await readFile(this.options.includeFile, 'utf8');
    } catch {
      previous = undefined;
    }
    await this.write(renderBirdFragment(records, this.fragment));
    const restore = async (): Promise<void> => {
      if (previous === undefined) await rm(this.options.includeFile, { force: true });
      else await this.write(previous);
    };
    try {
      const check = await this.birdcReply(['configure', 'check']);
      const checked = configureOutcome(check.text);
      if (!check.ok || !checked.ok) {
        await restore();
        throw failedPrecondition(`BIRD rejected the new configuration for ${what}: ${checked.message || 'configure check failed'}`, {
          unchanged: 'BIRD keeps running its previous configuration; the include file was put back',
          nextSteps: ['run `birdc configure check` and fix bird.conf'],
        });
      }
      const done = await this.birdcReply(['configure']);
      const outcome = configureOutcome(done.text);
      if (!done.ok || !outcome.ok) {
        await restore();
        throw new HvctlError('INTERNAL', `BIRD did not reconfigure for ${what}: ${outcome.message || 'configure failed'}`, {
          unchanged: 'the include file was put back',
          nextSteps: ['check the BIRD log, then `birdc configure`'],
        });
      }
    } catch (error) {
      if (!(error instanceof HvctlError) || error instanceof ToolError) await restore().catch(() => undefined);
      throw error;
    }
  }

  /** Reads the route back from BIRD: present in (or gone from) the static protocol. */
  private async verify(prefix: string, protocol: string, present: boolean): Promise<void> {
    for (let attempt = 0; attempt < 10; attempt += 1) {
      const reply = await this.birdcReply(['show', 'route', 'protocol', protocol]);
      const found = parseBirdRoutes(reply.text).some((route) => route.prefix === prefix);
      if (found === present) return;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new HvctlError('INTERNAL', `BIRD reconfigured, but ${prefix} is ${present ? 'still not' : 'still'} in ${protocol}`, {
      nextSteps: [`check \`birdc show route protocol ${protocol}\` and the include file ${this.options.includeFile}`],
    });
  }

  private emit(change: DriverChange): void {
    this.listeners.emit(change);
  }

  /** Diffs neighbours against what was last reported. */
  private async poll(): Promise<void> {
    let neighbors: Neighbor__Output[];
    try {
      neighbors = await this.listNeighbors();
    } catch (error) {
      this.options.logger?.warn({ err: error }, 'polling BIRD neighbours failed');
      return;
    }
    const next = new Map<string, string>();
    for (const neighbor of neighbors) {
      const key = `${neighbor.protocol}/${neighbor.name}`;
      const text = JSON.stringify({ ...neighbor, sinceUnixMs: 0 });
      next.set(key, text);
      if (this.emitted.get(key) !== text) this.emit({ change: 'neighbor', neighbor });
    }
    for (const key of this.emitted.keys()) if (!next.has(key)) this.emit({ change: 'neighborRemoved', neighborRemoved: key });
    this.emitted = next;
  }
}
