import type { Resource__Output } from '@hvctl/proto';
import { HvctlError, ToolError, failedPrecondition, notFound, type CommandRunner, type Logger } from '@hvctl/common';
import type { ChangeListener, DrbdDriver, DriverChange, ProbeResult, StateSource, Unsubscribe } from '../../types.js';
import { ChangeListeners, Follower, assertSafeName, domainError, probeFailed, probeFailure, probeOk } from '../common.js';
import { toResource, type DrbdResourceState } from './model.js';
import { Events2State, parseEvents2Line, type Events2Effect } from './parse-events2.js';
import { DrbdStatusFormatError, parseDrbdShow, parseDrbdStatus } from './parse-status.js';

export interface RealDrbdOptions {
  readonly runner: CommandRunner;
  /** Absolute paths. */
  readonly drbdadm: string;
  readonly drbdsetup: string;
  /** drbdadm's config file (`-c`); drbdadm's default (/etc/drbd.conf) when unset. */
  readonly configFile?: string;
  /** Make drbdadm run the configured drbdsetup too (`--drbdsetup=PATH`), not its built-in one. */
  readonly passDrbdsetup?: boolean;
  /** Budget of one drbdadm/drbdsetup call. */
  readonly timeoutMs?: number;
  /** How often the events2 follower asks for fresh counters (`n` on --poll's stdin). */
  readonly pollIntervalMs?: number;
  readonly logger?: Logger;
  readonly now?: () => number;
}

/** drbdadm/drbdsetup exit codes (docs/reference/tools.md §1.9) → what they mean for the caller. */
function classifyDrbdExit(code: number | null, stderr: string): HvctlError['code'] {
  if (/not defined in your config|No such resource/.test(stderr)) return 'NOT_FOUND';
  if (code === 20 || code === 121) return 'UNAVAILABLE';
  if (code === 5 || code === 10 || code === 11 || code === 16 || code === 17) return 'FAILED_PRECONDITION';
  return 'INTERNAL';
}

const HELPER_LOG: Record<string, { level: 'warn' | 'error'; text: (peer: string) => string }> = {
  'split-brain': { level: 'error', text: (peer) => `split brain detected with ${peer}; DRBD dropped the connection (StandAlone). Pick a victim and reconnect it with --discard-my-data` },
  'pri-lost-after-sb': { level: 'error', text: (peer) => `lost Primary after a split brain with ${peer}` },
  'quorum-lost': { level: 'error', text: () => 'lost quorum; I/O is suspended or fails until quorum returns' },
  'local-io-error': { level: 'error', text: () => 'local disk I/O error' },
  'pri-on-incon-degr': { level: 'error', text: () => 'Primary with inconsistent data and no connection to good data' },
  'fence-peer': { level: 'warn', text: (peer) => `fencing ${peer} (fence-peer handler called)` },
  'out-of-sync': { level: 'warn', text: (peer) => `online verify found blocks out of sync with ${peer}` },
  disconnected: { level: 'warn', text: (peer) => `disconnected from ${peer}` },
};

/**
 * DRBD 9 through drbd-utils: state from `drbdsetup status --json` and the runtime net
 * options from `drbdsetup show`; live changes from a `drbdsetup events2` follower
 * (restarted when it dies, state rebuilt from its dump); actions through `drbdadm`
 * with the resource after `--`.
 */
export class RealDrbdDriver implements DrbdDriver, StateSource {
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private readonly listeners = new ChangeListeners({ start: () => this.startFollower(), stop: () => void this.stop() });
  private readonly connectionChanged = new Map<string, number>();
  /** allow-two-primaries/protocol per resource from `drbdsetup show`. */
  private netOptions = new Map<string, { allowTwoPrimaries: boolean; protocol: string }>();
  private events = new Events2State();
  /** Resources of the previous events2 run, to report the ones gone after a restart. */
  private previousNames: string[] = [];
  private follower: Follower | undefined;
  private pollTimer: NodeJS.Timeout | undefined;

  constructor(private readonly options: RealDrbdOptions) {
    this.runner = options.runner;
    this.timeoutMs = options.timeoutMs ?? 30_000;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
  }

  private adm(args: readonly string[]): string[] {
    return [
      ...(this.options.configFile ? ['-c', this.options.configFile] : []),
      ...(this.options.passDrbdsetup ? [`--drbdsetup=${this.options.drbdsetup}`] : []),
      ...args,
    ];
  }

