import type { ClusterSnapshot } from '@hvctl/common';
import type { LogEntry__Output } from '@hvctl/proto';

export type LogLevel = 'info' | 'warn' | 'error';

/** One line of the console's event log. */
export interface EventLine {
  readonly timeMs: number;
  readonly node: string;
  readonly level: LogLevel;
  /** Reporting area ("drbd", "kvm", ...) or "conn" for the console's own connection events. */
  readonly area: string;
  readonly message: string;
}

/** How many merged lines the console keeps (the newest). */
export const EVENT_LOG_LIMIT = 500;

const level = (value: string): LogLevel => (value === 'error' || value === 'warn' ? value : 'info');

// Node logs are immutable arrays shared between snapshots while the node does not change,
// so their converted lines are cached per array.
const converted = new WeakMap<readonly LogEntry__Output[], readonly EventLine[]>();

function nodeLines(node: string, log: readonly LogEntry__Output[]): readonly EventLine[] {
  const cached = converted.get(log);
  if (cached && cached[0]?.node === node) return cached;
  const lines = log.map((entry) => ({ timeMs: Number(entry.timeUnixMs), node, level: level(entry.level), area: entry.area || 'agent', message: entry.message }));
  converted.set(log, lines);
  return lines;
}

/**
 * Merges every node's log (last known for unreachable nodes) and the console's connection
 * events into one list, oldest first, newest last; ties keep node order.
 */
export function mergeEventLog(snapshot: ClusterSnapshot, limit = EVENT_LOG_LIMIT): readonly EventLine[] {
  const all: EventLine[] = [];
  for (const connection of snapshot.nodes) {
    if (connection.state) all.push(...nodeLines(connection.name, connection.state.log));
  }
  for (const event of snapshot.connectionEvents) {
    all.push({ timeMs: event.timeMs, node: event.node, level: event.level, area: 'conn', message: event.message });
  }
  // Stable sort: entries with the same time stay in the order above.
  all.sort((a, b) => a.timeMs - b.timeMs);
  return all.length > limit ? all.slice(-limit) : all;
}
