import type { DrbdServiceHandlers, Resource__Output } from '@hvctl/proto';
import { failedPrecondition, notFound, validateRequestId, validateResourceName } from '@hvctl/common';
import type { AgentContext } from '../context.js';
import { unary } from './handler.js';

/** hvctl.v1.DrbdService: the node's DRBD resources. */
export function drbdService(ctx: AgentContext): DrbdServiceHandlers {
  const { logger, ledger, drivers, flags } = ctx;
  const find = async (name: string): Promise<Resource__Output> => {
    const resource = (await drivers.drbd.list()).find((candidate) => candidate.name === name);
    if (!resource) throw notFound(`resource "${name}" is not configured on ${ctx.identity.name}`);
    return resource;
  };
  const sorted = (resources: Resource__Output[]): Resource__Output[] => [...resources].sort((a, b) => a.name.localeCompare(b.name));

  return {
    ListResources: unary(logger, 'ListResources', async () => ({ resources: sorted(await drivers.drbd.list()) })),
    GetResource: unary(logger, 'GetResource', async (request) => ({ resource: await find(validateResourceName(request.name)) })),
    Promote: unary(logger, 'Promote', (request) => {
      const name = validateResourceName(request.name);
      return ledger.once('Promote', validateRequestId(request.requestId), async () => {
        await find(name);
        if (flags.get().cordoned && !request.force && !request.ignoreCordon) {
          throw failedPrecondition(`${ctx.identity.name} is cordoned: no promotions are allowed here`, {
            nextSteps: [`uncordon ${ctx.identity.name} first, or promote on another node`],
          });
        }
        return { resource: await drivers.drbd.promote(name, { force: request.force }) };
      });
    }),
    Demote: unary(logger, 'Demote', (request) => {
      const name = validateResourceName(request.name);
      return ledger.once('Demote', validateRequestId(request.requestId), async () => {
        await find(name);
        return { resource: await drivers.drbd.demote(name) };
      });
    }),
    Connect: unary(logger, 'Connect', (request) => {
      const name = validateResourceName(request.name);
      return ledger.once('Connect', validateRequestId(request.requestId), async () => {
        await find(name);
        return { resource: await drivers.drbd.connect(name, { discardMyData: request.discardMyData }) };
      });
    }),
    Disconnect: unary(logger, 'Disconnect', (request) => {
      const name = validateResourceName(request.name);
      return ledger.once('Disconnect', validateRequestId(request.requestId), async () => {
        await find(name);
        return { resource: await drivers.drbd.disconnect(name) };
      });
    }),
    SetAllowTwoPrimaries: unary(logger, 'SetAllowTwoPrimaries', (request) => {
      const name = validateResourceName(request.name);
      return ledger.once('SetAllowTwoPrimaries', validateRequestId(request.requestId), async () => {
        await find(name);
        return { resource: await drivers.drbd.setAllowTwoPrimaries(name, request.allow) };
      });
    }),
  };
}
