import { createServer, createConnection, type Server, type Socket } from 'node:net';
import { HvctlError, unavailable, type Logger } from '@hvctl/common';

/** Another simulated node and the address of its link endpoint. */
export interface SimPeer {
  readonly name: string;
  readonly site: string;
  /** host:port of the peer's simulated link. */
  readonly address: string;
}

/** A request handler: answers a peer's request or throws an HvctlError. */
export type LinkHandler = (from: string, body: unknown) => Promise<unknown>;

export interface SimNetOptions {
  readonly self: { readonly name: string; readonly site: string };
  /** host:port to listen on (port 0 picks one). */
  readonly listen: string;
  readonly peers: readonly SimPeer[];
  readonly logger: Logger;
  /** A peer not heard from for this long is lost. Default 1500 ms. */
  readonly timeoutMs?: number;
  /** Heartbeat interval. Default 300 ms. */
  readonly heartbeatMs?: number;
  /** Builds the state this node sends with each heartbeat. */
  readonly heartbeat: () => unknown;
  /** Receives each peer's heartbeat state. */
  readonly onState: (peer: string, state: unknown) => void;
  /** Called when a peer becomes reachable or is lost. */
  readonly onPeerChange: (peer: string, reachable: boolean) => void;
  readonly handlers: Readonly<Record<string, LinkHandler>>;
}

interface PeerLink {
  readonly peer: SimPeer;
  out?: Socket;
  outReady: boolean;
  in?: Socket;
  lastHeardMs: number;
  reachable: boolean;
  dialTimer?: NodeJS.Timeout;
  /** The peer's last state frame as received: an identical line only renews the link. */
  lastStateLine?: string;
}

type Frame =
  | { type: 'hello'; from: string }
  | { type: 'state'; from: string; state: unknown }
  | { type: 'req'; from: string; id: number; method: string; body: unknown }
  | { type: 'res'; from: string; id: number; ok: boolean; body?: unknown; error?: { code: string; message: string } };

/**
 * The simulated network between lab nodes: what a real cluster's replication links and
 * routing sessions carry, and nothing more. Each node dials every peer and sends
 * heartbeats (its DRBD and routing state) and requests on its own outgoing connection.
 * A killed process closes its sockets (peers notice at once); a partition drops frames
 * and sockets to the cut sites (peers notice after timeoutMs).
 */
export class SimNet {
  private readonly links = new Map<string, PeerLink>();
  private server?: Server;
  private heartbeatTimer?: NodeJS.Timeout;
  private blockedSites = new Set<string>();
  private delayMs = 0;
  private nextId = 1;
  private readonly pending = new Map<number, { resolve: (body: unknown) => void; reject: (error: Error) => void; timer: NodeJS.Timeout }>();
  private stopped = false;
  private readonly timeoutMs: number;
  private readonly heartbeatMs: number;
  /** The last heartbeat state sent and its frame, serialized once while the state object is the same. */
  private sentState?: { readonly state: unknown; readonly line: string };
  /** The state frame last sent to the peers (by a heartbeat or a push). */
  private lastStateLine?: string;
  private pushScheduled = false;

  constructor(private readonly options: SimNetOptions) {
    this.timeoutMs = options.timeoutMs ?? 1500;
    this.heartbeatMs = options.heartbeatMs ?? 300;
    for (const peer of options.peers) {
      this.links.set(peer.name, { peer, outReady: false, lastHeardMs: 0, reachable: false });
    }
  }

