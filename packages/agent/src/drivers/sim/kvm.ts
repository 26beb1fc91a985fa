import type { Domain__Output } from '@hvctl/proto';
import { HvctlError, failedPrecondition, unavailable } from '@hvctl/common';
import type { IntentRecord, KvmDriver, MigrateOptions, ProbeResult } from '../types.js';
import type { SimDomainRecord } from './records.js';
import type { SimWorld } from './world.js';

/** The definition a source sends to the destination of a migration. */
interface IncomingDomain {
  readonly domain: SimDomainRecord;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Simulated libvirt: domains are defined on both nodes of their DRBD pair and run on
 * one. Live migration copies memory over the simulated link (taking time and reporting
 * progress), needs the resource Primary on the destination (dual-primary), and at
 * switchover pauses the source, asks the destination to resume, then stops the source.
 * If the destination does not confirm, the source stays paused: never running twice.
 */
export class SimKvm implements KvmDriver {
  constructor(
    private readonly world: SimWorld,
    /** Asks the agent why this node refuses incoming migrations now (cordoned), or undefined. */
    private readonly refuseIncoming: () => string | undefined | Promise<string | undefined>,
  ) {
    world.handle('kvm.prepare', async (from, body) => this.prepareIncoming(from, body as IncomingDomain));
    world.handle('kvm.finish', async (from, body) => this.finishIncoming(from, body as IncomingDomain));
  }

  async probe(): Promise<ProbeResult> {
    return { available: true, driver: 'sim', detail: 'simulated libvirt (lab)' };
  }

  async list(): Promise<Domain__Output[]> {
    return this.world.listDomains();
  }

  async start(name: string): Promise<Domain__Output> {
    const domain = this.world.domain(name);
    if (domain.state === 'running') return this.world.domainView(domain);
    if (domain.state === 'paused') {
      throw failedPrecondition(`${name} is paused (${domain.reason}); resume it with virsh resume after checking it runs nowhere else`);
    }
    const elsewhere = this.world.peersRunning(name);
    if (elsewhere.length) {
      throw failedPrecondition(
        `${name} is already running on ${elsewhere.join(', ')}; starting it here would run it twice (error: Failed to acquire lock: File is already locked)`,
        { nextSteps: ['migrate it instead, or stop it there first'] },
      );
    }
    for (const resource of domain.resources) {
      const record = this.world.resources.get(resource);
      if (!record || record.role !== 'Primary') {
        throw failedPrecondition(
          `${name} cannot start on ${this.world.name}: its disk ${resource} is ${record ? record.role : 'not configured'} here (error: Cannot access storage file '/dev/drbd/by-res/${resource}/0': Read-only file system)`,
          { nextSteps: [`promote ${resource} on ${this.world.name} first (drbdadm primary ${resource})`] },
        );
      }
    }
    await sleep(this.world.timing.bootMs);
    this.world.setDomainState(domain, 'running', 'booted');
    this.world.log('info', 'kvm', `${name} started`);
    return this.world.domainView(domain);
  }

  async shutdown(name: string, timeoutMs: number): Promise<Domain__Output> {
    const domain = this.world.domain(name);
    if (domain.state === 'shut off') return this.world.domainView(domain);
    if (domain.state !== 'running') throw failedPrecondition(`${name} is ${domain.state}; only a running guest can be shut down`);
    this.world.setDomainState(domain, 'shutdown', 'user');
    const wait = Math.min(timeoutMs, this.world.timing.shutdownMs);
    await sleep(wait);
    if (this.world.timing.shutdownMs > timeoutMs) {
      this.world.setDomainState(domain, 'running', 'unpaused');
      throw new HvctlError('DEADLINE_EXCEEDED', `${name} did not shut down within ${Math.round(timeoutMs / 1000)} s; it is still running`, {
        nextSteps: ['retry with a longer timeout, or destroy it if the guest hangs'],
      });
    }
    this.world.setDomainState(domain, 'shut off', 'shutdown');
    this.world.log('info', 'kvm', `${name} shut down`);
    return this.world.domainView(domain);
  }

  async destroy(name: string): Promise<Domain__Output> {
    const domain = this.world.domain(name);
    if (domain.state === 'shut off') return this.world.domainView(domain);
    this.world.setDomainState(domain, 'shut off', 'destroyed');
    this.world.log('warn', 'kvm', `${name} destroyed (powered off at once)`);
    return this.world.domainView(domain);
  }

