import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/** The kernel's ephemeral port range (outgoing connections and port-0 binds land there). */
function ephemeralRange(): [number, number] {
  try {
    const [low, high] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (low && high) return [low, high];
  } catch {
    // not Linux: assume the IANA range
  }
  return [49152, 65535];
}

const canBind = (port: number, host: string): Promise<boolean> =>
  new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, host, () => server.close(() => resolve(true)));
  });

/**
 * `count` ports that are free now and lie below the ephemeral range. Ports picked with
 * port 0 (freePorts in @hvctl/common/testing) are ephemeral ones, so with 100 agents
 * starting at once, an outgoing connection or another agent's port-0 bind can take a
 * pre-picked link port before its agent listens on it (EADDRINUSE). Below the range only
 * an explicit bind can take them.
 */
export async function stablePorts(count: number, host = '127.0.0.1'): Promise<number[]> {
  const [low] = ephemeralRange();
  const floor = 10_000;
  const span = Math.max(count * 4, low - floor - count - 1);
  let port = floor + Math.floor(Math.random() * Math.max(1, span - count * 2));
  const ports: number[] = [];
  while (ports.length < count) {
    if (port >= low) throw new Error(`no ${count} free ports below the ephemeral range (${low})`);
    if (await canBind(port, host)) ports.push(port);
    port += 1;
  }
  return ports;
}
