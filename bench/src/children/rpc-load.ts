/**
 * Open-loop load on one unary RPC of one agent: requests start on a fixed schedule
 * (`rate` per second, whatever the answers do), each timed from send to answer.
 *
 *   node rpc-load.js '{"address": ..., "method": "getInfo" | "listDomains", "rate": 500, "durationMs": 10000, "warmupMs": 1000}'
 *
 * IPC: -> done {latencies (after the warm-up), errors, achievedRate}.
 */
import { createAgentClient, deadline, unary } from '@hvctl/common';

interface LoadConfig {
  readonly address: string;
  readonly method: 'getInfo' | 'listDomains';
  readonly rate: number;
  readonly durationMs: number;
  readonly warmupMs: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as LoadConfig;

async function main(): Promise<void> {
  const client = createAgentClient(config.address);
  await unary('GetInfo', (cb) => client.node.getInfo({}, deadline(10_000), cb));
  const call = (done: (error: Error | null) => void): void => {
    if (config.method === 'getInfo') client.node.getInfo({}, deadline(5000), done);
    else client.kvm.listDomains({}, deadline(5000), done);
  };
  const latencies: number[] = [];
  let errors = 0;
  let lastError = '';
  let sent = 0;
  let inFlight = 0;
  const total = Math.floor(((config.durationMs + config.warmupMs) * config.rate) / 1000);
  const started = performance.now();
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
  client.close();
  process.send?.({ type: 'done', latencies, errors, lastError, achievedRate: (sent * 1000) / elapsedMs });
  setTimeout(() => process.exit(0), 50);
}

main().catch((error: unknown) => {
  process.send?.({ type: 'error', error: (error as Error).stack ?? String(error) });
  setTimeout(() => process.exit(1), 100);
});
