import type { CommandRunner, Logger } from '@hvctl/common';
import type { Alert } from './types.js';

/** Where alerts go besides the event log: a command (alert JSON on stdin) or an HTTP POST. */
export type HookConfig =
  | { readonly command: readonly string[]; readonly timeoutMs: number }
  | { readonly url: string; readonly timeoutMs: number };

export interface HookDispatcherOptions {
  readonly hooks: readonly HookConfig[];
  readonly runner: CommandRunner;
  /** Attempts per alert and hook before giving up (default 5). */
  readonly attempts?: number;
  /** First retry delay, doubling up to 30 s (default 1000). */
  readonly backoffMs?: number;
  /** Called once per alert and hook that could not be delivered. */
  readonly onFailure?: (hook: string, alert: Alert, error: Error) => void;
  readonly logger?: Logger;
}

export const hookName = (hook: HookConfig): string => ('command' in hook ? `command ${hook.command.join(' ')}` : `POST ${hook.url}`);

const MAX_BACKOFF_MS = 30_000;

/**
 * Delivers alerts to every configured hook in the background: one queue per hook, so a
 * hook sees an alert's `firing` before its `resolved` and a slow hook delays nobody else;
 * retries with doubling backoff; a hook that keeps failing is reported, never fatal, and
 * never blocks evaluation (`deliver` returns at once).
 */
export class HookDispatcher {
  private readonly queues: Promise<void>[];
  private readonly controller = new AbortController();

  constructor(private readonly options: HookDispatcherOptions) {
    this.queues = options.hooks.map(() => Promise.resolve());
  }

  deliver(alert: Alert): void {
    this.options.hooks.forEach((hook, index) => {
      const queue = this.queues[index] as Promise<void>;
      this.queues[index] = queue.then(() => this.deliverWithRetries(hook, alert));
    });
  }

  /** Resolves when every queued delivery has finished (delivered or given up). */
  async idle(): Promise<void> {
    await Promise.all(this.queues);
  }

  /** Abandons pending retries. */
  stop(): void {
    this.controller.abort();
  }

  private async deliverWithRetries(hook: HookConfig, alert: Alert): Promise<void> {
    const attempts = this.options.attempts ?? 5;
    let delay = this.options.backoffMs ?? 1000;
    for (let attempt = 1; attempt <= attempts; attempt += 1) {
      if (this.controller.signal.aborted) return;
      try {
        await this.send(hook, alert);
        return;
      } catch (error) {
        const last = attempt === attempts;
        this.options.logger?.warn({ err: error, hook: hookName(hook), alert: alert.id, attempt }, last ? 'alert hook failed; giving up' : 'alert hook failed; retrying');
        if (last) {
          this.options.onFailure?.(hookName(hook), alert, error as Error);
          return;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, delay);
          timer.unref();
          this.controller.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
        delay = Math.min(MAX_BACKOFF_MS, delay * 2);
      }
    }
  }

  private async send(hook: HookConfig, alert: Alert): Promise<void> {
    const body = JSON.stringify(alert);
    if ('command' in hook) {
      const [command, ...args] = hook.command;
      if (!command) throw new Error('empty hook command');
      await this.options.runner.run(command, { args, stdin: `${body}\n`, timeoutMs: hook.timeoutMs, signal: this.controller.signal });
      return;
    }
    const response = await fetch(hook.url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      signal: AbortSignal.any([this.controller.signal, AbortSignal.timeout(hook.timeoutMs)]),
    });
    // Drain the body so the connection is released.
    await response.arrayBuffer().catch(() => undefined);
    if (!response.ok) throw new Error(`HTTP ${response.status} ${response.statusText}`);
  }
}
