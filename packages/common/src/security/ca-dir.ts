import { existsSync } from 'node:fs';
import { readFile, rename } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { HvctlError} from '../errors.js';
import { failedPrecondition, invalidArgument, notFound } from '../errors.js';
import { validateNodeName } from '../validation.js';
import { makePrivateDir, normalizeSerial, writePrivateFile } from './pem.js';
import { createCa, describeCertificate, issueCertificate, type CertificateInfo } from './pki.js';
import { EMPTY_REVOCATIONS, readRevocationList, type RevocationList, type RevokedEntry } from './revocation.js';
import { revocationListSignedBy, signRevocationList } from './signed-revocations.js';
import type { Role } from './roles.js';
import { newTokenId, signToken, type TokenPayload } from './token.js';

/**
 * The CA directory (`hvctl certs ...`), everything 0600 in a 0700 directory:
 *
 *     ca.crt ca.key          the cluster CA
 *     issued/NAME.crt .key   every certificate issued (the holder copies its pair away)
 *     index.json             what was issued: names, roles, serials, expiry; token ids
 *     revoked.json           revoked serials and token ids, numbered and signed by ca.key
 *                            (`hvctl certs push` sends it to every agent)
 *
 * Tokens themselves are never stored, only their ids and holders.
 */

/** `$HVCTL_CA_DIR`, else ~/.config/hvctl/ca. */
export function defaultCaDir(): string {
  return process.env['HVCTL_CA_DIR'] || join(homedir(), '.config', 'hvctl', 'ca');
}

export interface IssuedRecord {
  readonly name: string;
  readonly role: Role;
  readonly serial: string;
  readonly issuedAt: string;
  readonly notAfter: string;
  readonly hosts: readonly string[];
}

export interface TokenRecord {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly nodes?: readonly string[];
  readonly issuedAt: string;
  readonly expiresAt: string;
}

interface CaIndex {
  readonly cluster: string;
  readonly issued: IssuedRecord[];
  readonly tokens: TokenRecord[];
}

export const caPaths = (dir: string) => ({
  cert: join(dir, 'ca.crt'),
  key: join(dir, 'ca.key'),
  index: join(dir, 'index.json'),
  revoked: join(dir, 'revoked.json'),
  issuedCert: (name: string) => join(dir, 'issued', `${name}.crt`),
  issuedKey: (name: string) => join(dir, 'issued', `${name}.key`),
});

async function writeJson(path: string, value: unknown): Promise<void> {
  // Write then rename: an agent re-reading revoked.json never sees half a file.
  await writePrivateFile(`${path}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  await rename(`${path}.tmp`, path);
}

function noCa(dir: string): HvctlError {
  return notFound(`no CA in ${dir} (no ca.crt/ca.key)`, {
    nextSteps: [`create one with \`hvctl certs init --dir ${dir}\`, or point --dir / $HVCTL_CA_DIR at the existing one`],
  });
}

async function readCa(dir: string): Promise<{ certPem: string; keyPem: string; index: CaIndex }> {
  const paths = caPaths(dir);
  if (!existsSync(paths.cert) || !existsSync(paths.key)) throw noCa(dir);
  const [certPem, keyPem] = await Promise.all([readFile(paths.cert, 'utf8'), readFile(paths.key, 'utf8')]);
  const index = existsSync(paths.index) ? (JSON.parse(await readFile(paths.index, 'utf8')) as CaIndex) : { cluster: 'cluster', issued: [], tokens: [] };
  return { certPem, keyPem, index };
}

/** Creates a CA directory; refuses to replace an existing CA unless `force`. */
export async function initCaDir(dir: string, options: { readonly cluster: string; readonly force?: boolean; readonly days?: number }): Promise<CertificateInfo> {
  const paths = caPaths(dir);
  if (existsSync(paths.key) && !options.force) {
    throw failedPrecondition(`a CA already exists in ${dir}`, {
      nextSteps: [
        'keep using it (`hvctl certs list`)',
        'or pass --force to replace it: every certificate and token it issued stops working on agents given the new ca.crt',
      ],
    });
  }
  validateNodeName(options.cluster, '--cluster');
  await makePrivateDir(dir);
  await makePrivateDir(join(dir, 'issued'));
  const ca = await createCa({ cluster: options.cluster, ...(options.days ? { days: options.days } : {}) });
  await writePrivateFile(paths.key, ca.keyPem);
  await writePrivateFile(paths.cert, ca.certPem);
  await writeJson(paths.index, { cluster: options.cluster, issued: [], tokens: [] } satisfies CaIndex);
  await writeJson(paths.revoked, signRevocationList({ ...EMPTY_REVOCATIONS, number: 1, issuedAt: new Date().toISOString() }, ca.keyPem));
  return describeCertificate(ca.certPem);
}

