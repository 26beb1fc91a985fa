import { describe, expect, it } from 'vitest';
import { linkName, partitionFor } from './plan.js';

const SITES = ['msk', 'spb', 'bak'];

describe('partitionFor', () => {
  it('cuts a site off from every other site, and every other site from it', () => {
    expect(partitionFor('spb', ['spb'], SITES)).toEqual(['msk', 'bak']);
    expect(partitionFor('msk', ['spb'], SITES)).toEqual(['spb']);
    expect(partitionFor('bak', ['spb'], SITES)).toEqual(['spb']);
  });

  it('cuts only the link between two sites: both ends lose each other and still reach the third', () => {
    const links = [linkName('spb', 'msk')];
    expect(partitionFor('msk', [], SITES, links)).toEqual(['spb']);
    expect(partitionFor('spb', [], SITES, links)).toEqual(['msk']);
    expect(partitionFor('bak', [], SITES, links)).toEqual([]);
  });

  it('combines a cut link with a cut site without listing a site twice', () => {
    expect(partitionFor('msk', ['spb'], SITES, ['msk-spb'])).toEqual(['spb']);
    expect(partitionFor('bak', ['msk'], SITES, ['msk-spb'])).toEqual(['msk']);
  });

  it('names a link the same whichever end comes first', () => {
    expect(linkName('spb', 'msk')).toBe(linkName('msk', 'spb'));
  });
});
