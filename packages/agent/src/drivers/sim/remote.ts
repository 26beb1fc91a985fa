import { neighborKey, unavailable, type HvctlError, type Logger } from '@hvctl/common';
import type { FaultTarget } from '../../services/faults.js';
import type { BackupDriver, ChangeListener, DrbdDriver, DriverChange, HostDriver, KvmDriver, ProbeResult, RoutingDriver, StateSource, Unsubscribe } from '../types.js';
import { HOST_API, PROGRESS_METHODS, REFUSE_INCOMING, SUBSCRIBE, type HostArea, type HostSnapshot } from './host-api.js';
import { connectChannel, type CallOptions, type Channel } from './host-channel.js';

export interface RemoteSimHostOptions {
  /** The host process's unix socket (`sim.host`). */
  readonly socketPath: string;
  readonly node: string;
  readonly logger: Logger;
  /** Why this node refuses incoming migrations now (cordoned), asked by the host; undefined: it takes them. */
  readonly refuseIncoming: () => string | undefined;
  /** How long start-up waits for the host before the agent starts without it (areas unavailable). Default 5 s. */
  readonly connectTimeoutMs?: number;
}

export interface RemoteDrivers {
  readonly drbd: DrbdDriver;
  readonly kvm: KvmDriver;
  readonly routing: RoutingDriver;
  readonly backup: BackupDriver;
  readonly host: HostDriver;
}

type Kind = 'resource' | 'domain' | 'announcement' | 'neighbor' | 'snapshot';
const KINDS: readonly Kind[] = ['resource', 'domain', 'announcement', 'neighbor', 'snapshot'];

/** The id an upsert or removal is about, by kind (undefined for other changes). */
function keyOf(change: DriverChange): { kind: Kind; id: string; removed: boolean } | undefined {
  switch (change.change) {
    case 'resource':
      return change.resource ? { kind: 'resource', id: change.resource.name, removed: false } : undefined;
    case 'domain':
      return change.domain ? { kind: 'domain', id: change.domain.name, removed: false } : undefined;
    case 'announcement':
      return change.announcement ? { kind: 'announcement', id: change.announcement.prefix, removed: false } : undefined;
    case 'neighbor':
      return change.neighbor ? { kind: 'neighbor', id: neighborKey(change.neighbor), removed: false } : undefined;
    case 'snapshot':
      return change.snapshot ? { kind: 'snapshot', id: change.snapshot.id, removed: false } : undefined;
    case 'resourceRemoved':
      return { kind: 'resource', id: change.resourceRemoved ?? '', removed: true };
    case 'domainRemoved':
      return { kind: 'domain', id: change.domainRemoved ?? '', removed: true };
    case 'announcementRemoved':
      return { kind: 'announcement', id: change.announcementRemoved ?? '', removed: true };
    case 'neighborRemoved':
      return { kind: 'neighbor', id: change.neighborRemoved ?? '', removed: true };
    case 'snapshotRemoved':
      return { kind: 'snapshot', id: change.snapshotRemoved ?? '', removed: true };
    default:
      return undefined;
  }
}

/** A snapshot as the changes that build it from nothing. */
function snapshotChanges(snapshot: HostSnapshot): DriverChange[] {
  return [
    ...snapshot.resources.map((resource): DriverChange => ({ change: 'resource', resource })),
    ...snapshot.domains.map((domain): DriverChange => ({ change: 'domain', domain })),
    ...snapshot.announcements.map((announcement): DriverChange => ({ change: 'announcement', announcement })),
    ...snapshot.neighbors.map((neighbor): DriverChange => ({ change: 'neighbor', neighbor })),
    ...snapshot.snapshots.map((snapshot): DriverChange => ({ change: 'snapshot', snapshot })),
  ] as DriverChange[];
}

