/** The alert rules the watcher evaluates. */
export type AlertRule = 'node-unreachable' | 'resource-degraded' | 'rpo-over-target' | 'backup-too-old' | 'sla-at-risk' | 'autopilot';

export type AlertSeverity = 'critical' | 'warning';

/** A rule's condition holding for one subject now. */
export interface AlertCondition {
  readonly rule: AlertRule;
  /** What the alert is about: a node, a DRBD resource or a VM name. */
  readonly subject: string;
  readonly severity: AlertSeverity;
  /** One line for a human ("msk-1 unreachable for 42 s"). */
  readonly summary: string;
}

/**
 * An alert notification, as hooks receive it (one JSON object). `id` is `rule/subject`:
 * the key of de-duplication, stable across firing and resolved.
 */
export interface Alert extends AlertCondition {
  readonly id: string;
  readonly status: 'firing' | 'resolved';
  /** When the condition was first seen (Unix ms). */
  readonly startsAtUnixMs: number;
  /** When it was resolved (Unix ms); 0 while firing. */
  readonly endsAtUnixMs: number;
  readonly cluster: string;
  /** The node whose agent raised it (the watcher). */
  readonly watcher: string;
}

export const alertId = (condition: Pick<AlertCondition, 'rule' | 'subject'>): string => `${condition.rule}/${condition.subject}`;
