/**
 * The console under measurement: the real `renderConsole` on a real `ClusterModel` (one
 * watch stream per agent), drawing into a fake terminal (160x50, isTTY, Ink's normal
 * throttled renderer, not debug mode) whose writes are timed, and a fake keyboard.
 *
 *   node console-probe.js '{"clusterPath": ..., "spawnedAtMs": ..., "expect": {...}}'
 *
 * IPC, child -> bench: firstFrame {ms, ...}; streamDone {latencies, keys, ...}; profiled.
 * bench -> child: stream {durationMs, keyEveryMs}; profile {ms, file}; stop.
 *
 * Event latency: every watch stream is wrapped (the ClusterModel's `connect` hook) so that
 * each delta's `sentUnixMs` (stamped by the agent when it applied the change) and revision
 * are noted before the model sees the message; when the model publishes a snapshot whose
 * node revision covers a noted delta, the latency is now - sentUnixMs. The probe subscribes
 * before the console does, so "published" is the moment the model hands the snapshot out.
 */
import { EventEmitter } from 'node:events';
import { join } from 'node:path';
import { PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { stripVTControlCharacters } from 'node:util';
import type { ClientReadableStream } from '@grpc/grpc-js';
import type { WatchResponse__Output } from '@hvctl/proto';
import { profileFor } from '../lib/inspector-profile.js';
import { sendAndExit } from './exit.js';

interface ProbeConfig {
  readonly clusterPath: string;
  /** Date.now() in the bench just before it spawned this process. */
  readonly spawnedAtMs: number;
  readonly expect: { readonly nodes: number; readonly vms: number };
  readonly columns?: number;
  readonly rows?: number;
  /** Load the console from this build directory instead of @hvctl/console/dist (A/B runs). */
  readonly consoleDist?: string;
}

const config = JSON.parse(process.argv[2] ?? '{}') as ProbeConfig;
const send = (message: object): void => {
  process.send?.(message);
};
const fail = (error: unknown): void => sendAndExit({ type: 'error', error: (error as Error).stack ?? String(error) }, 1);

class FakeStdout extends EventEmitter {
  readonly isTTY = true;
  columns: number;
  rows: number;
  writes = 0;
  bytes = 0;
  onFrame: ((text: string, atMs: number) => void) | undefined;
  constructor(columns: number, rows: number) {
    super();
    this.columns = columns;
    this.rows = rows;
  }
  write = (chunk: string): boolean => {
    const at = performance.now();
    this.writes += 1;
    this.bytes += chunk.length;
    // Synchronized-update markers and cursor moves come as tiny separate writes.
    if (this.onFrame && chunk.length > 64) this.onFrame(chunk, at);
    return true;
  };
  // Ink reads these on some paths.
  getColorDepth(): number {
    return 8;
  }
  hasColors(): boolean {
    return true;
  }
}

class FakeStdin extends EventEmitter {
  readonly isTTY = true;
  private pending: string | null = null;
  type(text: string): void {
    this.pending = text;
    this.emit('readable');
  }
  read = (): string | null => {
    const value = this.pending;
    this.pending = null;
    return value;
  };
  setEncoding(): void {}
  setRawMode(): void {}
  ref(): void {}
  unref(): void {}
  resume(): void {}
  pause(): void {}
}

async function main(): Promise<void> {
  // As packages/console/bin/hvctl.js does before it imports the console: React's production
  // build unless NODE_ENV is set (`--console-node-env`). Without this line the probe measured
  // React's development build, which the shipped binary no longer runs.
  process.env['NODE_ENV'] ??= 'production';
  const importStart = performance.now();
  const { ClusterModel, createAgentClient, loadClusterFile } = await import('@hvctl/common');
  const { renderConsole } = (await import(
    config.consoleDist ? pathToFileURL(join(config.consoleDist, 'ui', 'render.js')).href : '@hvctl/console/dist/ui/render.js'
  )) as typeof import('@hvctl/console/dist/ui/render.js');
  const importMs = performance.now() - importStart;
  const cluster = await loadClusterFile(config.clusterPath);
  const nodeOf = new Map(cluster.nodes.map((node) => [node.address, node.name]));
  const expectedRows = cluster.sites.length + cluster.nodes.length + config.expect.vms;

  // Noted deltas per node: revision and sentUnixMs, in arrival order.
  const noted = new Map<string, { revision: number; sentMs: number; kind: string }[]>();
  let measuring = false;
  const latencies: number[] = [];
  const latencyKinds: Record<string, number> = {};
  let publishes = 0;
  let settledAtMs = 0;

  const model = new ClusterModel({
    cluster,
    connect: (address) => {
      const client = createAgentClient(address);
      const name = nodeOf.get(address) ?? address;
      const events = client.events as unknown as { watch: (...args: unknown[]) => ClientReadableStream<WatchResponse__Output> };
      const watch = events.watch.bind(events);
      events.watch = (...args: unknown[]) => {
        const stream = watch(...args);
        stream.on('data', (message: WatchResponse__Output) => {
          if (!measuring || message.event !== 'change') return;
          let list = noted.get(name);
          if (!list) noted.set(name, (list = []));
          list.push({ revision: Number(message.revision), sentMs: Number(message.sentUnixMs), kind: message.change?.change ?? '?' });
        });
        return stream;
      };
      return client;
    },
  });
  model.subscribe((snapshot) => {
    publishes += 1;
    const now = Date.now();
    if (!settledAtMs && snapshot.nodes.every((node) => node.settled)) settledAtMs = now;
    if (!measuring) return;
    for (const node of snapshot.nodes) {
      const list = noted.get(node.name);
      if (!list?.length) continue;
      let consumed = 0;
      for (const entry of list) {
        if (entry.revision > node.revision) break;
        latencies.push(now - entry.sentMs);
        latencyKinds[entry.kind] = (latencyKinds[entry.kind] ?? 0) + 1;
        consumed += 1;
      }
      if (consumed) list.splice(0, consumed);
    }
  });

  const stdout = new FakeStdout(config.columns ?? 160, config.rows ?? 50);
  const stdin = new FakeStdin();
  const inkRenderMs: number[] = [];
  let firstFrameSent = false;
  let framesWhileStreaming = 0;
  let keyWait: { expected: number; startedAt: number; resolve: (ms: number) => void } | undefined;

  stdout.onFrame = (chunk, at) => {
    if (measuring) framesWhileStreaming += 1;
    if (!firstFrameSent) {
      const text = stripVTControlCharacters(chunk);
      const topology = /Topology (\d+)\/(\d+)/.exec(text);
      if (
        topology &&
        Number(topology[2]) === expectedRows &&
        text.includes(`${config.expect.nodes} up`) &&
        text.includes('0 down') &&
        text.includes(`${config.expect.vms} running`)
      ) {
        firstFrameSent = true;
        send({ type: 'firstFrame', ms: Date.now() - config.spawnedAtMs, importMs, settledMs: settledAtMs ? settledAtMs - config.spawnedAtMs : -1, rss: process.memoryUsage().rss });
      }
      return;
    }
    if (keyWait) {
      const topology = /Topology (\d+)\//.exec(stripVTControlCharacters(chunk));
      if (topology && Number(topology[1]) === keyWait.expected) {
        const wait = keyWait;
        keyWait = undefined;
        wait.resolve(at - wait.startedAt);
      }
    }
  };

  const instance = renderConsole(model, {
    title: 'bench',
    ink: {
      stdout: stdout as unknown as NodeJS.WriteStream,
      stdin: stdin as unknown as NodeJS.ReadStream,
      stderr: stdout as unknown as NodeJS.WriteStream,
      patchConsole: false,
      // Ink's own per-frame render time (layout + output), passed through renderConsole's ink options.
      ...({ onRender: ({ renderTime }: { renderTime: number }) => measuring && inkRenderMs.push(renderTime) } as object),
    },
  });
  model.start();

  const pressAndWait = (key: string, expected: number, limitMs: number): Promise<number> =>
    new Promise((resolve) => {
      const timer = setTimeout(() => {
        keyWait = undefined;
        resolve(Number.POSITIVE_INFINITY);
      }, limitMs);
      keyWait = {
        expected,
        startedAt: performance.now(),
        resolve: (ms) => {
          clearTimeout(timer);
          resolve(ms);
        },
      };
      stdin.type(key);
    });

  const stream = async (durationMs: number, keyEveryMs: number): Promise<void> => {
    latencies.length = 0;
    noted.clear();
    const delay = monitorEventLoopDelay({ resolution: 5 });
    delay.enable();
    const publishesBefore = publishes;
    measuring = true;
    const keys: number[] = [];
    // GC pauses during the stream, to tell which slow key presses waited for the collector.
    const keyIntervals: { start: number; end: number }[] = [];
    const pauses: { start: number; end: number }[] = [];
    const gcObserver = new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) pauses.push({ start: entry.startTime, end: entry.startTime + entry.duration });
    });
    gcObserver.observe({ entryTypes: ['gc'] });
    const started = performance.now();
    let selected = 1;
    while (performance.now() - started < durationMs) {
      await new Promise((resolve) => setTimeout(resolve, keyEveryMs));
      // Alternate down and up: the pane title's "N/total" tells which frame answered.
      const down = selected === 1;
      const expected = down ? 2 : 1;
      const start = performance.now();
      keys.push(await pressAndWait(down ? 'j' : 'k', expected, 2000));
      keyIntervals.push({ start, end: performance.now() });
      selected = expected;
    }
    measuring = false;
    delay.disable();
    // Observer entries arrive after the pause: let the last ones come in.
    await new Promise((resolve) => setImmediate(resolve));
    gcObserver.disconnect();
    const keyGcMs = keyIntervals.map(({ start, end }) => pauses.reduce((sum, pause) => sum + Math.max(0, Math.min(end, pause.end) - Math.max(start, pause.start)), 0));
    send({
      type: 'streamDone',
      latencies,
      latencyKinds,
      keys,
      keyGcMs,
      publishes: publishes - publishesBefore,
      frames: framesWhileStreaming,
      inkRenderMs,
      eventLoopDelayP99Ms: delay.percentile(99) / 1e6,
      eventLoopDelayMaxMs: delay.max / 1e6,
      rss: process.memoryUsage().rss,
      memory: process.memoryUsage(),
    });
  };

  process.on('message', (message: { type?: string; durationMs?: number; keyEveryMs?: number; ms?: number; file?: string }) => {
    if (message?.type === 'stream') void stream(message.durationMs ?? 10_000, message.keyEveryMs ?? 400).catch(fail);
    if (message?.type === 'profile' && message.file) {
      void profileFor(message.ms ?? 5000, message.file, { heap: true }).then(() => send({ type: 'profiled', file: message.file }), fail);
    }
    if (message?.type === 'heap' && message.file) {
      const file = message.file;
      void import('node:v8').then((v8) => {
        v8.writeHeapSnapshot(file);
        send({ type: 'heaped', file });
      }, fail);
    }
    if (message?.type === 'stop') {
      instance.unmount();
      model.stop();
      setTimeout(() => process.exit(0), 50);
    }
  });
  process.on('disconnect', () => process.exit(0));
}

main().catch(fail);