const REMOVED: Record<Kind, (id: string) => DriverChange> = {
  resource: (id) => ({ change: 'resourceRemoved', resourceRemoved: id }) as DriverChange,
  domain: (id) => ({ change: 'domainRemoved', domainRemoved: id }) as DriverChange,
  announcement: (id) => ({ change: 'announcementRemoved', announcementRemoved: id }) as DriverChange,
  neighbor: (id) => ({ change: 'neighborRemoved', neighborRemoved: id }) as DriverChange,
  snapshot: (id) => ({ change: 'snapshotRemoved', snapshotRemoved: id }) as DriverChange,
};

const EMPTY: HostSnapshot = { resources: [], domains: [], announcements: [], neighbors: [], snapshots: [], log: [] };
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The agent's side of its simulated host process: drivers and a fault target with the
 * same interfaces as the in-process simulation, each call crossing the host channel
 * (progress, cancellation and error codes included), and the host's change stream.
 * When the host is gone every call fails UNAVAILABLE at once and the probes say so; the
 * agent keeps trying to reconnect, and on reconnect reports the host's state as it is.
 */
export class RemoteSimHost implements StateSource {
  readonly drivers: RemoteDrivers;
  readonly faults: FaultTarget;
  /** The host's state when the agent started (empty when it was not running). */
  initial: HostSnapshot = EMPTY;

  private channel?: Channel;
  /** Set once `initial` was handed out: from then on a (re)connect publishes the host's state as changes. */
  private started = false;
  private stopped = false;
  private retryDelayMs = 200;
  private retryTimer?: NodeJS.Timeout;
  private readonly listeners = new Set<ChangeListener>();
  /** Changes that arrived before anyone watched. */
  private buffered: DriverChange[] = [];
  private readonly known: Record<Kind, Set<string>> = { resource: new Set(), domain: new Set(), announcement: new Set(), neighbor: new Set(), snapshot: new Set() };
  private readonly availability = new Set<(up: boolean) => void>();

  private constructor(private readonly options: RemoteSimHostOptions) {
    const proxy = <T>(area: HostArea): T => {
      const methods: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
      for (const method of HOST_API[area]) {
        const key = `${area}.${method}`;
        methods[method] = PROGRESS_METHODS.has(key)
          ? (first, options) => {
              const { onProgress, signal, ...rest } = options as CallOptions & Record<string, unknown>;
              return this.call(key, [first, rest], { ...(onProgress ? { onProgress } : {}), ...(signal ? { signal } : {}) });
            }
          : (...args) => this.call(key, args);
      }
      if (area !== 'faults') methods['probe'] = () => this.probe(area);
      return methods as T;
    };
    this.drivers = { drbd: proxy('drbd'), kvm: proxy('kvm'), routing: proxy('routing'), backup: proxy('backup'), host: proxy('host') };
    this.faults = proxy('faults');
  }

  /** Connects to the host, waiting up to connectTimeoutMs for it; without it the agent starts with the host's areas unavailable. */
  static async connect(options: RemoteSimHostOptions): Promise<RemoteSimHost> {
    const remote = new RemoteSimHost(options);
    const until = Date.now() + (options.connectTimeoutMs ?? 5000);
    let lastError: unknown;
    while (Date.now() < until) {
      try {
        await remote.open();
        remote.started = true;
        return remote;
      } catch (error) {
        lastError = error;
        await sleep(100);
      }
    }
    options.logger.error({ err: lastError, socket: options.socketPath }, 'the simulated host does not answer; starting without it (its areas are unavailable)');
    remote.buffered.push(remote.logLine('error', `${remote.goneMessage()}: ${(lastError as Error | undefined)?.message ?? 'no answer'}`));
    remote.started = true;
    remote.scheduleReconnect();
    return remote;
  }

  get connected(): boolean {
    return this.channel !== undefined;
  }

  watch(listener: ChangeListener): Unsubscribe {
    this.listeners.add(listener);
    const buffered = this.buffered;
    this.buffered = [];
    for (const change of buffered) listener(change);
    return () => this.listeners.delete(listener);
  }

  /** Called with false when the host goes away and true when it is back. */
  onAvailability(listener: (up: boolean) => void): Unsubscribe {
    this.availability.add(listener);
    return () => this.availability.delete(listener);
  }

  stop(): void {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.channel?.close();
    this.channel = undefined;
  }

