import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { Logger } from '@hvctl/common';
import { alertId, type Alert, type AlertCondition, type AlertRule } from './types.js';

export interface AlertEngineOptions {
  /** JSON file holding the firing alerts (survives restarts). */
  readonly statePath: string;
  readonly cluster: string;
  readonly watcher: string;
  /** A firing alert resolves once its condition has been absent this long (damps flapping). */
  readonly resolveAfterMs: number;
  /** Per rule: how long a condition must hold before it fires (default 0: at once). */
  readonly fireAfterMs?: Partial<Record<AlertRule, number>>;
  /** Receives every notification (firing once, resolved once). Must not throw. */
  readonly notify: (alert: Alert) => void;
  readonly now?: () => number;
  readonly logger?: Logger;
}

interface ActiveAlert {
  readonly alert: Alert;
  /** Since when the condition is absent (0 while it holds). */
  readonly clearSinceMs: number;
}

/**
 * De-duplicates conditions into alerts keyed by `rule/subject`: a new condition fires
 * once (after holding for its rule's fireAfterMs, so a transient state is not paged); while it holds nothing more is sent; once it has been absent for resolveAfterMs
 * it resolves once. A condition that comes back before that keeps the same alert firing
 * (flapping sends nothing). The firing set is persisted after every change, so a
 * restarted watcher neither re-fires what is still firing nor forgets to resolve what
 * cleared while it was down.
 */
export class AlertEngine {
  private readonly active = new Map<string, ActiveAlert>();
  /** Conditions seen but not held long enough to fire yet: id -> first seen. */
  private readonly pending = new Map<string, number>();
  private readonly now: () => number;
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly options: AlertEngineOptions) {
    this.now = options.now ?? Date.now;
  }

  /** Loads the firing alerts of the previous run. */
  async load(): Promise<void> {
    let text: string;
    try {
      text = await readFile(this.options.statePath, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    try {
      for (const entry of JSON.parse(text) as ActiveAlert[]) this.active.set(entry.alert.id, entry);
    } catch (error) {
      this.options.logger?.warn({ err: error, path: this.options.statePath }, 'alert state unreadable; starting with no firing alerts');
    }
  }

  /** Applies the conditions holding now; returns the notifications sent. */
  evaluate(conditions: readonly AlertCondition[]): Alert[] {
    const nowMs = this.now();
    const sent: Alert[] = [];
    const seen = new Set<string>();
    for (const condition of conditions) {
      const id = alertId(condition);
      if (seen.has(id)) continue;
      seen.add(id);
      const existing = this.active.get(id);
      if (existing) {
        // Still (or again) holding: refresh the text quietly, cancel a pending resolve.
        this.active.set(id, { alert: { ...existing.alert, summary: condition.summary, severity: condition.severity }, clearSinceMs: 0 });
        continue;
      }
      const firstSeenMs = this.pending.get(id) ?? nowMs;
      this.pending.set(id, firstSeenMs);
      if (nowMs - firstSeenMs < (this.options.fireAfterMs?.[condition.rule] ?? 0)) continue;
      this.pending.delete(id);
      const alert: Alert = { id, ...condition, status: 'firing', startsAtUnixMs: firstSeenMs, endsAtUnixMs: 0, cluster: this.options.cluster, watcher: this.options.watcher };
      this.active.set(id, { alert, clearSinceMs: 0 });
      sent.push(alert);
    }
    for (const id of this.pending.keys()) if (!seen.has(id)) this.pending.delete(id);
    for (const [id, entry] of this.active) {
      if (seen.has(id)) continue;
      const clearSinceMs = entry.clearSinceMs || nowMs;
      if (nowMs - clearSinceMs >= this.options.resolveAfterMs) {
        this.active.delete(id);
        sent.push({ ...entry.alert, status: 'resolved', endsAtUnixMs: nowMs });
      } else if (entry.clearSinceMs === 0) {
        this.active.set(id, { ...entry, clearSinceMs });
      }
    }
    if (sent.length > 0) {
      this.persist();
      for (const alert of sent) this.options.notify(alert);
    }
    return sent;
  }

  /** The alerts firing now, oldest first. */
  firing(): Alert[] {
    return [...this.active.values()].map((entry) => entry.alert).sort((a, b) => a.startsAtUnixMs - b.startsAtUnixMs || a.id.localeCompare(b.id));
  }

  /** Resolves when every state write so far is on disk. */
  flushed(): Promise<void> {
    return this.saving;
  }

  private persist(): void {
    const text = JSON.stringify([...this.active.values()]);
    const path = this.options.statePath;
    const write = async (): Promise<void> => {
      await mkdir(dirname(path), { recursive: true });
      const temp = `${path}.tmp`;
      const handle = await open(temp, 'w');
      try {
        await handle.write(text);
        await handle.datasync();
      } finally {
        await handle.close();
      }
      await rename(temp, path);
    };
    this.saving = this.saving.then(write, write).catch((error: unknown) => this.options.logger?.error({ err: error, path }, 'cannot save the alert state'));
  }
}
