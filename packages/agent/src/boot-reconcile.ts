import type { Logger } from '@hvctl/common';
import type { AnnouncementRecord } from './drivers/real/routing/bird-config.js';
import type { BootRoutingOutcome } from './drivers/real/routing/driver.js';
import type { DrbdDriver, KvmDriver } from './drivers/types.js';

/** The parts of the drivers the start-up reconcile reads and changes. */
export interface BootReconcileDeps {
  /** The real routing driver: its include file survived the crash, and BIRD read it at boot. */
  readonly routing: { reconcile(keep: (record: AnnouncementRecord) => boolean): Promise<BootRoutingOutcome> };
  readonly kvm: Pick<KvmDriver, 'list'>;
  /**
   * The DRBD driver asked for quorum; undefined when there is none to ask (the public block
   * is then withdrawn), 'simulated' in a lab whose simulated DRBD links start only after the
   * agent (quorum cannot be known yet; the lab's restart empties the include file instead).
   */
  readonly drbd: Pick<DrbdDriver, 'list'> | 'simulated' | undefined;
  /** How long to wait for DRBD quorum (resources still connecting after a boot) before withdrawing the public block. */
  readonly quorumWaitMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  /** The real KVM driver's autostart flags (libvirt must never start a replicated VM by itself). */
  readonly autostart?: { autostartDomains(): Promise<string[]>; disableAutostart(name: string): Promise<void> };
  readonly logger: Logger;
}

export interface BootReconcileReport {
  /** Prefixes still announced. */
  readonly kept: readonly string[];
  /** Prefixes withdrawn, each with why. */
  readonly withdrawn: readonly { readonly prefix: string; readonly reason: string }[];
  /** Domains whose libvirt autostart flag was turned off. */
  readonly autostartDisabled: readonly string[];
  /** One line per thing done or not done, for the agent's event log. */
  readonly notes: readonly { readonly level: 'info' | 'warn' | 'error'; readonly area: string; readonly message: string }[];
}

const message = (error: unknown): string => (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';

/**
 * Runs when an agent with real routing starts, before its server serves: a host that
 * crashed and booted again must not announce what it no longer runs. BIRD's include file
 * keeps a VM's /32 only if that VM runs here now (asked of the KVM driver), and a public
 * block only if every replicated DRBD resource here (at least one) has quorum (asked of the
 * DRBD driver); the rest is withdrawn with `birdc configure`. Autostart is turned off on every domain
 * (a host booting with it on would start a VM that may run on its partner).
 */
export async function bootReconcile(deps: BootReconcileDeps): Promise<BootReconcileReport> {
  const notes: { level: 'info' | 'warn' | 'error'; area: string; message: string }[] = [];
  const autostartDisabled: string[] = [];
  if (deps.autostart) {
    try {
      for (const name of await deps.autostart.autostartDomains()) {
        await deps.autostart.disableAutostart(name);
        autostartDisabled.push(name);
        notes.push({ level: 'warn', area: 'kvm', message: `turned libvirt autostart off for ${name}: hvctl decides where a VM runs` });
      }
    } catch (error) {
      notes.push({ level: 'error', area: 'kvm', message: `could not check libvirt autostart flags: ${message(error)}` });
    }
  }

  let running: Set<string> | undefined;
  let kvmProblem = '';
  try {
    running = new Set((await deps.kvm.list()).filter((domain) => domain.state === 'DOMAIN_STATE_RUNNING').map((domain) => domain.name));
  } catch (error) {
    kvmProblem = `the KVM driver cannot list domains (${message(error)})`;
  }
  const drbd = deps.drbd;
  const quorumProblemNow = async (): Promise<string> => {
    if (drbd === 'simulated') return '';
    if (!drbd) return 'this node has no DRBD driver to confirm quorum';
    try {
      const replicated = (await drbd.list()).filter((resource) => !resource.client && resource.peers.length > 0);
      const missing = replicated.filter((resource) => !resource.quorum).map((resource) => resource.name);
      // Right after a boot the resources may not be up yet: nothing up confirms nothing.
      if (!replicated.length) return 'no replicated DRBD resource is up to confirm quorum';
      return missing.length ? `no quorum yet for ${missing.join(', ')}` : '';
    } catch (error) {
      return `DRBD is not available (${message(error)})`;
    }
  };
  const withdrawn: { prefix: string; reason: string }[] = [];
  const pass = (reasonToDrop: (record: AnnouncementRecord) => string | undefined): Promise<BootRoutingOutcome> =>
    deps.routing.reconcile((record) => {
      const reason = reasonToDrop(record);
      if (reason) withdrawn.push({ prefix: record.prefix, reason });
      return reason === undefined;
    });
  // First the VMs' /32s, at once: a /32 stays only where its VM runs.
  const vmReason = (record: AnnouncementRecord): string | undefined => {
    if (record.kind === 'ANNOUNCEMENT_KIND_BGP') return undefined;
    if (!running) return `${record.vm || 'its VM'}: ${kvmProblem}`;
    return running.has(record.vm) ? undefined : `${record.vm || 'its VM'} does not run here`;
  };
  let outcome = await pass(vmReason);
  // Then the public block. DRBD connects to its peers in the first seconds after a boot:
  // wait a little for quorum before withdrawing it.
  if (outcome.kept.some((record) => record.kind === 'ANNOUNCEMENT_KIND_BGP')) {
    const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
    let quorumProblem = await quorumProblemNow();
    for (let waited = 0; quorumProblem && drbd && waited < (deps.quorumWaitMs ?? 0); waited += 1000) {
      await sleep(1000);
      quorumProblem = await quorumProblemNow();
    }
    if (quorumProblem) {
      const first = outcome.bird;
      outcome = await pass((record) => (record.kind === 'ANNOUNCEMENT_KIND_BGP' ? `public block: ${quorumProblem}` : undefined));
      if (first === 'not-running') outcome = { ...outcome, bird: 'not-running' };
    }
  }
  for (const { prefix, reason } of withdrawn) notes.push({ level: 'warn', area: 'routing', message: `start-up: withdrew ${prefix} (${reason})` });
  if (outcome.bird === 'not-running' && withdrawn.length) notes.push({ level: 'warn', area: 'routing', message: 'start-up: BIRD is not running; it reads the rewritten include file when it starts' });
  for (const note of notes) deps.logger[note.level]({ area: note.area }, note.message);
  return { kept: outcome.kept.map((record) => record.prefix), withdrawn, autostartDisabled, notes };
}
