import type { Topology } from '@hvctl/common';
import type { SubjectReport } from '../sla/compute.js';
import type { AlertCondition } from './types.js';

export interface RuleSettings {
  /** A node unreachable this long (and not in maintenance) is critical. */
  readonly nodeUnreachableAfterSeconds: number;
  /** A VM whose newest backup is older than this (or that has none) is a warning. */
  readonly backupMaxAgeSeconds: number;
  /** Warn when a VM's month would fall below the guarantee after this many more minutes down. */
  readonly slaAtRiskMinutes: number;
}

export interface RuleInputs {
  readonly topology: Topology;
  readonly nowMs: number;
  /** Month-to-date SLA reports per VM (empty when not computed). */
  readonly sla: readonly SubjectReport[];
}

const seconds = (value: number): string => (value >= 3600 ? `${(value / 3600).toFixed(1)} h` : value >= 120 ? `${Math.round(value / 60)} min` : `${Math.round(value)} s`);

/**
 * Every alert condition holding now. Pure: the engine de-duplicates and resolves.
 * - node-unreachable (critical): a node the watcher has not heard from for the threshold,
 *   unless it is in maintenance;
 * - resource-degraded (warning): a diskful replica not UpToDate or not connected;
 * - rpo-over-target (critical): the RPO estimate exceeds the target (or cannot be made);
 * - backup-too-old (warning): the newest snapshot of a VM is older than the maximum, or
 *   missing; only while a node that serves backups is reachable;
 * - sla-at-risk (warning): a VM that was down this month would fall below the guarantee
 *   within the margin, or already has.
 */
export function evaluateRules(inputs: RuleInputs, settings: RuleSettings): AlertCondition[] {
  const { topology, nowMs } = inputs;
  const conditions: AlertCondition[] = [];
  for (const node of topology.nodes) {
    if (!node.reachable && !node.maintenance && node.unreachableForSeconds >= settings.nodeUnreachableAfterSeconds) {
      conditions.push({ rule: 'node-unreachable', subject: node.name, severity: 'critical', summary: `${node.name} (${node.site}) unreachable for ${seconds(node.unreachableForSeconds)}: ${node.error}` });
    }
  }
  for (const resource of topology.resources) {
    if (resource.degraded) {
      const bad = resource.replicas.filter((replica) => !replica.witness && (replica.disk !== 'UpToDate' || !replica.peerReachable));
      conditions.push({
        rule: 'resource-degraded',
        subject: resource.name,
        severity: 'warning',
        summary: `${resource.name} degraded: ${bad.map((replica) => `${replica.node} ${replica.disk}/${replica.connection}`).join(', ') || 'fewer than two diskful replicas'}`,
      });
    }
    const { rpo } = resource;
    if (rpo.overTarget && rpo.reason !== 'in-sync') {
      conditions.push({
        rule: 'rpo-over-target',
        subject: resource.name,
        severity: 'critical',
        summary: `${resource.name} RPO ${rpo.seconds === null ? 'unknown' : seconds(rpo.seconds)} over the ${rpo.targetSeconds} s target (${rpo.reason})`,
      });
    }
  }
  const backupsVisible = topology.nodes.some((node) => node.reachable && node.capabilities.some((capability) => capability.startsWith('backup:')));
  if (backupsVisible) {
    const newest = new Map(topology.backups.map((backup) => [backup.vm, backup.lastAtMs]));
    for (const vm of topology.vms) {
      const lastAtMs = newest.get(vm.name) ?? 0;
      const age = (nowMs - lastAtMs) / 1000;
      if (lastAtMs === 0 || age > settings.backupMaxAgeSeconds) {
        conditions.push({
          rule: 'backup-too-old',
          subject: vm.name,
          severity: 'warning',
          summary: lastAtMs === 0 ? `${vm.name} has no backup` : `${vm.name}'s newest backup is ${seconds(age)} old (maximum ${seconds(settings.backupMaxAgeSeconds)})`,
        });
      }
    }
  }
  for (const report of inputs.sla) {
    // Only a VM that was down this month is at risk: a short allowance alone (a VM first seen late in the month) is not.
    if (report.downMinutes > 0 && report.budgetLeftMinutes < settings.slaAtRiskMinutes) {
      conditions.push({
        rule: 'sla-at-risk',
        subject: report.subject,
        severity: 'warning',
        summary:
          report.budgetLeftMinutes < 0
            ? `${report.subject} is ${report.minutesShort} min below the guarantee this month (${report.availabilityPercent.toFixed(3)}%, credit ${report.creditMinutes} min)`
            : `${report.subject} falls below the guarantee after ${report.budgetLeftMinutes.toFixed(1)} more minutes down this month`,
      });
    }
  }
  return conditions;
}
