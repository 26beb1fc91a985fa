import { DEFAULT_RPO_TARGET_SECONDS } from '@hvctl/common';
import type { HookConfig } from '../alerts/hooks.js';
import { parseSlaRule, type SlaRule } from '../sla/rule.js';
import { parseMaintenanceWindows, type MaintenanceWindow } from '../sla/windows.js';

/** The `monitor:` section of agent.yaml: the cluster watcher (runs on the backup site). */
export interface MonitorConfig {
  readonly enabled: boolean;
  /** RPO target in seconds (default 60, the brief's 1 minute). */
  readonly rpoTargetSeconds: number;
  /** A node unreachable this long raises node-unreachable (default 30). */
  readonly nodeUnreachableAfterSeconds: number;
  /** Newest backup older than this raises backup-too-old (default 26 h). */
  readonly backupMaxAgeSeconds: number;
  /** SLA at risk when fewer minutes of downtime remain in the month's allowance (default 60). */
  readonly slaAtRiskMinutes: number;
  /** A degraded resource must stay degraded this long before it alerts (default 10; a resync after a blip is not paged). */
  readonly resourceDegradedAfterSeconds: number;
  /** A firing alert resolves after its condition has been clear this long (default 10 s). */
  readonly resolveAfterSeconds: number;
  /** Evaluation throttle: at most one evaluation per this many ms (default 500). */
  readonly evaluateEveryMs: number;
  readonly sla: SlaRule;
  /** Planned maintenance declared in `sla.maintenanceWindows`. */
  readonly maintenanceWindows: readonly MaintenanceWindow[];
  readonly hooks: readonly HookConfig[];
  /** Delivery attempts per alert and hook (default 5). */
  readonly hookAttempts: number;
}

const DEFAULT_HOOK_TIMEOUT_MS = 10_000;

/** Validates the `monitor:` mapping; absent means disabled. `fail` throws. */
export function parseMonitorConfig(raw: unknown, fail: (message: string) => never): MonitorConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object') fail('monitor must be a mapping');
  const doc = raw as Record<string, unknown>;
  const number = (key: string, fallback: number, min: number): number => {
    const value = Number(doc[key] ?? fallback);
    if (!(value >= min)) fail(`monitor.${key} must be a number of at least ${min}`);
    return value;
  };
  const hooks = (Array.isArray(doc['hooks']) ? doc['hooks'] : doc['hooks'] === undefined ? [] : fail('monitor.hooks must be a list')).map(
    (entry: unknown, index: number): HookConfig => {
      const hook = (entry ?? {}) as Record<string, unknown>;
      const timeoutMs = Number(hook['timeoutMs'] ?? DEFAULT_HOOK_TIMEOUT_MS);
      if (!(timeoutMs > 0)) fail(`monitor.hooks[${index}].timeoutMs must be positive`);
      if (Array.isArray(hook['command'])) {
        const command = hook['command'].map(String);
        if (command.length === 0 || !command[0]?.startsWith('/')) fail(`monitor.hooks[${index}].command must be an argv list starting with an absolute path`);
        return { command, timeoutMs };
      }
      if (typeof hook['url'] === 'string') {
        let url: URL;
        try {
          url = new URL(hook['url']);
        } catch {
          return fail(`monitor.hooks[${index}].url is not a URL`);
        }
        if (url.protocol !== 'http:' && url.protocol !== 'https:') fail(`monitor.hooks[${index}].url must be http or https`);
        return { url: url.toString(), timeoutMs };
      }
      return fail(`monitor.hooks[${index}] needs command: [argv...] or url: (a shell string is not accepted)`);
    },
  );
  return {
    enabled: doc['enabled'] !== false,
    rpoTargetSeconds: number('rpoTargetSeconds', DEFAULT_RPO_TARGET_SECONDS, 1),
    nodeUnreachableAfterSeconds: number('nodeUnreachableAfterSeconds', 30, 0),
    backupMaxAgeSeconds: number('backupMaxAgeHours', 26, 0) * 3600,
    slaAtRiskMinutes: number('slaAtRiskMinutes', 60, 0),
    resourceDegradedAfterSeconds: number('resourceDegradedAfterSeconds', 10, 0),
    resolveAfterSeconds: number('resolveAfterSeconds', 10, 0),
    evaluateEveryMs: number('evaluateEveryMs', 500, 50),
    sla: parseSlaRule(doc['sla'], (message) => fail(`monitor.${message}`)),
    maintenanceWindows: parseMaintenanceWindows((doc['sla'] as Record<string, unknown> | undefined)?.['maintenanceWindows'], (message) => fail(`monitor.${message}`)),
    hooks,
    hookAttempts: number('hookAttempts', 5, 1),
  };
}
