import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRunner, silentLogger } from '@hvctl/common';
import { fakeDomain, fakePeer, fakeResource } from '@hvctl/common/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootReconcile } from './boot-reconcile.js';
import { parseBirdFragment, renderBirdFragment, type AnnouncementRecord } from './drivers/real/routing/bird-config.js';
import { RealRoutingDriver } from './drivers/real/routing/driver.js';
import { parseIpRoutes } from './drivers/real/routing/parse-ip-route.js';
import { startFakeToolAgent } from './drivers/real/testing/fake-agent.js';
import { fakeToolbox, requireRoot, requireTool, sh, type FakeToolbox } from './drivers/real/testing/fake-tools.js';

const BIRD = '/usr/sbin/bird';
const BIRDC = '/usr/sbin/birdc';
const IP = '/usr/sbin/ip';
const skip = requireTool(BIRD, 'bird2') ?? requireTool(IP, 'iproute2') ?? requireRoot('the boot reconcile test');
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const BLOCK = '203.0.113.0/24';
/** What a node announced before it crashed: the public block, web-1 (still runs) and db-1 (moved away by a failover). */
const STALE: AnnouncementRecord[] = [
  { prefix: BLOCK, kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceUnixMs: 1 },
  { prefix: '10.20.0.11/32', kind: 'ANNOUNCEMENT_KIND_VM', vm: 'web-1', sinceUnixMs: 1 },
  { prefix: '10.20.0.12/32', kind: 'ANNOUNCEMENT_KIND_VM', vm: 'db-1', sinceUnixMs: 1 },
];
const kvm = { list: async () => [fakeDomain('web-1'), fakeDomain('db-1', { state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'crashed' })] };

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > end) return value;
    await wait(200);
  }
}

