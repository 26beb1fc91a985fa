import { writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector';

/**
 * Profiles this process's CPU for `ms` with the inspector (the same data as
 * `node --cpu-prof`, but only over the measured window, not the start-up) and writes a
 * .cpuprofile that bench/src/tools/profile-summary.ts or Chrome DevTools can read.
 */
export async function profileFor(ms: number, file: string): Promise<void> {
  const session = new Session();
  session.connect();
  const post = <T>(method: string, params?: object): Promise<T> =>
    new Promise((resolve, reject) => session.post(method, params ?? {}, (error, result) => (error ? reject(error) : resolve(result as T))));
  try {
    await post('Profiler.enable');
    await post('Profiler.setSamplingInterval', { interval: 500 });
    await post('Profiler.start');
    await new Promise((resolve) => setTimeout(resolve, ms));
    const { profile } = await post<{ profile: unknown }>('Profiler.stop');
    await writeFile(file, JSON.stringify(profile));
  } finally {
    session.disconnect();
  }
}