  async probe(): Promise<ProbeResult> {
    let text: string;
    try {
      // drbdadm --version prints shell variables, and exits 0 with or without the module.
      text = (await this.runner.run(this.options.drbdadm, { args: ['--version'], timeoutMs: 5000, okExitCodes: [0, 1] })).stdout;
    } catch (error) {
      return probeFailure('drbdadm', error, 'install drbd-utils (apt install drbd-utils)');
    }
    const utils = /^DRBDADM_VERSION=(\S+)/m.exec(text)?.[1];
    const kernel = /^DRBD_KERNEL_VERSION=(\S+)/m.exec(text)?.[1];
    if (!utils) return probeFailed(`drbdadm --version printed no DRBDADM_VERSION; is ${this.options.drbdadm} drbd-utils 9?`);
    if (!utils.startsWith('9.')) return probeFailed(`drbd-utils ${utils} found; hvctl needs drbd-utils 9`);
    if (!kernel || kernel === '0') return probeFailed(`drbd-utils ${utils}, but the DRBD kernel module is not loaded: modprobe drbd (and install the DRBD 9 module)`);
    // Debian's own kernel ships DRBD 8.4; hvctl speaks DRBD 9 (events2, status --json, quorum).
    if (!kernel.startsWith('9.')) return probeFailed(`drbd-utils ${utils}, but the loaded DRBD kernel module is ${kernel}; hvctl needs DRBD 9 (LINBIT's drbd-dkms)`);
    try {
      await this.runner.run(this.options.drbdsetup, { args: ['status', 'all', '--json'], timeoutMs: 5000 });
    } catch (error) {
      return probeFailure('drbdsetup', error, 'install drbd-utils');
    }
    return probeOk(`drbd-utils ${utils}, kernel module ${kernel}`);
  }

  /**
   * Checks drbd.conf without touching the kernel (`drbdadm dump all`, then `sh-resources`):
   * the resources defined for this host, or the parse error.
   */
  async checkConfig(): Promise<{ readonly ok: boolean; readonly resources: readonly string[]; readonly message: string }> {
    try {
      await this.runner.run(this.options.drbdadm, { args: this.adm(['dump', 'all']), timeoutMs: this.timeoutMs });
      const listed = await this.runner.run(this.options.drbdadm, { args: this.adm(['sh-resources']), timeoutMs: this.timeoutMs });
      const resources = listed.stdout.split(/\s+/).filter(Boolean);
      return { ok: true, resources, message: `${resources.length} resource(s) defined for this host` };
    } catch (error) {
      if (error instanceof ToolError) return { ok: false, resources: [], message: error.firstStderrLine || error.message };
      throw error;
    }
  }

  async list(): Promise<Resource__Output[]> {
    const states = await this.status('all');
    await this.refreshNetOptions();
    return states.map((state) => this.view(state));
  }

  /** One resource, read back after an action. */
  async get(name: string): Promise<Resource__Output> {
    const [state] = await this.status(assertSafeName(name, 'resource'));
    if (!state) throw notFound(`DRBD resource "${name}" is not configured on this node`);
    return this.view(state);
  }

  async promote(name: string, options: { readonly force: boolean }): Promise<Resource__Output> {
    await this.drbdadm(['primary', ...(options.force ? ['--force'] : [])], name);
    return this.get(name);
  }

  async demote(name: string): Promise<Resource__Output> {
    await this.drbdadm(['secondary'], name);
    return this.get(name);
  }

  async connect(name: string, options: { readonly discardMyData: boolean }): Promise<Resource__Output> {
    await this.drbdadm(['connect', ...(options.discardMyData ? ['--discard-my-data'] : [])], name);
    return this.get(name);
  }

  async disconnect(name: string): Promise<Resource__Output> {
    await this.drbdadm(['disconnect'], name);
    return this.get(name);
  }

  async setAllowTwoPrimaries(name: string, allow: boolean): Promise<Resource__Output> {
    await this.drbdadm(['net-options', `--allow-two-primaries=${allow ? 'yes' : 'no'}`], name);
    await this.refreshNetOptions();
    return this.get(name);
  }

  /** `drbdadm adjust RES`: make the kernel match the config (idempotent). */
  async adjust(name: string): Promise<Resource__Output> {
    await this.drbdadm(['adjust'], name);
    return this.get(name);
  }

