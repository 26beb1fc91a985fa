import type { SecurityServiceHandlers } from '@hvctl/proto';
import { HvctlError, parseSignedRevocationList, type Logger } from '@hvctl/common';
import type { RevocationWatcher } from '../security/revocation-watcher.js';
import { unary } from './handler.js';

/** What SecurityService needs from a TLS agent: the CA that signs lists, and the list in force. */
export interface RevocationTarget {
  readonly caPem: string;
  readonly watcher: RevocationWatcher;
}

/**
 * hvctl.v1.SecurityService: takes a revocation list pushed by `hvctl certs revoke --push`
 * or `hvctl certs push`. Only a list signed by the cluster CA and newer than the one in
 * force is installed; an agent without TLS (--insecure-lab) has nothing to revoke.
 */
export function securityService(logger: Logger, target: RevocationTarget | undefined): SecurityServiceHandlers {
  return {
    UpdateRevocations: unary(logger, 'UpdateRevocations', async (request) => {
      if (!target) {
        throw new HvctlError('FAILED_PRECONDITION', 'this agent runs --insecure-lab without TLS: it authenticates nobody, so there is nothing to revoke', {
          unchanged: 'nothing was changed',
          nextSteps: ['give the agent a tls: section (docs/security.md), or run the lab with `hvctl lab up --tls`'],
        });
      }
      const list = parseSignedRevocationList(request.list, target.caPem, 'the pushed revocation list');
      const installed = await target.watcher.install(list);
      return {
        number: installed.number,
        previousNumber: installed.previousNumber,
        changed: installed.changed,
        serials: installed.list.serials.length,
        tokens: installed.list.tokens.length,
      };
    }),
  };
}
