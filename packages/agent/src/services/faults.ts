import type { FaultsServiceHandlers } from '@hvctl/proto';
import { invalidArgument, validateNodeName, validateResourceName, type Logger } from '@hvctl/common';
import { unary } from './handler.js';

type MaybePromise<T> = T | Promise<T>;

/**
 * What the lab can break in a simulated node. Implemented by the simulation only: the
 * world itself (in-process) or the proxy to the node's simulated host process.
 */
export interface FaultTarget {
  setPartition(unreachableSites: readonly string[]): MaybePromise<readonly string[]>;
  failDisk(resource: string): MaybePromise<void>;
  setLinkDelay(delayMs: number): MaybePromise<void>;
  failMigrations(count: number): MaybePromise<void>;
  /** Damages a stored backup snapshot of `vm` (its newest when `snapshotId` is empty); returns it. */
  corruptBackup(vm: string, snapshotId: string): MaybePromise<{ readonly id: string; readonly shortId: string }>;
}

const MAX_DELAY_MS = 60_000;

/** hvctl.lab.v1.FaultsService: fault injection, registered only with simulated drivers. */
export function faultsService(logger: Logger, target: FaultTarget): FaultsServiceHandlers {
  return {
    SetPartition: unary(logger, 'SetPartition', async (request) => ({
      unreachableSites: [...(await target.setPartition(request.unreachableSites.map((site) => validateNodeName(site, 'site'))))],
    })),
    FailDisk: unary(logger, 'FailDisk', async (request) => {
      await target.failDisk(validateResourceName(request.resource, 'resource'));
      return {};
    }),
    SetLinkDelay: unary(logger, 'SetLinkDelay', async (request) => {
      if (request.delayMs > MAX_DELAY_MS) throw invalidArgument(`delay_ms must be at most ${MAX_DELAY_MS}`);
      await target.setLinkDelay(request.delayMs);
      return {};
    }),
    FailMigrations: unary(logger, 'FailMigrations', async (request) => {
      if (request.count > 1000) throw invalidArgument('count must be at most 1000');
      await target.failMigrations(request.count);
      return {};
    }),
    CorruptBackup: unary(logger, 'CorruptBackup', async (request) => {
      if (request.snapshotId !== '' && !/^[0-9a-f]{1,64}$/.test(request.snapshotId)) throw invalidArgument(`"${request.snapshotId.slice(0, 70)}" is not a snapshot id`);
      const snapshot = await target.corruptBackup(validateResourceName(request.vm, 'vm'), request.snapshotId);
      return { snapshotId: snapshot.id, shortId: snapshot.shortId };
    }),
  };
}
