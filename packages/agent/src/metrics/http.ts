import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { Logger } from '@hvctl/common';

export interface MetricsServer {
  /** The port actually bound (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

/** Splits "host:port" (IPv6 in brackets) for listen(). */
function hostPort(listen: string): { host: string; port: number } {
  const match = /^\[?([^\]]+)\]?:(\d+)$/.exec(listen);
  if (!match) throw new Error(`metrics.listen "${listen}" is not host:port`);
  return { host: match[1] as string, port: Number(match[2]) };
}

/**
 * The Prometheus endpoint: GET /metrics only (anything else is 404), bound only to the
 * configured address. Each scrape asks the registry, which computes the gauges then.
 */
export async function startMetricsServer(listen: string, registry: Registry, logger: Logger): Promise<MetricsServer> {
  const { host, port } = hostPort(listen);
  const server: Server = createServer((request, response) => {
    const path = (request.url ?? '').split('?')[0];
    if (request.method !== 'GET' || path !== '/metrics') {
      response.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('not found: only GET /metrics is served here\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, { 'content-type': registry.contentType }).end(text),
      (error: unknown) => {
        logger.error({ err: error }, 'metrics scrape failed');
        response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics collection failed; see the agent log\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