  private async probe(area: HostArea): Promise<ProbeResult> {
    if (!this.channel) return { available: false, driver: 'sim', detail: `${this.goneMessage()}; start it (hvctl lab fault restart ${this.options.node})` };
    return (await this.call(`${area}.probe`, [])) as ProbeResult;
  }

  private call(method: string, args: readonly unknown[], options: CallOptions = {}): Promise<unknown> {
    if (!this.channel) return Promise.reject(this.gone());
    return this.channel.call(method, args, options);
  }

  private goneMessage(): string {
    return `the simulated host of ${this.options.node} is not running (nothing answers on ${this.options.socketPath})`;
  }

  private gone(): HvctlError {
    return unavailable(`${this.goneMessage()}; nothing was changed`, { nextSteps: [`start it: hvctl lab fault restart ${this.options.node}`] });
  }

  private async open(): Promise<void> {
    let early: DriverChange[] | undefined = [];
    const channel = await connectChannel(
      this.options.socketPath,
      { [REFUSE_INCOMING]: () => this.options.refuseIncoming() ?? null },
      {
        onChanges: (changes) => (early ? early.push(...changes) : this.deliver(changes)),
        onClose: () => this.lost(channel),
      },
      () => this.gone(),
    );
    let snapshot: HostSnapshot;
    try {
      snapshot = (await channel.call(SUBSCRIBE, [])) as HostSnapshot;
    } catch (error) {
      channel.close();
      throw error;
    }
    if (this.stopped) {
      channel.close();
      return;
    }
    if (this.started) {
      this.resync(snapshot);
    } else {
      this.initial = snapshot;
      this.record(snapshotChanges(snapshot));
      this.buffered.push(...snapshot.log);
    }
    this.channel = channel;
    this.retryDelayMs = 200;
    const pending = early;
    early = undefined;
    this.deliver(pending);
    for (const listener of this.availability) listener(true);
  }

  /** After a reconnect: what the host no longer has is removed, everything else upserted. */
  private resync(snapshot: HostSnapshot): void {
    const upserts = snapshotChanges(snapshot);
    const present = new Set(upserts.map((change) => { const key = keyOf(change); return `${key?.kind}:${key?.id}`; }));
    const removals = KINDS.flatMap((kind) => [...this.known[kind]].filter((id) => !present.has(`${kind}:${id}`)).map((id) => REMOVED[kind](id)));
    this.deliver([...removals, ...upserts, ...snapshot.log, this.logLine('info', `connected to the simulated host of ${this.options.node}`)]);
  }

  private deliver(changes: readonly DriverChange[]): void {
    this.record(changes);
    if (this.listeners.size === 0) {
      this.buffered.push(...changes);
      return;
    }
    for (const change of changes) for (const listener of this.listeners) listener(change);
  }

  private record(changes: readonly DriverChange[]): void {
    for (const change of changes) {
      const key = keyOf(change);
      if (!key) continue;
      if (key.removed) this.known[key.kind].delete(key.id);
      else this.known[key.kind].add(key.id);
    }
  }

  private lost(channel: Channel): void {
    if (this.channel !== channel) return;
    this.channel = undefined;
    if (this.stopped) return;
    this.options.logger.error({ socket: this.options.socketPath }, 'lost the simulated host');
    this.deliver([this.logLine('error', `lost the simulated host of ${this.options.node}: DRBD, KVM, routing, backup and host facts are unavailable until it is back`)]);
    for (const listener of this.availability) listener(false);
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.retryTimer) return;
    // Grows by 1.6 up to 5 s, with 20 % jitter.
    const delay = this.retryDelayMs * (0.8 + 0.4 * Math.random());
    this.retryDelayMs = Math.min(5000, this.retryDelayMs * 1.6);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.open().catch(() => this.scheduleReconnect());
    }, delay);
    this.retryTimer.unref();
  }

  private logLine(level: 'info' | 'error', message: string): DriverChange {
    return { change: 'log', log: { level, area: 'node', message, timeUnixMs: Date.now() } } as DriverChange;
  }
}
