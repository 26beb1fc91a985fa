import type { Domain__Output, KvmServiceHandlers, ListDomainsResponse__Output, MigrateResponse } from '@hvctl/proto';
import { HvctlError, failedPrecondition, invalidArgument, notFound, validateNodeName, validateOwner, validateRequestId, validateResourceName } from '@hvctl/common';
import type { AgentContext } from '../context.js';
import { callerOf } from '../security/caller.js';
import { serverStream, unary } from './handler.js';
import { UnchangedAnswer } from './response-cache.js';

const DEFAULT_SHUTDOWN_SECONDS = 60;
const MAX_SHUTDOWN_SECONDS = 600;
/** How far ahead of this node's clock an intent's time may be (clocks of a cluster differ a little). */
const MAX_INTENT_CLOCK_SKEW_MS = 60_000;

/** hvctl.v1.KvmService: the node's domains. */
export function kvmService(ctx: AgentContext): KvmServiceHandlers {
  const { logger, ledger, drivers, flags, identity } = ctx;
  const find = async (name: string): Promise<Domain__Output> => {
    const domain = (await drivers.kvm.list()).find((candidate) => candidate.name === name);
    if (!domain) throw notFound(`domain "${name}" is not defined on ${identity.name}`);
    return domain;
  };

  // Checked here, for every driver: QEMU on a real host would only fail later, opening a
  // Secondary DRBD device ("Cannot access storage file"), and DRBD 9's auto-promote could
  // even promote it on open. Nothing is run when a disk is not Primary here.
  const requirePrimary = async (domain: Domain__Output): Promise<void> => {
    if (!domain.resources.length) return;
    const resources = await drivers.drbd.list();
    for (const name of domain.resources) {
      const role = resources.find((resource) => resource.name === name)?.role;
      if (role === 'Primary') continue;
      throw failedPrecondition(`${domain.name} cannot start on ${identity.name}: its DRBD resource ${name} is ${role ? role : 'not configured'} here, not Primary`, {
        unchanged: `${domain.name} stays ${domain.stateReason || 'shut off'}; nothing was run`,
        nextSteps: [`promote ${name} on ${identity.name} first (\`drbdadm primary ${name}\`, only if ${domain.name} runs nowhere else), or start ${domain.name} where ${name} is Primary`],
      });
    }
  };

  // Sorted and encoded once per change of the domains (the server encodes it once: encodeOnce).
  const listed = new UnchangedAnswer<Domain__Output[], ListDomainsResponse__Output>((domains) => ({
    domains: [...domains].sort((a, b) => a.name.localeCompare(b.name)),
  }));

  return {
    ListDomains: unary(logger, 'ListDomains', async () => listed.answer(await drivers.kvm.list())),
    GetDomain: unary(logger, 'GetDomain', async (request) => ({ domain: await find(validateResourceName(request.name)) })),
    Start: unary(logger, 'Start', (request) => {
      const name = validateResourceName(request.name);
      return ledger.once('Start', validateRequestId(request.requestId), async () => {
        const domain = await find(name);
        if (flags.get().cordoned && !request.ignoreCordon && domain.state !== 'DOMAIN_STATE_RUNNING') {
          throw failedPrecondition(`${identity.name} is cordoned: no VMs may be started here`, {
            nextSteps: [`uncordon ${identity.name}, or start ${name} on its peer`],
          });
        }
        if (domain.state !== 'DOMAIN_STATE_RUNNING') await requirePrimary(domain);
        return { domain: await drivers.kvm.start(name) };
      });
    }),
    Shutdown: unary(logger, 'Shutdown', (request) => {
      const name = validateResourceName(request.name);
      if (request.timeoutSeconds > MAX_SHUTDOWN_SECONDS) {
        throw invalidArgument(`timeout_seconds ${request.timeoutSeconds} is above the limit of ${MAX_SHUTDOWN_SECONDS}`);
      }
      return ledger.once('Shutdown', validateRequestId(request.requestId), async () => {
        await find(name);
        const seconds = request.timeoutSeconds || DEFAULT_SHUTDOWN_SECONDS;
        return { domain: await drivers.kvm.shutdown(name, seconds * 1000) };
      });
    }),
    Destroy: unary(logger, 'Destroy', (request) => {
      const name = validateResourceName(request.name);
      return ledger.once('Destroy', validateRequestId(request.requestId), async () => {
        await find(name);
        return { domain: await drivers.kvm.destroy(name) };
      });
    }),
    SetIntent: unary(logger, 'SetIntent', (request, call) => {
      const name = validateResourceName(request.name);
      const intent = request.intent === 'DOMAIN_INTENT_RUNNING' ? 'running' : request.intent === 'DOMAIN_INTENT_STOPPED' ? 'stopped' : undefined;
      if (!intent) throw invalidArgument(`intent ${String(request.intent)} is not valid: use DOMAIN_INTENT_RUNNING or DOMAIN_INTENT_STOPPED`);
      const setUnixMs = Number(request.setUnixMs);
      const now = Date.now();
      if (!Number.isSafeInteger(setUnixMs) || setUnixMs < 0 || setUnixMs > now + MAX_INTENT_CLOCK_SKEW_MS) {
        throw invalidArgument(`set_unix_ms ${String(request.setUnixMs)} is not a time up to ${MAX_INTENT_CLOCK_SKEW_MS / 1000} s ahead of this node's clock`);
      }
      const onBehalfOf = validateOwner(request.onBehalfOf, 'on_behalf_of');
      const caller = callerOf(call);
      // Only another agent (a workflow's coordinator) or an unauthenticated lab client may name someone else.
      if (onBehalfOf && onBehalfOf !== caller.name && caller.role !== 'node' && caller.via !== 'insecure') {
        throw invalidArgument(`on_behalf_of ${onBehalfOf} is for agents running a workflow; you are ${caller.name}`);
      }
      const setBy = onBehalfOf && onBehalfOf !== caller.name ? `${onBehalfOf} via ${caller.name}` : caller.name;
      return ledger.once('SetIntent', validateRequestId(request.requestId), async () => {
        await find(name);
        return drivers.kvm.setIntent(name, { intent, setUnixMs: setUnixMs || now, setBy });
      });
    }),
    Migrate: serverStream(logger, 'Migrate', async (request, call) => {
      const name = validateResourceName(request.name);
      const target = validateNodeName(request.targetNode, 'target_node');
      if (target === identity.name) throw invalidArgument(`target_node is ${target}, the node the domain is on`);
      const send = (message: MigrateResponse): void => {
        if (!call.cancelled) call.write(message);
      };
      // Cancelling the call aborts the migration job (like Ctrl-C on `virsh migrate`): until
      // the switchover, the VM stays on this node.
      const cancel = new AbortController();
      call.on('cancelled', () => cancel.abort());
      const done = await ledger.stream<Domain__Output, MigrateResponse>(
        'Migrate',
        validateRequestId(request.requestId),
        async (emit) => {
          await find(name);
          if (cancel.signal.aborted) throw new HvctlError('ABORTED', `migration of ${name} cancelled before it started; nothing was changed`);
          return drivers.kvm.migrate(name, { targetNode: target, onProgress: (progress) => emit({ progress }), signal: cancel.signal });
        },
        send,
      );
      send({ done });
    }),
  };
}
