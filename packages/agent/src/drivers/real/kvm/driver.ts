import type { Domain__Output, MigrationProgress__Output } from '@hvctl/proto';
import { HvctlError, ToolError, failedPrecondition, notFound, type CommandRunner, type Logger } from '@hvctl/common';
import type { ChangeListener, DriverChange, IntentRecord, KvmDriver, MigrateOptions, ProbeResult, StateSource, Unsubscribe } from '../../types.js';
import { ChangeListeners, Follower, assertSafeName, domainError, probeFailure, probeOk } from '../common.js';
import {
  VirshFormatError,
  domainStateOf,
  drbdOfSource,
  formatIntentMetadata,
  jobPercent,
  parseDomblklist,
  parseDominfo,
  parseDomjobinfo,
  parseDomstate,
  parseIntentMetadata,
  parseMigrateProgress,
  parseNameList,
  parseVirshEvent,
  type JobInfo,
  type MetadataIntent,
} from './parse-virsh.js';

/** Namespace of the libvirt metadata element carrying a VM's IP and failover priority. */
export const HVCTL_METADATA_URI = 'https://hvctl.dev/xmlns/vm/1';
/**
 * Namespace of the element carrying a VM's intent (`<intent state=… set-ms=… set-by=…/>`),
 * apart from the vm element so that setting one never rewrites the other.
 */
export const HVCTL_INTENT_URI = 'https://hvctl.dev/xmlns/intent/1';
/** The namespace prefix libvirt writes for the intent element. */
const HVCTL_INTENT_KEY = 'hvctl-intent';

export interface RealKvmOptions {
  readonly runner: CommandRunner;
  /** Absolute path of virsh. */
  readonly virsh: string;
  /** libvirt connection URI (`qemu:///system`). */
  readonly uri: string;
  /** Destination URI of a migration to `node`, e.g. `qemu+ssh://${node}/system`. */
  readonly migrationUri: (node: string) => string;
  /** Extra `virsh migrate` flags from config (`--tls`, `--auto-converge`, …). */
  readonly migrateFlags?: readonly string[];
  /** Budget of one short virsh call. */
  readonly timeoutMs?: number;
  /** Budget of a whole migration. */
  readonly migrateTimeoutMs?: number;
  /** How often domjobinfo is polled during a migration, and domstate during a shutdown. */
  readonly pollMs?: number;
  /** Metadata namespace read for ip/priority; undefined to skip the extra call. */
  readonly metadataUri?: string;
  /** DRBD resource of a minor (`/dev/drbdN` disk sources), from the DRBD driver. */
  readonly resourceOfMinor?: (minor: number) => string | undefined;
  readonly logger?: Logger;
  readonly now?: () => number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** virsh exits 1 for every failure (docs/reference/tools.md §2.7); the stderr text says which. */
function classifyVirsh(_code: number | null, stderr: string): HvctlError['code'] {
  if (/failed to get domain|Domain not found/i.test(stderr)) return 'NOT_FOUND';
  if (/failed to connect to the hypervisor|Cannot recv data|Disconnected from|client socket is closed|Failed to connect socket/i.test(stderr)) return 'UNAVAILABLE';
  if (/Requested operation is not valid|already active|is not running|Operation not supported|not supported by the connection driver|argument unsupported/i.test(stderr)) return 'FAILED_PRECONDITION';
  return 'INTERNAL';
}

/** ip="…" and priority="…" from `<vm ip="10.20.0.11" priority="2"/>`. */
function parseMetadata(text: string): { ip: string; priority: number } {
  const ip = /\bip="([0-9.]{7,15})"/.exec(text)?.[1] ?? '';
  const priority = Number(/\bpriority="(-?\d{1,6})"/.exec(text)?.[1] ?? 0);
  return { ip, priority };
}

/**
 * libvirt/KVM through virsh: one command per process (`--domain=NAME`, so a name is never
 * read as an option), `LC_ALL=C`; live changes from a `virsh event --loop --all`
 * follower that re-reads the domain an event names, restarted (with a full resync)
 * whenever it ends.
 */
export class RealKvmDriver implements KvmDriver, StateSource {
  private readonly runner: CommandRunner;
  private readonly timeoutMs: number;
  private readonly pollMs: number;
  private readonly logger: Logger | undefined;
  private readonly now: () => number;
  private readonly migrating = new Set<string>();
  private readonly lastState = new Map<string, { state: string; reason: string; changedMs: number }>();
  private readonly listeners = new ChangeListeners({ start: () => this.startFollower(), stop: () => void this.stop() });
  private readonly pending = new Map<string, NodeJS.Timeout>();
  private readonly reconnectListeners = new Set<() => void>();
  private known = new Set<string>();
  private follower: Follower | undefined;
  /** The current event stream's resync reached libvirt. */
  private streamConnected = false;

