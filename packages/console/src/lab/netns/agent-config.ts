import type { AnnouncementRecord, SimNodeRecord } from '@hvctl/agent';
import type { LabNodePlan, LabPlan } from '../plan.js';
import { UPSTREAM, type NetnsPlan } from './plan.js';

/** A lab plan whose main-site nodes route through their BIRD, with what each announces at start. */
export interface NetnsLabPlan {
  readonly lab: LabPlan;
  /** Node → the announcements its include file starts with (taken out of its simulated seed). */
  readonly announcements: Readonly<Record<string, readonly AnnouncementRecord[]>>;
}

/**
 * Switches the routing area of every node that has a namespace to the real driver: its
 * agent talks to its BIRD's control socket, owns the include file, reads kernel routes in
 * its namespace and names neighbours by node. The seed's announcements move into the
 * include file (the real driver's only store); DRBD, KVM, backup and host stay simulated.
 * Nodes without a namespace (the witness) are left as planned. Pure.
 */
export function routeThroughNetns(lab: LabPlan, netns: NetnsPlan): NetnsLabPlan {
  const announcements: Record<string, AnnouncementRecord[]> = {};
  const nodes = lab.nodes.map((node): LabNodePlan => {
    const router = netns.routers.find((candidate) => candidate.name === node.name && candidate.name !== UPSTREAM);
    if (!router) return node;
    announcements[node.name] = node.seed.announcements.flatMap((a): AnnouncementRecord[] =>
      a.kind === 'ANNOUNCEMENT_KIND_VM' || a.kind === 'ANNOUNCEMENT_KIND_BGP' ? [{ prefix: a.prefix, kind: a.kind, vm: a.vm, sinceUnixMs: a.sinceMs }] : [],
    );
    const seed: SimNodeRecord = { ...node.seed, announcements: [] };
    const drivers = { ...(node.agentConfig['drivers'] as Record<string, string>), routing: 'real' };
    return {
      ...node,
      seed,
      agentConfig: {
        ...node.agentConfig,
        drivers,
        routing: {
          socket: router.bird.socket,
          includeFile: router.bird.include,
          netns: router.namespace,
          peerNames: router.peerNames,
          pollMs: 1000,
          timeoutMs: 5000,
        },
      },
    };
  });
  return { lab: { ...lab, nodes }, announcements };
}
