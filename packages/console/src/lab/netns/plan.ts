import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { invalidArgument } from '@hvctl/common';
import { LAB_NODES, LAB_PAIRS, LAB_WITNESS } from '../plan.js';

/** Every namespace `lab up --netns` creates starts with this, then the lab's tag. */
export const NETNS_PREFIX = 'hvl-';
/** The internet's edge router: one namespace, one BIRD, a BGP session with every main-site node. */
export const UPSTREAM = 'upstream';
/** Linux limits interface names to 15 bytes (IFNAMSIZ - 1). */
export const MAX_INTERFACE_NAME = 15;
/** A unix socket path must fit sockaddr_un.sun_path (108 bytes with the NUL). */
export const MAX_SOCKET_PATH = 107;
const UPSTREAM_AS = 65000;
const FIRST_SITE_AS = 65001;

/** One end of a veth link, inside a router's namespace. */
export interface NetnsInterface {
  /** `to-<peer>`: unique inside the namespace, at most 15 characters. */
  readonly name: string;
  /** This end's address with its prefix length (10.77.1.1/30). */
  readonly cidr: string;
  readonly address: string;
  /** The router at the other end and its address there. */
  readonly peer: string;
  readonly peerAddress: string;
  /** site: inside a site (OSPF); wan: between sites (OSPF); uplink: to upstream (BGP). */
  readonly kind: 'site' | 'wan' | 'uplink';
}

/** Where a router's BIRD keeps its files (all under the lab directory). */
export interface BirdFiles {
  readonly dir: string;
  readonly config: string;
  /** The include file the node's agent owns (announcements); upstream has none. */
  readonly include: string;
  readonly socket: string;
  readonly pidFile: string;
  readonly log: string;
}

/** A lab node with BIRD, or the upstream router. */
export interface NetnsRouter {
  readonly name: string;
  readonly site: string;
  readonly namespace: string;
  readonly routerId: string;
  readonly as: number;
  readonly interfaces: readonly NetnsInterface[];
  readonly bird: BirdFiles;
  /** Every address and router id of the other routers → their name (the agent's `routing.peerNames`). */
  readonly peerNames: Readonly<Record<string, string>>;
}

/** A veth pair: `a` and `b` are router names, the subnet a /30 (.1 on a, .2 on b). */
export interface NetnsLink {
  readonly kind: NetnsInterface['kind'];
  readonly subnet: string;
  readonly a: { readonly router: string; readonly interface: string; readonly address: string };
  readonly b: { readonly router: string; readonly interface: string; readonly address: string };
}

export interface NetnsPlan {
  /** Six hex digits derived from the lab directory: two labs never share a namespace. */
  readonly tag: string;
  /** `hvl-<tag>-`: every namespace of this lab starts with it (what `lab down --force` looks for). */
  readonly prefix: string;
  /** Main-site nodes (with BIRD) first, then upstream. */
  readonly routers: readonly NetnsRouter[];
  readonly links: readonly NetnsLink[];
  /** Nodes that keep simulated routing (no namespace, no BIRD): the witness. */
  readonly simulated: readonly string[];
}

export interface NetnsPlanInput {
  readonly dir: string;
  readonly nodes?: readonly { readonly name: string; readonly site: string }[];
  /** Nodes without BIRD (they need no routes). Default: the lab's witness. */
  readonly simulated?: readonly string[];
  /** DRBD pairs across sites; each gets a wan link. */
  readonly pairs?: Readonly<Record<string, string>>;
}

/** The lab's tag: six hex digits of the lab directory's absolute path. */
export function labTag(dir: string): string {
  return createHash('sha256').update(resolve(dir)).digest('hex').slice(0, 6);
}

/** The namespace name prefix of the lab in `dir`. */
export function netnsPrefix(dir: string): string {
  return `${NETNS_PREFIX}${labTag(dir)}-`;
}

/** The directory holding every BIRD's files of the lab in `dir`. */
export const netnsDir = (dir: string): string => join(resolve(dir), 'netns');

const interfaceName = (peer: string): string => {
  const name = `to-${peer}`;
  if (Buffer.byteLength(name) > MAX_INTERFACE_NAME) throw invalidArgument(`interface name ${name} is longer than ${MAX_INTERFACE_NAME} bytes`);
  return name;
};

/**
 * Plans the network of `lab up --netns`. Pure: names, addresses and file paths only.
 *
 * Every link is a point-to-point veth pair in a /30 of 10.77.0.0/16: the nodes of a site
 * are linked with each other (10.77.1.0/30, 10.77.2.0/30, …), each DRBD pair across the
 * sites has a wan link (next /30s), and every main-site node has an uplink to `upstream`
 * (10.77.11.0/30 onwards, node .1, upstream .2). Router ids are 10.77.255.N (upstream
 * 10.77.255.254); each main site is its own AS (65001, 65002), upstream is AS 65000.
 */
