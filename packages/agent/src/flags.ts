import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { NodeFlags__Output } from '@hvctl/proto';

/** The node's scheduling flags, persisted so they survive an agent restart. */
export class FlagStore {
  private flags: NodeFlags__Output = { cordoned: false, cordonReason: '', maintenance: false, changedUnixMs: 0 };

  constructor(
    private readonly path: string | undefined,
    private readonly now: () => number = Date.now,
  ) {}

  async load(): Promise<NodeFlags__Output> {
    if (!this.path) return this.flags;
    try {
      this.flags = { ...this.flags, ...(JSON.parse(await readFile(this.path, 'utf8')) as Partial<NodeFlags__Output>) };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    return this.flags;
  }

  get(): NodeFlags__Output {
    return this.flags;
  }

  /**
   * Applies a change; resolves with the new flags once persisted. Concurrent updates are
   * written one after the other, so the file always ends with the latest flags.
   */
  update(change: Partial<Omit<NodeFlags__Output, 'changedUnixMs'>>): Promise<NodeFlags__Output> {
    this.flags = { ...this.flags, ...change, changedUnixMs: this.now() };
    const flags = this.flags;
    const write = this.writing.then(async () => {
      if (!this.path) return;
      await mkdir(dirname(this.path), { recursive: true });
      const temporary = `${this.path}.tmp`;
      await writeFile(temporary, JSON.stringify(flags));
      await rename(temporary, this.path);
    });
    this.writing = write.catch(() => undefined);
    return write.then(() => flags);
  }

  private writing: Promise<void> = Promise.resolve();
}
