import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { measuredNiceLevel, spawnTracked, stopChild } from './procs.js';

/** One h2load run on a unary gRPC method with an empty request. */
export interface H2loadRun {
  /** Send-to-answer times in milliseconds of the requests after the warm-up, in send order. */
  readonly latencies: number[];
  /** Requests answered with HTTP status 200. */
  readonly succeeded: number;
  readonly requests: number;
  /** DATA bytes h2load received, all answers together (5-byte gRPC frame prefix included). */
  readonly dataBytes: number;
}

/** True when nghttp2's h2load (Debian package nghttp2-client) is on PATH. */
export function h2loadAvailable(): boolean {
  return spawnSync('h2load', ['--version'], { stdio: 'ignore' }).status === 0;
}

/**
 * Open-loop load from h2load, a C HTTP/2 client with no garbage collector: `rate` requests
 * per second on one connection (up to 100 streams in flight), the request an empty gRPC
 * message (five zero bytes) with a 5 s deadline like the Node load generator's. h2load
 * checks the HTTP status only, not grpc-status; callers compare `dataBytes` with what
 * complete answers make.
 */
export async function h2loadUnary(options: {
  readonly address: string;
  readonly path: string;
  readonly rate: number;
  readonly durationMs: number;
  readonly warmupMs: number;
  /** Where the request body, the per-request log and h2load's own output go (a prefix). */
  readonly files: string;
}): Promise<H2loadRun> {
  const body = `${options.files}.body`;
  const log = `${options.files}.requests.log`;
  await writeFile(body, Buffer.alloc(5));
  const requests = Math.round(((options.durationMs + options.warmupMs) * options.rate) / 1000);
  const child = spawnTracked(
    'h2load',
    ['-n', String(requests), '-c', '1', '-m', '100', '--rps', String(options.rate), '-d', body, '-H', 'content-type: application/grpc', '-H', 'te: trailers', '-H', 'grpc-timeout: 5S', `--log-file=${log}`, `http://${options.address}${options.path}`],
    { nice: measuredNiceLevel(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  await stopChild(child);
  await writeFile(`${options.files}.out`, output);
  if (code !== 0) throw new Error(`h2load exited with ${code}: ${output.trim().split('\n').slice(-3).join(' / ')}`);
  // Each log line: start time (µs since the epoch), HTTP status, send-to-answer time (µs).
  const rows = (await readFile(log, 'utf8'))
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => line.split(/\s+/).map(Number))
    .sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
  const first = rows[0]?.[0] ?? 0;
  const measured = rows.filter((row) => (row[0] ?? 0) - first >= options.warmupMs * 1000);
  const data = /\((\d+)\) data/.exec(output);
  return {
    latencies: measured.map((row) => (row[2] ?? 0) / 1000),
    succeeded: rows.filter((row) => row[1] === 200).length,
    requests,
    dataBytes: data ? Number(data[1]) : Number.NaN,
  };
}
