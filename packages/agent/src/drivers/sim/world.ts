import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Announcement__Output, Domain__Output, Neighbor__Output, Resource__Output, Route__Output, Snapshot__Output } from '@hvctl/proto';
import { failedPrecondition, neighborKey, notFound, type Logger } from '@hvctl/common';
import type { ChangeListener, DriverChange, LogLine } from '../types.js';
import type { FaultTarget } from '../../services/faults.js';
import { connectionOf, forcedSecondary, handshake, hasQuorum, outdatesOnQuorumLoss, promoteRefusal, resourceView, witnessMemory, type ConnectionView, type PeerInput } from './drbd-model.js';
import { corruptStoredBackup } from './backup-faults.js';
import { advanceContent } from './content.js';
import type { PeerHeartbeat, SimAnnouncementRecord, SimDomainRecord, SimNodeRecord, SimResourceRecord, SimVolumeSnapshotRecord } from './records.js';
import { SimNet, type LinkHandler, type SimPeer } from './simnet.js';
import { DEFAULT_TIMING, type SimTiming } from './timing.js';

export interface SimWorldOptions {
  readonly self: { readonly name: string; readonly site: string };
  /** "main" or "backup": main-site nodes have a BGP session to their upstream. */
  readonly siteKind: 'main' | 'backup';
  readonly peers: readonly SimPeer[];
  /** host:port of this node's simulated link. */
  readonly linkListen: string;
  /** Persisted state (or the lab's seed on first start). */
  readonly record: SimNodeRecord;
  /**
   * True when `record` was persisted by an earlier run of this host: the simulated host
   * crashed (or was stopped) and boots again: DRBD Secondary, VMs off, nothing announced.
   * False for a first start from the seed.
   */
  readonly rebooted?: boolean;
  /** Where to persist the state; undefined keeps it in memory only. */
  readonly statePath?: string;
  readonly timing?: Partial<SimTiming>;
  readonly logger: Logger;
  /** Peer lost after this long without a heartbeat. */
  readonly peerTimeoutMs?: number;
}

const DOMAIN_STATE = {
  running: 'DOMAIN_STATE_RUNNING',
  paused: 'DOMAIN_STATE_PAUSED',
  shutdown: 'DOMAIN_STATE_SHUTDOWN',
  'shut off': 'DOMAIN_STATE_SHUTOFF',
  crashed: 'DOMAIN_STATE_CRASHED',
} as const;

/**
 * One simulated hypervisor: its DRBD resources, domains, routing daemon and (on the
 * `bak` site) the backup repository. Peers learn about it only through SimNet, the way
 * real nodes learn about each other through their replication links and routing
 * sessions. Every visible change is reported to watchers as a state delta.
 */
export class SimWorld implements FaultTarget {
  readonly name: string;
  readonly site: string;
  readonly timing: SimTiming;
  readonly net: SimNet;
  readonly logger: Logger;
  readonly resources = new Map<string, SimResourceRecord>();
  readonly domains = new Map<string, SimDomainRecord>();
  readonly announcements = new Map<string, SimAnnouncementRecord>();
  readonly repository: SimNodeRecord['repository'];
  /** Backup volume snapshots held on this node (sim/backup.ts). */
  readonly volumeSnapshots: SimVolumeSnapshotRecord[];
  /** Domains with an outgoing migration running. */
  readonly migrating = new Set<string>();
  migrationFailuresArmed = 0;

