import type { ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Topology } from '@hvctl/common';
import type { SuiteContext } from '../lib/context.js';
import { startBenchLab, type BenchLab } from '../lib/fanin-lab.js';
import { failed, figure, meets, type Target } from '../lib/figures.js';
import { cpuSeconds, machineBusyPercent, machineCpu, nextMessage, runHvctl, sampleRss, sleep, spawnChild, stopChild } from '../lib/procs.js';
import { summarise, round } from '../lib/stats.js';

/** Issue #6, part 1 (console fan-in), checked at every scale. */
export const FANIN_TARGETS = {
  statusJsonS: { op: '<', limit: 2 },
  firstFrameS: { op: '<', limit: 2 },
  eventP50Ms: { op: '<', limit: 20 },
  eventP99Ms: { op: '<', limit: 100 },
  consoleRssMB: { op: '<', limit: 300 },
  keypressMs: { op: '<', limit: 50 },
} as const satisfies Record<string, Target>;

export const VMS_PER_NODE = 40;
export const CHANGES_PER_SECOND = 200;

export interface FaninOptions {
  readonly hypervisors: number;
  readonly statusRuns: number;
  readonly frameRuns: number;
  readonly streamMs: number;
  /** Milliseconds between key presses during the stream. */
  readonly keyEveryMs: number;
  /** nice(1) level of the simulated fleet (see docs/benchmarks.md, "Method"). */
  readonly fleetNice: number;
}

interface FirstFrame {
  type: 'firstFrame';
  ms: number;
  importMs: number;
  settledMs: number;
}
interface StreamDone {
  type: 'streamDone';
  latencies: number[];
  latencyKinds: Record<string, number>;
  keys: number[];
  /** Per key press, the ms of GC pauses within it. */
  keyGcMs: number[];
  publishes: number;
  frames: number;
  inkRenderMs: number[];
  eventLoopDelayP99Ms: number;
  eventLoopDelayMaxMs: number;
  rss: number;
  memory: NodeJS.MemoryUsage;
}
interface DriverDone {
  type: 'done';
  sent: number;
  errors: number;
  lastError: string;
  rpcMs: number[];
  achievedRate: number;
}

/** Checks `hvctl status --json` output: every node up, every VM there and running. */
function completeness(topology: Topology, nodes: number, vms: number): string | undefined {
  const { health } = topology;
  if (health.nodesUp !== nodes) return `${health.nodesUp}/${nodes} nodes up`;
  if (topology.vms.length !== vms) return `${topology.vms.length}/${vms} VMs listed`;
  if (health.vmsRunning !== vms) return `${health.vmsRunning}/${vms} VMs running`;
  return undefined;
}

