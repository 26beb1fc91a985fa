/**
 * Drives a steady rate of state changes across the cluster: Node.Cordon / Node.Uncordon
 * (a mutating RPC every agent serves) round-robin over the agents, open loop (a slow answer
 * does not slow the schedule), each with a fresh request id. Every call flips the node's
 * cordon flag: one state change, published by the agent as a `node` delta (plus a `log`
 * delta saying so). At the end every node is uncordoned again.
 *
 *   node change-driver.js '{"clusterPath": ..., "rate": 200, "durationMs": 15000}'
 *
 * IPC: -> ready (clients connected), <- go, -> done {sent, errors, rpcMs, achievedRate}.
 */
import { randomBytes } from 'node:crypto';
import { createAgentClient, deadline, loadClusterFile, unary } from '@hvctl/common';
import { sendAndExit } from './exit.js';

interface DriverConfig {
  readonly clusterPath: string;
  readonly rate: number;
  readonly durationMs: number;
}

const config = JSON.parse(process.argv[2] ?? '{}') as DriverConfig;
const send = (message: object): void => {
  process.send?.(message);
};

async function main(): Promise<void> {
  const cluster = await loadClusterFile(config.clusterPath);
  const targets = cluster.nodes.map((node) => ({ name: node.name, client: createAgentClient(node.address), cordoned: false, busy: false }));
  // Connect every channel before the clock starts.
  await Promise.all(targets.map(({ client }) => unary('GetInfo', (cb) => client.node.getInfo({}, deadline(10_000), cb))));
  send({ type: 'ready' });
  await new Promise<void>((resolve) => process.once('message', () => resolve()));

  const run = randomBytes(4).toString('hex');
  const rpcMs: number[] = [];
  let errors = 0;
  let lastError = '';
  let sent = 0;
  let inFlight = 0;
  let skippedBusy = 0;
  let next = 0;
  /** Sends the next change; false when every agent still has a call in flight (retried on the next tick). */
  const flip = (): boolean => {
    // One call at a time per agent: concurrent Cordon/Uncordon calls on one agent race in
    // FlagStore.update (a shared .tmp file; see docs/benchmarks.md) and fail with INTERNAL.
    let target: (typeof targets)[number] | undefined;
    for (let tries = 0; tries < targets.length && !target; tries += 1) {
      const candidate = targets[next % targets.length] as (typeof targets)[number];
      next += 1;
      if (candidate.busy) skippedBusy += 1;
      else target = candidate;
    }
    if (!target) return false;
    const requestId = `bench-${run}-${sent}`;
    const cordon = !target.cordoned;
    target.cordoned = cordon;
    target.busy = true;
    sent += 1;
    inFlight += 1;
    const started = performance.now();
    const chosen = target;
    const done = (error: Error | null): void => {
      inFlight -= 1;
      chosen.busy = false;
      if (error) {
        errors += 1;
        lastError = error.message;
      } else rpcMs.push(performance.now() - started);
    };
    if (cordon) target.client.node.cordon({ requestId, reason: 'bench' }, deadline(5000), done);
    else target.client.node.uncordon({ requestId }, deadline(5000), done);
    return true;
  };

  const started = performance.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const elapsed = performance.now() - started;
      const due = Math.min(Math.floor((elapsed * config.rate) / 1000), Math.floor((config.durationMs * config.rate) / 1000));
      while (sent < due && flip());
      if (elapsed >= config.durationMs) {
        clearInterval(timer);
        resolve();
      }
    }, 2);
  });
  const elapsedMs = performance.now() - started;
  const drainUntil = Date.now() + 5000;
  while (inFlight > 0 && Date.now() < drainUntil) await new Promise((resolve) => setTimeout(resolve, 10));
  // Leave every node uncordoned.
  await Promise.all(
    targets
      .filter((target) => target.cordoned)
      .map((target) => unary('Uncordon', (cb) => target.client.node.uncordon({ requestId: `bench-${run}-reset-${target.name}` }, deadline(5000), cb)).catch(() => undefined)),
  );
  for (const { client } of targets) client.close();
  sendAndExit({ type: 'done', sent, errors, lastError, skippedBusy, rpcMs, achievedRate: (sent * 1000) / elapsedMs }, 0);
}

main().catch((error: unknown) => {
  sendAndExit({ type: 'error', error: (error as Error).stack ?? String(error) }, 1);
});