export function planNetns(input: NetnsPlanInput): NetnsPlan {
  const nodes = input.nodes ?? LAB_NODES;
  const simulated = input.simulated ?? [LAB_WITNESS];
  const pairs = input.pairs ?? LAB_PAIRS;
  const root = netnsDir(input.dir);
  const tag = labTag(input.dir);
  const prefix = `${NETNS_PREFIX}${tag}-`;
  const routed = nodes.filter((node) => !simulated.includes(node.name));
  const sites = [...new Set(routed.map((node) => node.site))];

  const links: NetnsLink[] = [];
  let subnet = 1;
  const link = (kind: NetnsLink['kind'], a: string, b: string, third: number): void => {
    if (third > 250) throw invalidArgument('the lab network has too many links for 10.77.0.0/16');
    links.push({
      kind,
      subnet: `10.77.${third}.0/30`,
      a: { router: a, interface: interfaceName(b), address: `10.77.${third}.1` },
      b: { router: b, interface: interfaceName(a), address: `10.77.${third}.2` },
    });
  };
  for (const site of sites) {
    const members = routed.filter((node) => node.site === site).map((node) => node.name);
    for (let i = 0; i < members.length; i += 1) for (let j = i + 1; j < members.length; j += 1) link('site', members[i] as string, members[j] as string, subnet++);
  }
  const seen = new Set<string>();
  for (const node of routed) {
    const peer = pairs[node.name];
    if (!peer || seen.has(peer) || !routed.some((other) => other.name === peer)) continue;
    seen.add(node.name);
    link('wan', node.name, peer, subnet++);
  }
  routed.forEach((node, index) => link('uplink', node.name, UPSTREAM, 11 + index));

  const interfacesOf = (router: string): NetnsInterface[] =>
    links.flatMap((l): NetnsInterface[] => {
      if (l.a.router === router) return [{ name: l.a.interface, cidr: `${l.a.address}/30`, address: l.a.address, peer: l.b.router, peerAddress: l.b.address, kind: l.kind }];
      if (l.b.router === router) return [{ name: l.b.interface, cidr: `${l.b.address}/30`, address: l.b.address, peer: l.a.router, peerAddress: l.a.address, kind: l.kind }];
      return [];
    });
  const files = (name: string): BirdFiles => {
    const dir = join(root, name);
    const socket = join(dir, 'bird.ctl');
    if (Buffer.byteLength(socket) > MAX_SOCKET_PATH) {
      throw invalidArgument(`the BIRD control socket path ${socket} is longer than ${MAX_SOCKET_PATH} bytes`, { nextSteps: ['use a shorter lab directory (--dir /tmp/lab)'] });
    }
    return { dir, config: join(dir, 'bird.conf'), include: join(dir, 'hvctl.conf'), socket, pidFile: join(dir, 'bird.pid'), log: join(dir, 'bird.log') };
  };
  const base = [
    ...routed.map((node, index) => ({ name: node.name, site: node.site, routerId: `10.77.255.${index + 1}`, as: FIRST_SITE_AS + sites.indexOf(node.site) })),
    { name: UPSTREAM, site: UPSTREAM, routerId: '10.77.255.254', as: UPSTREAM_AS },
  ];
  const routers: NetnsRouter[] = base.map((router) => {
    const peerNames: Record<string, string> = {};
    for (const other of base) {
      if (other.name === router.name) continue;
      peerNames[other.routerId] = other.name;
      for (const iface of interfacesOf(other.name)) peerNames[iface.address] = other.name;
    }
    return { ...router, namespace: `${prefix}${router.name}`, interfaces: interfacesOf(router.name), bird: files(router.name), peerNames };
  });
  return { tag, prefix, routers, links, simulated: nodes.filter((node) => simulated.includes(node.name)).map((node) => node.name) };
}

/** The router named `name` (a node or upstream); throws for a node without BIRD. */
export function routerOf(plan: NetnsPlan, name: string): NetnsRouter {
  const router = plan.routers.find((candidate) => candidate.name === name);
  if (!router) throw invalidArgument(`${name} has no network namespace in this lab (only ${plan.routers.map((r) => r.name).join(', ')})`);
  return router;
}

/** The address `node` uses on its uplink: where upstream routes what `node` announces. */
export function uplinkAddress(plan: NetnsPlan, node: string): string {
  const uplink = routerOf(plan, node).interfaces.find((iface) => iface.kind === 'uplink');
  if (!uplink) throw invalidArgument(`${node} has no uplink`);
  return uplink.address;
}