  /** `drbdadm verify RES`: online verify (needs verify-alg and a connection). */
  async verify(name: string): Promise<Resource__Output> {
    await this.drbdadm(['verify'], name);
    return this.get(name);
  }

  /** `drbdadm outdate RES`: mark the local data Outdated (fencing a lost side). */
  async outdate(name: string): Promise<Resource__Output> {
    await this.drbdadm(['outdate'], name);
    return this.get(name);
  }

  watch(listener: ChangeListener): Unsubscribe {
    return this.listeners.add(listener);
  }

  /** Stops the events2 follower. */
  async stop(): Promise<void> {
    if (this.pollTimer) clearInterval(this.pollTimer);
    this.pollTimer = undefined;
    const follower = this.follower;
    this.follower = undefined;
    await follower?.stop();
  }

  // ---- internals ------------------------------------------------------------------------

  private view(state: DrbdResourceState): Resource__Output {
    const options = this.netOptions.get(state.name);
    return toResource(state, {
      ...(options ? { allowTwoPrimaries: options.allowTwoPrimaries, protocol: options.protocol } : {}),
      connectionChangedMs: (peer) => this.connectionChanged.get(`${state.name}/${peer}`) ?? 0,
    });
  }

  private async status(target: string): Promise<DrbdResourceState[]> {
    const args = ['status', target, '--json', '--statistics'];
    try {
      const result = await this.runner.run(this.options.drbdsetup, { args, timeoutMs: this.timeoutMs, classifyExit: classifyDrbdExit });
      return parseDrbdStatus(result.stdout);
    } catch (error) {
      // A missing resource prints `[]`, "No such resource" and exits 10.
      if (error instanceof ToolError && error.exitCode === 10 && /No such resource/.test(error.stderr)) return [];
      if (error instanceof DrbdStatusFormatError) throw new HvctlError('INTERNAL', `${this.options.drbdsetup} ${args.join(' ')}: ${error.message}`);
      throw domainError(error, (tool) =>
        tool.exitCode === 20 ? new HvctlError('UNAVAILABLE', `DRBD is not available on this node: ${tool.firstStderrLine || tool.message}`, { nextSteps: ['load the DRBD 9 kernel module (modprobe drbd)'] }) : undefined,
      );
    }
  }

  private async refreshNetOptions(): Promise<void> {
    try {
      const result = await this.runner.run(this.options.drbdsetup, { args: ['show', 'all'], timeoutMs: this.timeoutMs });
      this.netOptions = parseDrbdShow(result.stdout);
    } catch (error) {
      // Without it allow-two-primaries reads as false: logged, not fatal for a listing.
      this.logger?.warn({ err: error }, 'drbdsetup show failed; allow-two-primaries unknown');
    }
  }

  private async drbdadm(command: readonly string[], name: string): Promise<void> {
    const resource = assertSafeName(name, 'resource');
    const args = this.adm([...command, '--', resource]);
    try {
      await this.runner.run(this.options.drbdadm, { args, timeoutMs: this.timeoutMs, classifyExit: classifyDrbdExit });
    } catch (error) {
      throw domainError(error, (tool) => {
        const said = tool.firstStderrLine || `exit ${tool.exitCode ?? tool.signal ?? '?'}`;
        const line = `drbdadm ${command.join(' ')} ${resource}`;
        if (tool.code === 'NOT_FOUND') return notFound(`DRBD resource "${resource}" is not configured on this node (${said})`);
        if (tool.code === 'FAILED_PRECONDITION') {
          return failedPrecondition(`${line} was refused by DRBD (exit ${tool.exitCode}): ${said}`, {
            unchanged: `${resource} is as it was`,
            nextSteps: nextStepsFor(command[0] ?? '', said, resource),
          });
        }
        if (tool.code === 'UNAVAILABLE') return new HvctlError('UNAVAILABLE', `${line} failed: ${said}`, { nextSteps: ['load the DRBD 9 kernel module (modprobe drbd)'] });
        return undefined;
      });
    }
  }

  private emit(change: DriverChange): void {
    this.listeners.emit(change);
  }