  /** Listens and starts dialing; resolves with the bound port. */
  async start(): Promise<number> {
    const [host, portText] = splitAddress(this.options.listen);
    this.server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      this.server?.once('error', reject);
      this.server?.listen(Number(portText), host, () => resolve());
    });
    for (const link of this.links.values()) this.dial(link);
    this.heartbeatTimer = setInterval(() => this.tick(), this.heartbeatMs);
    const address = this.server.address();
    return typeof address === 'object' && address ? address.port : 0;
  }

  stop(): void {
    this.stopped = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    for (const link of this.links.values()) {
      if (link.dialTimer) clearTimeout(link.dialTimer);
      link.out?.destroy();
      link.in?.destroy();
    }
    this.server?.close();
    for (const [id, entry] of this.pending) {
      clearTimeout(entry.timer);
      entry.reject(unavailable('simulated link stopped'));
      this.pending.delete(id);
    }
  }

  peers(): readonly SimPeer[] {
    return [...this.links.values()].map((link) => link.peer);
  }

  reachable(peer: string): boolean {
    return this.links.get(peer)?.reachable ?? false;
  }

  /** Replaces the set of sites this node cannot reach. */
  setPartition(sites: readonly string[]): void {
    this.blockedSites = new Set(sites);
    for (const link of this.links.values()) {
      if (this.blockedSites.has(link.peer.site)) {
        link.out?.destroy();
        link.in?.destroy();
        this.markLost(link);
      } else if (!link.out && !link.dialTimer) {
        this.dial(link);
      }
    }
  }

  partition(): readonly string[] {
    return [...this.blockedSites];
  }

  setDelay(ms: number): void {
    this.delayMs = ms;
  }

  /** Sends a request to a peer and waits for its answer. */
  request(peer: string, method: string, body: unknown, timeoutMs = 5000): Promise<unknown> {
    const link = this.links.get(peer);
    if (!link) return Promise.reject(new HvctlError('NOT_FOUND', `${peer} is not a peer of ${this.options.self.name}`));
    if (!link.reachable) return Promise.reject(unavailable(`${peer} is unreachable from ${this.options.self.name}`));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new HvctlError('DEADLINE_EXCEEDED', `${peer} did not answer ${method} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      this.send(link, { type: 'req', from: this.options.self.name, id, method, body });
    });
  }

  /**
   * Sends this node's state to its peers now, if it changed since it was last sent, rather
   * than with the next heartbeat: DRBD tells its peers about a role or disk change at once,
   * and workflow steps wait for the peer to have seen it. Calls in one turn of the event
   * loop send once.
   */
  pushState(): void {
    if (this.pushScheduled || this.stopped) return;
    this.pushScheduled = true;
    setImmediate(() => {
      this.pushScheduled = false;
      if (this.stopped) return;
      const line = this.stateLine();
      if (line === this.lastStateLine) return;
      for (const link of this.links.values()) if (link.outReady) this.sendLine(link, line);
      this.lastStateLine = line;
    });
  }

  private tick(): void {
    const now = Date.now();
    const line = this.stateLine();
    for (const link of this.links.values()) {
      if (link.reachable && now - link.lastHeardMs > this.timeoutMs) this.markLost(link);
      if (link.outReady) this.sendLine(link, line);
    }
    this.lastStateLine = line;
  }

  /** This node's state frame, serialized once while the heartbeat state object is the same. */
  private stateLine(): string {
    const state = this.options.heartbeat();
    let sent = this.sentState;
    if (!sent || sent.state !== state) sent = this.sentState = { state, line: `${JSON.stringify({ type: 'state', from: this.options.self.name, state })}\n` };
    return sent.line;
  }

  private dial(link: PeerLink): void {
    link.dialTimer = undefined;
    if (this.stopped || this.blockedSites.has(link.peer.site)) return;
    const [host, port] = splitAddress(link.peer.address);
    const socket = createConnection({ host, port: Number(port) });
    socket.setNoDelay(true);
    link.out = socket;
    socket.on('connect', () => {
      link.outReady = true;
      this.write(socket, { type: 'hello', from: this.options.self.name });
      this.write(socket, { type: 'state', from: this.options.self.name, state: this.options.heartbeat() });
    });
    // Answers come back on the peer's own connection; this side only writes.
    socket.on('data', () => undefined);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (link.out !== socket) return;
      link.out = undefined;
      link.outReady = false;
      this.markLost(link);
      if (!this.stopped) link.dialTimer = setTimeout(() => this.dial(link), 200);
    });
  }

  private accept(socket: Socket): void {
    socket.setNoDelay(true);
    let buffer = '';
    let link: PeerLink | undefined;
    socket.on('data', (chunk) => {
      buffer += chunk.toString('utf8');
      let newline = buffer.indexOf('\n');
      while (newline >= 0) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        newline = buffer.indexOf('\n');
        // Peers repeat their state every heartbeat: an unchanged one is not parsed again.
        if (link && line === link.lastStateLine && !this.blockedSites.has(link.peer.site)) {
          this.heard(link);
          continue;
        }
        let frame: Frame;
        try {
          frame = JSON.parse(line) as Frame;
        } catch {
          socket.destroy();
          return;
        }
        if (!link) {
          const candidate = frame.type === 'hello' ? this.links.get(frame.from) : undefined;
          if (!candidate || this.blockedSites.has(candidate.peer.site)) {
            socket.destroy();
            return;
          }
          link = candidate;
          if (link.in && link.in !== socket) link.in.destroy();
          link.in = socket;
          continue;
        }
        if (this.blockedSites.has(link.peer.site)) {
          socket.destroy();
          return;
        }
        if (frame.type === 'state') link.lastStateLine = line;
        this.receive(link, frame);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      if (link && link.in === socket) {
        link.in = undefined;
        this.markLost(link);
      }
    });
  }

  /** A frame arrived from the peer: the link is alive. */
  private heard(link: PeerLink): void {
    link.lastHeardMs = Date.now();
    if (!link.reachable && link.outReady) {
      link.reachable = true;
      this.options.onPeerChange(link.peer.name, true);
    }
  }

  private receive(link: PeerLink, frame: Frame): void {
    this.heard(link);
    switch (frame.type) {
      case 'state':
        this.options.onState(link.peer.name, frame.state);
        break;
      case 'req':
        void this.answer(link, frame);
        break;
      case 'res': {
        const entry = this.pending.get(frame.id);
        if (!entry) break;
        this.pending.delete(frame.id);
        clearTimeout(entry.timer);
        if (frame.ok) entry.resolve(frame.body);
        else entry.reject(new HvctlError((frame.error?.code ?? 'INTERNAL') as HvctlError['code'], frame.error?.message ?? 'peer failed'));
        break;
      }
      default:
        break;
    }
  }

  private async answer(link: PeerLink, frame: Extract<Frame, { type: 'req' }>): Promise<void> {
    const handler = this.options.handlers[frame.method];
    const from = this.options.self.name;
    try {
      if (!handler) throw new HvctlError('UNIMPLEMENTED', `unknown link method ${frame.method}`);
      const body = await handler(link.peer.name, frame.body);
      this.send(link, { type: 'res', from, id: frame.id, ok: true, body });
    } catch (error) {
      const code = error instanceof HvctlError ? error.code : 'INTERNAL';
      this.send(link, { type: 'res', from, id: frame.id, ok: false, error: { code, message: (error as Error).message } });
    }
  }

  private markLost(link: PeerLink): void {
    link.lastHeardMs = 0;
    // The owner forgets a lost peer's state: the next state frame must be delivered even if unchanged.
    link.lastStateLine = undefined;
    if (link.reachable) {
      link.reachable = false;
      this.options.onPeerChange(link.peer.name, false);
    }
  }

  private send(link: PeerLink, frame: Frame): void {
    this.sendLine(link, `${JSON.stringify(frame)}\n`);
  }

  private sendLine(link: PeerLink, line: string): void {
    const socket = link.out;
    if (!socket || !link.outReady || this.blockedSites.has(link.peer.site)) return;
    if (this.delayMs > 0) setTimeout(() => this.writeLine(socket, line), this.delayMs);
    else this.writeLine(socket, line);
  }

  private write(socket: Socket, frame: Frame): void {
    this.writeLine(socket, `${JSON.stringify(frame)}\n`);
  }

  private writeLine(socket: Socket, line: string): void {
    if (!socket.destroyed) socket.write(line);
  }
}

function splitAddress(address: string): [string, string] {
  const index = address.lastIndexOf(':');
  return [address.slice(0, index).replace(/^\[|\]$/g, ''), address.slice(index + 1)];
}
