import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { AuditHead, AuditRecord } from '@hvctl/common';

/**
 * The journal heads this console verified before, kept off the hypervisors: a journal
 * rewritten whole on its host (every hash recomputed) still verifies on its own, but no
 * longer holds the record this file remembers at that seq.
 */

/** A head as verified, and when. */
export interface PinnedHead extends AuditHead {
  readonly verifiedAt: string;
}

/** `cluster/node` -> the last head verified. */
export type PinnedHeads = Record<string, PinnedHead>;

export async function readPinnedHeads(path: string): Promise<PinnedHeads> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as PinnedHeads;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw error;
  }
}

export async function writePinnedHeads(path: string, heads: PinnedHeads): Promise<void> {
  await mkdir(dirname(path), { recursive: true, mode: 0o700 });
  await writeFile(`${path}.tmp`, `${JSON.stringify(heads, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}

/** Why the journal contradicts the head pinned earlier, or undefined when it still holds it. */
export function contradictsPinned(lines: readonly string[], pinned: PinnedHead): string | undefined {
  if (pinned.seq === 0) return undefined;
  for (const line of lines) {
    let record: AuditRecord;
    try {
      record = JSON.parse(line) as AuditRecord;
    } catch {
      continue;
    }
    if (record.seq !== pinned.seq) continue;
    return record.hash === pinned.hash ? undefined : `rewritten: seq ${pinned.seq} had hash ${pinned.hash.slice(0, 12)}… when verified at ${pinned.verifiedAt}, now ${record.hash.slice(0, 12)}…`;
  }
  return `rewritten or cut: the journal no longer holds seq ${pinned.seq}, verified at ${pinned.verifiedAt}`;
}
