import type { AutopilotAction, AutopilotDecision, AutopilotPause, AutopilotServiceHandlers } from '@hvctl/proto';
import { HvctlError, invalidArgument, validateNodeName, validateRequestId, type Logger } from '@hvctl/common';
import type { RequestLedger } from '../ledger.js';
import type { ActionLog, Autopilot, Pause, Recorded } from '../autopilot/controller.js';
import { callerOf } from '../security/caller.js';
import { unary } from './handler.js';

/** The longest pause: 30 days. */
const MAX_PAUSE_SECONDS = 30 * 24 * 3600;

const decisionMessage = (decision: Recorded): AutopilotDecision => ({
  kind: decision.kind,
  subject: decision.subject,
  outcome: decision.outcome,
  code: decision.code,
  summary: decision.summary,
  evidence: [...decision.evidence],
  countdownMs: decision.countdownMs,
  lostForMs: decision.lostForMs,
  decidedUnixMs: decision.decidedMs,
  sinceUnixMs: decision.sinceMs,
});

const actionMessage = (action: ActionLog): AutopilotAction => ({
  kind: action.kind,
  subject: action.subject,
  site: action.site,
  atUnixMs: action.atMs,
  workflowId: action.workflowId,
  coordinator: action.coordinator,
  outcome: action.outcome,
  detail: action.detail,
});

const pauseMessage = (pause: Pause): AutopilotPause => ({ subject: pause.subject, untilUnixMs: pause.untilMs, by: pause.by, sinceUnixMs: pause.sinceMs });

/** A node or VM name (both follow the node-name grammar), or "" for everything. */
function subjectOf(value: string): string {
  return value ? validateNodeName(value, 'subject') : '';
}

/**
 * hvctl.v1.AutopilotService: status, explanations and the operator's controls of the
 * autopilot. Only the backup site's agent runs it; every other agent refuses, naming it.
 */
export function autopilotService(logger: Logger, self: string, autopilot: Autopilot | undefined, ledger: RequestLedger): AutopilotServiceHandlers {
  const need = (): Autopilot => {
    if (autopilot) return autopilot;
    throw new HvctlError('FAILED_PRECONDITION', `${self} does not run the autopilot; nothing was read or changed`, {
      nextSteps: ["ask the backup site's agent (hvctl autopilot finds it from the cluster file)", 'the autopilot runs on the backup site\'s node when its `monitor:` is enabled'],
    });
  };
  return {
    GetStatus: unary(logger, 'GetStatus', async () => {
      const status = need().status();
      return {
        watcher: self,
        policy: {
          mode: status.policy.mode,
          graceSeconds: status.policy.graceSeconds,
          maxFailoversPerSitePerHour: status.policy.maxFailoversPerSitePerHour,
          restartWindowMinutes: status.policy.restartWindowMinutes,
          holdDownSeconds: status.policy.holdDownSeconds,
        },
        mode: status.mode,
        modeSetBy: status.modeSetBy,
        pauses: status.pauses.map(pauseMessage),
        decisions: status.decisions.map(decisionMessage),
        actions: status.actions.map(actionMessage),
        canSubmit: [...status.canSubmit],
        nowUnixMs: Date.now(),
        watching: [...status.watching],
      };
    }),
    Pause: unary(logger, 'Pause', async (request, call) => {
      const pilot = need();
      const seconds = Number(request.forSeconds);
      if (!Number.isInteger(seconds) || seconds < 0 || seconds > MAX_PAUSE_SECONDS) throw invalidArgument(`for_seconds must be from 0 (until resumed) to ${MAX_PAUSE_SECONDS} (30 days); nothing was changed`);
      const subject = subjectOf(request.subject);
      return ledger.once('Pause', validateRequestId(request.requestId), async () => ({ pauses: (await pilot.pause(subject, seconds, callerOf(call).name)).map(pauseMessage) }));
    }),
    Resume: unary(logger, 'Resume', async (request, call) => {
      const pilot = need();
      const subject = subjectOf(request.subject);
      return ledger.once('Resume', validateRequestId(request.requestId), async () => ({ pauses: (await pilot.resume(subject, callerOf(call).name)).map(pauseMessage) }));
    }),
    SetMode: unary(logger, 'SetMode', async (request, call) => {
      const pilot = need();
      return ledger.once('SetMode', validateRequestId(request.requestId), async () => {
        const result = await pilot.setMode(request.mode, callerOf(call).name);
        return { mode: result.mode, modeSetBy: result.by };
      });
    }),
    Explain: unary(logger, 'Explain', async (request) => {
      if (!request.subject) throw invalidArgument('subject is required: a node or VM name; nothing was read');
      const explained = need().explain(subjectOf(request.subject));
      return {
        decision: decisionMessage(explained.decision),
        history: explained.history.map(decisionMessage),
        actions: explained.actions.map(actionMessage),
        mode: need().effectiveMode(),
        ...(explained.pause ? { pause: pauseMessage(explained.pause) } : {}),
      };
    }),
  };
}
