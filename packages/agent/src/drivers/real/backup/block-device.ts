import { readFile, stat } from 'node:fs/promises';

/** Linux's major and minor numbers of a device id (glibc's gnu_dev_major/gnu_dev_minor). */
function majorMinor(rdev: number): { major: number; minor: number } {
  const high = Math.floor(rdev / 2 ** 32);
  const low = rdev % 2 ** 32;
  return { major: ((low >>> 8) & 0xfff) | (high & ~0xfff), minor: (low & 0xff) | ((low >>> 12) & ~0xff) };
}

/**
 * The size in bytes of what a path holds: a regular file's length, or a block device's
 * size from sysfs (`/sys/dev/block/MAJ:MIN/size`, in 512-byte sectors); stat reports 0
 * for a device. Symlinks (`/dev/vg0/lv` -> `../dm-3`) are followed.
 */
export async function imageSize(path: string): Promise<number> {
  const info = await stat(path);
  if (info.isFile()) return info.size;
  if (!info.isBlockDevice()) throw new Error(`${path} is neither a block device nor a regular file`);
  const { major, minor } = majorMinor(info.rdev);
  const sectors = Number((await readFile(`/sys/dev/block/${major}:${minor}/size`, 'utf8')).trim());
  if (!Number.isSafeInteger(sectors)) throw new Error(`/sys/dev/block/${major}:${minor}/size does not hold a sector count`);
  return sectors * 512;
}
