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

/**
 * revoked.json: what agents refuse even though the CA signed it. `hvctl certs` numbers
 * every list it writes and signs it with the CA key (signed-revocations.ts), so agents
 * can take it over the network and refuse an older one; hand-written lists have neither.
 */
export interface RevocationList {
  readonly version: 1;
  /** Increases with every change (like an X.509 CRL number); absent (0) in unsigned lists. */
  readonly number?: number;
  /** When the CA directory wrote this list (ISO 8601). */
  readonly issuedAt?: string;
  readonly serials: readonly RevokedEntry[];
  readonly tokens: readonly RevokedEntry[];
  /** base64url ECDSA signature by the CA key over signedRevocationBytes(); absent in unsigned lists. */
  readonly signature?: string;
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
  const number = doc.number === undefined ? undefined : Number(doc.number);
  if (number !== undefined && !(Number.isSafeInteger(number) && number >= 0)) {
    throw new HvctlError('FAILED_PRECONDITION', `${path} has a bad list number ${JSON.stringify(doc.number)} (expected a whole number)`, {
      nextSteps: [`restore ${path} from the CA directory`],
    });
  }
  return {
    version: 1,
    ...(number !== undefined ? { number } : {}),
    ...(typeof doc.issuedAt === 'string' ? { issuedAt: doc.issuedAt } : {}),
    serials: entries(doc.serials, true),
    tokens: entries(doc.tokens, false),
    ...(typeof doc.signature === 'string' ? { signature: doc.signature } : {}),
  };
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