export interface IssueResult {
  readonly certPath: string;
  readonly keyPath: string;
  readonly caPath: string;
  readonly record: IssuedRecord;
}

/** Issues a certificate into issued/NAME.{crt,key}; refuses to replace one unless `force` (rotation). */
export async function issueInCaDir(
  dir: string,
  options: { readonly name: string; readonly role: Role; readonly sans?: readonly string[]; readonly days?: number; readonly force?: boolean; readonly now?: Date },
): Promise<IssueResult> {
  const ca = await readCa(dir);
  const paths = caPaths(dir);
  const name = validateNodeName(options.name, 'NAME');
  if (existsSync(paths.issuedCert(name)) && !options.force) {
    throw failedPrecondition(`a certificate for "${name}" was already issued (${paths.issuedCert(name)})`, {
      nextSteps: [
        `to rotate it: \`hvctl certs issue ${name} --role ${options.role} --force\`, install the new pair, then revoke the old serial (\`hvctl certs list\` shows it)`,
      ],
    });
  }
  const issued = await issueCertificate({ ca, name, role: options.role, ...(options.sans ? { sans: options.sans } : {}), ...(options.days ? { days: options.days } : {}), ...(options.now ? { now: options.now } : {}) });
  await makePrivateDir(join(dir, 'issued'));
  await writePrivateFile(paths.issuedKey(name), issued.keyPem);
  await writePrivateFile(paths.issuedCert(name), issued.certPem);
  const info = describeCertificate(issued.certPem);
  const record: IssuedRecord = { name, role: options.role, serial: issued.serial, issuedAt: new Date().toISOString(), notAfter: issued.notAfter.toISOString(), hosts: info.hosts };
  await writeJson(paths.index, { ...ca.index, issued: [...ca.index.issued, record] });
  return { certPath: paths.issuedCert(name), keyPath: paths.issuedKey(name), caPath: paths.cert, record };
}

/** Signs a token and records its id (not the token). */
export async function createTokenInCaDir(
  dir: string,
  options: { readonly name: string; readonly role: Role; readonly expiresMs: number; readonly nodes?: readonly string[]; readonly now?: Date },
): Promise<{ token: string; payload: TokenPayload }> {
  const ca = await readCa(dir);
  const now = (options.now ?? new Date()).getTime();
  const nodes = options.nodes?.map((node) => validateNodeName(node, '--nodes'));
  const payload: TokenPayload = {
    id: newTokenId(),
    name: validateNodeName(options.name, 'NAME'),
    role: options.role,
    ...(nodes?.length ? { nodes } : {}),
    iat: Math.floor(now / 1000),
    exp: Math.floor((now + options.expiresMs) / 1000),
  };
  const token = signToken(payload, ca.keyPem);
  const record: TokenRecord = {
    id: payload.id,
    name: payload.name,
    role: payload.role,
    ...(payload.nodes ? { nodes: payload.nodes } : {}),
    issuedAt: new Date(payload.iat * 1000).toISOString(),
    expiresAt: new Date(payload.exp * 1000).toISOString(),
  };
  await writeJson(caPaths(dir).index, { ...ca.index, tokens: [...ca.index.tokens, record] });
  return { token, payload };
}

/**
 * Revokes by name (every certificate and token of that holder), by serial or by token id.
 * Returns what was newly revoked; NOT_FOUND when nothing matches.
 */
