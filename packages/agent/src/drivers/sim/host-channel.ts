import { createConnection, type Socket } from 'node:net';
import { HvctlError, unavailable, type ErrorCode, type ErrorDetails } from '@hvctl/common';
import type { DriverChange } from '../types.js';

/**
 * The local channel between a lab node's agent and its simulated host process: one
 * JSON object per line over a unix socket. Either side may call a method the other
 * registered; a call can report progress and be cancelled; the host streams its state
 * changes in batches (one line per event-loop turn, not one per change).
 */
export type Frame =
  | { readonly t: 'call'; readonly id: number; readonly method: string; readonly args: readonly unknown[] }
  | { readonly t: 'result'; readonly id: number; readonly value?: unknown }
  | { readonly t: 'error'; readonly id: number; readonly code: ErrorCode; readonly message: string; readonly details?: ErrorDetails }
  | { readonly t: 'progress'; readonly id: number; readonly value: unknown }
  | { readonly t: 'cancel'; readonly id: number }
  | { readonly t: 'changes'; readonly changes: readonly DriverChange[] };

/** What a handler gets besides its arguments: the call's cancellation and a progress reporter. */
export interface CallContext {
  readonly signal: AbortSignal;
  progress(value: unknown): void;
}

export type Handler = (args: readonly unknown[], context: CallContext) => unknown;

export interface CallOptions {
  readonly onProgress?: (value: unknown) => void;
  readonly signal?: AbortSignal;
}

export interface ChannelEvents {
  readonly onChanges?: (changes: readonly DriverChange[]) => void;
  /** The other side went away (process died or closed the socket). */
  readonly onClose?: () => void;
}

interface Pending {
  readonly resolve: (value: unknown) => void;
  readonly reject: (error: Error) => void;
  readonly onProgress?: (value: unknown) => void;
}

/** Upper bound of one line: a frame larger than this is a broken peer, not data. */
const MAX_LINE_BYTES = 64 * 1024 * 1024;

/** One end of the channel over a connected socket. */
export class Channel {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly running = new Map<number, AbortController>();
  private buffer = '';
  private queued: DriverChange[] = [];
  private flushScheduled = false;
  private closedFlag = false;

  constructor(
    private readonly socket: Socket,
    private readonly handlers: Readonly<Record<string, Handler>>,
    private readonly events: ChannelEvents = {},
    /** The error a call fails with once the other side is gone. */
    private readonly goneError: () => HvctlError = () => unavailable('the channel to the simulated host is closed'),
  ) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => this.receive(chunk));
    socket.on('error', () => socket.destroy());
    socket.on('close', () => this.closed());
  }

  get isClosed(): boolean {
    return this.closedFlag;
  }

  /** Calls `method` on the other side; rejects with its error (code and message kept) or when the channel closes. */
  call(method: string, args: readonly unknown[], options: CallOptions = {}): Promise<unknown> {
    if (this.closedFlag) return Promise.reject(this.goneError());
    const id = this.nextId++;
    return new Promise<unknown>((resolve, reject) => {
      const onAbort = (): void => this.send({ t: 'cancel', id });
      options.signal?.addEventListener('abort', onAbort, { once: true });
      const settle = <T>(fn: (value: T) => void) => (value: T): void => {
        options.signal?.removeEventListener('abort', onAbort);
        this.pending.delete(id);
        fn(value);
      };
      this.pending.set(id, { resolve: settle(resolve), reject: settle(reject), ...(options.onProgress ? { onProgress: options.onProgress } : {}) });
      this.send({ t: 'call', id, method, args });
      if (options.signal?.aborted) onAbort();
    });
  }

  /** Queues a state change; queued changes leave as one line at the end of this event-loop turn. */
  pushChange(change: DriverChange): void {
    if (this.closedFlag) return;
    this.queued.push(change);
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const changes = this.queued;
      this.queued = [];
      if (changes.length) this.send({ t: 'changes', changes });
    });
  }

  close(): void {
    this.socket.end();
    this.socket.destroy();
  }

  private send(frame: Frame): void {
    if (this.closedFlag || this.socket.destroyed) return;
    this.socket.write(`${JSON.stringify(frame)}\n`);
  }

  private receive(chunk: string): void {
    this.buffer += chunk;
    if (this.buffer.length > MAX_LINE_BYTES) {
      this.socket.destroy();
      return;
    }
    let newline = this.buffer.indexOf('\n');
    while (newline >= 0) {
      const line = this.buffer.slice(0, newline);
      this.buffer = this.buffer.slice(newline + 1);
      if (line) this.dispatch(line);
      newline = this.buffer.indexOf('\n');
    }
  }

  private dispatch(line: string): void {
    let frame: Frame;
    try {
      frame = JSON.parse(line) as Frame;
    } catch {
      this.socket.destroy();
      return;
    }
    switch (frame.t) {
      case 'call':
        void this.serve(frame.id, frame.method, frame.args);
        return;
      case 'cancel':
        this.running.get(frame.id)?.abort();
        return;
      case 'result':
        this.pending.get(frame.id)?.resolve(frame.value);
        return;
      case 'error':
        this.pending.get(frame.id)?.reject(new HvctlError(frame.code, frame.message, frame.details ?? {}));
        return;
      case 'progress':
        this.pending.get(frame.id)?.onProgress?.(frame.value);
        return;
      case 'changes':
        this.events.onChanges?.(frame.changes);
        return;
    }
  }

  private async serve(id: number, method: string, args: readonly unknown[]): Promise<void> {
    const handler = this.handlers[method];
    const controller = new AbortController();
    this.running.set(id, controller);
    try {
      if (!handler) throw new HvctlError('UNIMPLEMENTED', `the simulated host has no method ${method}`);
      const value = await handler(args, { signal: controller.signal, progress: (progress) => this.send({ t: 'progress', id, value: progress }) });
      this.send({ t: 'result', id, value });
    } catch (error) {
      const known = error instanceof HvctlError;
      this.send({
        t: 'error',
        id,
        code: known ? error.code : 'INTERNAL',
        message: (error as Error).message,
        ...(known && Object.keys(error.details).length ? { details: error.details } : {}),
      });
    } finally {
      this.running.delete(id);
    }
  }

  private closed(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    this.queued = [];
    for (const entry of [...this.pending.values()]) entry.reject(this.goneError());
    // The caller is gone: what it started is cancelled (see the host's note on migrations).
    for (const controller of this.running.values()) controller.abort();
    this.events.onClose?.();
  }
}

/** Connects to a host's socket; rejects at once when nothing listens there. */
export function connectChannel(path: string, handlers: Readonly<Record<string, Handler>>, events: ChannelEvents, goneError: () => HvctlError): Promise<Channel> {
  return new Promise<Channel>((resolve, reject) => {
    const socket = createConnection(path);
    const onError = (error: Error): void => reject(unavailable(`no simulated host answers on ${path}: ${error.message}`));
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(new Channel(socket, handlers, events, goneError));
    });
  });
}

/** One call on a fresh connection (the lab's fault commands): connect, call, close. */
export async function callSimHost(path: string, method: string, args: readonly unknown[]): Promise<unknown> {
  const gone = (): HvctlError => unavailable(`the simulated host on ${path} closed the connection`);
  const channel = await connectChannel(path, {}, {}, gone);
  try {
    return await channel.call(method, args);
  } finally {
    channel.close();
  }
}
