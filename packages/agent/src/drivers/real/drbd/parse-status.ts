import type { DrbdConnectionState, DrbdDeviceState, DrbdPeerDeviceState, DrbdResourceState } from './model.js';

/** Thrown when `drbdsetup status --json` does not have the documented shape. */
export class DrbdStatusFormatError extends Error {
  override readonly name = 'DrbdStatusFormatError';
}

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json => typeof value === 'object' && value !== null && !Array.isArray(value);
const str = (value: unknown, fallback: string): string => (typeof value === 'string' ? value : fallback);
const num = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) ? value : undefined);
const bool = (value: unknown): boolean => value === true;
const list = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObject) : []);

function device(raw: Json): DrbdDeviceState {
  const size = num(raw['size']);
  const open = raw['open'];
  return {
    volume: num(raw['volume']) ?? 0,
    minor: num(raw['minor']) ?? -1,
    diskState: str(raw['disk-state'], 'DUnknown'),
    client: bool(raw['client']),
    // Older utils omit quorum; a device without the key is not known to lack it.
    quorum: raw['quorum'] === undefined ? true : bool(raw['quorum']),
    ...(size !== undefined ? { sizeKiB: size } : {}),
    ...(typeof open === 'boolean' ? { open } : {}),
  };
}

function peerDevice(raw: Json): DrbdPeerDeviceState {
  const outOfSync = num(raw['out-of-sync']);
  // percent-resync-done comes with sync details and also alone when a resync has none.
  const done = num(raw['percent-resync-done']);
  const eta = num(raw['estimated-seconds-to-finish']);
  return {
    volume: num(raw['volume']) ?? 0,
    replicationState: str(raw['replication-state'], 'Off'),
    peerDiskState: str(raw['peer-disk-state'], 'DUnknown'),
    peerClient: bool(raw['peer-client']),
    // A string (reason list), not a boolean, also in JSON.
    resyncSuspended: typeof raw['resync-suspended'] === 'string' ? raw['resync-suspended'] : 'no',
    ...(outOfSync !== undefined ? { outOfSyncKiB: outOfSync } : {}),
    ...(done !== undefined ? { percentDone: done } : {}),
    ...(eta !== undefined ? { etaSeconds: eta } : {}),
  };
}

function connection(raw: Json): DrbdConnectionState {
  return {
    peerNodeId: num(raw['peer-node-id']) ?? -1,
    name: str(raw['name'], `node-${String(raw['peer-node-id'] ?? '?')}`),
    connectionState: str(raw['connection-state'], 'StandAlone'),
    peerRole: str(raw['peer-role'], 'Unknown'),
    // Spelled with an underscore, unlike every other key.
    peerDevices: list(raw['peer_devices']).map(peerDevice),
  };
}

function suspendedOf(raw: Json): string {
  const reasons = ['user', 'no-data', 'fencing', 'quorum'].filter((reason) => raw[`suspended-${reason}`] === true);
  if (reasons.length) return reasons.join(',');
  return raw['suspended'] === true ? 'yes' : 'no';
}

/**
 * Parses `drbdsetup status [RES|all] --json [--statistics]` (drbd-utils 9.x, docs/reference/tools.md
 * §1.3): a JSON array with one object per resource. Unknown keys are ignored and the
 * keys newer utils add (`paths`, `tls`, `open`) are optional. Throws
 * DrbdStatusFormatError when the text is not JSON or not an array of resources.
 */
export function parseDrbdStatus(text: string): DrbdResourceState[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new DrbdStatusFormatError(`drbdsetup status --json printed invalid JSON: ${(error as Error).message}`);
  }
  if (!Array.isArray(raw)) throw new DrbdStatusFormatError('drbdsetup status --json did not print an array');
  return raw.map((entry, index): DrbdResourceState => {
    if (!isObject(entry) || typeof entry['name'] !== 'string') {
      throw new DrbdStatusFormatError(`drbdsetup status --json: entry ${index} is not a resource (no "name")`);
    }
    return {
      name: entry['name'],
      role: str(entry['role'], 'Unknown'),
      suspended: suspendedOf(entry),
      devices: list(entry['devices']).map(device),
      connections: list(entry['connections']).map(connection),
    };
  });
}

/**
 * Reads the runtime net options of each resource from `drbdsetup show all` (the
 * drbd.conf syntax: `resource "r0" { … connection { … net { allow-two-primaries yes;
 * protocol C; … } } }`). Only the two options hvctl needs are extracted; a connection
 * without them has the defaults (no, C). Reconstructed format: see __fixtures__/README.md.
 */
export function parseDrbdShow(text: string): Map<string, { allowTwoPrimaries: boolean; protocol: string }> {
  const result = new Map<string, { allowTwoPrimaries: boolean; protocol: string }>();
  const starts = [...text.matchAll(/^resource\s+"?([^"\s{]+)"?\s*\{/gm)];
  starts.forEach((match, index) => {
    const name = match[1] ?? '';
    const body = text.slice(match.index ?? 0, starts[index + 1]?.index ?? text.length);
    const allow = [...body.matchAll(/\ballow-two-primaries\s+(yes|no)\s*;/g)].map((m) => m[1] === 'yes');
    const protocol = /\bprotocol\s+([ABC])\s*;/.exec(body)?.[1] ?? 'C';
    // With several peers, allowed only when every connection allows it.
    result.set(name, { allowTwoPrimaries: allow.length > 0 && allow.every(Boolean), protocol });
  });
  return result;
}
