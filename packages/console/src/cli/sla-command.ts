import { Command, InvalidArgumentError } from 'commander';
import type { GetReportResponse__Output } from '@hvctl/proto';
import { clusterConnector, deadline, HvctlError, unary, validateResourceName, type AgentClient, type ClusterFile } from '@hvctl/common';
import { loadCluster } from './cluster.js';
import { table } from './format.js';

/** The cluster's watchers: the nodes of its backup sites, in cluster-file order. */
export function watcherNodes(cluster: ClusterFile): { name: string; address: string }[] {
  const backupSites = new Set(cluster.sites.filter((site) => site.kind === 'backup').map((site) => site.name));
  return cluster.nodes.filter((node) => backupSites.has(node.site)).map((node) => ({ name: node.name, address: node.address }));
}

export interface FetchReportOptions {
  readonly month?: string;
  readonly vm?: string;
  readonly node?: string;
  readonly timeoutMs: number;
  readonly connect?: (address: string) => AgentClient;
}

/** Asks the first watcher that answers for the month's SLA report. */
export async function fetchSlaReport(cluster: ClusterFile, options: FetchReportOptions): Promise<GetReportResponse__Output> {
  const candidates = options.node ? cluster.nodes.filter((node) => node.name === options.node) : watcherNodes(cluster);
  if (candidates.length === 0) {
    throw new HvctlError('NOT_FOUND', options.node ? `"${options.node}" is not a member of cluster ${cluster.name}` : `cluster ${cluster.name} has no backup site, so nothing watches it`, {
      nextSteps: ['add a site with kind: backup and a node that runs the watcher (monitor: in its agent.yaml)', 'or name the watcher with --node'],
    });
  }
  // The cluster file's identity (or --ca/--cert/--key/--token), as every hvctl command.
  const connect = options.connect ?? clusterConnector(cluster);
  const failures: string[] = [];
  for (const node of candidates) {
    const client = connect(node.address);
    try {
      return await unary<GetReportResponse__Output>(`GetReport on ${node.name}`, (cb) =>
        client.availability.getReport({ month: options.month ?? '', vm: options.vm ?? '' }, deadline(options.timeoutMs), cb),
      );
    } catch (error) {
      if (error instanceof HvctlError && error.code === 'INVALID_ARGUMENT') throw error;
      failures.push(`${node.name}: ${(error as Error).message}`);
    } finally {
      client.close();
    }
  }
  throw new HvctlError('UNAVAILABLE', `no watcher answered, so no SLA report was read (${failures.join('; ')})`, {
    nextSteps: ['check that the backup site\'s agent runs (hvctl status) and has `monitor: {enabled: true}` in its agent.yaml'],
  });
}

const minutes = (value: number): string => (value === 0 ? '0' : value < 10 ? value.toFixed(2) : value.toFixed(1));
const percent = (value: number): string => `${value.toFixed(4)}%`;

/** The readable report. */
export function formatSlaReport(report: GetReportResponse__Output): string {
  const rule = report.rule;
  const lines: string[] = [];
  lines.push(
    `SLA ${report.month} ${report.final ? '(final)' : `(month to date, ${new Date(Number(report.nowUnixMs)).toISOString().replace(/\.\d+Z$/, 'Z')}; the rest of the month counts as available)`}, measured by ${report.watcher}`,
  );
  if (rule) {
    lines.push(
      `rule: ${rule.guaranteePercent}% a month, ${rule.creditMinutesPerMinuteShort} min of credit per minute short; maintenance ${rule.maintenance === 'exclude' ? 'excluded' : `counted as ${rule.maintenance}`}; unobserved time ${rule.unknown === 'exclude' ? 'excluded' : `counted as ${rule.unknown}`}`,
    );
  }
  lines.push('');
  if (report.vms.length === 0) {
    lines.push('no VMs recorded in this month');
  } else {
    lines.push(
      table(
        ['VM', 'SITE', 'AVAILABILITY', 'DOWN MIN', 'MAINT MIN', 'UNKNOWN MIN', 'ALLOWED MIN', 'SHORT MIN', 'CREDIT MIN'],
        report.vms.map((vm) => [
          vm.vm,
          vm.site || '-',
          percent(vm.availabilityPercent),
          minutes(vm.downMinutes),
          minutes(vm.minutes?.maintenance ?? 0),
          minutes(vm.minutes?.unknown ?? 0),
          minutes(vm.allowedDownMinutes),
          String(vm.minutesShort),
          minutes(vm.creditMinutes),
        ]),
      ),
    );
    lines.push('');
    lines.push(
      table(
        ['SITE', 'VMS', 'AVAILABILITY', 'DOWN MIN', 'MAINT MIN', 'UNKNOWN MIN', 'SHORT MIN', 'CREDIT MIN'],
        report.sites.map((site) => [
          site.site || '-',
          String(site.vms),
          percent(site.availabilityPercent),
          minutes(site.downMinutes),
          minutes(site.maintenanceMinutes),
          minutes(site.unknownMinutes),
          String(site.minutesShort),
          minutes(site.creditMinutes),
        ]),
      ),
    );
  }
  if (report.gaps.length > 0) {
    lines.push('');
    lines.push(
      `watcher gaps: ${report.gaps
        .map((gap) => `${new Date(Number(gap.startUnixMs)).toISOString()} for ${minutes((Number(gap.endUnixMs) - Number(gap.startUnixMs)) / 60_000)} min`)
        .join(', ')}`,
    );
  }
  return lines.join('\n');
}

const milliseconds = (value: string): number => {
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 100 || parsed > 120_000) throw new InvalidArgumentError('expected milliseconds from 100 to 120000');
  return parsed;
};

const month = (value: string): string => {
  const match = /^(\d{4})-(\d{2})$/.exec(value);
  if (!match || Number(match[2]) < 1 || Number(match[2]) > 12) throw new InvalidArgumentError('expected a month like 2026-11');
  return value;
};

const vmName = (value: string): string => {
  try {
    return validateResourceName(value, 'vm');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message);
  }
};

/** `hvctl sla`: availability per VM and per site, minutes below the guarantee, credit owed. */
export function slaCommand(): Command {
  return new Command('sla')
    .description("Report a month's availability per VM and per site, the minutes below the guarantee and the service credit owed, as recorded by the backup site's watcher.")
    .option('--month <YYYY-MM>', 'UTC month (default: the current month, to date)', month)
    .option('--vm <name>', 'only this VM', vmName)
    .option('--node <name>', 'ask this watcher node instead of the backup site\'s nodes')
    .option('--json', 'machine-readable output (the AvailabilityService.GetReport response)')
    .option('--timeout <ms>', 'deadline of the call', milliseconds, 5000)
    .addHelpText(
      'after',
      `
Examples:
  hvctl sla                          this month so far, every VM and site
  hvctl sla --month 2026-10          last month's final figures
  hvctl sla --vm web-1 --json        one VM, for billing scripts

Exit codes: 0 ok; 1 no watcher answered; 2 invalid input.
See docs/sla.md for how availability, maintenance, watcher gaps and credit are counted.`,
    )
    .action(async (options: { month?: string; vm?: string; node?: string; json?: boolean; timeout: number }, command: Command) => {
      const cluster = await loadCluster(command.optsWithGlobals<{ cluster?: string }>().cluster);
      const report = await fetchSlaReport(cluster, {
        timeoutMs: options.timeout,
        ...(options.month ? { month: options.month } : {}),
        ...(options.vm ? { vm: options.vm } : {}),
        ...(options.node ? { node: options.node } : {}),
      });
      console.log(options.json ? JSON.stringify(report, null, 2) : formatSlaReport(report));
    });
}
