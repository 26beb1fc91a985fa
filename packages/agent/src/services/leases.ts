import type { LeasesServiceHandlers } from '@hvctl/proto';
import { invalidArgument, type Logger } from '@hvctl/common';
import type { LeaseTable } from '../workflows/leases.js';
import { unary } from './handler.js';

/** hvctl.v1.LeasesService: the leases workflows hold on this agent. */
export function leasesService(logger: Logger, leases: LeaseTable, onBreak: (message: string, who: string) => Promise<void>): LeasesServiceHandlers {
  return {
    Acquire: unary(logger, 'Acquire', async (request) => ({
      leases: await leases.acquire({
        keys: request.keys,
        workflowId: request.workflowId,
        owner: request.owner.slice(0, 64),
        coordinator: request.coordinator.slice(0, 64),
        ttlMs: request.ttlMs,
      }),
    })),
    Release: unary(logger, 'Release', async (request) => ({ released: await leases.release(request.workflowId) })),
    ListLeases: unary(logger, 'ListLeases', async () => ({ leases: leases.list() })),
    Break: unary(logger, 'Break', async (request) => {
      if (!request.owner) throw invalidArgument('breaking a lease needs an owner (who breaks it)');
      const lease = await leases.breakLease(request.key);
      await onBreak(`lease ${lease.key} of workflow ${lease.workflowId} (${lease.owner}) broken by ${request.owner.slice(0, 64)}: ${request.reason.slice(0, 200) || 'no reason given'}`, request.owner.slice(0, 64));
      logger.warn({ lease, by: request.owner, reason: request.reason }, 'lease broken');
      return { lease };
    }),
  };
}
