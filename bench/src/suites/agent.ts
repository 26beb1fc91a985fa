import type { ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type AgentClient, createAgentClient, deadline, unary } from '@hvctl/common';
import { type GetInfoResponse__Output, type ListDomainsResponse__Output, type ListResourcesResponse__Output, loadProtos } from '@hvctl/proto';
import type { SuiteContext } from '../lib/context.js';
import { failed, figure, skipped, type Target } from '../lib/figures.js';
import { h2loadAvailable, h2loadUnary } from '../lib/h2load.js';
import { agentConfigFor, nodeNames, planBench } from '../lib/plan.js';
import { stablePorts } from '../lib/ports.js';
import { AGENT_BIN, clkTck, measuredNiceLevel, cpuSeconds, nextMessage, sampleRss, sleep, spawnChild, spawnTracked, stopChild, tail } from '../lib/procs.js';
import { round } from '../lib/stats.js';

/** Issue #6, part 2 (agent footprint). */
export const AGENT_TARGETS = {
  idleRssMB: { op: '<', limit: 80 },
  idleCpuPercent: { op: '<', limit: 1 },
  rpcP99Ms: { op: '<', limit: 5 },
} as const satisfies Record<string, Target>;

const VMS = 40;
const WATCHERS = 3;
const RPC_RATE = 500;
/**
 * The idle window starts once the agent has run this long (full run): an agent idles for
 * months, and its first half-minute is start-up (V8 shrinks the young generation it grew
 * while loading, ~100 ms of GC, 16-24 s after start). The quick run measures right after
 * start-up, so its idle figures include it.
 */
const IDLE_AFTER_MS = 45_000;

interface LoadDone {
  type: 'done';
  latencies: number[];
  errors: number;
  lastError: string;
  achievedRate: number;
  gcPauseMs: number;
  gcPausesOver2Ms: number;
}

/**
 * One real agent process (`hvctl-agent --config agent.yaml`, simulated drivers, the lab's
 * default timing) holding a bench hypervisor's load: 40 running VMs, 80 DRBD replicas (its
 * own 40 Primary, its partner's 40 Secondary), linked to its DRBD partner and the witness
 * (both in a host process), with three consoles' watch streams open.
 */
