import type { Role } from '@hvctl/common';
import { render, type Instance, type RenderOptions } from 'ink';
import { App } from './App.js';
import { limitHeapGrowth } from './heap-growth.js';
import type { ClusterSource } from './hooks/useClusterSnapshot.js';
import type { Command } from './key/commands.js';

export type { ClusterSource } from './hooks/useClusterSnapshot.js';

export interface ConsoleOptions {
  /** Shown in the header next to the cluster name, e.g. "lab". */
  readonly title?: string;
  /** The clock; defaults to Date.now. Tests pass a fixed one. */
  readonly now?: () => number;
  /** Hide the commands that change the cluster (every workflow) and refuse to run them. */
  readonly readOnly?: boolean;
  /** The console identity's role: commands it may not run are hidden and ignored. */
  readonly role?: Role | undefined;
  /** Who submits workflows (journaled by the agents); default `user@console`. */
  readonly owner?: string;
  /** Runs a dangerous command other than a workflow after its typed confirmation (none exists yet). */
  readonly onConfirmed?: (command: Command, target: string) => void;
  /** Streams and Ink switches, for tests and embedding; exitOnCtrlC is always off (Ctrl-C is in the key table). */
  readonly ink?: Pick<RenderOptions, 'stdout' | 'stdin' | 'stderr' | 'debug' | 'patchConsole'>;
}

/** Ink's frame-rate cap (see renderConsole). */
const MAX_FPS = 100;

/**
 * Draws the console for `source` until the operator quits (`q` or Ctrl-C call Ink's
 * exit()); await `instance.waitUntilExit()`. Needs an interactive stdin (raw mode).
 */
export function renderConsole(source: ClusterSource, options: ConsoleOptions = {}): Instance {
  // A console runs for days while the cluster streams; keep V8's heap near what it holds.
  limitHeapGrowth();
  return render(
    <App
      source={source}
      title={options.title}
      now={options.now ?? Date.now}
      readOnly={options.readOnly ?? false}
      role={options.role}
      onConfirmed={options.onConfirmed}
      {...(options.owner ? { owner: options.owner } : {})}
    />,
    // Ink throttles drawing to 30 frames/s by default, so a key pressed within 33 ms of a
    // redraw waited for the next slot. Cluster-driven redraws are already paced
    // (paced-source.ts, at most 10/s); a finer throttle lets keys draw at once.
    { maxFps: MAX_FPS, ...options.ink, exitOnCtrlC: false },
  );
}
