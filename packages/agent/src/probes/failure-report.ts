import { HvctlError, ToolError } from '@hvctl/common';
import type { Area, Drivers } from '../drivers/types.js';

const AREAS: readonly Area[] = ['drbd', 'kvm', 'routing', 'backup', 'host'];

/**
 * Does this failure mean the driver's tool is missing or unreachable (not just that the
 * operation was refused)? True for a missing executable and for UNAVAILABLE anywhere in
 * the cause chain (BIRD's control socket not answering, a tool error rewrapped by a driver).
 */
export function meansToolUnavailable(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 5; current = current.cause, depth += 1) {
    if (current instanceof ToolError && current.failure === 'missing') return true;
    if (current instanceof HvctlError && current.code === 'UNAVAILABLE') return true;
  }
  return false;
}

/**
 * The same drivers, each call that fails with a tool-unavailable error also reported to
 * `onUnavailable(area)` (the error still reaches the caller). Probes are not reported:
 * the capability watch runs them itself.
 */
export function reportUnavailableTools(drivers: Drivers, onUnavailable: (area: Area, error: unknown) => void): Drivers {
  const wrap = <T extends object>(area: Area, driver: T): T =>
    new Proxy(driver, {
      get(target, property, receiver) {
        const value: unknown = Reflect.get(target, property, receiver);
        if (typeof value !== 'function' || property === 'probe' || property === 'constructor') return value;
        return (...args: unknown[]): unknown => {
          const result: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
          if (result instanceof Promise) {
            result.catch((error: unknown) => {
              if (meansToolUnavailable(error)) onUnavailable(area, error);
            });
          }
          return result;
        };
      },
    });
  return Object.fromEntries(AREAS.map((area) => [area, wrap(area, drivers[area])])) as unknown as Drivers;
}
