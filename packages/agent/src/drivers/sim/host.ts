import type { HostFacts__Output } from '@hvctl/proto';
import type { HostDriver, ProbeResult } from '../types.js';
import type { SimWorld } from './world.js';

const GIB = 1024 ** 3;

/** Simulated capacity of a lab hypervisor, so placement and pre-flight checks mean something. */
export const SIM_HOST = { cores: 32, memoryBytes: 256 * GIB, baseMemoryBytes: 8 * GIB } as const;

/** Host facts of a simulated hypervisor: capacity is fixed, use follows the running VMs. */
export class SimHostDriver implements HostDriver {
  constructor(private readonly world: SimWorld) {}

  async probe(): Promise<ProbeResult> {
    return { available: true, driver: 'sim', detail: `simulated host: ${SIM_HOST.cores} cores, ${SIM_HOST.memoryBytes / GIB} GiB` };
  }

  async facts(): Promise<HostFacts__Output> {
    const running = [...this.world.domains.values()].filter((domain) => domain.state === 'running');
    const vcpus = running.reduce((sum, domain) => sum + domain.vcpus, 0);
    const memory = running.reduce((sum, domain) => sum + domain.memoryBytes, SIM_HOST.baseMemoryBytes);
    const load = Math.round((vcpus / 4) * 100) / 100;
    return {
      cpuModel: 'Simulated KVM host',
      cpuCores: SIM_HOST.cores,
      cpuUsagePercent: Math.min(100, Math.round((100 * vcpus) / 4 / SIM_HOST.cores)),
      memoryTotalBytes: SIM_HOST.memoryBytes,
      memoryUsedBytes: memory,
      loadAverage: [load, load, load],
      disks: [],
      measuredUnixMs: Date.now(),
    };
  }
}
