/** Output parsers for `birdc -s SOCKET <command>` (BIRD 2.0.x, docs/reference/tools.md §3). */

/** Removes the `BIRD x.y.z ready.` banner birdc prints first. */
export function stripBanner(text: string): string[] {
  const lines = text.split(/\r?\n/);
  if (/^BIRD [\w.-]+ ready\.$/.test(lines[0] ?? '')) lines.shift();
  return lines;
}

/** The daemon version from the banner (`BIRD 2.0.12 ready.`), if present. */
export function birdVersionOf(text: string): string | undefined {
  return /^BIRD ([\w.-]+) ready\./m.exec(text)?.[1];
}

export interface BirdProtocol {
  readonly name: string;
  /** Device, Direct, Kernel, Static, OSPF, BGP, … */
  readonly proto: string;
  readonly table: string;
  /** up, down, start, stop. */
  readonly state: string;
  /** As printed: `13:29:55.309` by default, `2026-11-23 13:31:12` with `timeformat protocol iso long`. */
  readonly since: string;
  /** BGP state and last error, OSPF Running/Alone, or empty. */
  readonly info: string;
}

// The columns are padded, but a long name pushes the rest right, and an ISO `since` has a space.
const PROTOCOL_ROW = /^(\S+)\s+(\S+)\s+(\S+)\s+(up|down|start|stop|\S+)\s+(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?|\S+)(?:\s+(.*?))?\s*$/;

function protocolRow(line: string): BirdProtocol | undefined {
  const match = PROTOCOL_ROW.exec(line);
  if (!match) return undefined;
  return { name: match[1] ?? '', proto: match[2] ?? '', table: match[3] ?? '', state: match[4] ?? '', since: match[5] ?? '', info: match[6] ?? '' };
}

/** `show protocols`: the table under the `Name Proto Table State Since Info` header. */
export function parseBirdProtocols(text: string): BirdProtocol[] {
  return stripBanner(text)
    .filter((line) => line.trim() !== '' && !line.startsWith(' ') && !line.startsWith('Name '))
    .map(protocolRow)
    .filter((row): row is BirdProtocol => row !== undefined);
}

export interface BirdProtocolDetails extends BirdProtocol {
  /** Indented `Key: value` lines of `show protocols all` (first occurrence of each key). */
  readonly details: Readonly<Record<string, string>>;
}

/** `show protocols all [NAME]`: each row followed by its indented details. */
export function parseBirdProtocolsAll(text: string): BirdProtocolDetails[] {
  const result: { row: BirdProtocol; details: Record<string, string> }[] = [];
  for (const line of stripBanner(text)) {
    if (line.trim() === '' || line.startsWith('Name ')) continue;
    if (!line.startsWith(' ') && !line.startsWith('\t')) {
      const row = protocolRow(line);
      if (row) result.push({ row, details: {} });
      continue;
    }
    const current = result.at(-1);
    const match = /^\s+([A-Za-z][\w .-]*?):\s+(.*?)\s*$/.exec(line);
    if (current && match && match[1] && !(match[1] in current.details)) current.details[match[1]] = match[2] ?? '';
  }
  return result.map(({ row, details }) => ({ ...row, details }));
}

export interface BirdRoute {
  readonly table: string;
  readonly prefix: string;
  /** unicast, blackhole, unreachable, prohibit. */
  readonly type: string;
  /** The protocol instance that brought the route (`ospf1`, `upstream`, `hvctl_vms`). */
  readonly protocol: string;
  readonly since: string;
  /** `*`: the best route for the prefix. */
  readonly primary: boolean;
  /** OSPF route type: I, IA, E1, E2. */
  readonly ospfType?: string;
  readonly preference: number;
  /** OSPF metric (the first number after the preference). */
  readonly metric?: number;
  /** `[AS65002i]` for BGP, the router id for OSPF. */
  readonly extra?: string;
  readonly gateway?: string;
  readonly device?: string;
  /** Extra attributes with `show route all` (`BGP.as_path`, `OSPF.metric1`, `Type`). */
  readonly attributes: Readonly<Record<string, string>>;
}

const ROUTE_LINE = /^(\S+)?\s+(\S+)\s+\[(\S+)(?:\s+([^\]]*))?\]\s+(\*\s+)?(?:(I|IA|E1|E2)\s+)?\((\d+)(?:\/(\d+))?(?:\/(\d+))?\)(?:\s+\[([^\]]*)\])?/;

