import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isSafePrefix, parseBirdFragment, renderBirdFragment, type AnnouncementRecord } from './bird-config.js';
import {
  birdVersionOf,
  configureOutcome,
  ospfNeighborUp,
  parseBirdProtocols,
  parseBirdProtocolsAll,
  parseBirdRoutes,
  parseOspfNeighbors,
} from './parse-bird.js';
import { IpRouteFormatError, parseIpRoutes } from './parse-ip-route.js';

const fixture = (name: string): string => readFileSync(new URL(`./__fixtures__/${name}`, import.meta.url), 'utf8');

describe('BIRD 2.0.12 output (captured in network namespaces)', () => {
  it('show protocols: a long name pushes the columns; BGP info with its last error', () => {
    const protocols = parseBirdProtocols(fixture('bird-show-protocols-bgp-down.captured.txt'));
    expect(protocols.map((p) => p.name)).toEqual(['hvctl_vms', 'hvctl_public', 'device1', 'direct1', 'ospf1', 'upstream']);
    expect(protocols[1]).toEqual({ name: 'hvctl_public', proto: 'Static', table: 'master4', state: 'up', since: '15:28:38.528', info: '' });
    expect(protocols[4]).toMatchObject({ proto: 'OSPF', info: 'Running' });
    expect(protocols[5]).toEqual({ name: 'upstream', proto: 'BGP', table: '---', state: 'start', since: '15:28:55.853', info: 'Active        Received: Administrative shutdown' });
    expect(birdVersionOf(fixture('bird-show-protocols.captured.txt'))).toBe('2.0.12');
  });

  it('show protocols with `timeformat protocol iso long` (a space in Since)', () => {
    const protocols = parseBirdProtocols(fixture('bird-show-protocols-iso.captured.txt'));
    expect(protocols.find((p) => p.name === 'msk1')).toEqual({ name: 'msk1', proto: 'BGP', table: '---', state: 'up', since: '2026-11-23 15:28:43', info: 'Established' });
    expect(parseBirdProtocols(fixture('bird-show-protocols-disabled.captured.txt')).find((p) => p.name === 'msk1')).toMatchObject({ state: 'down', info: '' });
  });

  it('show protocols all: details per protocol', () => {
    const all = parseBirdProtocolsAll(fixture('bird-show-protocols-all.captured.txt'));
    const bgp = all.find((p) => p.name === 'upstream');
    expect(bgp?.details).toMatchObject({ 'BGP state': 'Established', 'Neighbor address': '10.99.0.2', 'Neighbor AS': '65000', 'Local AS': '65001', 'Output filter': 'hvctl_bgp_export' });
    expect(all.find((p) => p.name === 'hvctl_vms')?.details['Routes']).toBe('1 imported, 0 exported, 1 preferred');
    const down = parseBirdProtocolsAll(fixture('bird-show-protocols-all-bgp-down.captured.txt'))[0];
    expect(down?.details).toMatchObject({ 'BGP state': 'Active', 'Last error': 'Received: Administrative shutdown', State: 'DOWN' });
  });

  it('show route: primary flags, further routes for a prefix, blackholes, OSPF E2 metrics', () => {
    const routes = parseBirdRoutes(fixture('bird-show-route.captured.txt'));
    expect(routes.map((r) => [r.prefix, r.type, r.protocol, r.primary, r.device ?? null])).toEqual([
      ['10.20.0.11/32', 'blackhole', 'hvctl_vms', true, null],
      ['203.0.113.0/24', 'blackhole', 'hvctl_public', true, null],
      ['10.99.0.0/30', 'unicast', 'direct1', true, 'hvx-va'],
      ['10.99.0.0/30', 'unicast', 'ospf1', false, 'hvx-va'],
    ]);
    const upstream = parseBirdRoutes(fixture('bird-show-route-upstream-iso.captured.txt'));
    expect(upstream[0]).toEqual({
      table: 'master4',
      prefix: '10.20.0.11/32',
      type: 'unicast',
      protocol: 'ospf1',
      since: '2026-11-23 15:28:44',
      primary: true,
      ospfType: 'E2',
      preference: 150,
      metric: 10,
      extra: '10.99.0.1',
      gateway: '10.99.0.1',
      device: 'hvx-vb',
      attributes: {},
    });
    expect(upstream[1]).toMatchObject({ prefix: '203.0.113.0/24', protocol: 'msk1', extra: 'AS65001i', gateway: '10.99.0.1' });
  });

  it('show route from docs/reference/tools.md (BGP AS path, OSPF I, direct dev lo)', () => {
    const routes = parseBirdRoutes(fixture('bird-show-route-tools-md.captured.txt'));
    expect(routes.map((r) => [r.prefix, r.protocol, r.primary, r.ospfType ?? '', r.metric ?? null])).toEqual([
      ['10.123.2.0/24', 'peer2', true, '', null],
      ['10.255.0.2/32', 'ospf1', true, 'I', 10],
      ['10.255.0.1/32', 'direct1', true, '', null],
      ['10.255.0.1/32', 'ospf1', false, 'I', 0],
      ['10.123.1.0/24', 'announce', true, '', null],
    ]);
  });

  it('show route all: attribute lines', () => {
    const text = 'BIRD 2.0.12 ready.\nTable master4:\n10.123.2.0/24        unicast [peer2 13:30:00.410] * (100) [AS65002i]\n\tvia 10.99.0.2 on btv1\n\tType: BGP univ\n\tBGP.origin: IGP\n\tBGP.as_path: 65002\n';
    expect(parseBirdRoutes(text)[0]?.attributes).toEqual({ Type: 'BGP univ', 'BGP.origin': 'IGP', 'BGP.as_path': '65002' });
  });

  it('show ospf neighbors', () => {
    expect(parseOspfNeighbors(fixture('bird-show-ospf-neighbors.captured.txt'))).toEqual([
      { instance: 'ospf1', routerId: '10.99.0.2', priority: 1, state: 'Full/PtP', deadTime: '2.712', interface: 'hvx-va', routerIp: '10.99.0.2' },
    ]);
    expect(ospfNeighborUp('Full/PtP')).toBe(true);
    expect(ospfNeighborUp('Init/PtP')).toBe(false);
  });

  it('configure / configure check outcomes', () => {
    expect(configureOutcome(fixture('bird-configure-ok.captured.txt'))).toEqual({ ok: true, message: 'Reconfigured' });
    expect(configureOutcome(fixture('bird-configure-check-ok.captured.txt'))).toEqual({ ok: true, message: 'Configuration OK' });
    expect(configureOutcome(fixture('bird-configure-check-error.captured.txt'))).toEqual({ ok: false, message: '/tmp/hvx/hvctl.conf:1:53 syntax error, unexpected CF_SYM_UNDEFINED' });
  });
});

