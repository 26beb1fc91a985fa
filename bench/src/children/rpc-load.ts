/**
 * Open-loop load on one unary RPC of one agent: requests start on a fixed schedule
 * (`rate` per second, whatever the answers do), each timed from send to answer.
 *
 *   node rpc-load.js '{"address": ..., "method": "getInfo" | "listDomains", "rate": 500, "durationMs": 10000, "warmupMs": 1000, "undecoded": false}'
 *
 * With `undecoded`, answers are kept as bytes, not decoded (a plain grpc-js client on the
 * method's path): what this process's own decoding and its garbage add to the timings.
 *
 * IPC: -> done {latencies (after the warm-up), errors, achievedRate, gcPauseMs / gcPausesOver2Ms
 * (this process's GC pauses after the warm-up)}.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import * as grpc from '@grpc/grpc-js';
import { createAgentClient, deadline, unary } from '@hvctl/common';
import { sendAndExit } from './exit.js';

interface LoadConfig {
  readonly address: string;
  readonly method: 'getInfo' | 'listDomains';
  readonly rate: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  readonly undecoded?: boolean;
}

const PATHS = { getInfo: '/hvctl.v1.NodeService/GetInfo', listDomains: '/hvctl.v1.KvmService/ListDomains' } as const;

const config = JSON.parse(process.argv[2] ?? '{}') as LoadConfig;

async function main(): Promise<void> {
  const client = createAgentClient(config.address);
  await unary('GetInfo', (cb) => client.node.getInfo({}, deadline(10_000), cb));
  const raw = config.undecoded ? new grpc.Client(config.address, grpc.credentials.createInsecure()) : undefined;
  const empty = Buffer.alloc(0); // an empty request message encodes to no bytes
  const call = (done: (error: Error | null) => void): void => {
    if (raw) raw.makeUnaryRequest(PATHS[config.method], () => empty, (bytes: Buffer) => bytes, {}, deadline(5000), done);
    else if (config.method === 'getInfo') client.node.getInfo({}, deadline(5000), done);
    else client.kvm.listDomains({}, deadline(5000), done);
  };
  let measuringFrom = Number.POSITIVE_INFINITY;
  let gcPauseMs = 0;
  let gcPausesOver2Ms = 0;
  const gc = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (entry.startTime < measuringFrom) continue;
      gcPauseMs += entry.duration;
      if (entry.duration > 2) gcPausesOver2Ms += 1;
    }
  });
  gc.observe({ entryTypes: ['gc'] });
  const latencies: number[] = [];
  let errors = 0;
  let lastError = '';
  let sent = 0;
  let inFlight = 0;
  const total = Math.floor(((config.durationMs + config.warmupMs) * config.rate) / 1000);
  const started = performance.now();
  measuringFrom = started + config.warmupMs;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * config.rate) / 1000));
      while (sent < due) {
        const warm = (sent * 1000) / config.rate >= config.warmupMs;
        const begin = performance.now();
        sent += 1;
        inFlight += 1;
        call((error) => {
          inFlight -= 1;
          if (error) {
            errors += 1;
            lastError = error.message;
          } else if (warm) latencies.push(performance.now() - begin);
        });
      }
      if (sent >= total) {
        clearInterval(timer);
        resolve();
      }
    }, 1);
  });
  const elapsedMs = performance.now() - started;
  const until = Date.now() + 5000;
  while (inFlight > 0 && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 5));
  gc.disconnect();
  client.close();
  raw?.close();
  sendAndExit({ type: 'done', latencies, errors, lastError, achievedRate: (sent * 1000) / elapsedMs, gcPauseMs, gcPausesOver2Ms }, 0);
}

main().catch((error: unknown) => {
  sendAndExit({ type: 'error', error: (error as Error).stack ?? String(error) }, 1);
});