export async function revokeInCaDir(dir: string, target: string, reason = 'revoked by an admin', now = new Date()): Promise<RevokedEntry[]> {
  const ca = await readCa(dir);
  const paths = caPaths(dir);
  const list = await readRevocationList(paths.revoked);
  const at = now.toISOString();
  const serial = /^[0-9a-fA-F:]{8,}$/.test(target) ? normalizeSerial(target) : undefined;
  const certs = ca.index.issued.filter((record) => record.name === target || (serial !== undefined && record.serial === serial));
  const tokens = ca.index.tokens.filter((record) => record.name === target || record.id === target);
  if (!certs.length && !tokens.length) {
    throw notFound(`nothing issued by this CA matches "${target}" (a name, a certificate serial or a token id)`, {
      nextSteps: ['`hvctl certs list` shows every name, serial and token id'],
    });
  }
  const already = new Set([...list.serials, ...list.tokens].map((entry) => entry.id));
  const newSerials = certs.filter((record) => !already.has(record.serial)).map((record) => ({ id: record.serial, name: record.name, at, reason }));
  const newTokens = tokens.filter((record) => !already.has(record.id)).map((record) => ({ id: record.id, name: record.name, at, reason }));
  if (newSerials.length || newTokens.length || !list.signature) {
    const next = { version: 1 as const, number: (list.number ?? 0) + 1, issuedAt: at, serials: [...list.serials, ...newSerials], tokens: [...list.tokens, ...newTokens] };
    await writeJson(paths.revoked, signRevocationList(next, ca.keyPem));
  }
  return [...newSerials, ...newTokens];
}

/**
 * The CA directory's revocation list, signed, for pushing to agents: a list written
 * before lists were signed (or edited by hand) is signed now under the next number.
 * Refuses (FAILED_PRECONDITION) a list whose signature does not match ca.crt.
 */
export async function signedRevocationsInCaDir(dir: string, now = new Date()): Promise<{ readonly list: RevocationList; readonly path: string }> {
  const ca = await readCa(dir);
  const paths = caPaths(dir);
  const list = await readRevocationList(paths.revoked);
  if (list.signature) {
    if (!revocationListSignedBy(list, ca.certPem)) {
      throw failedPrecondition(`${paths.revoked} carries a signature that ${paths.cert} does not verify (edited by hand, or from another CA)`, {
        nextSteps: ['restore it from a backup of the CA directory', `or remove its "signature" field to have it signed again as it stands: check its entries first`],
      });
    }
    return { list, path: paths.revoked };
  }
  const { signature: _none, ...body } = list;
  const signed = signRevocationList({ ...body, number: (list.number ?? 0) + 1, issuedAt: now.toISOString() }, ca.keyPem);
  await writeJson(paths.revoked, signed);
  return { list: signed, path: paths.revoked };
}

export interface CaListing {
  readonly dir: string;
  readonly cluster: string;
  readonly ca: CertificateInfo;
  readonly certificates: readonly (IssuedRecord & { readonly revoked: boolean; readonly expired: boolean })[];
  readonly tokens: readonly (TokenRecord & { readonly revoked: boolean; readonly expired: boolean })[];
  readonly revokedPath: string;
}

/** Everything the CA issued, with revocation and expiry. */
export async function listCaDir(dir: string, now = new Date()): Promise<CaListing> {
  const ca = await readCa(dir);
  const paths = caPaths(dir);
  const list = await readRevocationList(paths.revoked);
  const revoked = new Set([...list.serials, ...list.tokens].map((entry) => entry.id));
  return {
    dir,
    cluster: ca.index.cluster,
    ca: describeCertificate(ca.certPem),
    certificates: ca.index.issued.map((record) => ({ ...record, revoked: revoked.has(record.serial), expired: Date.parse(record.notAfter) <= now.getTime() })),
    tokens: ca.index.tokens.map((record) => ({ ...record, revoked: revoked.has(record.id), expired: Date.parse(record.expiresAt) <= now.getTime() })),
    revokedPath: paths.revoked,
  };
}

/** Parses `--days`. */
export function parseDays(value: string): number {
  const days = Number(value);
  if (!Number.isInteger(days) || days < 1 || days > 36_500) throw invalidArgument(`--days must be a whole number from 1 to 36500, got "${value}"`);
  return days;
}
