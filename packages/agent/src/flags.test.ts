import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FlagStore } from './flags.js';

describe('FlagStore', () => {
  let dir = '';
  afterEach(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('persists concurrent updates one after the other, ending with the latest flags', async () => {
    // Given a store on disk; When 50 cordon/uncordon updates race
    dir = await mkdtemp(join(tmpdir(), 'hvctl-flags-'));
    const path = join(dir, 'flags.json');
    const store = new FlagStore(path);
    const results = await Promise.allSettled(Array.from({ length: 50 }, (_, i) => store.update({ cordoned: i % 2 === 0, cordonReason: `r${i}` })));
    // Then every update succeeded and the file holds the last one
    expect(results.every((result) => result.status === 'fulfilled')).toBe(true);
    const saved = JSON.parse(await readFile(path, 'utf8')) as { cordoned: boolean; cordonReason: string };
    expect(saved).toMatchObject({ cordoned: false, cordonReason: 'r49' });
    // And a new store reads it back
    expect(await new FlagStore(path).load()).toMatchObject({ cordoned: false, cordonReason: 'r49' });
  });
});
