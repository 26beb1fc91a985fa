import type { AgentClient, ClusterSnapshot } from '@hvctl/common';
import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { render } from 'ink-testing-library';
import { stripVTControlCharacters } from 'node:util';
import type { ReactElement } from 'react';
import type { ClusterSource } from '../hooks/useClusterSnapshot.js';

/** The fixed clock of the console tests. */
export const NOW = 1_700_000_000_000;

/** Lets Ink, effects and fake gRPC answers (setImmediate) run. */
export const tick = (ms = 20): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A source that publishes whatever the test hands it; `clients` answer `client(node)`. */
export function fakeSource(
  initial: ClusterSnapshot,
  clients: Readonly<Record<string, AgentClient>> = {},
): ClusterSource & { publish(snapshot: ClusterSnapshot): void } {
  let current = initial;
  const listeners = new Set<(snapshot: ClusterSnapshot) => void>();
  return {
    snapshot: () => current,
    subscribe: (listener) => {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    publish: (snapshot) => {
      current = snapshot;
      for (const listener of listeners) listener(snapshot);
    },
    client: (node) => clients[node],
  };
}

/** The lab with `unreachable` nodes gone for 42 s (at NOW). */
export function lab(unreachable: string[] = [], version = 1, states = fakeLabStates(3, NOW)): ClusterSnapshot {
  const snapshot = fakeClusterSnapshot(states, unreachable, version);
  return { ...snapshot, nodes: snapshot.nodes.map((node) => (node.reachable ? node : { ...node, unreachableSinceMs: NOW - 42_000 })) };
}

/** A console rendered for a test. */
export interface RenderedConsole {
  /** The last frame, ANSI stripped. */
  frame(): string;
  /** Types keys one by one, a tick after each; resolves with the frame. */
  press(...keys: string[]): Promise<string>;
  until(check: string | RegExp | ((text: string) => boolean), limitMs?: number): Promise<string>;
  unmount(): void;
}

/** Renders at a terminal size (ink-testing-library's stdout is 100 columns and has no rows). */
export async function renderAt(tree: ReactElement, columns: number, rows: number): Promise<RenderedConsole> {
  const app = render(tree);
  Object.defineProperty(app.stdout, 'columns', { value: columns, configurable: true });
  Object.defineProperty(app.stdout, 'rows', { value: rows, configurable: true });
  app.stdout.emit('resize');
  const frame = (): string => stripVTControlCharacters(app.lastFrame() ?? '');
  // Wait for the frame drawn at the new size: its full-width pane titles are `columns` wide.
  const resized = Date.now();
  while (!frame().split('\n').some((line) => [...line].length === columns) && Date.now() - resized < 2000) await tick(5);
  await tick();
  // Ink renders at most every ~33 ms: after a key, wait for the frame it causes (a key that
  // changes nothing causes none, hence the bound), then a tick for the effects of that render.
  const press = async (...keys: string[]): Promise<string> => {
    for (const key of keys) {
      const before = app.frames.length;
      app.stdin.write(key);
      const sent = Date.now();
      while (app.frames.length === before && Date.now() - sent < 100) await tick(5);
      await tick();
    }
    return frame();
  };
  /**
   * Waits until the frame satisfies `check` (a string it contains, or a predicate): for
   * answers of fake agents, which arrive a few event-loop turns after a key press. Not a
   * timing assertion: the limit only turns a hang into a readable failure.
   */
  const until = async (check: string | RegExp | ((text: string) => boolean), limitMs = 5000): Promise<string> => {
    const test = typeof check === 'function' ? check : (text: string) => (typeof check === 'string' ? text.includes(check) : check.test(text));
    const started = Date.now();
    while (!test(frame())) {
      if (Date.now() - started > limitMs) throw new Error(`the console never showed ${String(check)}; last frame:\n${frame()}`);
      await tick(10);
    }
    // A frame is written when React commits; the effects that attach the new screen's key
    // handlers run just after (scheduled with setImmediate). Let them run before the next key.
    await tick();
    return frame();
  };
  return { frame, press, until, unmount: () => app.unmount() };
}

/** Fails when a frame has more lines than the terminal allows or a line wider than it. */
export function expectFits(text: string, columns: number, rows: number): void {
  const lines = text.split('\n');
  if (lines.length > rows - 1) throw new Error(`frame has ${lines.length} lines, more than ${rows - 1}:\n${text}`);
  for (const line of lines) {
    if ([...line].length > columns) throw new Error(`line wider than ${columns} columns (${[...line].length}): ${line}`);
  }
}
