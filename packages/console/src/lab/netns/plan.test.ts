import { describe, expect, it } from 'vitest';
import { LAB_PAIRS, planLab } from '../plan.js';
import { routeThroughNetns } from './agent-config.js';
import { MAX_INTERFACE_NAME, labTag, planNetns, routerOf, uplinkAddress, type NetnsPlan } from './plan.js';

const DIR = '/tmp/hvctl-lab-test';

describe('planNetns: the network of `lab up --netns`', () => {
  const plan = planNetns({ dir: DIR });

  it('gives every main-site node and upstream a namespace with the lab prefix; the witness keeps simulated routing', () => {
    // Given the five-node lab; When its network is planned
    // Then four nodes and upstream get namespaces, all named hvl-<tag>-<router>, and bak-1 none
    expect(plan.tag).toMatch(/^[0-9a-f]{6}$/);
    expect(plan.prefix).toBe(`hvl-${plan.tag}-`);
    expect(plan.routers.map((router) => router.namespace)).toEqual(['msk-1', 'msk-2', 'spb-1', 'spb-2', 'upstream'].map((name) => `${plan.prefix}${name}`));
    expect(plan.simulated).toEqual(['bak-1']);
  });

  it('derives the tag from the lab directory: two labs never share namespaces, the same lab always finds its own', () => {
    expect(labTag(DIR)).toBe(plan.tag);
    expect(labTag(`${DIR}/`)).toBe(plan.tag);
    expect(labTag('/tmp/another-lab')).not.toBe(plan.tag);
  });

  it('links the nodes of a site, each DRBD pair across the sites, and every node to upstream, one /30 each', () => {
    expect(plan.links.map((link) => `${link.kind} ${link.a.router}=${link.a.address} ${link.b.router}=${link.b.address}`)).toEqual([
      'site msk-1=10.77.1.1 msk-2=10.77.1.2',
      'site spb-1=10.77.2.1 spb-2=10.77.2.2',
      'wan msk-1=10.77.3.1 spb-1=10.77.3.2',
      'wan msk-2=10.77.4.1 spb-2=10.77.4.2',
      'uplink msk-1=10.77.11.1 upstream=10.77.11.2',
      'uplink msk-2=10.77.12.1 upstream=10.77.12.2',
      'uplink spb-1=10.77.13.1 upstream=10.77.13.2',
      'uplink spb-2=10.77.14.1 upstream=10.77.14.2',
    ]);
    // Each wan link joins a DRBD pair.
    for (const link of plan.links.filter((candidate) => candidate.kind === 'wan')) expect(LAB_PAIRS[link.a.router]).toBe(link.b.router);
  });

  it('keeps every interface name within 15 bytes and unique inside its namespace', () => {
    for (const router of plan.routers) {
      const names = router.interfaces.map((iface) => iface.name);
      for (const name of names) expect(Buffer.byteLength(name)).toBeLessThanOrEqual(MAX_INTERFACE_NAME);
      expect(new Set(names).size).toBe(names.length);
    }
    expect(routerOf(plan, 'upstream').interfaces.map((iface) => iface.name)).toEqual(['to-msk-1', 'to-msk-2', 'to-spb-1', 'to-spb-2']);
    expect(routerOf(plan, 'msk-1').interfaces.map((iface) => `${iface.name} ${iface.cidr} -> ${iface.peerAddress}`)).toEqual([
      'to-msk-2 10.77.1.1/30 -> 10.77.1.2',
      'to-spb-1 10.77.3.1/30 -> 10.77.3.2',
      'to-upstream 10.77.11.1/30 -> 10.77.11.2',
    ]);
  });

  it('refuses a node name whose interface name would pass 15 bytes', () => {
    expect(() => planNetns({ dir: DIR, nodes: [{ name: 'a-very-long-node', site: 'msk' }], simulated: [] })).toThrow(/longer than 15 bytes/);
  });

  it('gives unique router ids and addresses, one AS per site, and names every peer address and router id', () => {
    const addresses = plan.routers.flatMap((router) => [router.routerId, ...router.interfaces.map((iface) => iface.address)]);
    expect(new Set(addresses).size).toBe(addresses.length);
    expect(plan.routers.map((router) => `${router.name} ${router.routerId} AS${router.as}`)).toEqual([
      'msk-1 10.77.255.1 AS65001',
      'msk-2 10.77.255.2 AS65001',
      'spb-1 10.77.255.3 AS65002',
      'spb-2 10.77.255.4 AS65002',
      'upstream 10.77.255.254 AS65000',
    ]);
    const names = routerOf(plan, 'msk-1').peerNames;
    expect(names['10.77.255.2']).toBe('msk-2');
    expect(names['10.77.3.2']).toBe('spb-1');
    expect(names['10.77.11.2']).toBe('upstream');
    expect(names['10.77.11.1']).toBeUndefined();
    expect(uplinkAddress(plan, 'spb-1')).toBe('10.77.13.1');
  });

  it('keeps every BIRD file under DIR/netns/<router>/ and refuses a socket path too long for a unix socket', () => {
    expect(routerOf(plan, 'spb-2').bird).toEqual({
      dir: `${DIR}/netns/spb-2`,
      config: `${DIR}/netns/spb-2/bird.conf`,
      include: `${DIR}/netns/spb-2/hvctl.conf`,
      socket: `${DIR}/netns/spb-2/bird.ctl`,
      pidFile: `${DIR}/netns/spb-2/bird.pid`,
      log: `${DIR}/netns/spb-2/bird.log`,
    });
    expect(() => planNetns({ dir: `/tmp/${'x'.repeat(100)}` })).toThrow(/use a shorter lab directory|longer than 107 bytes/);
  });
});

