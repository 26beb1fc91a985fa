import { describe, expect, it } from 'vitest';
import { seg } from '../../state/format.js';
import { sameLine } from './SegmentLine.js';

describe('sameLine', () => {
  it('compares lines by what they draw, not by identity', () => {
    const line = { segments: [seg('msk-1', 'normal', true), seg(' up', 'ok')] };
    expect(sameLine(line, { segments: [seg('msk-1', 'normal', true), seg(' up', 'ok')] })).toBe(true);
    expect(sameLine(line, { segments: [seg('msk-1', 'normal', true), seg(' up', 'bad')] })).toBe(false);
    expect(sameLine(line, { segments: [seg('msk-1'), seg(' up', 'ok')] })).toBe(false);
    expect(sameLine(line, { segments: [seg('msk-1', 'normal', true), seg(' down', 'ok')] })).toBe(false);
    expect(sameLine(line, { segments: [seg('msk-1', 'normal', true)] })).toBe(false);
    expect(sameLine(line, { ...line, muted: true })).toBe(false);
  });
});