  private readonly peerStates = new Map<string, PeerHeartbeat>();
  private readonly connectionChangedMs = new Map<string, number>();
  private readonly lastConnections = new Map<string, ConnectionView['connectionState']>();
  private readonly peerChangedMs = new Map<string, number>();
  /** Bytes to resync when the running resync (resource/peer) started, for its progress. */
  private readonly syncTotals = new Map<string, number>();
  /** Connections (resource/peer) whose handshake has run since they came up. */
  private readonly handshaken = new Set<string>();
  /** Resources that had quorum since this host came up (only those can lose it). */
  private readonly quorate = new Set<string>();
  private readonly emitted = new Map<string, string>();
  private readonly listeners = new Set<ChangeListener>();
  private tickTimer?: NodeJS.Timeout;
  private lastTickMs = Date.now();
  private saveTimer?: NodeJS.Timeout;
  private readonly handlers: Record<string, LinkHandler> = {};
  private pendingLogs: LogLine[] = [];
  /** A peer's state changed since the last refresh (the views depend on it). */
  private peersChanged = true;
  /** This node's heartbeat, built once per refresh and sent unchanged until the next. */
  private ownHeartbeat?: PeerHeartbeat;
  /** Each resource's connections as the tick last evaluated them; valid until the next refresh or peer state. */
  private readonly tickConnections = new Map<string, ConnectionView[]>();

  constructor(private readonly options: SimWorldOptions) {
    this.name = options.self.name;
    this.site = options.self.site;
    this.logger = options.logger;
    this.timing = { ...DEFAULT_TIMING, ...options.timing };
    for (const resource of options.record.resources) this.resources.set(resource.name, { ...resource, outOfSync: { ...resource.outOfSync } });
    for (const domain of options.record.domains) this.domains.set(domain.name, { ...domain });
    for (const announcement of options.record.announcements) this.announcements.set(announcement.prefix, { ...announcement });
    this.repository = options.record.repository
      ? { snapshots: [...options.record.repository.snapshots], corrupted: [...(options.record.repository.corrupted ?? [])] }
      : undefined;
    this.volumeSnapshots = [...(options.record.volumeSnapshots ?? [])];
    if (options.rebooted) this.afterCrash();
    this.net = new SimNet({
      self: options.self,
      listen: options.linkListen,
      peers: options.peers,
      logger: options.logger,
      ...(options.peerTimeoutMs ? { timeoutMs: options.peerTimeoutMs } : {}),
      heartbeat: () => this.heartbeat(),
      onState: (peer, state) => {
        this.peerStates.set(peer, state as PeerHeartbeat);
        this.peersChanged = true;
        this.ownHeartbeat = undefined;
        this.tickConnections.clear();
      },
      onPeerChange: (peer, reachable) => {
        this.peerChangedMs.set(peer, Date.now());
        if (!reachable) this.peerStates.delete(peer);
        this.log(reachable ? 'info' : 'error', 'peer', reachable ? `link to ${peer} is up` : `lost ${peer}: no heartbeat on the replication link`);
        this.refresh();
      },
      handlers: this.handlers,
    });
  }

  /** Registers a handler for requests from peers (used by the KVM and backup parts). */
  handle(method: string, handler: LinkHandler): void {
    this.handlers[method] = handler;
  }

  async start(): Promise<number> {
    // Persist at once: a node that crashes before its first change must come back as a restart, not a fresh seed.
    this.persistNow();
    const port = await this.net.start();
    this.lastTickMs = Date.now();
    this.tickTimer = setInterval(() => this.tick(), this.timing.tickMs);
    this.refresh();
    return port;
  }

  async stop(): Promise<void> {
    if (this.tickTimer) clearInterval(this.tickTimer);
    this.net.stop();
    if (this.saveTimer) {
      clearTimeout(this.saveTimer);
      this.saveTimer = undefined;
    }
    this.persistNow();
  }

