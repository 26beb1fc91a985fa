import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProcessRunner } from '@hvctl/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRoot, requireTool, sh } from '../testing/fake-tools.js';
import { parseIpRoutes } from './parse-ip-route.js';
import { RealRoutingDriver } from './driver.js';

// A real BIRD per network namespace, joined by a veth pair: `node` (this agent's BIRD,
// OSPF + eBGP) and `edge` (the upstream: imports everything into its kernel table, so
// `ip -n edge route` shows what the node announces). Created here, deleted in afterAll.

const BIRD = '/usr/sbin/bird';
const BIRDC = '/usr/sbin/birdc';
const IP = '/usr/sbin/ip';
const skip = requireTool(BIRD, 'bird2') ?? requireTool(IP, 'iproute2') ?? requireRoot('the BIRD integration test');
const wait = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function until<T>(read: () => Promise<T>, ok: (value: T) => boolean, timeoutMs: number): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await read();
    if (ok(value) || Date.now() > end) return value;
    await wait(200);
  }
}

describe.skipIf(skip)(`RealRoutingDriver with BIRD in network namespaces${skip ? ` (skipped: ${skip})` : ''}`, () => {
  const id = `${process.pid % 100000}`;
  const ns = { node: `hvctl-t${id}-node`, edge: `hvctl-t${id}-edge` };
  const veth = { node: `hvt${id}n`, edge: `hvt${id}e` };
  let dir: string;
  const birds: ChildProcess[] = [];
  let driver: RealRoutingDriver;
  const edgeRoutes = async () => parseIpRoutes(sh(IP, ['-n', ns.edge, '-j', 'route', 'show']));

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-bird-'));
    sh(IP, ['netns', 'add', ns.node]);
    sh(IP, ['netns', 'add', ns.edge]);
    sh(IP, ['link', 'add', veth.node, 'type', 'veth', 'peer', 'name', veth.edge]);
    sh(IP, ['link', 'set', veth.node, 'netns', ns.node]);
    sh(IP, ['link', 'set', veth.edge, 'netns', ns.edge]);
    sh(IP, ['-n', ns.node, 'addr', 'add', '10.99.0.1/30', 'dev', veth.node]);
    sh(IP, ['-n', ns.edge, 'addr', 'add', '10.99.0.2/30', 'dev', veth.edge]);
    for (const [space, link] of [[ns.node, veth.node], [ns.edge, veth.edge]] as const) {
      sh(IP, ['-n', space, 'link', 'set', link, 'up']);
      sh(IP, ['-n', space, 'link', 'set', 'lo', 'up']);
    }
    const include = join(dir, 'hvctl.conf');
    await writeFile(
      join(dir, 'node.conf'),
      `log "${join(dir, 'node.log')}" all;
router id 10.99.0.1;
timeformat protocol iso long;
include "${include}";
protocol device {}
protocol direct { ipv4; interface "${veth.node}"; }
protocol ospf v2 ospf1 { ipv4 { import all; export filter hvctl_ospf_export; }; area 0 { interface "${veth.node}" { type ptp; hello 1; dead 3; }; }; }
protocol bgp upstream { local 10.99.0.1 as 65001; neighbor 10.99.0.2 as 65000; hold time 6; connect delay time 1; connect retry time 2;
  ipv4 { import all; export filter hvctl_bgp_export; }; }
`,
    );
    await writeFile(
      join(dir, 'edge.conf'),
      `log "${join(dir, 'edge.log')}" all;
router id 10.99.0.2;
protocol device {}
protocol kernel { ipv4 { export all; }; }
protocol ospf v2 ospf1 { ipv4 { import all; export none; }; area 0 { interface "${veth.edge}" { type ptp; hello 1; dead 3; }; }; }
protocol bgp msk1 { local 10.99.0.2 as 65000; neighbor 10.99.0.1 as 65001; hold time 6; connect delay time 1; connect retry time 2;
  ipv4 { import all; export none; }; }
`,
    );
    driver = new RealRoutingDriver({
      runner: new ProcessRunner(),
      birdc: BIRDC,
      ip: IP,
      socket: join(dir, 'node.ctl'),
      includeFile: include,
      node: 'msk-1',
      netns: ns.node,
      peerNames: { '10.99.0.2': 'upstream' },
    });
    // The agent writes its (empty) include file before BIRD first reads bird.conf.
    await driver.ensureIncludeFile();
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

  it('probes BIRD and sees its own static protocols', async () => {
    expect(await driver.probe()).toEqual({ available: true, driver: 'real', detail: expect.stringMatching(/^BIRD 2\.\d+\.\d+ on .*node\.ctl, announcements in .*hvctl\.conf$/) });
  });

  it('reports the BGP session and the OSPF adjacency once they are up', async () => {
    const neighbors = await until(
      () => driver.listNeighbors(),
      (list) => list.length === 2 && list.every((n) => n.up),
      12_000,
    );
    expect(neighbors).toEqual([
      { name: 'upstream', protocol: 'bgp', state: 'Established', up: true, sinceUnixMs: expect.any(Number) },
      // The OSPF neighbour's router id maps through peerNames too.
      { name: 'upstream', protocol: 'ospf', state: 'Full/PtP', up: true, sinceUnixMs: 0 },
    ]);
    expect(Math.abs(neighbors[0]!.sinceUnixMs - Date.now())).toBeLessThan(60_000);
  });

  it('announces the public block by BGP and a VM /32 by OSPF: the edge router learns both', async () => {
    // When the node announces
    const block = await driver.announce('203.0.113.0/24', 'ANNOUNCEMENT_KIND_BGP', '');
    const vm = await driver.announce('10.20.0.11/32', 'ANNOUNCEMENT_KIND_VM', 'web-1');
    expect(block).toMatchObject({ prefix: '203.0.113.0/24', kind: 'ANNOUNCEMENT_KIND_BGP', node: 'msk-1', vm: '' });
    expect(vm).toMatchObject({ prefix: '10.20.0.11/32', vm: 'web-1' });
    // Then the edge's kernel has both routes via the node
    const routes = await until(edgeRoutes, (list) => ['203.0.113.0/24', '10.20.0.11/32'].every((p) => list.some((r) => r.prefix === p)), 10_000);
    expect(routes.find((r) => r.prefix === '203.0.113.0/24')).toMatchObject({ gateway: '10.99.0.1', protocol: 'bird' });
    expect(routes.find((r) => r.prefix === '10.20.0.11/32')).toMatchObject({ gateway: '10.99.0.1', protocol: 'bird' });
    // And the node lists them as its announcements and its routes
    expect((await driver.listAnnouncements()).map((a) => a.prefix)).toEqual(['10.20.0.11/32', '203.0.113.0/24']);
    const own = await driver.listRoutes();
    expect(own.find((r) => r.prefix === '10.20.0.11/32')).toMatchObject({ protocol: 'static', local: true });
    expect(own.find((r) => r.prefix === '10.99.0.0/30')).toMatchObject({ protocol: 'kernel', local: true });
  });

  it('announcing again changes nothing; a wrong kind or prefix is refused before BIRD is touched', async () => {
    const before = await readFile(join(dir, 'hvctl.conf'), 'utf8');
    await driver.announce('10.20.0.11/32', 'ANNOUNCEMENT_KIND_VM', 'web-1');
    expect(await readFile(join(dir, 'hvctl.conf'), 'utf8')).toBe(before);
    await expect(driver.announce('10.20.0.0/24', 'ANNOUNCEMENT_KIND_VM', 'web-1')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
    await expect(driver.announce('10.20.0.1/24', 'ANNOUNCEMENT_KIND_BGP', '')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
  });

  it('withdraws the public block: the edge router loses it, the VM route stays', async () => {
    expect(await driver.withdraw('203.0.113.0/24')).toBe(true);
    expect(await driver.withdraw('203.0.113.0/24')).toBe(false);
    const routes = await until(edgeRoutes, (list) => !list.some((r) => r.prefix === '203.0.113.0/24'), 10_000);
    expect(routes.some((r) => r.prefix === '203.0.113.0/24')).toBe(false);
    expect(routes.some((r) => r.prefix === '10.20.0.11/32')).toBe(true);
  });

  it('puts the include file back when BIRD rejects the configuration', async () => {
    // Given a bird.conf that BIRD will reject on the next configure check
    const conf = join(dir, 'node.conf');
    const good = await readFile(conf, 'utf8');
    await writeFile(conf, `${good}\nprotocol bogus-thing {}\n`);
    const include = await readFile(join(dir, 'hvctl.conf'), 'utf8');
    try {
      await expect(driver.announce('198.51.100.0/24', 'ANNOUNCEMENT_KIND_BGP', '')).rejects.toMatchObject({
        code: 'FAILED_PRECONDITION',
        message: expect.stringContaining('BIRD rejected the new configuration for announce 198.51.100.0/24'),
      });
      expect(await readFile(join(dir, 'hvctl.conf'), 'utf8')).toBe(include);
    } finally {
      await writeFile(conf, good);
    }
  });

  it('says UNAVAILABLE when BIRD is not there', async () => {
    const lost = new RealRoutingDriver({ runner: new ProcessRunner(), birdc: BIRDC, ip: IP, socket: join(dir, 'nosuch.ctl'), includeFile: join(dir, 'x.conf'), node: 'msk-1' });
    await expect(lost.listNeighbors()).rejects.toMatchObject({ code: 'UNAVAILABLE' });
    expect(await lost.probe()).toMatchObject({ available: false, detail: expect.stringContaining('not reachable') });
  });
});