describe('routeThroughNetns: the lab plan with real routing', () => {
  const netns: NetnsPlan = planNetns({ dir: DIR });
  const ports = { grpc: { 'msk-1': 1, 'msk-2': 2, 'spb-1': 3, 'spb-2': 4, 'bak-1': 5 }, link: { 'msk-1': 6, 'msk-2': 7, 'spb-1': 8, 'spb-2': 9, 'bak-1': 10 } };
  const lab = planLab({ vms: 8, ports, nowMs: 1_000 });
  const routed = routeThroughNetns(lab, netns);

  it('switches routing to the real driver on nodes with a namespace, pointed at their BIRD; everything else stays simulated', () => {
    const msk1 = routed.lab.nodes.find((node) => node.name === 'msk-1');
    expect(msk1?.agentConfig['drivers']).toEqual({ drbd: 'sim', kvm: 'sim', routing: 'real', backup: 'sim', host: 'sim' });
    expect(msk1?.agentConfig['routing']).toMatchObject({
      socket: `${DIR}/netns/msk-1/bird.ctl`,
      includeFile: `${DIR}/netns/msk-1/hvctl.conf`,
      netns: `${netns.prefix}msk-1`,
      peerNames: expect.objectContaining({ '10.77.1.2': 'msk-2', '10.77.11.2': 'upstream' }),
    });
    const bak = routed.lab.nodes.find((node) => node.name === 'bak-1');
    expect(bak).toBe(lab.nodes.find((node) => node.name === 'bak-1'));
  });

  it("moves each node's seeded announcements into its include file and out of its simulated seed", () => {
    const seeded = lab.nodes.find((node) => node.name === 'msk-1')?.seed.announcements ?? [];
    expect(seeded.length).toBeGreaterThan(0);
    expect(routed.announcements['msk-1']).toEqual(seeded.map((a) => ({ prefix: a.prefix, kind: a.kind, vm: a.vm, sinceUnixMs: a.sinceMs })));
    expect(routed.announcements['msk-1']?.some((a) => a.prefix === '203.0.113.0/24' && a.kind === 'ANNOUNCEMENT_KIND_BGP')).toBe(true);
    expect(routed.announcements['msk-2']?.every((a) => a.kind === 'ANNOUNCEMENT_KIND_VM')).toBe(true);
    for (const node of routed.lab.nodes.filter((candidate) => candidate.name !== 'bak-1')) expect(node.seed.announcements).toEqual([]);
    // The rest of the seed (DRBD, domains) is untouched.
    expect(routed.lab.nodes[0]?.seed.resources).toBe(lab.nodes[0]?.seed.resources);
  });
});
