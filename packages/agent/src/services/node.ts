import type { GetInfoResponse__Output, NodeInfo__Output, NodeServiceHandlers } from '@hvctl/proto';
import { validateRequestId, validateText } from '@hvctl/common';
import type { AgentContext } from '../context.js';
import { unary } from './handler.js';
import { UnchangedAnswer } from './response-cache.js';

/** hvctl.v1.NodeService: identity, capabilities, facts and scheduling flags. */
export function nodeService(ctx: AgentContext): NodeServiceHandlers {
  const { logger, ledger, flags, hub, nodeInfo } = ctx;
  const publish = (): void => hub.setNode(nodeInfo.info());
  // The same response (encoded once) until the info changes: uptime counts whole seconds.
  const described = new UnchangedAnswer<NodeInfo__Output, GetInfoResponse__Output>((node) => ({ node }));
  return {
    GetInfo: unary(logger, 'GetInfo', async () => described.answer(nodeInfo.info())),
    Cordon: unary(logger, 'Cordon', (request) => {
      const reason = validateText(request.reason, 'reason');
      return ledger.once('Cordon', validateRequestId(request.requestId), async () => {
        const wasCordoned = flags.get().cordoned;
        const next = await flags.update({ cordoned: true, cordonReason: reason });
        publish();
        if (!wasCordoned) hub.log({ level: 'warn', area: 'node', message: `cordoned${reason ? `: ${next.cordonReason}` : ''}` });
        return { flags: next };
      });
    }),
    Uncordon: unary(logger, 'Uncordon', (request) =>
      ledger.once('Uncordon', validateRequestId(request.requestId), async () => {
        const wasCordoned = flags.get().cordoned;
        const next = await flags.update({ cordoned: false, cordonReason: '' });
        publish();
        if (wasCordoned) hub.log({ level: 'info', area: 'node', message: 'uncordoned' });
        return { flags: next };
      }),
    ),
    SetMaintenance: unary(logger, 'SetMaintenance', (request) =>
      ledger.once('SetMaintenance', validateRequestId(request.requestId), async () => {
        const was = flags.get().maintenance;
        const next = await flags.update({ maintenance: request.maintenance });
        publish();
        if (was !== request.maintenance) {
          hub.log({ level: 'info', area: 'node', message: request.maintenance ? 'entered maintenance' : 'left maintenance' });
        }
        return { flags: next };
      }),
    ),
  };
}
