import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * A checksum of a file or directory tree ("sha256:<hex>"): every entry's path relative to
 * the root, its type and its bytes (symlinks by target), in sorted order. Two trees with
 * the same checksum hold the same names and the same bytes.
 */
export async function treeChecksum(root: string): Promise<string> {
  const hash = createHash('sha256');
  const visit = async (path: string, relative: string): Promise<void> => {
    const info = await lstat(path);
    if (info.isDirectory()) {
      hash.update(`d ${relative}\n`);
      for (const entry of (await readdir(path)).sort()) await visit(join(path, entry), relative ? `${relative}/${entry}` : entry);
    } else if (info.isSymbolicLink()) {
      hash.update(`l ${relative} ${await readlink(path)}\n`);
    } else if (info.isFile()) {
      await hashFile(hash, path, relative, info.size, false);
    }
  };
  await visit(root, '');
  return `sha256:${hash.digest('hex')}`;
}

/** Hashes one file's entry: its header, then its bytes, which must number `size` when `exact`. */
async function hashFile(hash: Hash, path: string, relative: string, size: number, exact: boolean, signal?: AbortSignal): Promise<void> {
  hash.update(`f ${relative} ${size}\n`);
  let read = 0;
  for await (const chunk of createReadStream(path, signal ? { signal } : {})) {
    read += (chunk as Buffer).length;
    hash.update(chunk as Buffer);
  }
  if (exact && read !== size) throw new Error(`${path} held ${read} bytes, not the ${size} expected; it changed while being read`);
}

/**
 * The checksum of a disk image read from a block device (or a file) of `size` bytes: equal
 * to `treeChecksum` of the same bytes restored as a regular file, so a backup fed to restic
 * from a volume snapshot is verified by restoring it. `signal` stops the read (a cancelled backup).
 */
export async function imageChecksum(path: string, size: number, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  await hashFile(hash, path, '', size, true, signal);
  return `sha256:${hash.digest('hex')}`;
}