// A node whose BIRD boots from the include file that survived its crash (as in issue #16:
// upstream preferred the rebooted node for prefixes it no longer ran). `node` and `edge`
// (the upstream, importing everything into its kernel table) in network namespaces.
describe.skipIf(skip)(`boot reconcile with BIRD in network namespaces${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const id = `${(process.pid + 7) % 100000}`;
  const ns = { node: `hvctl-b${id}-node`, edge: `hvctl-b${id}-edge` };
  const veth = { node: `hvb${id}n`, edge: `hvb${id}e` };
  let dir: string;
  const birds: ChildProcess[] = [];
  const edgeRoutes = async (): Promise<string[]> =>
    parseIpRoutes(sh(IP, ['-n', ns.edge, '-j', 'route', 'show']))
      // (OSPF also carries the link network 10.98.0.0/30: not an announcement)
      .filter((route) => route.protocol === 'bird' && !route.prefix.startsWith('10.98.'))
      .map((route) => route.prefix)
      .sort();

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-boot-'));
    sh(IP, ['netns', 'add', ns.node]);
    sh(IP, ['netns', 'add', ns.edge]);
    sh(IP, ['link', 'add', veth.node, 'type', 'veth', 'peer', 'name', veth.edge]);
    sh(IP, ['link', 'set', veth.node, 'netns', ns.node]);
    sh(IP, ['link', 'set', veth.edge, 'netns', ns.edge]);
    sh(IP, ['-n', ns.node, 'addr', 'add', '10.98.0.1/30', 'dev', veth.node]);
    sh(IP, ['-n', ns.edge, 'addr', 'add', '10.98.0.2/30', 'dev', veth.edge]);
    for (const [space, link] of [[ns.node, veth.node], [ns.edge, veth.edge]] as const) {
      sh(IP, ['-n', space, 'link', 'set', link, 'up']);
      sh(IP, ['-n', space, 'link', 'set', 'lo', 'up']);
    }
    await writeFile(
      join(dir, 'node.conf'),
      `log "${join(dir, 'node.log')}" all;
router id 10.98.0.1;
include "${join(dir, 'hvctl.conf')}";
protocol device {}
protocol ospf v2 ospf1 { ipv4 { import all; export filter hvctl_ospf_export; }; area 0 { interface "${veth.node}" { type ptp; hello 1; dead 3; }; }; }
protocol bgp upstream { local 10.98.0.1 as 65001; neighbor 10.98.0.2 as 65000; hold time 6; connect delay time 1; connect retry time 2;
  ipv4 { import all; export filter hvctl_bgp_export; }; }
`,
    );
    await writeFile(
      join(dir, 'edge.conf'),
      `log "${join(dir, 'edge.log')}" all;
router id 10.98.0.2;
protocol device {}
protocol kernel { ipv4 { export all; }; }
protocol ospf v2 ospf1 { ipv4 { import all; export none; }; area 0 { interface "${veth.edge}" { type ptp; hello 1; dead 3; }; }; }
protocol bgp node { local 10.98.0.2 as 65000; neighbor 10.98.0.1 as 65001; hold time 6; connect delay time 1; connect retry time 2;
  ipv4 { import all; export none; }; }
`,
    );
    // The include file as the crash left it; BIRD boots from it, as a host's boot would start it.
    await writeFile(join(dir, 'hvctl.conf'), renderBirdFragment(STALE));
    for (const name of ['node', 'edge'] as const) {
      birds.push(spawn(IP, ['netns', 'exec', ns[name], BIRD, '-f', '-c', join(dir, `${name}.conf`), '-s', join(dir, `${name}.ctl`)], { stdio: 'ignore' }));
    }
    for (let i = 0; i < 100 && !(existsSync(join(dir, 'node.ctl')) && existsSync(join(dir, 'edge.ctl'))); i += 1) await wait(50);
  });

  afterAll(async () => {
    for (const bird of birds) bird.kill('SIGTERM');
    await wait(200);
    for (const bird of birds) if (bird.exitCode === null) bird.kill('SIGKILL');
    for (const space of [ns.node, ns.edge]) {
      try {
        sh(IP, ['netns', 'del', space]);
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  });

  it('withdraws the /32 of a VM that does not run here and the public block without quorum; keeps the rest', async () => {
    // Given the rebooted node's BIRD announces all it announced before the crash
    const all = ['10.20.0.11/32', '10.20.0.12/32', BLOCK];
    expect(await until(edgeRoutes, (routes) => all.every((prefix) => routes.includes(prefix)), 20_000)).toEqual(all);
    const routing = new RealRoutingDriver({ runner: new ProcessRunner(), birdc: BIRDC, ip: IP, socket: join(dir, 'node.ctl'), includeFile: join(dir, 'hvctl.conf'), node: 'msk-1', netns: ns.node });

    // When the agent starts: web-1 runs here, db-1 does not; DRBD is up but has no quorum yet
    const drbd = { list: async () => [fakeResource('web-1', { quorum: false, peers: [fakePeer('spb-1', { connectionState: 'Connecting' })] })] };
    const report = await bootReconcile({ routing, kvm, drbd, logger: silentLogger() });

    // Then db-1's /32 and the public block are withdrawn, each with its reason
    expect(report.withdrawn).toEqual([
      { prefix: '10.20.0.12/32', reason: 'db-1 does not run here' },
      { prefix: BLOCK, reason: 'public block: no quorum yet for web-1' },
    ]);
    expect(report.kept).toEqual(['10.20.0.11/32']);
    // And the include file and the upstream agree: only web-1's /32 is left
    expect(parseBirdFragment(await readFile(join(dir, 'hvctl.conf'), 'utf8')).map((record) => record.prefix)).toEqual(['10.20.0.11/32']);
    expect(await until(edgeRoutes, (routes) => routes.length === 1, 15_000)).toEqual(['10.20.0.11/32']);
  });
});

// The agent runs it at start, before it serves: real drivers, fake tools (BIRD not running).
describe('an agent with real drivers starting from a stale include file', () => {
  let box: FakeToolbox;

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-boot-agent-');
  });
  afterAll(async () => {
    await box.cleanup();
  });

  it('rewrites the include file before it serves, keeping nothing it does not run', async () => {
    // Given an include file from before a crash, and a host with no domain running and no DRBD resource up
    await box.set('hvctl.conf', renderBirdFragment(STALE));
    // When the agent starts
    const agent = await startFakeToolAgent(box);
    try {
      // Then the file announces nothing any more (BIRD reads it when it starts)
      expect(parseBirdFragment(await readFile(join(box.dir, 'hvctl.conf'), 'utf8'))).toEqual([]);
      // And the event log says what was withdrawn and why
      const messages = agent.context.hub.state().log.map((line) => line.message);
      expect(messages).toEqual(
        expect.arrayContaining([
          'start-up: withdrew 203.0.113.0/24 (public block: no replicated DRBD resource is up to confirm quorum)',
          'start-up: withdrew 10.20.0.12/32 (db-1 does not run here)',
          'start-up: BIRD is not running; it reads the rewritten include file when it starts',
        ]),
      );
    } finally {
      await agent.stop(500);
    }
  });
});