  constructor(private readonly options: RealKvmOptions) {
    this.runner = options.runner;
    this.timeoutMs = options.timeoutMs ?? 20_000;
    this.pollMs = options.pollMs ?? 1000;
    this.logger = options.logger;
    this.now = options.now ?? Date.now;
  }

  private virsh(args: readonly string[], timeoutMs = this.timeoutMs): Promise<string> {
    return this.runner
      .run(this.options.virsh, { args: ['-c', this.options.uri, ...args], timeoutMs, classifyExit: classifyVirsh })
      .then((result) => result.stdout);
  }

  async probe(): Promise<ProbeResult> {
    let version: string;
    try {
      version = (await this.runner.run(this.options.virsh, { args: ['--version'], timeoutMs: 5000 })).stdout.trim();
    } catch (error) {
      return probeFailure('virsh', error, 'install libvirt-clients (apt install libvirt-clients)');
    }
    try {
      await this.virsh(['list', '--all', '--name'], 5000);
    } catch (error) {
      return probeFailure(`virsh -c ${this.options.uri}`, error, 'start libvirtd');
    }
    return probeOk(`virsh ${version}, connected to ${this.options.uri}`);
  }

  async list(): Promise<Domain__Output[]> {
    const names = parseNameList(await this.virsh(['list', '--all', '--name']));
    const domains: Domain__Output[] = [];
    // Four domains at a time: a host with 50 VMs must not fork 200 processes at once.
    for (let index = 0; index < names.length; index += 4) {
      const batch = await Promise.all(names.slice(index, index + 4).map((name) => this.read(name).catch((error: unknown) => this.vanished(error))));
      for (const domain of batch) if (domain) domains.push(domain);
    }
    this.known = new Set(domains.map((domain) => domain.name));
    return domains;
  }

  /** One domain, read fresh: dominfo, domstate --reason, domblklist, metadata. */
  async get(name: string): Promise<Domain__Output> {
    return this.read(assertSafeName(name, 'domain'));
  }

  async start(name: string): Promise<Domain__Output> {
    const domain = await this.get(name);
    if (domain.state === 'DOMAIN_STATE_RUNNING') return domain;
    if (domain.state === 'DOMAIN_STATE_PAUSED') {
      throw failedPrecondition(`${name} is paused (${domain.stateReason}); resume it with virsh resume after checking it runs nowhere else`);
    }
    await this.act(['start', `--domain=${name}`], name);
    return this.get(name);
  }

  async shutdown(name: string, timeoutMs: number): Promise<Domain__Output> {
    const before = await this.get(name);
    if (before.state === 'DOMAIN_STATE_SHUTOFF') return before;
    // Asynchronous with QEMU: an ACPI request; poll until the guest is off or the time is up.
    await this.act(['shutdown', `--domain=${name}`], name);
    const until = this.now() + timeoutMs;
    for (;;) {
      const domain = await this.get(name);
      if (domain.state === 'DOMAIN_STATE_SHUTOFF') return domain;
      if (this.now() + this.pollMs > until) break;
      await sleep(this.pollMs);
    }
    throw new HvctlError('DEADLINE_EXCEEDED', `${name} did not shut down within ${Math.round(timeoutMs / 1000)} s; it is still running`, {
      unchanged: `${name} keeps running`,
      nextSteps: ['retry with a longer timeout, or destroy it if the guest hangs'],
    });
  }

  async destroy(name: string): Promise<Domain__Output> {
    const before = await this.get(name);
    if (before.state === 'DOMAIN_STATE_SHUTOFF') return before;
    await this.act(['destroy', `--domain=${name}`], name);
    return this.get(name);
  }

