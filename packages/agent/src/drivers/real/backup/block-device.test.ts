import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { imageSize } from './block-device.js';

/** A block device of this machine that has a /dev node (stat works without opening it), if any. */
function someBlockDevice(): { path: string; bytes: number } | undefined {
  const names = existsSync('/sys/class/block') ? readdirSync('/sys/class/block') : [];
  const name = names.find((entry) => existsSync(`/dev/${entry}`));
  return name ? { path: `/dev/${name}`, bytes: Number(readFileSync(`/sys/class/block/${name}/size`, 'utf8')) * 512 } : undefined;
}

describe('imageSize', () => {
  it("is a regular file's length", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'hvctl-image-'));
    await writeFile(join(dir, 'disk.img'), Buffer.alloc(12_345));
    expect(await imageSize(join(dir, 'disk.img'))).toBe(12_345);
    await expect(imageSize(dir)).rejects.toThrow(/neither a block device nor a regular file/);
    await rm(dir, { recursive: true, force: true });
  });

  const device = someBlockDevice();
  it.skipIf(!device)(`is a block device's size from its major:minor in sysfs${device ? '' : ' (skipped: no block device with a /dev node here)'}`, async () => {
    // Given a device found by name under /sys/class/block, when sized by its device number
    // Then both agree (the major/minor decoding is right)
    expect(await imageSize((device as { path: string }).path)).toBe((device as { bytes: number }).bytes);
  });
});
