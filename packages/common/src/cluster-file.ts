import { readFile } from 'node:fs/promises';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse, stringify } from 'yaml';
import { parseAutopilotPolicy, type AutopilotPolicy } from './autopilot-policy.js';
import { formatBackupsSection, parseBackupsSection, type BackupsSection } from './backup-policy.js';
import { HvctlError, invalidArgument } from './errors.js';
import { validateAddress, validateNodeName, validatePrefix } from './validation.js';

/** "main" sites run VMs; a "backup" site keeps backups and acts as the witness. */
export type SiteKind = 'main' | 'backup';

export interface ClusterSite {
  readonly name: string;
  readonly kind: SiteKind;
}

export interface ClusterNode {
  readonly name: string;
  readonly site: string;
  /** host:port of the node's agent. */
  readonly address: string;
}

/** The cluster file: who the agents are, where they are, how to reach them. */
export interface ClusterFile {
  readonly name: string;
  readonly sites: readonly ClusterSite[];
  readonly nodes: readonly ClusterNode[];
  /** The provider's public block announced by BGP from the main sites. */
  readonly publicBlock?: string;
  /** Backup policies (schedules, retention), run by the backup site's agent; see docs/backups.md. */
  readonly backups?: BackupsSection;
  /** How the console proves who it is (docs/security.md); absent: plaintext, lab agents with --insecure-lab only. */
  readonly tls?: ClusterTls;
  /** The autopilot's policy (docs/autopilot.md); absent: DEFAULT_AUTOPILOT_POLICY (observe). */
  readonly autopilot?: AutopilotPolicy;
}

/** The console's TLS identity: the cluster CA plus a certificate and key, or a token file. Paths are relative to the cluster file. */
export interface ClusterTls {
  readonly ca: string;
  readonly cert?: string;
  readonly key?: string;
  /** A file holding a bearer token (instead of cert and key). */
  readonly token?: string;
  /** revoked.json of the CA directory: agents whose certificate it revokes are refused (docs/security.md). */
  readonly revoked?: string;
}

function parseTls(raw: unknown, path: string): ClusterTls | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object') fail(path, '`tls:` must be a mapping with ca and cert+key, or ca and token');
  const tls = raw as Record<string, unknown>;
  const base = path.startsWith('<') ? process.cwd() : dirname(resolve(path));
  const file = (key: string): string | undefined => {
    const value = tls[key];
    if (value === undefined) return undefined;
    if (typeof value !== 'string' || !value) fail(path, `tls.${key} must be a file path`);
    return isAbsolute(value) ? value : resolve(base, value);
  };
  const ca = file('ca');
  const cert = file('cert');
  const key = file('key');
  const token = file('token');
  const revoked = file('revoked');
  if (!ca) fail(path, 'tls.ca (the cluster CA certificate) is required');
  if (!token && !(cert && key)) fail(path, 'tls needs cert and key, or token');
  return { ca, ...(cert ? { cert } : {}), ...(key ? { key } : {}), ...(token ? { token } : {}), ...(revoked ? { revoked } : {}) };
}

function fail(path: string, message: string): never {
  throw invalidArgument(`cluster file ${path}: ${message}`, {
    nextSteps: ['fix the file, or start a lab with `hvctl lab up` which writes one'],
  });
}

/** Validates a parsed cluster file; throws INVALID_ARGUMENT naming the bad entry. */
export function parseClusterFile(raw: unknown, path = '<cluster file>'): ClusterFile {
  if (typeof raw !== 'object' || raw === null) fail(path, 'expected a mapping with sites and nodes');
  const doc = raw as Record<string, unknown>;
  const name = typeof doc['name'] === 'string' ? doc['name'] : 'cluster';
  if (!Array.isArray(doc['sites']) || !Array.isArray(doc['nodes'])) fail(path, 'expected `sites:` and `nodes:` lists');
  const sites = (doc['sites'] as unknown[]).map((entry, index): ClusterSite => {
    const site = entry as Record<string, unknown>;
    const siteName = String(site?.['name'] ?? '');
    const kind = site?.['kind'] ?? 'main';
    if (kind !== 'main' && kind !== 'backup') fail(path, `sites[${index}].kind must be "main" or "backup"`);
    try {
      validateNodeName(siteName, `sites[${index}].name`);
    } catch (error) {
      fail(path, (error as HvctlError).message);
    }
    return { name: siteName, kind };
  });
  const siteNames = new Set(sites.map((site) => site.name));
  const seen = new Set<string>();
  const nodes = (doc['nodes'] as unknown[]).map((entry, index): ClusterNode => {
    const node = entry as Record<string, unknown>;
    const node_ = { name: String(node?.['name'] ?? ''), site: String(node?.['site'] ?? ''), address: String(node?.['address'] ?? '') };
    try {
      validateNodeName(node_.name, `nodes[${index}].name`);
      validateAddress(node_.address, `nodes[${index}].address`);
    } catch (error) {
      fail(path, (error as HvctlError).message);
    }
    if (!siteNames.has(node_.site)) fail(path, `nodes[${index}] (${node_.name}) names unknown site "${node_.site}"`);
    if (seen.has(node_.name)) fail(path, `node "${node_.name}" is listed twice`);
    seen.add(node_.name);
    return node_;
  });
  const publicBlock = typeof doc['publicBlock'] === 'string' ? validatePrefix(doc['publicBlock'], 'publicBlock') : undefined;
  let backups: BackupsSection | undefined;
  if (doc['backups'] !== undefined) {
    try {
      backups = parseBackupsSection(doc['backups']);
    } catch (error) {
      fail(path, (error as HvctlError).message);
    }
  }
  const tls = parseTls(doc['tls'], path);
  let autopilot: AutopilotPolicy | undefined;
  if (doc['autopilot'] !== undefined) {
    try {
      autopilot = parseAutopilotPolicy(doc['autopilot']);
    } catch (error) {
      fail(path, (error as HvctlError).message);
    }
  }
  return { name, sites, nodes, ...(publicBlock ? { publicBlock } : {}), ...(backups ? { backups } : {}), ...(tls ? { tls } : {}), ...(autopilot ? { autopilot } : {}) };
}

/** Reads and validates a cluster file. */
export async function loadClusterFile(path: string): Promise<ClusterFile> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new HvctlError('NOT_FOUND', `cannot read cluster file ${path}: ${(error as Error).message}`, {
      nextSteps: ['pass --cluster FILE, set $HVCTL_CLUSTER, or start a lab with `hvctl lab up --detach`'],
    });
  }
  let raw: unknown;
  try {
    raw = parse(text);
  } catch (error) {
    fail(path, `not valid YAML: ${(error as Error).message}`);
  }
  return parseClusterFile(raw, path);
}

/** Serialises a cluster file. */
export function formatClusterFile(cluster: ClusterFile): string {
  return stringify(cluster.backups ? { ...cluster, backups: formatBackupsSection(cluster.backups) } : cluster);
}

/** The site of a node, or undefined when the node is not a member. */
export function siteOf(cluster: ClusterFile, node: string): string | undefined {
  return cluster.nodes.find((entry) => entry.name === node)?.site;
}
