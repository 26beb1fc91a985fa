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

// Log entries are immutable objects shared between a node's successive log arrays (a new
// line copies the array, not the entries), so each entry is converted once.
const converted = new WeakMap<LogEntry__Output, EventLine>();

function lineOf(node: string, entry: LogEntry__Output): EventLine {
  const cached = converted.get(entry);
  if (cached && cached.node === node) return cached;
  const line = { timeMs: Number(entry.timeUnixMs), node, level: level(entry.level), area: entry.area || 'agent', message: entry.message };
  converted.set(entry, line);
  return line;
}

// Each log array's times, or null when it is not in time order (agents append in order;
// computed once per array).
const timesOf = new WeakMap<readonly LogEntry__Output[], Float64Array | null>();

function orderedTimes(log: readonly LogEntry__Output[]): Float64Array | null {
  let times = timesOf.get(log);
  if (times === undefined) {
    const values = Float64Array.from(log, (entry) => Number(entry.timeUnixMs));
    times = values.every((time, i) => i === 0 || time >= (values[i - 1] as number)) ? values : null;
    timesOf.set(log, times);
  }
  return times;
}

/**
 * Merges every node's log (last known for unreachable nodes) and the console's connection
 * events into one list, oldest first, newest last; ties keep node order. Only the newest
 * `limit` lines are kept: when every log is in time order (the usual case), they are picked
 * from the logs' ends, without converting or sorting the thousands of older lines a large
 * cluster holds; otherwise everything is sorted.
 */
export function mergeEventLog(snapshot: ClusterSnapshot, limit = EVENT_LOG_LIMIT): readonly EventLine[] {
  const sources: { node: string; log: readonly LogEntry__Output[] }[] = [];
  for (const connection of snapshot.nodes) {
    if (connection.state && connection.state.log.length > 0) sources.push({ node: connection.name, log: connection.state.log });
  }
  const events: EventLine[] = snapshot.connectionEvents.map((event) => ({ timeMs: event.timeMs, node: event.node, level: event.level, area: 'conn', message: event.message }));
  const eventsOrdered = events.every((event, i) => i === 0 || event.timeMs >= (events[i - 1] as EventLine).timeMs);
  const times = sources.map((source) => orderedTimes(source.log));
  if (!eventsOrdered || times.includes(null)) return sortAll(sources, events, limit);

  // Newest first: take the latest remaining line; on equal times the one that comes later in
  // the stable order (later node, connection events last), as the stable sort would.
  const next = sources.map((source) => source.log.length - 1);
  let nextEvent = events.length - 1;
  const newestFirst: EventLine[] = [];
  while (newestFirst.length < limit) {
    let best = -1;
    let bestTime = Number.NEGATIVE_INFINITY;
    for (let i = 0; i < sources.length; i += 1) {
      const at = next[i] as number;
      if (at < 0) continue;
      const time = (times[i] as Float64Array)[at] as number;
      if (time >= bestTime) {
        best = i;
        bestTime = time;
      }
    }
    if (nextEvent >= 0 && (events[nextEvent] as EventLine).timeMs >= bestTime) {
      newestFirst.push(events[nextEvent] as EventLine);
      nextEvent -= 1;
      continue;
    }
    if (best < 0) break;
    const source = sources[best] as (typeof sources)[number];
    const at = next[best] as number;
    newestFirst.push(lineOf(source.node, source.log[at] as LogEntry__Output));
    next[best] = at - 1;
  }
  return newestFirst.reverse();
}

/** The general case: every line, stable-sorted by time, the newest `limit` kept. */
function sortAll(sources: readonly { node: string; log: readonly LogEntry__Output[] }[], events: readonly EventLine[], limit: number): readonly EventLine[] {
  const all: EventLine[] = [];
  for (const source of sources) for (const entry of source.log) all.push(lineOf(source.node, entry));
  all.push(...events);
  // Stable sort: entries with the same time stay in the order above.
  all.sort((a, b) => a.timeMs - b.timeMs);
  return all.length > limit ? all.slice(-limit) : all;
}
