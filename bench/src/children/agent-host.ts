/**
 * Hosts several simulated agents in one process (the bench lab's "host process"): each is
 * a full `startAgent` with its own gRPC server on 127.0.0.1:0 and its own simulated link.
 *
 *   node agent-host.js LOGFILE CONFIG.yaml...     (IPC: -> ready {ports}, <- stop)
 */
import { createLogger } from '@hvctl/common';
import { loadAgentConfig, startAgent, type RunningAgent } from '@hvctl/agent';
import { profileFor } from '../lib/inspector-profile.js';

const [logFile, ...configs] = process.argv.slice(2);
if (!logFile || configs.length === 0 || !process.send) {
  process.stderr.write('usage: agent-host.js LOGFILE CONFIG.yaml... (with an IPC channel)\n');
  process.exit(2);
}

const logger = createLogger({ name: 'bench-agent-host', level: 'warn', file: logFile });
const agents: RunningAgent[] = [];
let stopping = false;

async function stopAll(code: number): Promise<never> {
  if (!stopping) {
    stopping = true;
    await Promise.all(agents.map((agent) => agent.stop(200).catch(() => undefined)));
    logger.flush();
  }
  process.exit(code);
}

process.on('message', (message: { type?: string; ms?: number; file?: string }) => {
  if (message?.type === 'stop') void stopAll(0);
  if (message?.type === 'profile' && message.file) {
    void profileFor(message.ms ?? 5000, message.file).then(
      () => process.send?.({ type: 'profiled', file: message.file }),
      (error: Error) => process.send?.({ type: 'error', error: error.message }),
    );
  }
});
// The bench died: do not outlive it.
process.on('disconnect', () => void stopAll(0));

try {
  const started = Date.now();
  const ports: Record<string, number> = {};
  // A few at a time: each start reads its seed and binds two sockets.
  const queue = [...configs];
  const worker = async (): Promise<void> => {
    for (let path = queue.shift(); path; path = queue.shift()) {
      // A lab on loopback, like `hvctl lab up`: plaintext, every caller an anonymous admin.
      const config = { ...(await loadAgentConfig(path)), insecureLab: true };
      const agent = await startAgent(config, logger.child({ node: config.node }));
      agents.push(agent);
      ports[config.node] = agent.port;
    }
  };
  await Promise.all(Array.from({ length: 4 }, worker));
  process.send({ type: 'ready', ports, startMs: Date.now() - started, pid: process.pid });
} catch (error) {
  process.send({ type: 'error', error: (error as Error).stack ?? String(error) });
  await stopAll(1);
}