  async migrate(name: string, options: MigrateOptions): Promise<Domain__Output> {
    const domain = await this.get(name);
    const target = assertSafeName(options.targetNode, 'target node');
    if (domain.state !== 'DOMAIN_STATE_RUNNING') throw failedPrecondition(`${name} is ${domain.stateReason || domain.state}; only a running domain can be live-migrated`);
    if (this.migrating.has(name)) throw failedPrecondition(`${name} is already migrating`);
    const desturi = this.options.migrationUri(target);
    this.migrating.add(name);
    this.emitDomain({ ...domain, migrating: true });
    let lastPercent = 0;
    let job: JobInfo | undefined;
    const report = (phase: string, percent: number): void => {
      lastPercent = Math.max(lastPercent, percent);
      options.onProgress({
        phase,
        percent: lastPercent,
        processedBytes: job?.dataProcessedBytes ?? 0,
        remainingBytes: job?.dataRemainingBytes ?? 0,
      } satisfies MigrationProgress__Output);
    };
    report('prepare', 0);
    // --persistent defines the domain on the target; without --undefinesource libvirt keeps the
    // source's definition (inactive, "shut off (migrated)"), which a failover of the target needs.
    const handle = this.runner.stream(this.options.virsh, {
      args: ['-c', this.options.uri, 'migrate', '--live', '--persistent', '--verbose', ...(this.options.migrateFlags ?? []), `--domain=${name}`, `--desturi=${desturi}`],
      timeoutMs: this.options.migrateTimeoutMs ?? 30 * 60_000,
      carriageReturn: true,
      classifyExit: classifyVirsh,
      onLine: () => undefined,
      // Progress goes to stderr as `\rMigration: [ 45.12 %]`.
      onStderrLine: (line) => {
        const percent = parseMigrateProgress(line);
        if (percent !== undefined) report(percent >= 100 ? 'switchover' : 'memory', percent);
      },
    });
    let finished = false;
    const poller = (async () => {
      while (!finished) {
        await sleep(this.pollMs);
        if (finished) break;
        try {
          job = parseDomjobinfo(await this.virsh(['domjobinfo', `--domain=${name}`], Math.min(this.timeoutMs, 5000)));
          if (job.type === 'Unbounded' || job.type === 'Bounded') report('memory', jobPercent(job));
        } catch {
          // No job yet, or already finished: the migrate process says how it ended.
        }
      }
    })();
    const onAbort = (): void => {
      // Abort the job in libvirtd (killing virsh alone would leave it running), then stop virsh.
      void this.virsh(['domjobabort', `--domain=${name}`], 5000)
        .catch(() => undefined)
        .then(() => sleep(2000))
        .then(() => handle.stop());
    };
    options.signal?.addEventListener('abort', onAbort, { once: true });
    // Cancelled while the domain was read (a loaded host): the listener above would never fire.
    if (options.signal?.aborted) onAbort();
    try {
      await handle.done;
      if (options.signal?.aborted) throw new HvctlError('ABORTED', `migration of ${name} to ${target} was cancelled`);
    } catch (error) {
      const still = await this.get(name).catch(() => undefined);
      const where = still ? `${name} is ${still.stateReason ? `${stateWord(still)} (${still.stateReason})` : stateWord(still)} on this node` : `${name}'s state here is unknown`;
      if (error instanceof HvctlError && !(error instanceof ToolError)) throw error;
      throw domainError(error, (tool) =>
        new HvctlError(tool.code === 'NOT_FOUND' ? 'NOT_FOUND' : tool.code === 'DEADLINE_EXCEEDED' ? 'DEADLINE_EXCEEDED' : tool.code === 'FAILED_PRECONDITION' ? 'FAILED_PRECONDITION' : 'ABORTED',
          `live migration of ${name} to ${target} failed: ${virshSaid(tool)}; ${where}`, {
            nextSteps: [`check \`virsh domstate ${name}\` here and on ${target}; a paused source must be resumed only if the domain runs nowhere else`],
          }),
      );
    } finally {
      finished = true;
      options.signal?.removeEventListener('abort', onAbort);
      await poller;
      this.migrating.delete(name);
      this.schedule(name);
    }
    report('finish', 100);
    return { ...domain, state: 'DOMAIN_STATE_RUNNING', stateReason: 'migrated', migrating: false, stateChangedUnixMs: this.now() };
  }

  /** Domains libvirt would start by itself at boot (`virsh list --all --autostart --name`). */
  async autostartDomains(): Promise<string[]> {
    return parseNameList(await this.virsh(['list', '--all', '--autostart', '--name']));
  }

  /** `virsh autostart --disable`: hvctl, not libvirt, decides where a replicated VM runs. */
  async disableAutostart(name: string): Promise<void> {
    await this.act(['autostart', '--disable', `--domain=${assertSafeName(name, 'domain')}`], name);
  }

