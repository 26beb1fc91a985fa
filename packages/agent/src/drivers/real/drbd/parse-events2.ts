import type { DrbdConnectionState, DrbdDeviceState, DrbdPeerDeviceState, DrbdResourceState } from './model.js';

/** One line of `drbdsetup events2`. */
export interface Events2Line {
  /** From the `--timestamps` prefix, Unix ms. */
  readonly timeMs?: number;
  /** exists, create, change, destroy, call, response, rename, … */
  readonly action: string;
  /** resource, device, connection, peer-device, path, helper, or "-" (end of the initial dump). */
  readonly object: string;
  readonly fields: Readonly<Record<string, string>>;
}

const TIMESTAMP = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:?\d\d)?\s+/;

function parseTimestamp(date: string, fraction: string | undefined, zone: string | undefined): number | undefined {
  const ms = fraction ? `.${fraction.padEnd(3, '0').slice(0, 3)}` : '';
  const value = Date.parse(`${date}${ms}${zone ?? 'Z'}`);
  return Number.isFinite(value) ? value : undefined;
}

/**
 * Parses one events2 line (docs/reference/tools.md §1.4): `[TIMESTAMP ]ACTION OBJECT key:value …`.
 * Each token splits at its first `:` (values like `local:ipv4:1.2.3.4:7789` keep theirs);
 * `--diff` values (`old->new`) keep the new value. Returns undefined for blank lines and
 * for lines that are not events (e.g. an error message).
 */
export function parseEvents2Line(line: string): Events2Line | undefined {
  let rest = line.trim();
  if (rest === '') return undefined;
  let timeMs: number | undefined;
  const stamp = TIMESTAMP.exec(rest);
  if (stamp) {
    timeMs = parseTimestamp(stamp[1] ?? '', stamp[2], stamp[3]);
    rest = rest.slice(stamp[0].length);
  }
  const tokens = rest.split(/\s+/);
  const [action, object, ...pairs] = tokens;
  if (!action || !object || !/^[a-z][a-z0-9-]*$/.test(action) || !/^(-|[a-z][a-z0-9-]*)$/.test(object)) return undefined;
  const fields: Record<string, string> = {};
  for (const pair of pairs) {
    const colon = pair.indexOf(':');
    if (colon <= 0) continue;
    const key = pair.slice(0, colon);
    let value = pair.slice(colon + 1);
    const arrow = value.indexOf('->');
    if (arrow >= 0) value = value.slice(arrow + 2);
    fields[key] = value;
  }
  return { ...(timeMs !== undefined ? { timeMs } : {}), action, object, fields };
}

// ---- the stateful follower --------------------------------------------------------------

interface MutableResource {
  name: string;
  props: Record<string, string>;
  devices: Map<number, Record<string, string>>;
  connections: Map<number, { props: Record<string, string>; peerDevices: Map<number, Record<string, string>> }>;
}

/** What one applied line means for the resources. */
export type Events2Effect =
  | { readonly kind: 'dump-complete'; readonly resources: readonly string[] }
  | { readonly kind: 'changed'; readonly resource: string }
  | { readonly kind: 'removed'; readonly resource: string }
  | { readonly kind: 'renamed'; readonly from: string; readonly to: string }
  | { readonly kind: 'connection'; readonly resource: string; readonly peer: string; readonly from: string | undefined; readonly to: string }
  | { readonly kind: 'helper'; readonly resource: string; readonly helper: string; readonly action: string; readonly fields: Readonly<Record<string, string>> };

const int = (value: string | undefined, fallback = -1): number => {
  const parsed = value === undefined ? NaN : Number.parseInt(value, 10);
  return Number.isFinite(parsed) ? parsed : fallback;
};
const float = (value: string | undefined): number | undefined => {
  const parsed = value === undefined ? NaN : Number.parseFloat(value);
  return Number.isFinite(parsed) ? parsed : undefined;
};
const yes = (value: string | undefined): boolean => value === 'yes' || value === 'true';

/** Merges a partial line into the last known state of its object. */
function merge(target: Record<string, string>, fields: Readonly<Record<string, string>>): void {
  Object.assign(target, fields);
}

/**
 * The state behind `drbdsetup events2`: builds resources from the `exists` dump, then
 * applies `create`/`change`/`destroy` lines, merging partial `change` lines into the last
 * known state of each object. Unknown objects and keys are kept or ignored, never fatal.
 * Pure: feed it parsed lines, read resources back.
 */
export class Events2State {
  private readonly resources = new Map<string, MutableResource>();
  private dumped = false;

  /** True once the initial dump (`exists -`) has been read. */
  get ready(): boolean {
    return this.dumped;
  }

  names(): string[] {
    return [...this.resources.keys()].sort();
  }

