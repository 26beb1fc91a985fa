import { HvctlError, validateAddress } from '@hvctl/common';

/** agent.yaml `metrics:`; absent means no metrics endpoint. */
export interface MetricsConfig {
  /** host:port the Prometheus endpoint binds to (only there). */
  readonly listen: string;
}

/** Validates agent.yaml's `metrics:` section. */
export function parseMetricsConfig(raw: unknown, fail: (message: string) => never): MetricsConfig | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) fail('metrics must be a mapping with `listen: HOST:PORT`');
  const doc = raw as Record<string, unknown>;
  for (const key of Object.keys(doc)) if (key !== 'listen') fail(`metrics.${key} is not a known key (listen)`);
  try {
    return { listen: validateAddress(String(doc['listen'] ?? ''), 'metrics.listen') };
  } catch (error) {
    if (error instanceof HvctlError) fail(error.message);
    throw error;
  }
}