  /**
   * Writes the intent into the domain's metadata: `--config` (the persistent definition,
   * which survives a host crash) and, while the domain runs, `--live` too, because
   * `virsh migrate --persistent` defines the domain on the target from the live XML.
   * Newest wins: the stored intent is read first and kept when it is newer.
   */
  async setIntent(name: string, intent: IntentRecord): Promise<{ domain: Domain__Output; applied: boolean }> {
    const before = await this.get(name);
    if (Number(before.intentSetUnixMs) > intent.setUnixMs) return { domain: before, applied: false };
    const active = before.state !== 'DOMAIN_STATE_SHUTOFF' && before.state !== 'DOMAIN_STATE_CRASHED';
    await this.act(
      ['metadata', `--domain=${name}`, `--uri=${HVCTL_INTENT_URI}`, `--key=${HVCTL_INTENT_KEY}`, `--set=${formatIntentMetadata(intent)}`, ...(active ? ['--live'] : []), '--config'],
      name,
    );
    const domain = await this.get(name);
    this.emitDomain(domain);
    return { domain, applied: true };
  }

  watch(listener: ChangeListener): Unsubscribe {
    return this.listeners.add(listener);
  }

  /** Calls `listener` each time the event stream (re)connects and its resync reached libvirt. */
  onConnected(listener: () => void): Unsubscribe {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  async stop(): Promise<void> {
    for (const timer of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
    const follower = this.follower;
    this.follower = undefined;
    await follower?.stop();
  }

  // ---- internals ------------------------------------------------------------------------

  private async act(args: readonly string[], name: string): Promise<void> {
    try {
      await this.virsh(args);
    } catch (error) {
      throw domainError(error, (tool) => {
        const said = virshSaid(tool);
        if (tool.code === 'NOT_FOUND') return notFound(`domain "${name}" is not defined on this node`);
        if (tool.code === 'FAILED_PRECONDITION') return failedPrecondition(`virsh ${args[0]} ${name} was refused: ${said}`);
        if (tool.code === 'UNAVAILABLE') return new HvctlError('UNAVAILABLE', `libvirt is unreachable (${this.options.uri}): ${said}`, { nextSteps: ['check that libvirtd runs (systemctl status libvirtd)'] });
        return new HvctlError('INTERNAL', `virsh ${args[0]} ${name} failed: ${said}`);
      });
    }
  }

  private vanished(error: unknown): undefined {
    // Undefined between `list` and `dominfo` (migrated away): not an error for a listing.
    if (error instanceof HvctlError && error.code === 'NOT_FOUND') return undefined;
    throw error;
  }

  private async read(name: string): Promise<Domain__Output> {
    const domainArg = `--domain=${name}`;
    let info: ReturnType<typeof parseDominfo>;
    let state: ReturnType<typeof parseDomstate>;
    let disks: ReturnType<typeof parseDomblklist>;
    try {
      [info, state, disks] = await Promise.all([
        this.virsh(['dominfo', domainArg]).then(parseDominfo),
        this.virsh(['domstate', domainArg, '--reason']).then(parseDomstate),
        this.virsh(['domblklist', domainArg, '--details']).then(parseDomblklist),
      ]);
    } catch (error) {
      if (error instanceof VirshFormatError) throw new HvctlError('INTERNAL', `virsh output for ${name} not understood: ${error.message}`);
      if (error instanceof ToolError && error.code === 'NOT_FOUND') throw notFound(`domain "${name}" is not defined on this node`);
      throw error;
    }
    let metadata = { ip: '', priority: 0 };
    if (this.options.metadataUri) {
      try {
        metadata = parseMetadata(await this.virsh(['metadata', domainArg, `--uri=${this.options.metadataUri}`]));
      } catch {
        // "metadata not found": a VM hvctl was never told about; no IP to announce.
      }
    }
    const intent = await this.readIntent(domainArg);
    const resources = new Set<string>();
    for (const disk of disks) {
      if (disk.device !== undefined && disk.device !== 'disk') continue;
      const drbd = drbdOfSource(disk.source);
      const resource = drbd?.resource ?? (drbd?.minor !== undefined ? this.options.resourceOfMinor?.(drbd.minor) : undefined);
      if (resource) resources.add(resource);
    }
    const previous = this.lastState.get(name);
    // A restarted libvirtd no longer knows why a domain it did not run is off and says
    // "unknown": the reason seen before stays, and so does its change time.
    const reason = state.reason === 'unknown' && previous?.state === state.state ? previous.reason : state.reason;
    const changedMs = previous && previous.state === state.state && previous.reason === reason ? previous.changedMs : previous ? this.now() : 0;
    this.lastState.set(name, { state: state.state, reason, changedMs });
    return {
      name: info.name,
      state: domainStateOf(state.state),
      stateReason: reason,
      vcpus: info.vcpus,
      memoryBytes: info.maxMemoryBytes,
      ip: metadata.ip,
      resources: [...resources],
      priority: metadata.priority,
      migrating: this.migrating.has(name),
      stateChangedUnixMs: changedMs,
      intent: intent?.intent === 'running' ? 'DOMAIN_INTENT_RUNNING' : intent?.intent === 'stopped' ? 'DOMAIN_INTENT_STOPPED' : 'DOMAIN_INTENT_UNSPECIFIED',
      intentSetUnixMs: intent?.setUnixMs ?? 0,
      intentSetBy: intent?.setBy ?? '',
    };
  }

  /** The intent in the persistent definition (`--config`); undefined when none was ever set. */
  private async readIntent(domainArg: string): Promise<MetadataIntent | undefined> {
    try {
      return parseIntentMetadata(await this.virsh(['metadata', domainArg, `--uri=${HVCTL_INTENT_URI}`, '--config']));
    } catch (error) {
      // "metadata not found": no intent was set on this domain yet.
      if (error instanceof ToolError && /metadata not found/.test(error.stderr)) return undefined;
      throw error;
    }
  }

  private emit(change: DriverChange): void {
    this.listeners.emit(change);
  }

  private emitDomain(domain: Domain__Output): void {
    this.known.add(domain.name);
    this.emit({ change: 'domain', domain });
  }

  /** Re-reads a domain soon (coalescing bursts of events) and reports it, or its removal. */
  private schedule(name: string): void {
    if (this.listeners.size === 0 || this.pending.has(name)) return;
    const timer = setTimeout(() => {
      this.pending.delete(name);
      this.read(name).then(
        (domain) => this.emitDomain(domain),
        (error: unknown) => {
          if (error instanceof HvctlError && error.code === 'NOT_FOUND') {
            if (this.known.delete(name)) this.emit({ change: 'domainRemoved', domainRemoved: name });
            return;
          }
          this.logger?.warn({ err: error, domain: name }, 'could not re-read a domain after an event');
        },
      );
    }, 100);
    timer.unref();
    this.pending.set(name, timer);
  }

  /** After a (re)start of the event stream: report every domain, and the ones gone. */
  private resync(): void {
    const before = new Set(this.known);
    this.list().then(
      (domains) => {
        this.streamConnected = true;
        for (const listener of this.reconnectListeners) listener();
        for (const domain of domains) this.emitDomain(domain);
        for (const name of before) if (!domains.some((domain) => domain.name === name)) this.emit({ change: 'domainRemoved', domainRemoved: name });
      },
      (error: unknown) => this.logger?.warn({ err: error }, 'resync of domains failed'),
    );
  }

  private startFollower(): void {
    if (this.follower) return;
    this.follower = new Follower({
      name: 'virsh event',
      ...(this.logger ? { logger: this.logger } : {}),
      start: () => {
        const handle = this.runner.stream(this.options.virsh, {
          args: ['-c', this.options.uri, 'event', '--all', '--loop', '--timestamp'],
          onLine: (line) => {
            const event = parseVirshEvent(line);
            if (event && event.kind !== 'end' && event.domain) this.schedule(event.domain);
          },
        });
        this.resync();
        return handle;
      },
      onEnd: (error) => {
        // Only a stream that had connected is news; one that cannot connect (no libvirtd) is the probe's.
        if (!this.streamConnected) return;
        this.streamConnected = false;
        this.emit({ change: 'log', log: { level: 'warn', area: 'kvm', message: `virsh event stream ended (${error instanceof Error ? error.message : 'exited'}); restarting it`, timeUnixMs: this.now() } });
      },
    });
    this.follower.start();
  }
}

/** virsh's `error: ` lines (the operation, then libvirt's reason), joined; the tool message otherwise. */
function virshSaid(tool: ToolError): string {
  const lines = tool.stderr
    .split(/[\r\n]+/)
    .filter((line) => line.startsWith('error: '))
    .map((line) => line.slice('error: '.length));
  return lines.join(': ') || tool.message;
}

function stateWord(domain: Domain__Output): string {
  return String(domain.state).replace('DOMAIN_STATE_', '').toLowerCase();
}
