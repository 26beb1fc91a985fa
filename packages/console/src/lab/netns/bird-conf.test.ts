import { describe, expect, it } from 'vitest';
import type { KernelRoute } from '@hvctl/agent';
import { birdSymbol, renderNodeBirdConf, renderUpstreamBirdConf } from './bird-conf.js';
import { expectedUpstreamRoutes, routesNotYetAsExpected } from './lab-netns.js';
import { planNetns, routerOf } from './plan.js';

const plan = planNetns({ dir: '/tmp/hvctl-lab-test' });

/** The body of `protocol KIND NAME { … }` (top-level braces balanced). */
function protocolBlock(conf: string, header: string): string {
  const start = conf.indexOf(`${header} {`);
  if (start < 0) throw new Error(`no "${header}" in:\n${conf}`);
  let depth = 0;
  for (let i = conf.indexOf('{', start); i < conf.length; i += 1) {
    if (conf[i] === '{') depth += 1;
    if (conf[i] === '}' && --depth === 0) return conf.slice(start, i + 1);
  }
  throw new Error(`unbalanced braces after "${header}"`);
}

describe("a lab node's bird.conf", () => {
  const conf = renderNodeBirdConf(plan, routerOf(plan, 'msk-1'));

  it("includes the agent's file before the protocols that use its filters, with the node's router id", () => {
    expect(conf).toContain(`router id 10.77.255.1;`);
    const include = conf.indexOf('include "/tmp/hvctl-lab-test/netns/msk-1/hvctl.conf";');
    expect(include).toBeGreaterThan(0);
    expect(include).toBeLessThan(conf.indexOf('protocol ospf'));
    expect(conf).toContain('log "/tmp/hvctl-lab-test/netns/msk-1/bird.log"');
  });

  it('runs OSPF on the site and wan links only (never the uplink), exporting the VM /32s', () => {
    const ospf = protocolBlock(conf, 'protocol ospf v2 mesh');
    expect(ospf).toContain('export filter hvctl_ospf_export;');
    expect(ospf).toContain('interface "to-msk-2" { type ptp; cost 10;');
    expect(ospf).toContain('interface "to-spb-1" { type ptp; cost 50;');
    expect(ospf).not.toContain('to-upstream');
  });

  it("speaks eBGP from its site's AS to upstream over the uplink, exporting only what this node announces", () => {
    const bgp = protocolBlock(conf, 'protocol bgp upstream');
    expect(bgp).toContain('local 10.77.11.1 as 65001;');
    expect(bgp).toContain('neighbor 10.77.11.2 as 65000;');
    expect(bgp).toContain('import none; export filter hvl_to_upstream;');
    expect(conf).toContain('filter hvl_to_upstream { if proto = "hvctl_public" || proto = "hvctl_vms" then accept; reject; }');
  });

  it('gives spb nodes their own AS and their own links', () => {
    const spb2 = renderNodeBirdConf(plan, routerOf(plan, 'spb-2'));
    expect(protocolBlock(spb2, 'protocol bgp upstream')).toContain('local 10.77.14.1 as 65002;');
    expect(protocolBlock(spb2, 'protocol ospf v2 mesh')).toMatch(/interface "to-spb-1".*interface "to-msk-2"/s);
  });
});

describe("upstream's bird.conf", () => {
  const conf = renderUpstreamBirdConf(plan);

  it('has one eBGP session per main-site node, imports everything into its kernel table, exports nothing', () => {
    expect(conf).toContain('router id 10.77.255.254;');
    expect(protocolBlock(conf, 'protocol kernel')).toContain('export all;');
    for (const [node, third, as] of [['msk-1', 11, 65001], ['msk-2', 12, 65001], ['spb-1', 13, 65002], ['spb-2', 14, 65002]] as const) {
      const bgp = protocolBlock(conf, `protocol bgp ${birdSymbol(node)}`);
      expect(bgp).toContain(`local 10.77.${third}.2 as 65000;`);
      expect(bgp).toContain(`neighbor 10.77.${third}.1 as ${as};`);
      expect(bgp).toContain('import all; export none;');
    }
    expect(conf).not.toContain('protocol ospf');
    expect(conf).not.toContain('include');
  });
});

describe('upstream convergence', () => {
  const announcements = {
    'msk-1': [{ prefix: '203.0.113.0/24', kind: 'ANNOUNCEMENT_KIND_BGP' as const, vm: '', sinceUnixMs: 0 }, { prefix: '10.20.0.11/32', kind: 'ANNOUNCEMENT_KIND_VM' as const, vm: 'web-1', sinceUnixMs: 0 }],
    'spb-1': [{ prefix: '203.0.113.0/24', kind: 'ANNOUNCEMENT_KIND_BGP' as const, vm: '', sinceUnixMs: 0 }],
  };
  const route = (prefix: string, gateway: string): KernelRoute => ({ prefix, type: 'unicast', gateway, protocol: 'bird', metric: 32, nexthops: [] });

  it('expects a /32 via the uplink of its node and a public block via any node announcing it', () => {
    expect(Object.fromEntries(expectedUpstreamRoutes(plan, announcements))).toEqual({ '203.0.113.0/24': ['10.77.11.1', '10.77.13.1'], '10.20.0.11/32': ['10.77.11.1'] });
  });

  it('reports the prefixes still missing or via the wrong node', () => {
    const expected = expectedUpstreamRoutes(plan, announcements);
    expect(routesNotYetAsExpected([], expected)).toEqual(['203.0.113.0/24', '10.20.0.11/32']);
    expect(routesNotYetAsExpected([route('203.0.113.0/24', '10.77.13.1'), route('10.20.0.11/32', '10.77.12.1')], expected)).toEqual(['10.20.0.11/32']);
    expect(routesNotYetAsExpected([route('203.0.113.0/24', '10.77.13.1'), route('10.20.0.11/32', '10.77.11.1')], expected)).toEqual([]);
  });
});
