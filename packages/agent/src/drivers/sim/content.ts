import { createHash } from 'node:crypto';
import type { SimResourceRecord } from './records.js';

/**
 * The simulation's stand-in for a volume's bytes: a checksum chained over every write.
 * A backup records it, a restore writes it into the target, so "the data came back
 * identical" is a comparison of checksums (the real restic test compares real bytes).
 */
export function contentChecksum(record: Pick<SimResourceRecord, 'name' | 'checksum'>): string {
  return record.checksum ?? `sha256:${createHash('sha256').update(`seed:${record.name}`).digest('hex')}`;
}

/** A write of `bytes` changes the content. */
export function advanceContent(record: SimResourceRecord, bytes: number): void {
  record.checksum = `sha256:${createHash('sha256').update(`${contentChecksum(record)}+${bytes}`).digest('hex')}`;
}

/** What a restore of damaged repository data yields instead of the recorded content. */
export function damagedContent(checksum: string): string {
  return `sha256:${createHash('sha256').update(`damaged:${checksum}`).digest('hex')}`;
}
