import type { LeasesServiceHandlers } from '@hvctl/proto';
import { invalidArgument, validateOwner, validateText, type Logger } from '@hvctl/common';
import type { LeaseTable } from '../workflows/leases.js';
import { unary } from './handler.js';

/** hvctl.v1.LeasesService: the leases workflows hold on this agent. */
export function leasesService(logger: Logger, leases: LeaseTable, onBreak: (message: string, who: string) => Promise<void>): LeasesServiceHandlers {
  return {
    Acquire: unary(logger, 'Acquire', async (request) => ({
      leases: await leases.acquire({
        keys: request.keys,
        workflowId: request.workflowId,
        owner: validateOwner(request.owner),
        coordinator: validateOwner(request.coordinator, 'coordinator'),
        ttlMs: request.ttlMs,
      }),
    })),
    Release: unary(logger, 'Release', async (request) => ({ released: await leases.release(request.workflowId) })),
    ListLeases: unary(logger, 'ListLeases', async () => ({ leases: leases.list() })),
    Break: unary(logger, 'Break', async (request) => {
      if (!request.owner) throw invalidArgument('breaking a lease needs an owner (who breaks it)');
      const owner = validateOwner(request.owner);
      const reason = validateText(request.reason, 'reason');
      const lease = await leases.breakLease(request.key);
      await onBreak(`lease ${lease.key} of workflow ${lease.workflowId} (${lease.owner}) broken by ${owner}: ${reason || 'no reason given'}`, owner);
      logger.warn({ lease, by: request.owner, reason: request.reason }, 'lease broken');
      return { lease };
    }),
  };
}
