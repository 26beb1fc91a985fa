import type { WorkflowsServiceHandlers, WorkflowSpec__Output, Workflow__Output } from '@hvctl/proto';
import { invalidArgument, toServiceError, validateOwner, validateRequestId, type Logger } from '@hvctl/common';
import type { ServiceError } from '@grpc/grpc-js';
import type { RequestLedger } from '../ledger.js';
import type { WorkflowEngine } from '../workflows/engine.js';
import { PacedSender, WATCH_INTERVAL_MS } from '../workflows/paced-sender.js';
import { callerOf, type CallerSource } from '../security/caller.js';
import { unary } from './handler.js';

const WORKFLOW_ID = /^wf-[a-z0-9-]{1,60}$/;

function checkId(id: string): string {
  if (!WORKFLOW_ID.test(id)) throw invalidArgument(`"${id.slice(0, 70)}" is not a workflow id (like wf-20261123-1a2b3c4d)`);
  return id;
}

/** A part of an agent acting on its own ("autopilot", "scheduler"), as in `autopilot@bak-1`. */
const AGENT_PART = /^([a-z][a-z-]{0,30})@(.+)$/;

/**
 * Who runs or stops a workflow: the authenticated caller's name (a certificate or token
 * cannot claim someone else); an agent may name the part of itself that acts
 * (`autopilot@bak-1` for the node bak-1), never another node; only without authentication
 * (--insecure-lab) what the client says.
 */
function ownerOf(call: CallerSource, claimed: string): string {
  const caller = callerOf(call);
  if (caller.via === 'insecure') return validateOwner(claimed) || 'unknown';
  if (caller.role === 'node' && AGENT_PART.exec(claimed)?.[2] === caller.name) return claimed;
  return caller.name;
}

function checkSpec(spec: WorkflowSpec__Output | null): WorkflowSpec__Output {
  if (!spec?.kind) throw invalidArgument('spec is required: one of migrate, drain, undrain, failover, failback, backup, start, stop');
  return spec;
}

/** hvctl.v1.WorkflowsService: plan, run, watch, abort and adopt workflows on this coordinator. */
export function workflowsService(logger: Logger, engine: WorkflowEngine, ledger: RequestLedger): WorkflowsServiceHandlers {
  return {
    Plan: unary(logger, 'Plan', async (request) => ({ plan: await engine.plan(checkSpec(request.spec)) })),
    Submit: unary(logger, 'Submit', (request, call) => {
      const spec = checkSpec(request.spec);
      const owner = ownerOf(call, request.owner);
      return ledger.once('Submit', validateRequestId(request.requestId), async () => ({ workflow: await engine.submit(spec, owner) }));
    }),
    // Updates at most every WATCH_INTERVAL_MS, the newest state each time; the final state always, then the end.
    WatchWorkflow: (call) => {
      let unsubscribe: (() => void) | undefined;
      let closed = false;
      const updates = new PacedSender((_stream, workflow, done) => {
        if (closed) return done();
        call.write({ workflow }, () => done());
        if (!engine.isRunning(workflow.id) && workflow.state !== 'running') {
          close();
          call.end();
        }
      }, WATCH_INTERVAL_MS);
      const close = (): void => {
        closed = true;
        unsubscribe?.();
        updates.stop();
      };
      call.on('cancelled', close);
      call.on('close', close);
      try {
        const id = checkId(call.request.id);
        // The first state goes out at once (inside watch); a workflow not running here (finished, or a journal copy) ends with it.
        unsubscribe = engine.watch(id, (workflow: Workflow__Output) => updates.offer('stream', workflow));
        if (!engine.isRunning(id) && !closed) {
          close();
          call.end();
        }
      } catch (error) {
        call.emit('error', toServiceError(error, (cause) => logger.error({ err: cause }, 'WatchWorkflow failed')) as ServiceError);
      }
    },
    ListWorkflows: unary(logger, 'ListWorkflows', async () => ({ workflows: await engine.list() })),
    Abort: unary(logger, 'Abort', async (request, call) => ({ workflow: await engine.abort(checkId(request.id), ownerOf(call, request.owner)) })),
    Resume: unary(logger, 'Resume', async (request, call) => ({ workflow: await engine.resume(checkId(request.id), ownerOf(call, request.owner)) })),
    Record: unary(logger, 'Record', async (request) => {
      if (!request.workflow || !WORKFLOW_ID.test(request.workflow.id)) throw invalidArgument('record needs a workflow with a valid id');
      await engine.record(request.workflow);
      return {};
    }),
  };
}