  private startFollower(): void {
    if (this.follower) return;
    this.follower = new Follower({
      name: 'drbdsetup events2',
      ...(this.logger ? { logger: this.logger } : {}),
      start: () => {
        // A new run starts with a full dump: rebuild from scratch.
        this.previousNames = this.events.names();
        this.events = new Events2State();
        void this.refreshNetOptions();
        return this.runner.stream(this.options.drbdsetup, {
          args: ['events2', 'all', '--timestamps', '--full', '--poll'],
          keepStdinOpen: true,
          onLine: (line) => this.onEventLine(line),
        });
      },
      onEnd: (error) => {
        // Only a run that had delivered its dump is news; one that cannot start (no module) is the probe's.
        if (!this.events.ready) return;
        this.emit({ change: 'log', log: { level: 'warn', area: 'drbd', message: `drbdsetup events2 stopped (${error instanceof Error ? error.message : 'exited'}); restarting it`, timeUnixMs: this.now() } });
      },
    });
    this.follower.start();
    const interval = this.options.pollIntervalMs ?? 5000;
    this.pollTimer = setInterval(() => {
      if (this.events.ready) this.follower?.write('n\n');
    }, interval);
    this.pollTimer.unref();
  }

  private onEventLine(text: string): void {
    // `[TIMESTAMP ]- skipped N`: drbdsetup lost N kernel notifications (its buffer overflowed);
    // the state built from the stream is wrong from here, so a fresh run dumps it all again.
    const skipped = /(?:^|\s)- skipped (\d+)\s*$/.exec(text);
    if (skipped) {
      this.emit({ change: 'log', log: { level: 'warn', area: 'drbd', message: `drbdsetup events2 missed ${skipped[1]} event(s); reading every resource again`, timeUnixMs: this.now() } });
      void this.follower?.restart();
      return;
    }
    const line = parseEvents2Line(text);
    if (!line) return;
    const effect = this.events.apply(line);
    if (effect) this.onEffect(effect, line.timeMs ?? this.now());
  }

  private onEffect(effect: Events2Effect, timeMs: number): void {
    const resourceChange = (name: string): void => {
      const state = this.events.resource(name);
      if (state) this.emit({ change: 'resource', resource: this.view(state) });
    };
    switch (effect.kind) {
      case 'dump-complete': {
        for (const name of effect.resources) resourceChange(name);
        for (const gone of this.previousNames.filter((name) => !effect.resources.includes(name))) this.emit({ change: 'resourceRemoved', resourceRemoved: gone });
        this.previousNames = [];
        return;
      }
      case 'connection':
        this.connectionChanged.set(`${effect.resource}/${effect.peer}`, timeMs);
        if (this.events.ready) resourceChange(effect.resource);
        return;
      case 'changed':
        if (this.events.ready) resourceChange(effect.resource);
        return;
      case 'removed':
        if (this.events.ready) this.emit({ change: 'resourceRemoved', resourceRemoved: effect.resource });
        return;
      case 'renamed':
        if (!this.events.ready) return;
        this.emit({ change: 'resourceRemoved', resourceRemoved: effect.from });
        resourceChange(effect.to);
        return;
      case 'helper': {
        const known = HELPER_LOG[effect.helper];
        if (effect.action !== 'call' || !known) return;
        const peer = effect.fields['conn-name'] ?? 'its peer';
        this.emit({ change: 'log', log: { level: known.level, area: 'drbd', message: `${effect.resource}: ${known.text(peer)}`, timeUnixMs: timeMs } });
        return;
      }
    }
  }
}

function nextStepsFor(command: string, said: string, resource: string): string[] {
  if (/Need access to UpToDate data/.test(said)) return [`check that a peer holds UpToDate data; promote with force only if you accept this copy as authoritative`];
  if (/Multiple primaries not allowed/.test(said)) return [`demote ${resource} on its peer first, or allow two primaries for a live migration only`];
  if (/held open/.test(said)) return [`stop or migrate the VM using ${resource} first`];
  if (/No quorum/.test(said)) return ['restore the connection to the peers or the tie-breaker before promoting'];
  if (/discard-my-data not allowed when primary/.test(said)) return [`demote ${resource} (drbdadm secondary ${resource}) before discarding its data`];
  if (/Can not clear allow_two_primaries/.test(said)) return [`demote ${resource} on one node before forbidding two primaries`];
  if (command === 'verify') return ['set a verify-alg in the net options and make sure the peer is connected'];
  return [`look at \`drbdadm status ${resource}\` and the kernel log (dmesg) for the reason`];
}