export async function agentSuite(ctx: SuiteContext): Promise<void> {
  const dir = join(ctx.workDir, 'agent');
  await mkdir(dir, { recursive: true });
  const names = nodeNames(2);
  const ports = await stablePorts(names.length + 1);
  const plan = planBench({ hypervisors: 2, vmsPerNode: VMS, linkPorts: ports.slice(0, names.length) });
  const agentAddress = `127.0.0.1:${ports[names.length]}`;
  const configs = new Map<string, string>();
  for (const node of plan.nodes) {
    const nodeDir = join(dir, 'nodes', node.name);
    await mkdir(nodeDir, { recursive: true });
    const seed = join(nodeDir, 'seed.json');
    await writeFile(seed, JSON.stringify(node.seed));
    const config = agentConfigFor(node, plan, { stateDir: join(nodeDir, 'state'), seed }, node.name === 'msk-1' ? { listen: agentAddress } : {});
    const path = join(nodeDir, 'agent.yaml');
    await writeFile(path, stringify(config));
    configs.set(node.name, path);
  }

  let agent: ChildProcess | undefined;
  let peers: ChildProcess | undefined;
  let watchers: ChildProcess | undefined;
  let startupRss: ReturnType<typeof sampleRss> | undefined;
  const client = createAgentClient(agentAddress);
  try {
    const agentLog = join(dir, 'agent.out');
    const profileArgs = ctx.profile ? ['--cpu-prof', `--cpu-prof-dir=${ctx.profileDir}`, '--cpu-prof-name=agent-idle.cpuprofile'] : [];
    const { createWriteStream } = await import('node:fs');
    agent = spawnTracked(process.execPath, [...profileArgs, AGENT_BIN, '--config', configs.get('msk-1') as string, '--insecure-lab'], { stdio: ['ignore', 'pipe', 'pipe'], nice: measuredNiceLevel() });
    const agentStarted = performance.now();
    startupRss = sampleRss(() => (agent?.pid ? [agent.pid] : []), 250);
    const out = createWriteStream(agentLog);
    agent.stdout?.pipe(out);
    agent.stderr?.pipe(out);
    const peersLog = join(dir, 'peers.log');
    peers = spawnChild('agent-host', [join(dir, 'peers.agents.log'), configs.get('spb-1') as string, configs.get('bak-1') as string], { logFile: peersLog, nice: 0 });
    await nextMessage(peers, 'ready', 60_000, peersLog);

    // Up, and every DRBD connection established.
    const until = Date.now() + 60_000;
    for (;;) {
      try {
        const { resources } = await unary<ListResourcesResponse__Output>('ListResources', (cb) => client.drbd.listResources({}, deadline(1000), cb));
        if (resources.length === 2 * VMS && resources.every((resource) => resource.peers.every((peer) => peer.connectionState === 'Connected'))) break;
      } catch {
        // not up yet
      }
      if (Date.now() > until) throw new Error(`the agent did not come up with its links within 60 s:\n${tail(agentLog)}`);
      await sleep(200);
    }

    const watchersLog = join(dir, 'watchers.log');
    watchers = spawnChild('watchers', [agentAddress, String(WATCHERS)], { logFile: watchersLog });
    await nextMessage(watchers, 'ready', 30_000, watchersLog);
    await sleep(ctx.quick ? 2000 : Math.max(2000, IDLE_AFTER_MS - (performance.now() - agentStarted)));
    const pid = agent.pid as number;
    const startupMs = performance.now() - agentStarted;
    ctx.report(
      figure({
        name: 'agent.startup-rss',
        unit: 'MB',
        samples: [startupRss.stop().get(pid) ?? Number.NaN],
        use: 'max',
        note: `peak VmRSS from spawn to the idle window (${round(startupMs / 1000)} s: start-up, links, the watchers' first snapshots); no target`,
      }),
    );

    // ---- idle: RSS and CPU ----------------------------------------------------------------
    const idleMs = ctx.quick ? 3000 : 20_000;
    const rss = sampleRss(() => [pid], 250);
    const cpuSamples: number[] = [];
    const windowMs = ctx.quick ? 1000 : 2000;
    for (let elapsed = 0; elapsed < idleMs; elapsed += windowMs) {
      const before = cpuSeconds(pid);
      const at = performance.now();
      await sleep(windowMs);
      cpuSamples.push((100 * (cpuSeconds(pid) - before)) / ((performance.now() - at) / 1000));
    }
    const peakRss = rss.stop().get(pid) ?? Number.NaN;
    const conditions = `one agent, ${VMS} VMs / ${2 * VMS} DRBD replicas, linked to its partner and witness, ${WATCHERS} watch streams open, simulated drivers at the lab's timing`;
    ctx.report(figure({ name: 'agent.idle-rss', unit: 'MB', samples: [peakRss], use: 'max', target: AGENT_TARGETS.idleRssMB, note: `peak VmRSS over ${idleMs / 1000} s idle from ${round(startupMs / 1000)} s after spawn; ${conditions}` }));
    ctx.report(
      figure({
        name: 'agent.idle-cpu',
        unit: '%',
        samples: cpuSamples,
        use: 'mean',
        target: AGENT_TARGETS.idleCpuPercent,
        note: `% of one core over ${idleMs / 1000} s idle from ${round(startupMs / 1000)} s after spawn (${cpuSamples.length} windows of ${windowMs / 1000} s; CPU time from /proc/PID/stat, ${1000 / clkTck()} ms ticks)`,
      }),
    );

    // ---- RPC latency at 500 req/s -----------------------------------------------------------
    // The third run keeps ListDomains' answers undecoded in the load generator: no target (the
    // figure above is the target's), it shows what the client's own decoding adds to the tail.
    // The diagnostic runs without targets (undecoded, h2load) are left out of --quick, a regression check.
    const runs = [
      ['getInfo', 'Node.GetInfo', false],
      ['listDomains', 'Kvm.ListDomains', false],
      ['listDomains', 'Kvm.ListDomains', true],
    ] as const;
    for (const [method, label, undecoded] of runs.filter(([, , undecoded]) => !(ctx.quick && undecoded))) {
      const durationMs = ctx.quick ? 2000 : 10_000;
      const logFile = join(dir, `load-${method}${undecoded ? '-undecoded' : ''}.log`);
      const load = spawnChild('rpc-load', [JSON.stringify({ address: agentAddress, method, rate: RPC_RATE, durationMs, warmupMs: 1000, undecoded })], { logFile });
      const cpu0 = cpuSeconds(pid);
      const at = performance.now();
      const done = await nextMessage<LoadDone>(load, 'done', durationMs + 30_000, logFile);
      const agentCpu = (100 * (cpuSeconds(pid) - cpu0)) / ((performance.now() - at) / 1000);
      await stopChild(load);
      const clientGc = `load generator's own GC ${round(done.gcPauseMs)} ms in ${done.gcPausesOver2Ms} pauses over 2 ms`;
      ctx.report(
        figure({
          name: `agent.${method === 'getInfo' ? 'getinfo' : 'listdomains'}.p99${undecoded ? '-undecoded' : ''}`,
          unit: 'ms',
          samples: done.latencies,
          use: 'p99',
          ...(undecoded ? {} : { target: AGENT_TARGETS.rpcP99Ms }),
          ...(done.errors || done.achievedRate < RPC_RATE * 0.95 ? { invalid: `${done.errors} errors (${done.lastError}), ${round(done.achievedRate)} req/s` } : {}),
          note: `${label} at ${round(done.achievedRate)} req/s open loop for ${durationMs / 1000} s after 1 s warm-up, one channel, send to answer${undecoded ? ', answers kept as bytes (not decoded); no target' : ''}; agent CPU ${round(agentCpu)}%; ${clientGc}; ${WATCHERS} watchers open`,
        }),
      );
    }
    if (!ctx.quick) for (const method of ['getInfo', 'listDomains'] as const) await rpcFromC(ctx, dir, agentAddress, client, pid, method);
  } catch (error) {
    ctx.report(failed('agent.suite', '', error));
  } finally {
    startupRss?.stop();
    client.close();
    await Promise.all([watchers ? stopChild(watchers) : undefined, peers ? stopChild(peers) : undefined]);
    // SIGTERM: the agent stops gracefully (and writes its --cpu-prof profile).
    if (agent) await stopChild(agent, 5000);
  }
}

