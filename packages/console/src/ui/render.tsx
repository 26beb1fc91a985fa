import { render, type Instance, type RenderOptions } from 'ink';
import { App } from './App.js';
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
  /** Who submits workflows (journaled by the agents); default `user@console`. */
  readonly owner?: string;
  /** Runs a dangerous command other than a workflow after its typed confirmation (none exists yet). */
  readonly onConfirmed?: (command: Command, target: string) => void;
  /** Streams and Ink switches, for tests and embedding; exitOnCtrlC is always off (Ctrl-C is in the key table). */
  readonly ink?: Pick<RenderOptions, 'stdout' | 'stdin' | 'stderr' | 'debug' | 'patchConsole'>;
}

/**
 * Draws the console for `source` until the operator quits (`q` or Ctrl-C call Ink's
 * exit()); await `instance.waitUntilExit()`. Needs an interactive stdin (raw mode).
 */
export function renderConsole(source: ClusterSource, options: ConsoleOptions = {}): Instance {
  return render(
    <App
      source={source}
      title={options.title}
      now={options.now ?? Date.now}
      readOnly={options.readOnly ?? false}
      onConfirmed={options.onConfirmed}
      {...(options.owner ? { owner: options.owner } : {})}
    />,
    { ...options.ink, exitOnCtrlC: false },
  );
}
