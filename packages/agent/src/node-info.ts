import type { Capability__Output, HostFacts__Output, NodeInfo__Output } from '@hvctl/proto';
import type { Area, Drivers } from './drivers/types.js';
import type { FlagStore } from './flags.js';
import { AGENT_VERSION } from './version.js';

export interface NodeIdentity {
  readonly name: string;
  readonly site: string;
}

const AREAS: readonly Area[] = ['drbd', 'kvm', 'routing', 'backup', 'host'];

/** Builds this node's NodeInfo from identity, flags, driver probes and host facts. */
export class NodeInfoSource {
  private capabilities: Capability__Output[] = [];
  private facts: HostFacts__Output | null = null;
  private readonly startedMs: number;

  constructor(
    private readonly identity: NodeIdentity,
    private readonly epoch: string,
    private readonly flags: FlagStore,
    private readonly drivers: Drivers,
    private readonly now: () => number = Date.now,
  ) {
    this.startedMs = now();
  }

  /** Runs every driver's probe; returns the capabilities. */
  async probe(): Promise<Capability__Output[]> {
    this.capabilities = await Promise.all(
      AREAS.map(async (area): Promise<Capability__Output> => {
        try {
          const result = await this.drivers[area].probe();
          return { area, driver: result.driver, available: result.available, detail: result.detail };
        } catch (error) {
          return { area, driver: 'real', available: false, detail: `probe failed: ${(error as Error).message}` };
        }
      }),
    );
    return this.capabilities;
  }

  /** Measures host facts (the host driver caches them). */
  async refreshFacts(): Promise<void> {
    try {
      this.facts = await this.drivers.host.facts();
    } catch {
      this.facts = null;
    }
  }

  /** The capabilities of the last probe. */
  currentCapabilities(): readonly Capability__Output[] {
    return this.capabilities;
  }

  /** True when the driver of `area` passed its probe. */
  available(area: Area): boolean {
    return this.capabilities.find((capability) => capability.area === area)?.available ?? false;
  }

  info(): NodeInfo__Output {
    return {
      name: this.identity.name,
      site: this.identity.site,
      agentVersion: AGENT_VERSION,
      // Whole seconds: the info (and GetInfo's encoded answer) stays the same within a second.
      uptimeSeconds: Math.floor((this.now() - this.startedMs) / 1000),
      capabilities: this.capabilities,
      flags: this.flags.get(),
      facts: this.facts,
      agentEpoch: this.epoch,
    };
  }
}
