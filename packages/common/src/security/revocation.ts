import { readFile } from 'node:fs/promises';
import { HvctlError } from '../errors.js';
import { normalizeSerial } from './pem.js';

/** One revoked certificate or token. */
export interface RevokedEntry {
  /** Certificate serial (upper-case hex) or token id. */
  readonly id: string;
  /** Whose it was. */
  readonly name: string;
  /** When it was revoked (ISO 8601). */
  readonly at: string;
  readonly reason: string;
}

/** revoked.json: what agents refuse even though the CA signed it. */
export interface RevocationList {
  readonly version: 1;
  readonly serials: readonly RevokedEntry[];
  readonly tokens: readonly RevokedEntry[];
}

export const EMPTY_REVOCATIONS: RevocationList = { version: 1, serials: [], tokens: [] };

/** Validates a parsed revoked.json; a broken file is an error, never "nothing revoked". */
export function parseRevocationList(raw: unknown, path = 'revoked.json'): RevocationList {
  const doc = raw as Partial<RevocationList> | null;
  if (!doc || typeof doc !== 'object' || !Array.isArray(doc.serials) || !Array.isArray(doc.tokens)) {
    throw new HvctlError('FAILED_PRECONDITION', `${path} is not a revocation list (expected {"version":1,"serials":[],"tokens":[]})`, {
      nextSteps: [`restore ${path} from the CA directory (hvctl certs list shows what is revoked)`],
    });
  }
  const entries = (list: readonly RevokedEntry[], serial: boolean): RevokedEntry[] =>
    list
      .filter((entry) => entry && typeof entry.id === 'string')
      .map((entry) => ({ id: serial ? normalizeSerial(entry.id) : entry.id, name: String(entry.name ?? ''), at: String(entry.at ?? ''), reason: String(entry.reason ?? '') }));
  return { version: 1, serials: entries(doc.serials, true), tokens: entries(doc.tokens, false) };
}

/** Reads revoked.json; a missing file means nothing is revoked. */
export async function readRevocationList(path: string): Promise<RevocationList> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_REVOCATIONS;
    throw error;
  }
  try {
    return parseRevocationList(JSON.parse(text), path);
  } catch (error) {
    if (error instanceof HvctlError) throw error;
    return parseRevocationList(null, path);
  }
}

/** Fast lookup of a revocation list. */
export class RevocationSet {
  private readonly serials: Set<string>;
  private readonly tokens: Set<string>;

  constructor(readonly list: RevocationList) {
    this.serials = new Set(list.serials.map((entry) => entry.id));
    this.tokens = new Set(list.tokens.map((entry) => entry.id));
  }

  serialRevoked(serial: string): boolean {
    return this.serials.has(normalizeSerial(serial));
  }

  tokenRevoked(id: string): boolean {
    return this.tokens.has(id);
  }
}