describe('ip -j route (iproute2 6.1)', () => {
  it('restores /32 on host routes and reads multipath, blackhole and missing fields', () => {
    const routes = parseIpRoutes(fixture('ip-route-tools-md.captured.json'));
    expect(routes.map((r) => [r.prefix, r.type, r.protocol, r.gateway ?? null, r.metric])).toEqual([
      ['default', 'unicast', 'boot', '192.0.2.1', 0],
      ['10.99.0.0/30', 'unicast', 'kernel', null, 0],
      ['10.123.2.0/24', 'unicast', 'bird', '10.99.0.2', 32],
      ['10.200.0.0/24', 'blackhole', 'boot', null, 0],
      ['10.202.0.0/24', 'unicast', 'boot', null, 0],
      ['10.203.0.0/24', 'unreachable', 'boot', null, 0],
      ['10.255.0.2/32', 'unicast', 'bird', '10.99.0.2', 32],
      ['10.98.0.0/24', 'unicast', 'kernel', null, 0],
    ]);
    expect(routes[4]?.nexthops).toEqual([
      { gateway: '10.99.0.2', device: 'btv1', weight: 1 },
      { gateway: '10.99.0.2', device: 'btv1', weight: 2 },
    ]);
    expect(parseIpRoutes(fixture('ip-route-upstream.captured.json'))[0]).toMatchObject({ prefix: '10.20.0.11/32', protocol: 'bird' });
  });

  it('rejects the lone "[" printed on an error (exit 2)', () => {
    expect(() => parseIpRoutes(fixture('ip-route-table-missing.captured.stdout'))).toThrow(IpRouteFormatError);
  });
});

describe('the BIRD include file hvctl owns', () => {
  const records: AnnouncementRecord[] = [
    { prefix: '203.0.113.0/24', kind: 'ANNOUNCEMENT_KIND_BGP', vm: '', sinceUnixMs: 2 },
    { prefix: '10.20.0.11/32', kind: 'ANNOUNCEMENT_KIND_VM', vm: 'web-1', sinceUnixMs: 1 },
  ];

  it('renders both static protocols, the filters and the records, and reads them back', () => {
    const text = renderBirdFragment(records);
    expect(text).toContain('protocol static hvctl_vms {\n  ipv4;\n  route 10.20.0.11/32 blackhole;\n}');
    expect(text).toContain('protocol static hvctl_public {\n  ipv4;\n  route 203.0.113.0/24 blackhole;\n}');
    expect(text).toContain('filter hvctl_bgp_export { if proto = "hvctl_public" then accept; reject; }');
    expect(parseBirdFragment(text)).toEqual([records[1], records[0]]);
  });

  it('routes VM /32s via an interface when configured', () => {
    const text = renderBirdFragment(records, { vmProtocol: 'hvctl_vms', publicProtocol: 'hvctl_public', ospfExportFilter: 'a', bgpExportFilter: 'b', vmInterface: 'br0' });
    expect(text).toContain('route 10.20.0.11/32 via "br0";');
  });

  it('never writes anything but a canonical prefix or a symbol', () => {
    expect(isSafePrefix('10.0.0.1/32')).toBe(true);
    for (const bad of ['10.0.0.1', '10.0.0.1/33', '300.0.0.0/8', '10.0.0.0/8; }', '10.0.0.0/8\nprotocol']) expect(isSafePrefix(bad)).toBe(false);
    expect(() => renderBirdFragment([{ prefix: '10.0.0.0/8; } protocol x {', kind: 'ANNOUNCEMENT_KIND_VM', vm: '', sinceUnixMs: 0 }])).toThrow(/refusing/);
    expect(() => renderBirdFragment([], { vmProtocol: 'x"; y', publicProtocol: 'p', ospfExportFilter: 'a', bgpExportFilter: 'b' })).toThrow(/symbol/);
    // A VM name with a newline stays inside the JSON comment.
    const text = renderBirdFragment([{ prefix: '10.0.0.1/32', kind: 'ANNOUNCEMENT_KIND_VM', vm: 'a\nprotocol evil {}', sinceUnixMs: 0 }]);
    expect(text.split('\n').some((line) => line.startsWith('protocol evil'))).toBe(false);
  });

  it('an absent or foreign file has no records', () => {
    expect(parseBirdFragment('')).toEqual([]);
    expect(parseBirdFragment('# hvctl-state: not json')).toEqual([]);
  });
});
