import { stat } from 'node:fs/promises';
import { HvctlError, RevocationSet, readRevocationList, type Logger } from '@hvctl/common';

/** How often the file's mtime is looked at, at most. */
export const REVOCATION_CHECK_MS = 1000;

/**
 * The agent's view of revoked.json (`tls.revoked`): stats the file at most once a second
 * and re-reads it when its mtime or size changes, so a revoked identity is refused on its
 * next call after the file lands. A file that disappears or stops parsing fails closed:
 * every call is refused until a valid file is back.
 */
export class RevocationWatcher {
  private set = new RevocationSet({ version: 1, serials: [], tokens: [] });
  private stamp = '';
  private checkedAt = 0;
  private failure: HvctlError | undefined;
  private pending: Promise<void> | undefined;

  constructor(
    readonly path: string | undefined,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Reads the file once; throws when it is missing or broken (the agent refuses to start). */
  async load(): Promise<void> {
    await this.refresh(true);
    if (this.failure) throw this.failure;
  }

  /** The current list; throws UNAUTHENTICATED while the file is unreadable. */
  async current(): Promise<RevocationSet> {
    if (this.path && !this.pending && this.now() - this.checkedAt >= REVOCATION_CHECK_MS) {
      this.pending = this.refresh(false).finally(() => (this.pending = undefined));
    }
    // Calls arriving while the file is being re-read wait for it, never use the old list.
    if (this.pending) await this.pending;
    if (this.failure) throw this.failure;
    return this.set;
  }

  private async refresh(initial: boolean): Promise<void> {
    const path = this.path;
    if (!path) return;
    this.checkedAt = this.now();
    try {
      const info = await stat(path);
      const stamp = `${info.mtimeMs}:${info.size}:${info.ino}`;
      if (stamp === this.stamp && !this.failure) return;
      this.set = new RevocationSet(await readRevocationList(path));
      this.stamp = stamp;
      if (this.failure || !initial) this.logger.info({ path, serials: this.set.list.serials.length, tokens: this.set.list.tokens.length }, 'revocation list loaded');
      this.failure = undefined;
    } catch (error) {
      this.failure = new HvctlError('UNAUTHENTICATED', `the agent cannot read its revocation list ${path} (${(error as Error).message}), so it refuses every caller`, {
        unchanged: 'nothing was changed',
        nextSteps: [`copy revoked.json from the CA directory to ${path} on this node`],
      });
      this.logger.error({ path, err: error }, 'revocation list unreadable: refusing every caller');
    }
  }
}