/** The fan-in figures at one scale: status --json, first frame, event latency, RSS, keypress. */
export async function faninAt(ctx: SuiteContext, options: FaninOptions): Promise<void> {
  const n = options.hypervisors;
  const name = (figureName: string): string => `fanin.${n}.${figureName}`;
  const dir = join(ctx.workDir, `fanin-${n}`);
  await mkdir(dir, { recursive: true });
  ctx.log(`fan-in at ${n} hypervisors x ${VMS_PER_NODE} VMs: starting the bench lab`);
  let lab: BenchLab | undefined;
  let probe: ChildProcess | undefined;
  let driver: ChildProcess | undefined;
  try {
    lab = await startBenchLab({ dir, hypervisors: n, vmsPerNode: VMS_PER_NODE, nice: options.fleetNice });
    const nodes = lab.plan.nodes.length;
    const vms = lab.plan.vms;
    ctx.log(
      `  ${nodes} agents (${n} hypervisors + ${lab.plan.witnesses} witnesses) in ${lab.hostPids.length} host processes, ${vms} VMs: ` +
        `agents up in ${round(lab.startMs / 1000)} s, converged in ${round(lab.convergeMs / 1000)} s`,
    );
    const scale = { family: '', scale: n };

    // ---- hvctl status --json -------------------------------------------------------------
    const statusS: number[] = [];
    let statusBytes = 0;
    let incomplete: string | undefined;
    for (let run = 0; run < options.statusRuns; run += 1) {
      const result = await runHvctl(['--cluster', lab.clusterPath, 'status', '--json'], { timeoutMs: 60_000, env: ctx.consoleEnv, stdoutFile: join(dir, 'status.json') });
      statusS.push(result.wallMs / 1000);
      try {
        if (result.code !== 0) throw new Error(`exit ${result.code}: ${result.stderr.trim().slice(-200)}`);
        incomplete ??= completeness(JSON.parse(result.stdout) as Topology, nodes, vms);
        statusBytes = Buffer.byteLength(result.stdout);
      } catch (error) {
        incomplete ??= (error as Error).message;
      }
    }
    ctx.report(
      figure({
        name: name('status-json'),
        unit: 's',
        samples: statusS,
        target: FANIN_TARGETS.statusJsonS,
        ...(incomplete ? { invalid: `incomplete output: ${incomplete}` } : {}),
        note: 'spawn of `hvctl --cluster FILE status --json > FILE` to exit, output checked complete',
        ...scale,
        family: 'status-json',
      }),
    );
    // The same command into a pipe, as `hvctl status --json | jq` would run it.
    const expectedBytes = statusBytes;
    const piped = await runHvctl(['--cluster', lab.clusterPath, 'status', '--json'], { timeoutMs: 60_000, env: ctx.consoleEnv });
    ctx.report(
      figure({
        name: name('status-json.pipe-complete'),
        unit: '%',
        samples: [expectedBytes ? (100 * Buffer.byteLength(piped.stdout)) / expectedBytes : Number.NaN],
        target: { op: '>=', limit: 100 },
        note: `bytes a pipe received of the ${expectedBytes.toLocaleString('en-US')} the same command writes to a file`,
      }),
    );

    // ---- first complete frame --------------------------------------------------------------
    const frameS: number[] = [];
    const settledS: number[] = [];
    for (let run = 0; run < options.frameRuns; run += 1) {
      const spawnedAtMs = Date.now();
      const logFile = join(dir, `console-${run + 1}.log`);
      const child = spawnChild('console-probe', [JSON.stringify({ clusterPath: lab.clusterPath, spawnedAtMs, expect: { nodes, vms }, ...(ctx.consoleDist ? { consoleDist: ctx.consoleDist } : {}) })], { logFile, env: ctx.consoleEnv });
      probe = child;
      const first = await nextMessage<FirstFrame>(child, 'firstFrame', 60_000, logFile);
      frameS.push(first.ms / 1000);
      settledS.push(first.settledMs / 1000);
      if (run < options.frameRuns - 1) {
        await stopChild(child);
        probe = undefined;
      }
    }
    ctx.report(
      figure({
        name: name('first-frame'),
        unit: 's',
        samples: frameS,
        target: FANIN_TARGETS.firstFrameS,
        note: `process spawn to the first frame showing ${nodes} nodes up and ${vms} VMs running; model settled at median ${round(summarise(settledS).median)} s`,
        ...scale,
        family: 'first-frame',
      }),
    );
    if (!probe) throw new Error('no console left for the stream measurement');

    // ---- steady stream of changes ----------------------------------------------------------
    const driverLog = join(dir, 'driver.log');
    driver = spawnChild('change-driver', [JSON.stringify({ clusterPath: lab.clusterPath, rate: CHANGES_PER_SECOND, durationMs: options.streamMs })], { logFile: driverLog });
    await nextMessage(driver, 'ready', 30_000, driverLog);
    const consolePid = probe.pid as number;
    const rss = sampleRss(() => [consolePid], 200);
    const consoleCpu0 = cpuSeconds(consolePid);
    const hostCpu0 = lab.hostPids.map(cpuSeconds);
    const machine0 = machineCpu();
    const wall0 = performance.now();
    const streamDone = nextMessage<StreamDone>(probe, 'streamDone', options.streamMs + 60_000);
    const driverDone = nextMessage<DriverDone>(driver, 'done', options.streamMs + 60_000, driverLog);
    probe.send({ type: 'stream', durationMs: options.streamMs, keyEveryMs: options.keyEveryMs });
    driver.send({ type: 'go' });
    let profiles: Promise<unknown> = Promise.resolve();
    if (ctx.profile) {
      // Profile the middle of the stream: the console and every host process.
      await sleep(Math.min(2000, options.streamMs / 4));
      const ms = Math.min(8000, options.streamMs / 2);
      const consoleFile = join(ctx.profileDir, `fanin-${n}-console.cpuprofile`);
      const consoleProfiled = nextMessage(probe, 'profiled', ms + 30_000);
      probe.send({ type: 'profile', ms, file: consoleFile });
      profiles = Promise.all([consoleProfiled, lab.profile(ms, ctx.profileDir, `fanin-${n}-fleet`)]);
    }
    const [stream, load] = await Promise.all([streamDone, driverDone, profiles]);
    const wallS = (performance.now() - wall0) / 1000;
    const consoleCpuPercent = (100 * (cpuSeconds(consolePid) - consoleCpu0)) / wallS;
    const fleetCpuPercent = (100 * lab.hostPids.reduce((sum, pid, i) => sum + cpuSeconds(pid) - (hostCpu0[i] as number), 0)) / wallS;
    const machinePercent = machineBusyPercent(machine0, machineCpu());
    const peakRss = rss.stop().get(consolePid) ?? Number.NaN;
    const rate = load.achievedRate;
    const conditions =
      `${round(rate)} changes/s driven (${load.errors} errors), console CPU ${round(consoleCpuPercent)}%, simulated fleet ${round(fleetCpuPercent)}%, machine ${round(machinePercent)}% of 2 cores; ` +
      `${round(stream.publishes / wallS)} snapshots/s, ${round(stream.frames / wallS)} frames/s`;
    ctx.log(`  stream: ${conditions}; event-loop delay p99 ${round(stream.eventLoopDelayP99Ms)} ms; memory ${Object.entries(stream.memory).map(([k, v]) => `${k} ${round(v / 1e6)} MB`).join(', ')}`);
    if (load.errors) ctx.log(`  driver errors: ${load.errors} (last: ${load.lastError})`);
    const invalid = rate < CHANGES_PER_SECOND * 0.9 ? `the driver reached only ${round(rate)} changes/s` : undefined;
    const latencyNote = `from the agent's sentUnixMs to ClusterModel's publish, ${stream.latencies.length} deltas (${Object.entries(stream.latencyKinds)
      .map(([kind, count]) => `${count} ${kind}`)
      .join(', ')}); ${conditions}`;
    ctx.report(
      figure({
        name: name('event-latency.p50'),
        unit: 'ms',
        samples: stream.latencies,
        target: FANIN_TARGETS.eventP50Ms,
        ...(invalid ? { invalid } : {}),
        note: latencyNote,
        ...scale,
        family: 'event-latency-p50',
      }),
    );
    ctx.report(
      figure({
        name: name('event-latency.p99'),
        unit: 'ms',
        samples: stream.latencies,
        target: FANIN_TARGETS.eventP99Ms,
        use: 'p99',
        ...(invalid ? { invalid } : {}),
        ...scale,
        family: 'event-latency-p99',
      }),
    );
    ctx.report(
      figure({
        name: name('console-rss'),
        unit: 'MB',
        samples: [peakRss],
        target: FANIN_TARGETS.consoleRssMB,
        use: 'max',
        note: `peak VmRSS of the console process over the stream (sampled every 200 ms); at the end ${round(stream.rss / 1e6)} MB`,
        ...scale,
        family: 'console-rss',
      }),
    );
    const keys = stream.keys.map((ms) => (Number.isFinite(ms) ? ms : 2000));
    const slowest = keys
      .map((ms, index) => ({ ms, gc: stream.keyGcMs[index] ?? 0 }))
      .sort((a, b) => b.ms - a.ms)
      .slice(0, 3)
      .map(({ ms, gc }) => `${round(ms)} (GC ${round(gc)})`);
    ctx.report(
      figure({
        name: name('keypress-frame'),
        unit: 'ms',
        samples: keys,
        target: FANIN_TARGETS.keypressMs,
        use: 'p99',
        ...(stream.keys.some((ms) => !Number.isFinite(ms)) ? { invalid: 'a key press got no frame within 2 s' } : {}),
        note: `j/k every ${options.keyEveryMs} ms while the stream runs, to the first frame with the moved selection; Ink render ${round(summarise(stream.inkRenderMs).median)} ms median per frame; slowest presses ${slowest.join(', ')} ms, GC pauses inside each in parentheses; ${keys.filter((ms) => !meets(ms, FANIN_TARGETS.keypressMs)).length} of ${keys.length} presses over the target`,
        ...scale,
        family: 'keypress-frame',
      }),
    );
  } catch (error) {
    ctx.report(failed(name('suite'), '', error));
  } finally {
    await Promise.all([probe ? stopChild(probe) : undefined, driver ? stopChild(driver) : undefined]);
    await lab?.stop();
  }
}