/**
 * `show route [all] [...]`: a `Table NAME:` header, one line per route (the prefix is
 * blank for a further route to the same prefix), then tab-indented next hops
 * (`via GW on IF`, `dev IF`) and, with `all`, attributes (`Key: value`).
 */
export function parseBirdRoutes(text: string): BirdRoute[] {
  const routes: { route: Omit<BirdRoute, 'attributes' | 'gateway' | 'device'>; gateway?: string; device?: string; attributes: Record<string, string> }[] = [];
  let table = '';
  let prefix = '';
  for (const line of stripBanner(text)) {
    if (line.trim() === '') continue;
    const header = /^Table (\S+):$/.exec(line);
    if (header) {
      table = header[1] ?? '';
      continue;
    }
    if (line.startsWith('\t')) {
      const current = routes.at(-1);
      if (!current) continue;
      const body = line.trim();
      const via = /^via (\S+) on (\S+)/.exec(body);
      const dev = /^dev (\S+)/.exec(body);
      if (via) {
        current.gateway ??= via[1];
        current.device ??= via[2];
      } else if (dev) current.device ??= dev[1];
      else {
        const attribute = /^([\w.]+):\s*(.*)$/.exec(body);
        if (attribute?.[1]) current.attributes[attribute[1]] = attribute[2] ?? '';
      }
      continue;
    }
    const match = ROUTE_LINE.exec(line);
    if (!match) continue;
    if (match[1]) prefix = match[1];
    routes.push({
      route: {
        table,
        prefix,
        type: match[2] ?? 'unicast',
        protocol: match[3] ?? '',
        since: match[4] ?? '',
        primary: match[5] !== undefined,
        ...(match[6] ? { ospfType: match[6] } : {}),
        preference: Number(match[7]),
        ...(match[8] !== undefined ? { metric: Number(match[8]) } : {}),
        ...(match[10] !== undefined ? { extra: match[10] } : {}),
      },
      attributes: {},
    });
  }
  return routes.map(({ route, gateway, device, attributes }) => ({
    ...route,
    ...(gateway !== undefined ? { gateway } : {}),
    ...(device !== undefined ? { device } : {}),
    attributes,
  }));
}

export interface OspfNeighbor {
  /** The OSPF protocol instance (`ospf1`). */
  readonly instance: string;
  readonly routerId: string;
  readonly priority: number;
  /** `Full/PtP`, `2-Way/Other`, `Init/PtP`, … */
  readonly state: string;
  readonly deadTime: string;
  readonly interface: string;
  readonly routerIp: string;
}

/** `show ospf neighbors`: per instance a `name:` line, a header, then tab/space-separated rows. */
export function parseOspfNeighbors(text: string): OspfNeighbor[] {
  const result: OspfNeighbor[] = [];
  let instance = '';
  for (const line of stripBanner(text)) {
    const name = /^(\S+):$/.exec(line);
    if (name) {
      instance = name[1] ?? '';
      continue;
    }
    if (line.trim() === '' || line.startsWith('Router ID')) continue;
    const fields = line.trim().split(/\s+/);
    if (fields.length < 6) continue;
    const [routerId, priority, state, deadTime, iface, routerIp] = fields;
    result.push({ instance, routerId: routerId ?? '', priority: Number(priority), state: state ?? '', deadTime: deadTime ?? '', interface: iface ?? '', routerIp: routerIp ?? '' });
  }
  return result;
}

/** OSPF neighbour states that mean the adjacency works (Full; 2-Way between DROthers). */
export function ospfNeighborUp(state: string): boolean {
  return state.startsWith('Full') || state === '2-Way/Other';
}

/**
 * A birdc reply that reports a failure in words although it exited 0 is not expected
 * (birdc exits 1 on 8xxx/9xxx replies, docs/reference/tools.md §3.1); this recognises the texts of
 * `configure`/`configure check` so the driver can quote them.
 */
export function configureOutcome(text: string): { readonly ok: boolean; readonly message: string } {
  const lines = stripBanner(text).filter((line) => line.trim() !== '' && !line.startsWith('Reading configuration'));
  const message = lines.join(' / ').trim();
  const ok = lines.some((line) => /^(Reconfigured|Configuration OK|Reconfiguration in progress|Reconfiguration already in progress, queueing new config|Nothing to do)$/.test(line.trim()));
  return { ok, message };
}
