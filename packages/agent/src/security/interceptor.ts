import * as grpc from '@grpc/grpc-js';
import { HvctlError, toServiceError, type Logger } from '@hvctl/common';
import type { Authenticator } from './authenticator.js';
import { attachCaller, type Caller } from './caller.js';
import { authorize, needsRequest, type WorkflowLookup } from './permissions.js';
import { unverifiedPeer } from './tls-peer.js';

export interface AuthInterceptorOptions {
  readonly authenticator: Authenticator;
  /** The kind of a workflow by id, for Abort and Resume. */
  readonly lookup: WorkflowLookup;
  readonly logger: Logger;
  /**
   * Told of every call refused to an authenticated caller (the audit journal records it).
   * Unauthenticated refusals are only logged: journaling them would let anyone fill the disk.
   */
  readonly onDenied?: (caller: Caller, method: string, reason: string) => void;
  /** Node names that run the autopilot (the backup site's node): they may also submit failover and start workflows. */
  readonly autopilotNodes?: readonly string[];
}

/**
 * The server interceptor every call passes, health and reflection included: who is
 * calling (UNAUTHENTICATED when nobody we trust), may they call this method
 * (PERMISSION_DENIED naming the role needed, deny by default), and only then does the
 * handler see the call. Methods whose rule depends on the request (workflow kind,
 * restore overwrite) are decided when the request message arrives, before the handler
 * runs. A refused call never reaches a handler, hence never a driver.
 */
export function authInterceptor(options: AuthInterceptorOptions): grpc.ServerInterceptor {
  const { authenticator, lookup, logger, onDenied } = options;
  const autopilotNodes = new Set(options.autopilotNodes ?? []);
  return (method, call) => {
    const path = method.path;
    let caller: Caller | undefined;
    let refused = false;
    const refuse = (error: unknown): void => {
      if (refused) return;
      refused = true;
      const status = toServiceError(error, (cause) => logger.error({ err: cause, method: path }, 'authentication failed unexpectedly'));
      logger.warn({ method: path, caller, code: status.code, reason: status.details }, 'call refused');
      if (caller && status.code === grpc.status.PERMISSION_DENIED) onDenied?.(caller, path, status.details ?? '');
      call.sendStatus({
        code: status.code ?? grpc.status.UNAUTHENTICATED,
        details: status.details ?? 'refused',
        metadata: status.metadata ?? new grpc.Metadata(),
      });
    };
    const deny = (reason: string): HvctlError =>
      new HvctlError('PERMISSION_DENIED', reason, {
        unchanged: 'nothing was changed',
        nextSteps: ['ask an admin for a certificate or token with the role named above (hvctl certs issue/token NAME --role ROLE)'],
      });
    return new grpc.ServerInterceptingCall(call, {
      start: (next) =>
        next({
          onReceiveMetadata: (metadata, forward) => {
            authenticator
              .authenticate({ metadata, getAuthContext: () => call.getAuthContext(), unverifiedPeer: () => unverifiedPeer(call), path })
              .then(async (who) => {
                caller = who;
                // --insecure-lab: nobody is authenticated, so nothing can be told apart to
                // authorise (the console and the other agents are the same anonymous caller).
                if (who.via === 'insecure') {
                  attachCaller(metadata, who);
                  forward(metadata);
                  return;
                }
                if (!needsRequest(path)) {
                  const decision = await authorize(path, who.role, undefined, lookup);
                  if (!decision.allowed) return refuse(deny(decision.reason));
                }
                attachCaller(metadata, who);
                forward(metadata);
              })
              .catch(refuse);
          },
          onReceiveMessage: (message, forward) => {
            if (refused) return;
            if (!needsRequest(path) || caller?.via === 'insecure') return forward(message);
            const role = caller?.role;
            if (!role) return refuse(new HvctlError('UNAUTHENTICATED', 'a request arrived before its caller was established'));
            authorize(path, role, message, lookup, { autopilot: role === 'node' && autopilotNodes.has(caller?.name ?? '') })
              .then((decision) => (decision.allowed ? forward(message) : refuse(deny(decision.reason))))
              .catch(refuse);
          },
          onReceiveHalfClose: (forward) => {
            if (!refused) forward();
          },
        }),
    });
  };
}
