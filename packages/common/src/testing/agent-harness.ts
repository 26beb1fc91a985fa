import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { WatchRequest, WatchResponse__Output } from '@hvctl/proto';
import type { AgentClient } from '../client.js';
import { applyChange, viewFromSnapshot, type NodeStateView } from '../node-state.js';

/**
 * Helpers for tests that talk to real agents over gRPC: free ports, temp dirs, polling
 * and a recorder of one watch stream. They know nothing about how an agent is started
 * (the agent package's own harness does that), so the console's tests can reuse them.
 */

/** A TCP port that was free a moment ago (bound on port 0, then released). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** `count` distinct free ports. */
export async function freePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < count) ports.add(await freePort(host));
  return [...ports];
}

/** A fresh temp directory; remove it with `removeTempDir`. */
export function makeTempDir(prefix = 'hvctl-test-'): Promise<string> {
  return mkdtemp(join(tmpdir(), prefix));
}

export function removeTempDir(path: string): Promise<void> {
  return rm(path, { recursive: true, force: true });
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export interface WaitOptions {
  /** Give up after this long. Default 5000 ms. */
  readonly timeoutMs?: number;
  /** Pause between attempts. Default 50 ms. */
  readonly intervalMs?: number;
}

/**
 * Polls `probe` until it returns something other than undefined, null or false, and
 * resolves with that value. A probe that throws counts as "not yet"; on timeout the
 * error names `what` and the last value or error seen.
 */
export async function waitFor<T>(what: string, probe: () => T | Promise<T>, options: WaitOptions = {}): Promise<Exclude<T, undefined | null | false>> {
  const timeoutMs = options.timeoutMs ?? 5000;
  const intervalMs = options.intervalMs ?? 50;
  const start = Date.now();
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined && value !== null && value !== false) return value as Exclude<T, undefined | null | false>;
      last = value;
    } catch (error) {
      last = error;
    }
    if (Date.now() - start > timeoutMs) {
      const detail = last instanceof Error ? last.message : JSON.stringify(last);
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (last: ${detail})`);
    }
    await sleep(intervalMs);
  }
}

/**
 * Records one Events.Watch stream: every message, the node view rebuilt from them,
 * and any break of the stream's contract (a delta whose revision is not the previous
 * one plus one, a heartbeat that does not repeat the current revision, an epoch change).
 */
export class WatchRecorder {
  readonly messages: WatchResponse__Output[] = [];
  /** Contract violations seen so far; a correct agent leaves this empty. */
  readonly violations: string[] = [];
  view: NodeStateView | undefined;
  epoch = '';
  revision = -1;
  ended = false;
  error: Error | undefined;
  private readonly stream: ClientReadableStream<WatchResponse__Output>;
  private readonly waiters = new Set<() => void>();

  constructor(client: AgentClient, request: WatchRequest = {}) {
    if (request.resumeEpoch) {
      this.epoch = request.resumeEpoch;
      this.revision = Number(request.resumeRevision ?? 0);
    }
    this.stream = client.events.watch(request);
    this.stream.on('data', (message: WatchResponse__Output) => this.receive(message));
    this.stream.on('error', (error: Error) => {
      this.error = error;
      this.notify();
    });
    this.stream.on('end', () => {
      this.ended = true;
      this.notify();
    });
  }

  private receive(message: WatchResponse__Output): void {
    this.messages.push(message);
    const revision = Number(message.revision);
    if (message.event === 'snapshot' && message.snapshot) {
      this.view = viewFromSnapshot(message.snapshot);
      this.epoch = message.epoch;
      this.revision = revision;
    } else if (message.event === 'change' && message.change) {
      if (message.epoch !== this.epoch) this.violations.push(`delta from epoch ${message.epoch} while on ${this.epoch}`);
      if (revision !== this.revision + 1) this.violations.push(`delta revision ${revision} after ${this.revision}`);
      if (this.view) this.view = applyChange(this.view, message.change);
      this.revision = revision;
    } else if (message.event === 'heartbeat') {
      if (message.epoch !== this.epoch || revision !== this.revision) {
        this.violations.push(`heartbeat ${message.epoch}/${revision} while at ${this.epoch}/${this.revision}`);
      }
    } else {
      this.violations.push(`message without an event: ${JSON.stringify(message)}`);
    }
    this.notify();
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /** Messages of one kind. */
  ofKind(event: 'snapshot' | 'change' | 'heartbeat'): WatchResponse__Output[] {
    return this.messages.filter((message) => message.event === event);
  }

  /** Log lines seen (in the snapshot and in deltas), oldest first. */
  logMessages(): string[] {
    return this.view ? this.view.log.map((entry) => entry.message) : [];
  }

  /** Resolves once `predicate` holds for this recorder; rejects on timeout or a failed stream. */
  until(what: string, predicate: (recorder: this) => boolean, timeoutMs = 5000): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        let holds = false;
        try {
          holds = predicate(this);
        } catch {
          holds = false;
        }
        if (holds) {
          finish();
          resolve();
        } else if (this.error || this.ended) {
          finish();
          reject(new Error(`watch stream ${this.error ? `failed (${this.error.message})` : 'ended'} before ${what}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (at revision ${this.revision}, ${this.messages.length} messages)`));
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Cancels the stream. */
  close(): void {
    this.stream.cancel();
  }
}
