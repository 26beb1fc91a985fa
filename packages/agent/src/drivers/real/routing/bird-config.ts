import type { AnnouncementKind } from '@hvctl/proto';

/** One prefix hvctl announces from this node; the include file is the record of them. */
export interface AnnouncementRecord {
  readonly prefix: string;
  readonly kind: Extract<AnnouncementKind, 'ANNOUNCEMENT_KIND_VM' | 'ANNOUNCEMENT_KIND_BGP'>;
  /** The VM for a /32; empty for a public block. */
  readonly vm: string;
  readonly sinceUnixMs: number;
}

export interface BirdFragmentOptions {
  /** Static protocol holding the VMs' /32s (exported into OSPF). */
  readonly vmProtocol: string;
  /** Static protocol holding the public block(s) (exported to the BGP upstream). */
  readonly publicProtocol: string;
  /** Filter for the OSPF channel's export (`export filter NAME;`). */
  readonly ospfExportFilter: string;
  /** Filter for the BGP channel's export. */
  readonly bgpExportFilter: string;
  /**
   * Next hop of a VM's /32 in BIRD: an interface name (`route P via "br0";`, the bridge
   * the VM's tap is on) or undefined for `blackhole` (announce only; the kernel route
   * to the VM is then the host's business).
   */
  readonly vmInterface?: string;
}

export const DEFAULT_FRAGMENT_OPTIONS: BirdFragmentOptions = {
  vmProtocol: 'hvctl_vms',
  publicProtocol: 'hvctl_public',
  ospfExportFilter: 'hvctl_ospf_export',
  bgpExportFilter: 'hvctl_bgp_export',
};

const STATE_MARKER = '# hvctl-state: ';
const IPV4_PREFIX = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/;
const SYMBOL = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
const INTERFACE = /^[A-Za-z0-9_.:-]{1,15}$/;

/** True for a canonical IPv4 CIDR prefix (the only thing ever written into BIRD's config). */
export function isSafePrefix(prefix: string): boolean {
  const match = IPV4_PREFIX.exec(prefix);
  if (!match) return false;
  const octets = match.slice(1, 5).map(Number);
  const length = Number(match[5]);
  return octets.every((octet) => octet >= 0 && octet <= 255) && length >= 0 && length <= 32;
}

function checkOptions(options: BirdFragmentOptions): void {
  for (const name of [options.vmProtocol, options.publicProtocol, options.ospfExportFilter, options.bgpExportFilter]) {
    if (!SYMBOL.test(name)) throw new Error(`"${name}" is not a valid BIRD symbol name`);
  }
  if (options.vmInterface !== undefined && !INTERFACE.test(options.vmInterface)) throw new Error(`"${options.vmInterface}" is not a valid interface name`);
}

/**
 * Renders the BIRD include file the agent owns: two static protocols (VM /32s for OSPF,
 * public blocks for BGP), the two export filters the operator's bird.conf uses, and the
 * announcement records as a JSON comment (the file is their only store, so BIRD and
 * hvctl can never disagree after a restart). Every value written is validated here.
 */
export function renderBirdFragment(records: readonly AnnouncementRecord[], options: BirdFragmentOptions = DEFAULT_FRAGMENT_OPTIONS): string {
  checkOptions(options);
  const sorted = [...records].sort((a, b) => a.prefix.localeCompare(b.prefix));
  for (const record of sorted) if (!isSafePrefix(record.prefix)) throw new Error(`refusing to write "${record.prefix}" into the BIRD config`);
  const vmRoutes = sorted
    .filter((record) => record.kind === 'ANNOUNCEMENT_KIND_VM')
    .map((record) => `  route ${record.prefix} ${options.vmInterface ? `via "${options.vmInterface}"` : 'blackhole'};`);
  const publicRoutes = sorted.filter((record) => record.kind === 'ANNOUNCEMENT_KIND_BGP').map((record) => `  route ${record.prefix} blackhole;`);
  return [
    '# Managed by hvctl-agent (routing driver). Do not edit: every announce and withdraw rewrites',
    '# this file and runs `birdc configure`. Include it in bird.conf before the protocols that',
    `# use its filters: OSPF \`export filter ${options.ospfExportFilter};\`, BGP \`export filter ${options.bgpExportFilter};\`.`,
    `${STATE_MARKER}${JSON.stringify(sorted)}`,
    '',
    `protocol static ${options.vmProtocol} {`,
    '  ipv4;',
    ...vmRoutes,
    '}',
    '',
    `protocol static ${options.publicProtocol} {`,
    '  ipv4;',
    ...publicRoutes,
    '}',
    '',
    `filter ${options.ospfExportFilter} { if proto = "${options.vmProtocol}" then accept; reject; }`,
    `filter ${options.bgpExportFilter} { if proto = "${options.publicProtocol}" then accept; reject; }`,
    '',
  ].join('\n');
}

/** Reads the records back from a rendered file; an absent or foreign file has none. */
export function parseBirdFragment(text: string): AnnouncementRecord[] {
  const line = text.split('\n').find((candidate) => candidate.startsWith(STATE_MARKER));
  if (!line) return [];
  let raw: unknown;
  try {
    raw = JSON.parse(line.slice(STATE_MARKER.length));
  } catch {
    return [];
  }
  if (!Array.isArray(raw)) return [];
  return raw.flatMap((entry): AnnouncementRecord[] => {
    const record = entry as Partial<AnnouncementRecord>;
    if (typeof record.prefix !== 'string' || !isSafePrefix(record.prefix)) return [];
    if (record.kind !== 'ANNOUNCEMENT_KIND_VM' && record.kind !== 'ANNOUNCEMENT_KIND_BGP') return [];
    return [{ prefix: record.prefix, kind: record.kind, vm: typeof record.vm === 'string' ? record.vm : '', sinceUnixMs: Number(record.sinceUnixMs) || 0 }];
  });
}
