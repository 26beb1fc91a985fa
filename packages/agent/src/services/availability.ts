import type { AvailabilityServiceHandlers, GetReportResponse } from '@hvctl/proto';
import { HvctlError, validateRequestId, validateResourceName, type Logger } from '@hvctl/common';
import type { Monitor } from '../monitor/monitor.js';
import { formatMonth, parseMonth } from '../sla/compute.js';
import type { SlaReport } from '../sla/report.js';
import { unary } from './handler.js';

/** The report as it goes on the wire. */
export function reportMessage(report: SlaReport, watcher: string): GetReportResponse {
  return {
    month: formatMonth(report.month),
    nowUnixMs: report.nowMs,
    final: report.final,
    rule: {
      guaranteePercent: report.rule.guaranteePercent,
      creditMinutesPerMinuteShort: report.rule.creditMinutesPerMinuteShort,
      maintenance: report.rule.maintenance,
      unknown: report.rule.unknown,
    },
    vms: report.vms.map((vm) => ({
      vm: vm.subject,
      site: vm.site,
      minutesInMonth: vm.minutesInMonth,
      minutes: vm.minutes,
      countedMinutes: vm.countedMinutes,
      downMinutes: vm.downMinutes,
      availabilityPercent: vm.availabilityPercent,
      allowedDownMinutes: vm.allowedDownMinutes,
      minutesShort: vm.minutesShort,
      creditMinutes: vm.creditMinutes,
      budgetLeftMinutes: vm.budgetLeftMinutes,
    })),
    sites: report.sites.map((site) => ({ ...site })),
    gaps: report.gaps.map((gap) => ({ startUnixMs: gap.startMs, endUnixMs: gap.endMs })),
    watcher,
  };
}

/**
 * hvctl.v1.AvailabilityService: the watcher's SLA reports, availability journal and
 * firing alerts. Without a monitor (any agent but the watcher) every call is refused.
 */
export function availabilityService(logger: Logger, self: string, monitor: Monitor | undefined): AvailabilityServiceHandlers {
  const need = (): Monitor => {
    if (monitor) return monitor;
    throw new HvctlError('FAILED_PRECONDITION', `${self} does not run the cluster watcher, so it has no availability records; nothing was read`, {
      nextSteps: ['ask the backup site\'s agent (hvctl sla finds it from the cluster file)', 'or enable `monitor:` in this agent\'s config (see agent.example.yaml)'],
    });
  };
  return {
    GetReport: unary(logger, 'GetReport', async (request) => {
      const watcher = need();
      const month = request.month ? parseMonth(request.month) : undefined;
      const vm = request.vm ? validateResourceName(request.vm, 'vm') : undefined;
      return reportMessage(await watcher.report(month, vm), self);
    }),
    ListTransitions: unary(logger, 'ListTransitions', async (request) => {
      const watcher = need();
      const to = Number(request.toUnixMs) || Date.now() + 1;
      return {
        transitions: (await watcher.transitions(Number(request.fromUnixMs) || 0, to)).map((record) => ({
          atUnixMs: record.atMs,
          kind: record.kind,
          subject: record.subject,
          state: record.state,
          site: 'site' in record ? record.site : '',
          node: 'node' in record ? record.node : '',
          detail: record.detail,
        })),
      };
    }),
    ListAlerts: unary(logger, 'ListAlerts', async () => ({ alerts: need().firing() })),
    ForgetVm: unary(logger, 'ForgetVm', async (request) => {
      const name = validateResourceName(request.name);
      validateRequestId(request.requestId);
      return { forgotten: await need().forgetVm(name) };
    }),
  };
}