  apply(line: Events2Line): Events2Effect | undefined {
    const { action, object, fields } = line;
    if (object === '-') {
      if (action !== 'exists') return undefined;
      this.dumped = true;
      return { kind: 'dump-complete', resources: this.names() };
    }
    const name = fields['name'];
    if (name === undefined) return undefined;
    if (object === 'helper') {
      return { kind: 'helper', resource: name, helper: fields['helper'] ?? '?', action, fields };
    }
    if (action === 'rename' && object === 'resource') {
      const to = fields['new_name'];
      const resource = this.resources.get(name);
      if (!to || !resource) return undefined;
      this.resources.delete(name);
      resource.name = to;
      this.resources.set(to, resource);
      return { kind: 'renamed', from: name, to };
    }
    if (action !== 'exists' && action !== 'create' && action !== 'change' && action !== 'destroy') return undefined;

    if (object === 'resource' && action === 'destroy') {
      return this.resources.delete(name) ? { kind: 'removed', resource: name } : undefined;
    }
    let resource = this.resources.get(name);
    if (!resource) {
      // A line for an object of a resource not seen yet (a dump in progress, or a missed create).
      resource = { name, props: {}, devices: new Map(), connections: new Map() };
      this.resources.set(name, resource);
    }
    const destroy = action === 'destroy';
    switch (object) {
      case 'resource':
        merge(resource.props, fields);
        break;
      case 'device': {
        const volume = int(fields['volume'], 0);
        if (destroy) resource.devices.delete(volume);
        else merge(resource.devices.get(volume) ?? setAndGet(resource.devices, volume, {}), fields);
        break;
      }
      case 'connection': {
        const peer = int(fields['peer-node-id']);
        if (destroy) {
          resource.connections.delete(peer);
          break;
        }
        const entry = resource.connections.get(peer) ?? setAndGet(resource.connections, peer, { props: {}, peerDevices: new Map() });
        const before = entry.props['connection'];
        merge(entry.props, fields);
        const after = entry.props['connection'];
        if (after !== undefined && after !== before) {
          return { kind: 'connection', resource: name, peer: entry.props['conn-name'] ?? String(peer), from: before, to: after };
        }
        break;
      }
      case 'peer-device': {
        const peer = int(fields['peer-node-id']);
        const volume = int(fields['volume'], 0);
        const entry = resource.connections.get(peer) ?? setAndGet(resource.connections, peer, { props: { 'conn-name': fields['conn-name'] ?? '' }, peerDevices: new Map() });
        if (destroy) entry.peerDevices.delete(volume);
        else {
          const target = entry.peerDevices.get(volume) ?? setAndGet(entry.peerDevices, volume, {});
          merge(target, fields);
          // `done:` is only printed while a resync runs; a line without it after one ended clears it.
          if (fields['replication'] !== undefined && !isSyncState(fields['replication'])) {
            delete target['done'];
            delete target['eta'];
          }
        }
        break;
      }
      default:
        // path and any object newer utils add: nothing hvctl shows.
        return undefined;
    }
    return { kind: 'changed', resource: name };
  }

  /** The resource in the shared model, or undefined if it is not known. */
  resource(name: string): DrbdResourceState | undefined {
    const resource = this.resources.get(name);
    if (!resource) return undefined;
    const devices: DrbdDeviceState[] = [...resource.devices.entries()].map(([volume, props]) => {
      const size = float(props['size']);
      return {
        volume,
        minor: int(props['minor']),
        diskState: props['disk'] ?? 'DUnknown',
        client: yes(props['client']),
        quorum: props['quorum'] === undefined ? true : yes(props['quorum']),
        ...(size !== undefined ? { sizeKiB: size } : {}),
        ...(props['open'] === 'yes' || props['open'] === 'no' ? { open: props['open'] === 'yes' } : {}),
      };
    });
    const connections: DrbdConnectionState[] = [...resource.connections.entries()].map(([peerNodeId, entry]) => ({
      peerNodeId,
      name: entry.props['conn-name'] || `node-${peerNodeId}`,
      connectionState: entry.props['connection'] ?? 'StandAlone',
      peerRole: entry.props['role'] ?? 'Unknown',
      peerDevices: [...entry.peerDevices.entries()].map(([volume, props]): DrbdPeerDeviceState => {
        const outOfSync = float(props['out-of-sync']);
        const done = float(props['done']);
        const eta = float(props['eta']);
        return {
          volume,
          replicationState: props['replication'] ?? 'Off',
          peerDiskState: props['peer-disk'] ?? 'DUnknown',
          peerClient: yes(props['peer-client']),
          resyncSuspended: props['resync-suspended'] ?? 'no',
          ...(outOfSync !== undefined ? { outOfSyncKiB: outOfSync } : {}),
          ...(done !== undefined ? { percentDone: done } : {}),
          ...(eta !== undefined ? { etaSeconds: eta } : {}),
        };
      }),
    }));
    const score = float(resource.props['promotion_score']);
    return {
      name: resource.name,
      role: resource.props['role'] ?? 'Unknown',
      suspended: resource.props['suspended'] ?? 'no',
      ...(resource.props['may_promote'] !== undefined ? { mayPromote: yes(resource.props['may_promote']) } : {}),
      ...(score !== undefined ? { promotionScore: score } : {}),
      devices,
      connections,
    };
  }
}

const SYNC_STATES = new Set(['SyncSource', 'SyncTarget', 'PausedSyncS', 'PausedSyncT', 'VerifyS', 'VerifyT']);
const isSyncState = (state: string): boolean => SYNC_STATES.has(state);

function setAndGet<K, V>(map: Map<K, V>, key: K, value: V): V {
  map.set(key, value);
  return value;
}
