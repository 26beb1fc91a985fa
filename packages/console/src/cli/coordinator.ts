import type { WorkflowSpec } from '@hvctl/proto';
import { HvctlError, failedPrecondition, type Topology } from '@hvctl/common';

/** A reachable node of a surviving main site to coordinate the failover of `lost` nodes. */
export function survivorFor(topology: Topology, lost: readonly string[]): string {
  const lostSites = new Set(topology.nodes.filter((n) => lost.includes(n.name)).map((n) => n.site));
  const partners = new Set(
    topology.resources.filter((r) => r.replicas.some((x) => lost.includes(x.node))).flatMap((r) => r.replicas.filter((x) => !x.witness).map((x) => x.node)),
  );
  const candidates = topology.nodes.filter(
    (n) => n.reachable && !lost.includes(n.name) && !lostSites.has(n.site) && topology.sites.find((s) => s.name === n.site)?.kind === 'main',
  );
  const best = candidates.find((n) => partners.has(n.name)) ?? candidates[0];
  if (!best) throw failedPrecondition('no reachable node on a surviving main site can coordinate the failover');
  return best.name;
}

/**
 * Which agent coordinates a workflow: the VM's node for a migration, the node itself for
 * a drain, undrain or failback (so a host can drain itself), a survivor for a failover.
 */
export function coordinatorFor(spec: WorkflowSpec, topology: Topology): string {
  if (spec.migrate) {
    const vm = topology.vms.find((entry) => entry.name === spec.migrate?.vm);
    if (!vm) throw new HvctlError('INVALID_ARGUMENT', `unknown VM "${spec.migrate.vm}"`);
    return vm.node;
  }
  if (spec.drain?.node) return spec.drain.node;
  if (spec.undrain?.node) return spec.undrain.node;
  if (spec.failback?.node) return spec.failback.node;
  if (spec.failover) {
    const lost = spec.failover.node ? [spec.failover.node] : topology.nodes.filter((n) => n.site === spec.failover?.site).map((n) => n.name);
    if (!lost.length) throw new HvctlError('INVALID_ARGUMENT', `unknown site "${spec.failover.site}"`);
    return survivorFor(topology, lost);
  }
  throw new HvctlError('INVALID_ARGUMENT', 'unknown workflow');
}
