import { createHash } from 'node:crypto';
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
      hash.update(`f ${relative} ${info.size}\n`);
      for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
    }
  };
  await visit(root, '');
  return `sha256:${hash.digest('hex')}`;
}