/**
 * The same load from h2load (C, no garbage collector), answers not decoded: the agent's
 * answer time without a Node client's own pauses in it. No target (the Node client's figures
 * carry it); full runs only; skipped where h2load is not installed.
 */
async function rpcFromC(ctx: SuiteContext, dir: string, address: string, client: AgentClient, pid: number, method: 'getInfo' | 'listDomains'): Promise<void> {
  const name = `agent.${method.toLowerCase()}.p99-h2load`;
  if (!h2loadAvailable()) {
    ctx.report(skipped(name, 'ms', 'h2load not installed (Debian package nghttp2-client)'));
    return;
  }
  const { v1 } = loadProtos();
  const [label, path, answerBytes] =
    method === 'getInfo'
      ? ['Node.GetInfo', '/hvctl.v1.NodeService/GetInfo', v1.NodeService.service.GetInfo.responseSerialize(await unary<GetInfoResponse__Output>('GetInfo', (cb) => client.node.getInfo({}, deadline(5000), cb))).length]
      : ['Kvm.ListDomains', '/hvctl.v1.KvmService/ListDomains', v1.KvmService.service.ListDomains.responseSerialize(await unary<ListDomainsResponse__Output>('ListDomains', (cb) => client.kvm.listDomains({}, deadline(5000), cb))).length];
  const frameBytes = 5 + answerBytes;
  const durationMs = 10_000;
  const cpu0 = cpuSeconds(pid);
  const at = performance.now();
  const run = await h2loadUnary({ address, path, rate: RPC_RATE, durationMs, warmupMs: 1000, files: join(dir, `h2load-${method}`) });
  const agentCpu = (100 * (cpuSeconds(pid) - cpu0)) / ((performance.now() - at) / 1000);
  // GetInfo's facts (load, memory) may change the answer's length by a few bytes meanwhile.
  const complete = run.dataBytes / (run.requests * frameBytes);
  ctx.report(
    figure({
      name,
      unit: 'ms',
      samples: run.latencies,
      use: 'p99',
      ...(run.succeeded < run.requests || Math.abs(complete - 1) > 0.01
        ? { invalid: `${run.succeeded} of ${run.requests} answered 200, ${run.dataBytes} answer bytes where ${run.requests} x ${frameBytes} were expected` }
        : {}),
      note: `${label} at ${RPC_RATE} req/s from h2load (C, one connection, up to 100 streams) for ${durationMs / 1000} s after 1 s warm-up, send to answer, answers not decoded (${frameBytes} bytes each, all received); no target; agent CPU ${round(agentCpu)}%; ${WATCHERS} watchers open`,
    }),
  );
}
