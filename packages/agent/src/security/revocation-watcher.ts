import { randomBytes } from 'node:crypto';
import { rename, rm, stat } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  EMPTY_REVOCATIONS,
  HvctlError,
  RevocationSet,
  readRevocationList,
  revocationListSignedBy,
  writePrivateFile,
  type Logger,
  type RevocationList,
} from '@hvctl/common';

/** How often the file's mtime is looked at, at most. */
export const REVOCATION_CHECK_MS = 1000;

/** What installing a pushed list did. */
export interface RevocationInstall {
  readonly number: number;
  readonly previousNumber: number;
  readonly changed: boolean;
  readonly list: RevocationList;
}

/**
 * The agent's view of revoked.json (`tls.revoked`): stats the file at most once a second
 * and re-reads it when its mtime or size changes, so a revoked identity is refused on its
 * next call after the file lands. A file that disappears, stops parsing or carries a
 * signature the cluster CA does not verify fails closed: every call is refused until a
 * valid file is back. A signed list pushed over the network (install) is written to the
 * file and applied at once; it must be newer than the list in force.
 */
export class RevocationWatcher {
  private set = new RevocationSet(EMPTY_REVOCATIONS);
  private stamp = '';
  private checkedAt = 0;
  private failure: HvctlError | undefined;
  private pending: Promise<void> | undefined;
  private installing: Promise<unknown> = Promise.resolve();

  constructor(
    readonly path: string | undefined,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
    /** The cluster CA (PEM): a signed file must verify against it. */
    private readonly caPem?: string,
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

  /**
   * The last list that was valid, even while the file is broken: only for authenticating
   * a push of a new signed list, the one way to repair a broken file over the network.
   */
  async lastGood(): Promise<RevocationSet> {
    try {
      await this.current();
    } catch {
      // Broken file: the last valid list still says who is revoked.
    }
    return this.set;
  }

  /** The list in force (the last one read or installed), without waiting for the file. */
  snapshot(): RevocationSet {
    return this.set;
  }

  /**
   * Installs a list whose signature the caller has already verified against the CA:
   * refuses (FAILED_PRECONDITION) one older than the list in force, or another list under
   * the same number; writes it to `tls.revoked` (write, then rename) and applies it
   * before resolving. The same list again changes nothing.
   */
  install(list: RevocationList): Promise<RevocationInstall> {
    const run = this.installing.then(() => this.installNow(list));
    this.installing = run.catch(() => undefined);
    return run;
  }

  private async installNow(list: RevocationList): Promise<RevocationInstall> {
    const path = this.path;
    const unchanged = 'the revocation list in force was kept';
    if (!path) {
      throw new HvctlError('FAILED_PRECONDITION', 'this agent has no tls.revoked file, so it cannot keep a revocation list', {
        unchanged,
        nextSteps: ["add revoked: tls/revoked.json to the agent's tls: section, copy the CA directory's revoked.json there once and restart the agent"],
      });
    }
    if (this.pending) await this.pending;
    const held = this.set.list;
    const previousNumber = held.number ?? 0;
    const number = list.number ?? 0;
    if (number < previousNumber) {
      throw new HvctlError('FAILED_PRECONDITION', `revocation list ${number} is older than list ${previousNumber}, which this agent enforces; it does not go back`, {
        unchanged,
        nextSteps: ['push the newest list from the CA directory (`hvctl certs push`)', 'if the CA directory is behind this agent, restore the directory from its backup first'],
      });
    }
    if (number === previousNumber && !this.failure) {
      if (list.signature !== undefined && list.signature === held.signature) return { number, previousNumber, changed: false, list: held };
      throw new HvctlError('FAILED_PRECONDITION', `this agent already enforces a different revocation list numbered ${number}`, {
        unchanged,
        nextSteps: ['`hvctl certs revoke` numbers every new list: push the newest one from the CA directory (`hvctl certs push`)'],
      });
    }
    // A name of this process's own: lab agents may share one revoked.json.
    const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      await writePrivateFile(temporary, `${JSON.stringify(list, null, 2)}\n`);
      await rename(temporary, path);
    } catch (error) {
      await rm(temporary, { force: true }).catch(() => undefined);
      throw new HvctlError('FAILED_PRECONDITION', `the agent cannot write its revocation list ${path}: ${(error as Error).message}`, {
        unchanged,
        nextSteps: [`make ${dirname(path)} writable by the agent's user (it writes the new list next to the old one, then renames it)`, 'or copy revoked.json there by hand'],
      });
    }
    const info = await stat(path);
    this.set = new RevocationSet(list);
    this.stamp = `${info.mtimeMs}:${info.size}:${info.ino}`;
    this.checkedAt = this.now();
    this.failure = undefined;
    this.logger.info({ path, number, previousNumber, serials: list.serials.length, tokens: list.tokens.length }, 'revocation list installed');
    return { number, previousNumber, changed: true, list };
  }

  private async refresh(initial: boolean): Promise<void> {
    const path = this.path;
    if (!path) return;
    this.checkedAt = this.now();
    try {
      const info = await stat(path);
      const stamp = `${info.mtimeMs}:${info.size}:${info.ino}`;
      if (stamp === this.stamp && !this.failure) return;
      const list = await readRevocationList(path);
      if (list.signature && this.caPem && !revocationListSignedBy(list, this.caPem)) {
        throw new Error("its signature does not match the cluster CA (edited, or from another cluster)");
      }
      this.set = new RevocationSet(list);
      this.stamp = stamp;
      if (this.failure || !initial) this.logger.info({ path, number: list.number, serials: list.serials.length, tokens: list.tokens.length }, 'revocation list loaded');
      this.failure = undefined;
    } catch (error) {
      this.failure = new HvctlError('UNAUTHENTICATED', `the agent cannot read its revocation list ${path} (${(error as Error).message}), so it refuses every caller`, {
        unchanged: 'nothing was changed',
        nextSteps: [`copy revoked.json from the CA directory to ${path} on this node, or push it: hvctl certs push`],
      });
      this.logger.error({ path, err: error }, 'revocation list unreadable: refusing every caller');
    }
  }
}
