import { execFile } from 'node:child_process';
import { accessSync, constants, readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { processAlive } from '@hvctl/common';
import type { KernelRoute } from '@hvctl/agent';
import { DEFAULT_NETNS_TOOLS } from '../network.js';

/** Helpers shared by the netns lab integration tests. */

export const HVCTL = fileURLToPath(new URL('../../../../bin/hvctl.js', import.meta.url));

/** Why a netns lab test cannot run here (root, bird2, iproute2); in CI that is an error. */
export function netnsSkipReason(): string | undefined {
  let reason: string | undefined;
  if (process.getuid?.() !== 0) reason = 'needs root to create network namespaces';
  for (const tool of Object.values(DEFAULT_NETNS_TOOLS)) {
    if (reason) break;
    try {
      accessSync(tool, constants.X_OK);
    } catch {
      reason = `needs ${tool} (apt install bird2 iproute2)`;
    }
  }
  if (reason && process.env['CI']) throw new Error(`the netns lab tests must run in CI, but it ${reason}`);
  return reason;
}

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real CLI (bin/hvctl.js); resolves with its exit code and output, never rejects. */
export function hvctl(...args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(process.execPath, [HVCTL, ...args], { timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : 1) : 0, stdout, stderr });
    });
  });
}

/** Reads until `done` holds; throws with the last value after `timeoutMs`. */
export async function waitFor<T>(what: string, read: () => Promise<T>, done: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error(`${what}: not reached within ${timeoutMs} ms; last value: ${JSON.stringify(value).slice(0, 1500)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

/** Live (non-zombie) processes whose command line mentions `dir`: BIRDs and agents of that lab. */
export function processesOf(dir: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir) && processAlive(Number(entry))) pids.push(Number(entry));
    } catch {
      // ended meanwhile
    }
  }
  return pids;
}

/** The gateway of `prefix` in a kernel routing table. */
export const via = (routes: readonly KernelRoute[], prefix: string): string | undefined => routes.find((route) => route.prefix === prefix)?.gateway;
