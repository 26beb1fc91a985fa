import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';

/**
 * Profiles this process's CPU for `ms` with the inspector (the same data as
 * `node --cpu-prof`, but only over the measured window, not the start-up) and writes a
 * .cpuprofile that bench/src/tools/profile-summary.ts or Chrome DevTools can read. With
 * `heap`, it also samples allocations over the same window (every 16 KB, objects the GC has
 * collected since included: what was allocated, not what survived) into a .heapprofile next
 * to it, which the same tool and DevTools read too.
 */
export async function profileFor(ms: number, file: string, options: { readonly heap?: boolean } = {}): Promise<void> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T))));
  try {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 500 });
    await post('Profiler.start');
    if (options.heap) {
      await post('HeapProfiler.enable');
      await post('HeapProfiler.startSampling', { samplingInterval: 16_384, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
    }
    await new Promise((resolve) => setTimeout(resolve, ms));
    const { profile } = await post<{ profile: unknown }>('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
    if (options.heap) {
      const heap = await post<{ profile: unknown }>('HeapProfiler.stopSampling');
      await writeFile(file.replace(/\.cpuprofile$/, '') + '.heapprofile', JSON.stringify(heap.profile));
    }
  } finally {
    session.disconnect();
  }
}
