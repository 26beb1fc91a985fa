import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { modelFromStatus, outcomeOf } from './campaign.js';

describe('modelFromStatus', () => {
  it('reads the names a schedule draws from out of `status --json`', () => {
    const status = JSON.parse(readFileSync(new URL('./__fixtures__/status-healthy.json', import.meta.url), 'utf8')) as Parameters<typeof modelFromStatus>[0];
    const model = modelFromStatus(status);
    expect(model.nodes).toEqual(['msk-1', 'msk-2', 'spb-1', 'spb-2', 'bak-1']);
    expect(model.mainNodes).toEqual(['msk-1', 'msk-2', 'spb-1', 'spb-2']);
    expect(model.mainSites).toEqual(['msk', 'spb']);
    expect(model.vms).toHaveLength(12);
    // Two diskful replicas per resource; bak-1's diskless witness is not a disk to fail.
    expect(model.disks).toHaveLength(24);
    expect(model.disks.some((disk) => disk.node === 'bak-1')).toBe(false);
  });
});

describe('outcomeOf', () => {
  const result = { argv: [], durationMs: 1, stdout: '', stderr: '', boundMs: 1000 };
  it('names the exit codes of the workflow commands, a planned kill and a hang', () => {
    expect(outcomeOf({ ...result, exitCode: 3, hung: false, killed: false })).toBe('refused');
    expect(outcomeOf({ ...result, exitCode: 4, hung: false, killed: false })).toBe('failed');
    expect(outcomeOf({ ...result, exitCode: null, hung: false, killed: true })).toBe('killed');
    expect(outcomeOf({ ...result, exitCode: null, hung: true, killed: false })).toBe('HUNG');
  });
});
