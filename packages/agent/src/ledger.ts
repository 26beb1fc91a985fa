import { invalidArgument } from '@hvctl/common';

interface Entry {
  readonly method: string;
  readonly result: Promise<unknown>;
  readonly messages: unknown[];
  readonly followers: Set<(message: unknown) => void>;
  readonly storedAtMs: number;
}

export interface RequestLedgerOptions {
  /** Most request ids remembered. Default 10,000. */
  readonly capacity?: number;
  /** How long an id is remembered. Default one hour. */
  readonly ttlMs?: number;
  readonly now?: () => number;
}

/**
 * Makes mutating calls idempotent by request_id: the first call with an id acts; a
 * repeat (same method) gets the first call's result, or, for a streaming call, a replay
 * of its messages followed by the live rest. An empty id opts out.
 */
export class RequestLedger {
  private readonly entries = new Map<string, Entry>();
  private readonly capacity: number;
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(options: RequestLedgerOptions = {}) {
    this.capacity = options.capacity ?? 10_000;
    this.ttlMs = options.ttlMs ?? 3_600_000;
    this.now = options.now ?? Date.now;
  }

  /** Runs `act` once per request id and returns its (shared) result. */
  once<T>(method: string, requestId: string, act: () => Promise<T>): Promise<T> {
    return this.stream<T, never>(method, requestId, () => act(), () => undefined);
  }

  /**
   * Runs `act(emit)` once per request id. `onMessage` receives every message emitted for
   * this id: for a repeat, first the ones already emitted, then the live ones.
   */
  stream<T, M>(method: string, requestId: string, act: (emit: (message: M) => void) => Promise<T>, onMessage: (message: M) => void): Promise<T> {
    if (requestId === '') return act(onMessage);
    this.expire();
    const key = requestId;
    const existing = this.entries.get(key);
    if (existing && this.now() - existing.storedAtMs <= this.ttlMs) {
      if (existing.method !== method) {
        throw invalidArgument(`request_id "${requestId}" was already used for ${existing.method}; use a new id for ${method}`);
      }
      for (const message of existing.messages) onMessage(message as M);
      const follower = (message: unknown): void => onMessage(message as M);
      existing.followers.add(follower);
      return (existing.result as Promise<T>).finally(() => existing.followers.delete(follower));
    }
    const messages: unknown[] = [];
    const followers = new Set<(message: unknown) => void>();
    const emit = (message: M): void => {
      messages.push(message);
      onMessage(message);
      for (const follower of followers) follower(message);
    };
    const result = Promise.resolve().then(() => act(emit));
    this.entries.set(key, { method, result, messages, followers, storedAtMs: this.now() });
    // A failed call is remembered too: a retry with the same id must not act again.
    result.catch(() => undefined);
    return result;
  }

  /**
   * True when a call of `method` with this request id was already taken (and not yet
   * forgotten): a new one will not act, it gets the first call's result.
   */
  seen(method: string, requestId: string): boolean {
    if (requestId === '') return false;
    const entry = this.entries.get(requestId);
    return entry !== undefined && entry.method === method && this.now() - entry.storedAtMs <= this.ttlMs;
  }

  private expire(): void {
    const now = this.now();
    for (const [key, entry] of this.entries) {
      if (now - entry.storedAtMs <= this.ttlMs && this.entries.size < this.capacity) break;
      this.entries.delete(key);
    }
  }
}