  watch(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Records an event-log line; delivered with the next refresh. */
  log(level: 'info' | 'warn' | 'error', area: string, message: string): void {
    this.pendingLogs.push({ level, area, message, timeUnixMs: Date.now() });
    this.logger[level === 'error' ? 'warn' : 'info']({ area }, message);
  }

  // ---- DRBD --------------------------------------------------------------------------

  resource(name: string): SimResourceRecord {
    const record = this.resources.get(name);
    if (!record) throw notFound(`resource "${name}" is not configured on ${this.name}`);
    return record;
  }

  connections(record: SimResourceRecord): ConnectionView[] {
    return record.peers.map((peer) => connectionOf(this.name, record, peer, this.peerInput(record, peer.node)));
  }

  resourceView(record: SimResourceRecord): Resource__Output {
    const inputs = new Map(record.peers.map((peer) => [peer.node, this.peerInput(record, peer.node)]));
    return resourceView(record, this.connections(record), inputs, this.timing.resyncBytesPerSecond);
  }

  listResources(): Resource__Output[] {
    return [...this.resources.values()].map((record) => this.resourceView(record));
  }

  promote(name: string, force: boolean): Resource__Output {
    const record = this.resource(name);
    if (record.role === 'Primary') return this.resourceView(record);
    const refusal = promoteRefusal(record, this.connections(record), force);
    if (refusal) throw failedPrecondition(refusal);
    if (force && record.disk !== 'UpToDate') {
      this.log('warn', 'drbd', `${name}: forced primary with ${record.disk} data; this copy is now authoritative`);
      record.disk = 'UpToDate';
    }
    record.role = 'Primary';
    this.log('info', 'drbd', `${name}: promoted to Primary${force ? ' (forced)' : ''}`);
    return this.changed(record);
  }

  demote(name: string): Resource__Output {
    const record = this.resource(name);
    if (record.role === 'Secondary') return this.resourceView(record);
    const user = [...this.domains.values()].find(
      (domain) => domain.resources.includes(name) && (domain.state === 'running' || domain.state === 'paused' || domain.state === 'shutdown'),
    );
    if (user) {
      throw failedPrecondition(`${name} is held open by domain ${user.name} (${user.state}); drbdadm exit 11: State change failed: Device is held open by someone`, {
        nextSteps: [`stop or migrate ${user.name} first`],
      });
    }
    record.role = 'Secondary';
    this.log('info', 'drbd', `${name}: demoted to Secondary`);
    return this.changed(record);
  }

  connect(name: string, discardMyData: boolean): Resource__Output {
    const record = this.resource(name);
    if (!record.standAlone && !discardMyData) return this.resourceView(record);
    record.standAlone = false;
    record.standAloneReason = '';
    if (discardMyData) {
      record.discardMyData = true;
      for (const peer of record.peers) record.outOfSync[peer.node] = 0;
      this.log('warn', 'drbd', `${name}: connecting and discarding this node's changes`);
    }
    return this.changed(record);
  }

  disconnect(name: string): Resource__Output {
    const record = this.resource(name);
    if (record.standAlone) return this.resourceView(record);
    record.standAlone = true;
    record.standAloneReason = 'disconnect';
    this.log('warn', 'drbd', `${name}: disconnected by request (StandAlone)`);
    return this.changed(record);
  }

  setAllowTwoPrimaries(name: string, allow: boolean): Resource__Output {
    const record = this.resource(name);
    if (!allow && record.role === 'Primary') {
      const other = this.connections(record).find((connection) => connection.connected && connection.peerRole === 'Primary');
      if (other) {
        throw failedPrecondition(`${name} is Primary here and on ${other.node}; demote one before forbidding two primaries`);
      }
    }
    if (record.allowTwoPrimaries === allow) return this.resourceView(record);
    record.allowTwoPrimaries = allow;
    this.log(allow ? 'warn' : 'info', 'drbd', `${name}: allow-two-primaries=${allow ? 'yes' : 'no'}`);
    return this.changed(record);
  }

  // ---- KVM state (operations live in kvm.ts) ------------------------------------------

  domain(name: string): SimDomainRecord {
    const domain = this.domains.get(name);
    if (!domain) throw notFound(`domain "${name}" is not defined on ${this.name}`);
    return domain;
  }

  setDomainState(domain: SimDomainRecord, state: SimDomainRecord['state'], reason: string): void {
    domain.state = state;
    domain.reason = reason;
    domain.changedMs = Date.now();
    this.refresh();
    this.persistNow();
  }

  domainView(domain: SimDomainRecord): Domain__Output {
    return {
      name: domain.name,
      state: DOMAIN_STATE[domain.state],
      stateReason: domain.reason,
      vcpus: domain.vcpus,
      memoryBytes: domain.memoryBytes,
      ip: domain.ip,
      resources: [...domain.resources],
      priority: domain.priority,
      migrating: this.migrating.has(domain.name),
      stateChangedUnixMs: domain.changedMs,
      intent: domain.intent === 'running' ? 'DOMAIN_INTENT_RUNNING' : domain.intent === 'stopped' ? 'DOMAIN_INTENT_STOPPED' : 'DOMAIN_INTENT_UNSPECIFIED',
      intentSetUnixMs: domain.intentSetMs ?? 0,
      intentSetBy: domain.intentSetBy ?? '',
    };
  }

  listDomains(): Domain__Output[] {
    return [...this.domains.values()].map((domain) => this.domainView(domain));
  }

  // ---- Routing -----------------------------------------------------------------------

  listAnnouncements(): Announcement__Output[] {
    return [...this.announcements.values()].map((a) => ({ prefix: a.prefix, kind: a.kind, node: this.name, vm: a.vm, sinceUnixMs: a.sinceMs }));
  }

  announce(prefix: string, kind: SimAnnouncementRecord['kind'], vm: string): Announcement__Output {
    const existing = this.announcements.get(prefix);
    if (!existing || existing.kind !== kind || existing.vm !== vm) {
      this.announcements.set(prefix, { prefix, kind, vm, sinceMs: existing?.sinceMs ?? Date.now() });
      this.log('info', 'routing', `announcing ${prefix}${vm ? ` (${vm})` : ''} via ${kind === 'ANNOUNCEMENT_KIND_BGP' ? 'BGP' : 'OSPF'}`);
      this.refresh();
      this.persistNow();
    }
    return this.listAnnouncements().find((a) => a.prefix === prefix) as Announcement__Output;
  }

  withdraw(prefix: string): boolean {
    if (!this.announcements.delete(prefix)) return false;
    this.log('info', 'routing', `withdrew ${prefix}`);
    this.refresh();
    this.persistNow();
    return true;
  }

  listNeighbors(): Neighbor__Output[] {
    const neighbors: Neighbor__Output[] = this.net.peers().map((peer) => {
      const up = this.net.reachable(peer.name);
      return { name: peer.name, protocol: 'ospf', state: up ? 'Full' : 'Down', up, sinceUnixMs: this.peerChangedMs.get(peer.name) ?? 0 };
    });
    if (this.options.siteKind === 'main') {
      // The upstream is the internet's edge: a cut between sites does not touch it.
      neighbors.push({ name: `upstream-${this.site}`, protocol: 'bgp', state: 'Established', up: true, sinceUnixMs: 0 });
    }
    return neighbors;
  }

  listRoutes(): Route__Output[] {
    const routes: Route__Output[] = [...this.announcements.values()].map((a) => ({
      prefix: a.prefix,
      viaNode: '',
      protocol: a.kind === 'ANNOUNCEMENT_KIND_BGP' ? 'bgp' : 'static',
      metric: 0,
      local: true,
    }));
    for (const [peer, heartbeat] of this.peerStates) {
      if (!this.net.reachable(peer)) continue;
      for (const announcement of heartbeat.announcements) {
        if (announcement.kind !== 'ANNOUNCEMENT_KIND_VM') continue;
        routes.push({ prefix: announcement.prefix, viaNode: peer, protocol: 'ospf', metric: 20, local: false });
      }
    }
    return routes;
  }

  // ---- Faults ------------------------------------------------------------------------

  setPartition(unreachableSites: readonly string[]): readonly string[] {
    const sites = unreachableSites.filter((site) => site !== this.site);
    this.net.setPartition(sites);
    this.log('warn', 'peer', sites.length ? `fault: cut off from site(s) ${sites.join(', ')}` : 'fault healed: every site reachable');
    this.refresh();
    return this.net.partition();
  }

  failDisk(resource: string): void {
    const record = this.resource(resource);
    record.disk = 'Diskless';
    this.log('error', 'drbd', `${resource}: local disk failed (I/O error), detached: now Diskless`);
    this.changed(record);
  }

  setLinkDelay(delayMs: number): void {
    this.net.setDelay(delayMs);
    this.log('warn', 'peer', delayMs ? `fault: links slowed by ${delayMs} ms` : 'fault healed: link delay removed');
    this.refresh();
  }

  failMigrations(count: number): void {
    this.migrationFailuresArmed = count;
    this.log('warn', 'kvm', `fault: the next ${count} outgoing migration(s) will fail`);
    this.refresh();
  }

  corruptBackup(vm: string, snapshotId: string): Snapshot__Output {
    return corruptStoredBackup(this, vm, snapshotId);
  }

  /** Linked peers that report `domain` running or paused (the lock manager's view of its disk). */
  peersRunning(domain: string): string[] {
    return [...this.peerStates.entries()]
      .filter(([peer, heartbeat]) => this.net.reachable(peer) && (heartbeat.activeDomains ?? []).includes(domain))
      .map(([peer]) => peer);
  }

  // ---- Internals ---------------------------------------------------------------------

  /** After a crash and restart: DRBD comes up Secondary, guests are off, temporary options gone. */
  private afterCrash(): void {
    const stopped: string[] = [];
    for (const record of this.resources.values()) {
      record.role = 'Secondary';
      record.allowTwoPrimaries = false;
      record.discardMyData = false;
      record.ioSuspended = false;
    }
    for (const domain of this.domains.values()) {
      if (domain.state !== 'shut off') {
        stopped.push(domain.name);
        domain.state = 'shut off';
        domain.reason = 'crashed';
        domain.changedMs = Date.now();
      }
    }
    // The routing config is rebuilt at boot: a VM's /32 is announced only where it runs, and
    // the public block only once an operator or workflow (undrain, failback) decides so.
    const withdrawn = [...this.announcements.values()];
    for (const announcement of withdrawn) this.announcements.delete(announcement.prefix);
    if (withdrawn.length) this.log('warn', 'routing', `not announcing after the crash: ${withdrawn.map((a) => a.prefix).join(', ')} (failback or undrain announces again)`);
    this.log('warn', 'node', `restarted after a crash: DRBD resources are Secondary${stopped.length ? `; VMs found stopped: ${stopped.join(', ')}` : ''}`);
  }

  private peerInput(record: SimResourceRecord, peer: string): PeerInput {
    const key = `${record.name}/${peer}`;
    return {
      reachable: this.net.reachable(peer),
      state: this.peerStates.get(peer)?.resources[record.name],
      changedMs: this.connectionChangedMs.get(key) ?? 0,
      syncTotalBytes: this.syncTotals.get(key) ?? 0,
    };
  }

  private heartbeat(): PeerHeartbeat {
    this.ownHeartbeat ??= this.buildHeartbeat();
    return this.ownHeartbeat;
  }

  private buildHeartbeat(): PeerHeartbeat {
    const resources: PeerHeartbeat['resources'] = {};
    for (const record of this.resources.values()) {
      resources[record.name] = {
        role: record.role,
        disk: record.disk,
        client: record.client,
        allowTwoPrimaries: record.allowTwoPrimaries,
        standAlone: record.standAlone,
        discardMyData: record.discardMyData,
        outOfSync: record.outOfSync,
        connectedTo: this.connections(record)
          .filter((connection) => connection.connected)
          .map((connection) => connection.node),
      };
    }
    const announcements = [...this.announcements.values()].map((a) => ({ prefix: a.prefix, kind: a.kind, vm: a.vm }));
    const activeDomains = [...this.domains.values()].filter((d) => d.state === 'running' || d.state === 'paused').map((d) => d.name);
    return { site: this.site, resources, announcements, activeDomains };
  }

  private tick(): void {
    const now = Date.now();
    const dt = Math.min(5, (now - this.lastTickMs) / 1000);
    this.lastTickMs = now;
    let dirty = false;
    for (const record of this.resources.values()) {
      if (record.client) {
        dirty = this.rememberLags(record) || dirty;
        continue;
      }
      // Connections depend on the record, the peers' states and the links, each of which refreshes when it changes.
      let connections = this.tickConnections.get(record.name);
      if (!connections) {
        connections = this.connections(record);
        this.tickConnections.set(record.name, connections);
      }
      const shape = `${record.role}/${record.disk}/${record.standAlone}`;
      for (const connection of connections) {
        const key = `${record.name}/${connection.node}`;
        if (!connection.connected) this.handshaken.delete(key);
        if (connection.connected && !this.handshaken.has(key)) {
          this.handshaken.add(key);
          const state = this.peerStates.get(connection.node)?.resources[record.name];
          if (state && forcedSecondary(this.name, record, state)) {
            record.role = 'Secondary';
            record.disk = 'Outdated';
            record.ioSuspended = false;
            this.log('error', 'drbd', `${record.name}: ${connection.node} went on without this node while its I/O was suspended (no quorum): demoted to Secondary, disk Outdated (on-suspended-primary-outdated force-secondary); writes still pending here fail with I/O errors`);
            dirty = true;
          }
          const verdict = state ? handshake(this.name, record, connection.node, state) : 'ok';
          if (verdict !== 'ok') {
            record.standAlone = true;
            record.standAloneReason = verdict;
            this.log('error', 'drbd', verdict === 'split-brain'
              ? `${record.name}: split brain detected with ${connection.node}; both sides changed data. Dropped the connection (StandAlone)`
              : `${record.name}: ${connection.node} is Primary too and two primaries are not allowed; refusing to connect (StandAlone)`);
            dirty = true;
            continue;
          }
        }
        if (connection.peerClient) continue;
        if (connection.replicationState === 'SyncSource') {
          const left = Math.max(0, connection.mineAhead - this.timing.resyncBytesPerSecond * dt);
          record.outOfSync[connection.node] = left;
          if (left === 0) this.log('info', 'drbd', `${record.name}: resync to ${connection.node} finished`);
          dirty = true;
        } else if (connection.replicationState === 'SyncTarget') {
          if (record.disk === 'UpToDate' || record.disk === 'Outdated') {
            record.disk = 'Inconsistent';
            this.log('info', 'drbd', `${record.name}: resync from ${connection.node} started (SyncTarget)`);
            dirty = true;
          }
        } else if (connection.connected && (record.disk === 'Inconsistent' || record.disk === 'Outdated') && connection.peerDisk === 'UpToDate' && connection.mineAhead === 0) {
          record.disk = 'UpToDate';
          record.discardMyData = false;
          this.log('info', 'drbd', `${record.name}: in sync with ${connection.node}: UpToDate`);
          dirty = true;
        }
      }
      if (shape !== `${record.role}/${record.disk}/${record.standAlone}`) {
        connections = this.connections(record);
        this.tickConnections.set(record.name, connections);
      }
      dirty = this.quorumRules(record, connections) || dirty;
      dirty = this.write(record, connections, dt) || dirty;
    }
    // Views depend on the records, the peers' states and the links: when none of them
    // changed since the last refresh (every action refreshes itself), there is nothing to diff.
    if (dirty || this.peersChanged || this.pendingLogs.length) this.refresh();
    if (dirty) this.scheduleSave();
  }

  /**
   * DRBD 9 with `quorum majority`, `on-no-quorum suspend-io` and
   * `on-suspended-primary-outdated force-secondary` (the options docs/install.md asks for):
   * a Primary that loses quorum suspends its I/O until quorum returns (or until it learns it
   * is outdated: forcedSecondary, at the handshake); a Secondary that loses quorum marks its
   * disk Outdated (outdatesOnQuorumLoss).
   */
  private quorumRules(record: SimResourceRecord, connections: readonly ConnectionView[]): boolean {
    const quorum = hasQuorum(record, connections);
    let dirty = false;
    if (outdatesOnQuorumLoss(record, connections, this.quorate.has(record.name))) {
      record.disk = 'Outdated';
      this.log('warn', 'drbd', `${record.name}: lost quorum as Secondary: disk marked Outdated (the partition with quorum may go on writing without this copy)`);
      dirty = true;
    }
    if (quorum) this.quorate.add(record.name);
    // Like the outdating above, only a loss after the connections came up counts: an agent
    // restart here rebuilds the links, which a real host's kernel DRBD would have kept.
    if (record.role === 'Primary' && !quorum && !record.ioSuspended && this.quorate.has(record.name)) {
      record.ioSuspended = true;
      this.log('error', 'drbd', `${record.name}: lost quorum as Primary: I/O suspended (on-no-quorum suspend-io); its VM's writes block until quorum returns`);
      dirty = true;
    } else if (record.ioSuspended && (quorum || record.role !== 'Primary')) {
      record.ioSuspended = false;
      if (record.role === 'Primary') this.log('info', 'drbd', `${record.name}: quorum regained: I/O resumed`);
      dirty = true;
    }
    return dirty;
  }

  /** The witness keeps what the diskful members report each other lacks (witnessMemory). */
  private rememberLags(record: SimResourceRecord): boolean {
    const connections = this.connections(record);
    const reports = new Map<string, Record<string, number>>();
    for (const connection of connections) {
      const state = this.peerStates.get(connection.node)?.resources[record.name];
      if (connection.connected && !connection.peerClient && state) reports.set(connection.node, state.outOfSync);
    }
    const next = witnessMemory(record.outOfSync, connections, reports);
    if (JSON.stringify(next) === JSON.stringify(record.outOfSync)) return false;
    record.outOfSync = next;
    return true;
  }

  /** The running VM writes; what cannot reach a disconnected peer is counted out-of-sync. */
  private write(record: SimResourceRecord, connections: readonly ConnectionView[], dt: number): boolean {
    if (record.role !== 'Primary' || record.disk !== 'UpToDate') return false;
    const writer = [...this.domains.values()].find((domain) => domain.state === 'running' && domain.resources.includes(record.name));
    // Without quorum the Primary's I/O is suspended (on-no-quorum suspend-io): nothing is written.
    if (!writer || !hasQuorum(record, connections)) return false;
    const bytes = (this.timing.writeBytesPerSecond * dt) / writer.resources.length;
    advanceContent(record, bytes);
    let dirty = false;
    for (const connection of connections) {
      if (connection.peerClient || connection.connected) continue;
      record.outOfSync[connection.node] = Math.min(record.sizeBytes, (record.outOfSync[connection.node] ?? 0) + bytes);
      dirty = true;
    }
    return dirty;
  }

  /** Reports a changed resource and returns its view. */
  private changed(record: SimResourceRecord): Resource__Output {
    this.refresh();
    this.persistNow();
    return this.resourceView(record);
  }

  /** Diffs every visible object against what was last reported and emits the changes. */
  refresh(): void {
    this.peersChanged = false;
    this.ownHeartbeat = undefined;
    this.tickConnections.clear();
    const changes: DriverChange[] = [];
    const seen = new Set<string>();
    const diff = (key: string, value: unknown, change: () => DriverChange): void => {
      seen.add(key);
      const text = JSON.stringify(value);
      if (this.emitted.get(key) !== text) {
        this.emitted.set(key, text);
        changes.push(change());
      }
    };
    for (const record of this.resources.values()) {
      const view = this.resourceView(record);
      for (const peer of view.peers) {
        const key = `${record.name}/${peer.node}`;
        this.trackSync(key, peer.replicationState, record, peer.node);
        if (this.lastConnections.get(key) !== peer.connectionState) {
          this.lastConnections.set(key, peer.connectionState as ConnectionView['connectionState']);
          this.connectionChangedMs.set(key, Date.now());
          peer.connectionChangedUnixMs = Date.now();
        }
      }
      // The stored timestamp only changes with the state, so the diff stays quiet otherwise.
      diff(`resource:${record.name}`, view, () => ({ change: 'resource', resource: view }));
    }
    for (const domain of this.domains.values()) {
      const view = this.domainView(domain);
      diff(`domain:${domain.name}`, view, () => ({ change: 'domain', domain: view }));
    }
    for (const announcement of this.listAnnouncements()) {
      diff(`announcement:${announcement.prefix}`, announcement, () => ({ change: 'announcement', announcement }));
    }
    for (const neighbor of this.listNeighbors()) {
      diff(`neighbor:${neighborKey(neighbor)}`, neighbor, () => ({ change: 'neighbor', neighbor }));
    }
    for (const snapshot of this.repository?.snapshots ?? []) {
      diff(`snapshot:${snapshot.id}`, snapshot, () => ({ change: 'snapshot', snapshot }));
    }
    for (const key of [...this.emitted.keys()]) {
      if (seen.has(key)) continue;
      this.emitted.delete(key);
      const [kind, ...rest] = key.split(':');
      const id = rest.join(':');
      if (kind === 'resource') changes.push({ change: 'resourceRemoved', resourceRemoved: id });
      else if (kind === 'domain') changes.push({ change: 'domainRemoved', domainRemoved: id });
      else if (kind === 'announcement') changes.push({ change: 'announcementRemoved', announcementRemoved: id });
      else if (kind === 'neighbor') changes.push({ change: 'neighborRemoved', neighborRemoved: id });
      else if (kind === 'snapshot') changes.push({ change: 'snapshotRemoved', snapshotRemoved: id });
    }
    for (const line of this.pendingLogs) {
      changes.push({ change: 'log', log: { level: line.level, area: line.area, message: line.message, timeUnixMs: line.timeUnixMs ?? Date.now() } });
    }
    this.pendingLogs = [];
    for (const change of changes) for (const listener of this.listeners) listener(change);
    // Peers learn of a change at once, as over DRBD's link, not at the next heartbeat.
    this.net.pushState();
  }

  /** Remembers how much a resync had to copy when it started (the base of its progress). */
  private trackSync(key: string, replication: string, record: SimResourceRecord, peer: string): void {
    if (replication !== 'SyncSource' && replication !== 'SyncTarget') {
      this.syncTotals.delete(key);
      return;
    }
    const remaining =
      replication === 'SyncSource' ? (record.outOfSync[peer] ?? 0) : (this.peerStates.get(peer)?.resources[record.name]?.outOfSync[this.name] ?? 0);
    this.syncTotals.set(key, Math.max(this.syncTotals.get(key) ?? 0, remaining));
  }

  /** Persists the state soon, coalescing bursts (used by the tick's counters). */
  scheduleSave(): void {
    if (!this.options.statePath || this.saveTimer) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      this.persistNow();
    }, 200);
  }

  /**
   * Persists the state now, synchronously: a simulated host's state (roles, running VMs,
   * announcements) must survive its agent being killed right after a change, as it would
   * on a real host. Synchronous writes also keep every write in order.
   */
  persistNow(): void {
    const path = this.options.statePath;
    if (!path) return;
    const record: SimNodeRecord = {
      resources: [...this.resources.values()],
      domains: [...this.domains.values()],
      announcements: [...this.announcements.values()],
      ...(this.repository ? { repository: this.repository } : {}),
      ...(this.volumeSnapshots.length ? { volumeSnapshots: this.volumeSnapshots } : {}),
    };
    try {
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(`${path}.tmp`, JSON.stringify(record));
      renameSync(`${path}.tmp`, path);
    } catch (error) {
      this.logger.error({ err: error }, 'cannot persist simulated state');
    }
  }
}
