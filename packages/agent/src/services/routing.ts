import type { RoutingServiceHandlers } from '@hvctl/proto';
import { invalidArgument, validatePrefix, validateRequestId, validateResourceName } from '@hvctl/common';
import type { AgentContext } from '../context.js';
import { unary } from './handler.js';

/** hvctl.v1.RoutingService: announcements, routes and sessions of the node's routing daemon. */
export function routingService(ctx: AgentContext): RoutingServiceHandlers {
  const { logger, ledger, drivers } = ctx;
  return {
    ListRoutes: unary(logger, 'ListRoutes', async () => ({
      routes: [...(await drivers.routing.listRoutes())].sort((a, b) => a.prefix.localeCompare(b.prefix) || a.viaNode.localeCompare(b.viaNode)),
    })),
    ListAnnouncements: unary(logger, 'ListAnnouncements', async () => ({
      announcements: [...(await drivers.routing.listAnnouncements())].sort((a, b) => a.prefix.localeCompare(b.prefix)),
    })),
    ListNeighbors: unary(logger, 'ListNeighbors', async () => ({
      neighbors: [...(await drivers.routing.listNeighbors())].sort(
        (a, b) => a.protocol.localeCompare(b.protocol) || a.name.localeCompare(b.name),
      ),
    })),
    Announce: unary(logger, 'Announce', (request) => {
      const prefix = validatePrefix(request.prefix);
      const kind = request.kind;
      if (kind !== 'ANNOUNCEMENT_KIND_VM' && kind !== 'ANNOUNCEMENT_KIND_BGP') {
        throw invalidArgument('kind must be ANNOUNCEMENT_KIND_VM or ANNOUNCEMENT_KIND_BGP');
      }
      if (kind === 'ANNOUNCEMENT_KIND_VM' && !prefix.endsWith('/32')) {
        throw invalidArgument(`a VM announcement must be a /32, got ${prefix}`);
      }
      const vm = kind === 'ANNOUNCEMENT_KIND_VM' ? validateResourceName(request.vm, 'vm') : '';
      return ledger.once('Announce', validateRequestId(request.requestId), async () => ({
        announcement: await drivers.routing.announce(prefix, kind, vm),
      }));
    }),
    Withdraw: unary(logger, 'Withdraw', (request) => {
      const prefix = validatePrefix(request.prefix);
      return ledger.once('Withdraw', validateRequestId(request.requestId), async () => ({
        withdrawn: await drivers.routing.withdraw(prefix),
      }));
    }),
  };
}
