import { mkdir, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { unavailable, type Logger } from '@hvctl/common';
import type { DriverChange } from '../types.js';
import { createSimDrivers, type SimDrivers } from './drivers.js';
import { HOST_API, PING, PROGRESS_METHODS, REFUSE_INCOMING, SUBSCRIBE, type HostArea, type HostSnapshot } from './host-api.js';
import { Channel, type Handler } from './host-channel.js';
import { SimHostDriver } from './host.js';
import type { SimWorld } from './world.js';

export interface SimHostServerOptions {
  /** The unix socket the agent (and the lab's fault commands) connect to. */
  readonly socketPath: string;
  readonly world: SimWorld;
  readonly repositoryNode: string;
  readonly logger: Logger;
}

/** Log lines kept for the next agent while none is connected. */
const MAX_UNDELIVERED = 500;

/**
 * A lab node's simulated host as its own process: the world (DRBD, domains, routes,
 * SimNet links) and the sim drivers, served over a unix socket. Like a real host's
 * kernel, libvirt and BIRD, it runs on when its agent dies: the peers stay Connected,
 * the VMs keep running and writing, the routes stay announced. One agent at a time
 * subscribes to its changes; other connections (the lab's faults) only call.
 */
export class SimHostServer {
  readonly drivers: SimDrivers;
  private readonly server: Server;
  private readonly channels = new Set<Channel>();
  private agent?: Channel;
  private agentsSeen = 0;
  private undelivered: DriverChange[] = [];
  private unwatch?: () => void;

  private constructor(private readonly options: SimHostServerOptions) {
    const { world } = options;
    this.drivers = createSimDrivers(world, options.repositoryNode, () => this.askRefuseIncoming());
    this.server = createServer((socket) => this.accept(socket));
  }

  /** Starts the world and listens; resolves with the world's link port. */
  static async start(options: SimHostServerOptions): Promise<{ host: SimHostServer; linkPort: number }> {
    const host = new SimHostServer(options);
    host.unwatch = options.world.watch((change) => host.forward(change));
    const linkPort = await options.world.start();
    await mkdir(dirname(options.socketPath), { recursive: true });
    // A socket file left by a crashed host process would refuse the bind.
    await rm(options.socketPath, { force: true });
    await new Promise<void>((resolve, reject) => {
      host.server.once('error', reject);
      host.server.listen(options.socketPath, () => {
        host.server.off('error', reject);
        resolve();
      });
    });
    return { host, linkPort };
  }

  get world(): SimWorld {
    return this.options.world;
  }

  /** Whether an agent is subscribed now. */
  get agentConnected(): boolean {
    return this.agent !== undefined;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      for (const channel of this.channels) channel.close();
    });
    this.unwatch?.();
    await this.options.world.stop();
    await rm(this.options.socketPath, { force: true });
  }

  private accept(socket: Socket): void {
    const handlers: Record<string, Handler> = { ...this.apiHandlers() };
    const channel = new Channel(socket, handlers, { onClose: () => this.dropped(channel) }, () => unavailable('the agent closed the host channel'));
    handlers[SUBSCRIBE] = () => this.subscribe(channel);
    this.channels.add(channel);
  }

  private apiHandlers(): Record<string, Handler> {
    const { world } = this.options;
    const targets: Record<HostArea, object> = { ...this.drivers, host: new SimHostDriver(world), faults: world };
    const handlers: Record<string, Handler> = { [PING]: () => ({ node: world.name }) };
    for (const area of Object.keys(HOST_API) as HostArea[]) {
      const target = targets[area] as Record<string, (...args: unknown[]) => unknown>;
      for (const method of HOST_API[area]) {
        const key = `${area}.${method}`;
        handlers[key] = PROGRESS_METHODS.has(key)
          ? (args, context) => target[method]?.call(target, args[0], { ...(args[1] as object), onProgress: context.progress, signal: context.signal })
          : (args) => target[method]?.apply(target, [...args]);
      }
    }
    return handlers;
  }

  private subscribe(channel: Channel): HostSnapshot {
    const { world } = this.options;
    // A new agent replaces a connection its predecessor left behind.
    if (this.agent && this.agent !== channel) this.agent.close();
    this.agent = channel;
    this.agentsSeen += 1;
    const log = this.undelivered;
    this.undelivered = [];
    if (this.agentsSeen > 1) world.log('info', 'node', 'agent connected to its running host: VMs, DRBD roles and routes as they were');
    return {
      resources: world.listResources(),
      domains: world.listDomains(),
      announcements: world.listAnnouncements(),
      neighbors: world.listNeighbors(),
      snapshots: [...(world.repository?.snapshots ?? [])],
      log,
    };
  }

  private dropped(channel: Channel): void {
    this.channels.delete(channel);
    if (this.agent !== channel) return;
    this.agent = undefined;
    this.options.world.log('warn', 'node', 'agent disconnected; the host runs on (VMs, DRBD and routes unchanged)');
  }

  private forward(change: DriverChange): void {
    if (this.agent) {
      this.agent.pushChange(change);
    } else if (change.change === 'log') {
      this.undelivered.push(change);
      if (this.undelivered.length > MAX_UNDELIVERED) this.undelivered.shift();
    }
  }

  /**
   * Cordoning is the agent's concept: the host asks its agent. With no agent connected
   * the host does what a real one does: libvirt accepts an incoming migration (it knows
   * nothing of cordons), so only the resource checks of the migration apply.
   */
  private async askRefuseIncoming(): Promise<string | undefined> {
    const agent = this.agent;
    if (!agent) return undefined;
    try {
      return ((await agent.call(REFUSE_INCOMING, [])) as string | null) ?? undefined;
    } catch {
      return undefined;
    }
  }
}