  async migrate(name: string, options: MigrateOptions): Promise<Domain__Output> {
    const { world } = this;
    const domain = world.domain(name);
    const target = options.targetNode;
    if (domain.state !== 'running') throw failedPrecondition(`${name} is ${domain.state} on ${world.name}; only a running domain can be live-migrated`);
    if (world.migrating.has(name)) throw failedPrecondition(`${name} is already migrating`);
    if (!world.net.peers().some((peer) => peer.name === target)) {
      throw failedPrecondition(`${target} is not linked to ${world.name}; ${name} can only migrate within its DRBD pair`);
    }
    if (!world.net.reachable(target)) throw unavailable(`${target} is unreachable from ${world.name}; nothing was changed`);
    world.migrating.add(name);
    world.refresh();
    world.log('info', 'kvm', `${name}: live migration to ${target} started`);
    const total = domain.memoryBytes;
    const report = (phase: string, processed: number): void =>
      options.onProgress({ phase, percent: total > 0 ? Math.min(100, (100 * processed) / total) : 100, processedBytes: processed, remainingBytes: Math.max(0, total - processed) });
    try {
      report('prepare', 0);
      await world.net.request(target, 'kvm.prepare', { domain: { ...domain } } satisfies IncomingDomain);
      const stepMs = 100;
      const perStep = (world.timing.migrationBytesPerSecond * stepMs) / 1000;
      let processed = 0;
      while (processed < total) {
        await sleep(stepMs);
        if (options.signal?.aborted) throw new HvctlError('ABORTED', `migration of ${name} cancelled; it keeps running on ${world.name}`);
        if (!world.net.reachable(target)) throw unavailable(`lost ${target} during the migration of ${name}; it keeps running on ${world.name}`);
        // QEMU's outgoing migration dies with its source process: a guest destroyed or crashed meanwhile arrives nowhere.
        if (domain.state !== 'running') throw new HvctlError('ABORTED', `migration of ${name} failed: the source guest stopped (${domain.state}, ${domain.reason}) on ${world.name}; it runs nowhere`);
        if (world.migrationFailuresArmed > 0 && processed >= total / 2) {
          world.migrationFailuresArmed -= 1;
          throw new HvctlError('ABORTED', `migration of ${name} failed: internal error: qemu unexpectedly closed the migration connection; it keeps running on ${world.name}`);
        }
        processed = Math.min(total, processed + perStep);
        report('memory', processed);
      }
      report('switchover', total);
      world.setDomainState(domain, 'paused', 'migrating');
      try {
        await world.net.request(target, 'kvm.finish', { domain: { ...domain, state: 'running' } } satisfies IncomingDomain, 3000);
      } catch (error) {
        world.log('error', 'kvm', `${name}: ${target} did not confirm the switchover; left paused on ${world.name} so it cannot run twice`);
        throw unavailable(`switchover of ${name} to ${target} was not confirmed: ${(error as Error).message}. ${name} is left PAUSED on ${world.name}`, {
          nextSteps: [`check whether ${name} runs on ${target}; if it does not, resume it on ${world.name} (virsh resume ${name})`],
        });
      }
      world.setDomainState(domain, 'shut off', 'migrated');
      report('finish', total);
      world.log('info', 'kvm', `${name}: live migration to ${target} completed`);
      return world.domainView({ ...domain, state: 'running', reason: 'migrated', changedMs: Date.now() });
    } catch (error) {
      if (domain.state === 'running') world.log('error', 'kvm', `${name}: migration to ${target} failed: ${(error as Error).message}`);
      throw error;
    } finally {
      world.migrating.delete(name);
      world.refresh();
    }
  }

  /**
   * Like `virsh metadata --config`: the intent is part of the persistent definition, so it
   * is saved at once and survives a host crash; a live migration carries it to the target
   * (the domain record travels whole). Newest wins, compared on the time it was decided.
   */
  async setIntent(name: string, intent: IntentRecord): Promise<{ domain: Domain__Output; applied: boolean }> {
    const domain = this.world.domain(name);
    if ((domain.intentSetMs ?? 0) > intent.setUnixMs) return { domain: this.world.domainView(domain), applied: false };
    domain.intent = intent.intent;
    domain.intentSetMs = intent.setUnixMs;
    domain.intentSetBy = intent.setBy;
    this.world.refresh();
    this.world.persistNow();
    this.world.log('info', 'kvm', `${name}: intent ${intent.intent} (set by ${intent.setBy})`);
    return { domain: this.world.domainView(domain), applied: true };
  }

  /** Destination side, before memory is copied: can this node take the domain? */
  private async prepareIncoming(from: string, incoming: IncomingDomain): Promise<{ ok: true }> {
    const { world } = this;
    const refusal = await this.refuseIncoming();
    if (refusal) throw failedPrecondition(`${world.name} refuses incoming migrations: ${refusal}`);
    const existing = world.domains.get(incoming.domain.name);
    if (existing && existing.state !== 'shut off') {
      throw failedPrecondition(`${incoming.domain.name} is already ${existing.state} on ${world.name}`);
    }
    for (const resource of incoming.domain.resources) {
      const record = world.resources.get(resource);
      if (!record) throw failedPrecondition(`${world.name} has no DRBD resource ${resource} for ${incoming.domain.name}`);
      if (record.role !== 'Primary') {
        throw failedPrecondition(
          `${resource} is ${record.role} on ${world.name}; the destination must be Primary (dual-primary) before a live migration from ${from}`,
        );
      }
    }
    return { ok: true };
  }

  /** Destination side, at switchover: define and resume the domain here. */
  private async finishIncoming(_from: string, incoming: IncomingDomain): Promise<{ ok: true }> {
    const { world } = this;
    const existing = world.domains.get(incoming.domain.name);
    if (existing && existing.state === 'running') return { ok: true };
    const domain: SimDomainRecord = existing ?? { ...incoming.domain };
    Object.assign(domain, { ...incoming.domain, state: 'running', reason: 'migrated', changedMs: Date.now() });
    world.domains.set(domain.name, domain);
    world.setDomainState(domain, 'running', 'migrated');
    world.log('info', 'kvm', `${domain.name}: arrived by live migration and runs here`);
    return { ok: true };
  }
}
