import { loadavg } from 'node:os';
import type { HostFacts__Output } from '@hvctl/proto';
import type * as Systeminformation from 'systeminformation';
import type { HostDriver, ProbeResult } from '../types.js';

/**
 * systeminformation (~3.5 MB of memory) is imported by the first probe or measurement (then
 * from Node's module cache): an agent whose host driver is simulated never loads it.
 */
function loadSi(): Promise<typeof Systeminformation> {
  return import('systeminformation');
}

/** Host facts from systeminformation, measured at most once per `refreshMs`. */
export class RealHostDriver implements HostDriver {
  private cached?: { readonly atMs: number; readonly facts: Promise<HostFacts__Output> };

  constructor(private readonly refreshMs = 5000) {}

  async probe(): Promise<ProbeResult> {
    try {
      const si = await loadSi();
      const os = await si.osInfo();
      return { available: true, driver: 'real', detail: `systeminformation on ${os.distro} ${os.release}` };
    } catch (error) {
      return { available: false, driver: 'real', detail: `systeminformation failed: ${(error as Error).message}` };
    }
  }

  facts(): Promise<HostFacts__Output> {
    const now = Date.now();
    if (!this.cached || now - this.cached.atMs >= this.refreshMs) {
      const facts = this.measure();
      this.cached = { atMs: now, facts };
      // A failed measurement is not cached.
      facts.catch(() => {
        if (this.cached?.facts === facts) this.cached = undefined;
      });
    }
    return this.cached.facts;
  }

  private async measure(): Promise<HostFacts__Output> {
    const si = await loadSi();
    const [cpu, load, memory, disks] = await Promise.all([si.cpu(), si.currentLoad(), si.mem(), si.fsSize()]);
    return {
      cpuModel: `${cpu.manufacturer} ${cpu.brand}`.trim(),
      cpuCores: cpu.cores,
      cpuUsagePercent: Math.round(load.currentLoad * 10) / 10,
      memoryTotalBytes: memory.total,
      memoryUsedBytes: memory.active,
      loadAverage: loadavg(),
      disks: disks.map((disk) => ({ mount: disk.mount, sizeBytes: disk.size, usedBytes: disk.used })),
      measuredUnixMs: Date.now(),
    };
  }
}
