import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { LabNetnsState } from './netns/lab-netns.js';

/** One lab node as `lab.json` records it. */
export interface LabNodeState {
  readonly name: string;
  readonly site: string;
  readonly address: string;
  readonly link: string;
  /** host:port of the node's Prometheus metrics endpoint (GET /metrics). */
  readonly metrics?: string;
  /** Directory holding agent.yaml, seed.json, state/, host.sock, agent.log and host.log. */
  readonly dir: string;
  /** PID of the agent process; 0 when it was killed or never started. */
  pid: number;
  /** PID of the node's simulated host process (`hvctl-agent sim-host`); 0 when it was killed or never started. */
  hostPid: number;
}

/** What `lab up` records so that later commands can find, fault and stop the lab. */
export interface LabState {
  readonly dir: string;
  readonly startedAtMs: number;
  readonly nodes: LabNodeState[];
  /** Sites currently cut off by `lab fault cut`. */
  cutSites: string[];
  /** Links between two sites cut by `lab fault cut-link` ("msk-spb", names sorted); absent in older state files. */
  cutLinks?: string[];
  /** Set by `lab up --netns`: routing is real (BIRD in network namespaces). */
  readonly netns?: LabNetnsState;
}

/** The lab directory: --dir, else $HVCTL_LAB_DIR, else ~/.local/state/hvctl/lab. */
export function labDir(dir?: string): string {
  return dir ?? process.env['HVCTL_LAB_DIR'] ?? join(process.env['XDG_STATE_HOME'] ?? join(homedir(), '.local', 'state'), 'hvctl', 'lab');
}

export const labStatePath = (dir: string): string => join(dir, 'lab.json');
export const labClusterPath = (dir: string): string => join(dir, 'cluster.yaml');

export async function readLabState(dir: string): Promise<LabState | undefined> {
  try {
    return JSON.parse(await readFile(labStatePath(dir), 'utf8')) as LabState;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

export async function writeLabState(state: LabState): Promise<void> {
  await mkdir(state.dir, { recursive: true });
  const path = labStatePath(state.dir);
  await writeFile(`${path}.tmp`, JSON.stringify(state, null, 2));
  await rename(`${path}.tmp`, path);
}

/** The argument that makes `hvctl-agent` run a node's simulated host instead of its agent. */
export const SIM_HOST_COMMAND = 'sim-host';

function isLabProcess(pid: number, configPath: string, host: boolean): boolean {
  if (pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const cmdline = `/proc/${pid}/cmdline`;
  if (!existsSync(cmdline)) return true;
  try {
    const args = readFileSync(cmdline, 'utf8').split('\0');
    return args.includes(configPath) && args.includes(SIM_HOST_COMMAND) === host;
  } catch {
    return false;
  }
}

/** True when `pid` is alive and is the agent started with `configPath` (not a recycled pid, not its host). */
export function isAgentProcess(pid: number, configPath: string): boolean {
  return isLabProcess(pid, configPath, false);
}

/** True when `pid` is alive and is the simulated host started with `configPath`. */
export function isHostProcess(pid: number, configPath: string): boolean {
  return isLabProcess(pid, configPath, true);
}
