/** A route from `ip -j route` (iproute2 6.x, docs/reference/tools.md §5.1). */
export interface KernelRoute {
  /** CIDR form; host routes get their implicit /32 (or /128) back. "default" stays "default". */
  readonly prefix: string;
  /** unicast unless printed (blackhole, unreachable, local, …). */
  readonly type: string;
  readonly gateway?: string;
  readonly device?: string;
  /** kernel, static, boot, bird, dhcp, … (absent in the output when it is `boot` or fixed by the filter). */
  readonly protocol: string;
  readonly metric: number;
  readonly table?: string;
  readonly nexthops: readonly { readonly gateway?: string; readonly device?: string; readonly weight?: number }[];
}

/** Output of `ip -j route` that is not the documented array. */
export class IpRouteFormatError extends Error {
  override readonly name = 'IpRouteFormatError';
}

type Json = Record<string, unknown>;
const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined => (typeof value === 'string' ? value : undefined);

/** Adds the /32 (/128) that iproute2 leaves off host routes. */
export function normalisePrefix(dst: string): string {
  if (dst === 'default' || dst.includes('/')) return dst;
  return dst.includes(':') ? `${dst}/128` : `${dst}/32`;
}

/**
 * Parses `ip -j route [show …]`. Call it only after checking the exit status: on some
 * errors iproute2 prints a lone `[` (invalid JSON) and exits 2.
 */
export function parseIpRoutes(json: string): KernelRoute[] {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch (error) {
    throw new IpRouteFormatError(`ip -j route printed invalid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new IpRouteFormatError('ip -j route did not print an array');
  return raw.filter(isObject).map((entry): KernelRoute => {
    const gateway = text(entry['gateway']);
    const device = text(entry['dev']);
    const table = text(entry['table']);
    return {
      prefix: normalisePrefix(text(entry['dst']) ?? 'default'),
      type: text(entry['type']) ?? 'unicast',
      ...(gateway !== undefined ? { gateway } : {}),
      ...(device !== undefined ? { device } : {}),
      protocol: text(entry['protocol']) ?? 'boot',
      metric: typeof entry['metric'] === 'number' ? entry['metric'] : 0,
      ...(table !== undefined ? { table } : {}),
      nexthops: (Array.isArray(entry['nexthops']) ? entry['nexthops'] : []).filter(isObject).map((hop) => {
        const hopGateway = text(hop['gateway']);
        const hopDevice = text(hop['dev']);
        return {
          ...(hopGateway !== undefined ? { gateway: hopGateway } : {}),
          ...(hopDevice !== undefined ? { device: hopDevice } : {}),
          ...(typeof hop['weight'] === 'number' ? { weight: hop['weight'] } : {}),
        };
      }),
    };
  });
}
