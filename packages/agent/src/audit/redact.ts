/**
 * Secrets never reach the journal: a field whose name says it holds one is replaced
 * whole, and any configured secret value (the restic password, tokens) is cut out of
 * every string wherever it appears, names and error messages included.
 */

/** What replaces a secret. */
export const REDACTED = '[redacted]';

/** Words that make a field secret when any word of its name (camelCase or snake_case) is one of them. */
const SECRET_WORDS = new Set(['password', 'passwd', 'passphrase', 'secret', 'secrets', 'token', 'tokens', 'key', 'keys', 'credential', 'credentials', 'privatekey', 'apikey', 'pem', 'cookie', 'authorization']);

/**
 * Fields whose name looks secret but that hold names, by method: a lease key is the name
 * of a locked object (`drbd:vm-a`), which the journal must keep to say what was locked.
 */
const NOT_SECRET: ReadonlySet<string> = new Set(['/hvctl.v1.LeasesService/Acquire keys', '/hvctl.v1.LeasesService/Break key']);

/** Longest string kept in arguments; longer ones keep their start and say how much was cut. */
const MAX_STRING = 1024;
/** Values shorter than this are not treated as secrets (an empty or one-letter "secret" would redact everything). */
const MIN_SECRET_LENGTH = 4;

function wordsOf(field: string): string[] {
  return field
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter(Boolean);
}

/** Whether a field of that name holds a secret. */
export function isSecretField(field: string): boolean {
  const words = wordsOf(field);
  return words.some((word) => SECRET_WORDS.has(word)) || SECRET_WORDS.has(words.join(''));
}

export class Redactor {
  private readonly secrets: string[];

  constructor(secrets: readonly string[] = []) {
    // Longest first, so a secret containing another is cut whole.
    this.secrets = [...new Set(secrets.map((secret) => secret.trim()).filter((secret) => secret.length >= MIN_SECRET_LENGTH))].sort((a, b) => b.length - a.length);
  }

  /** A string with every configured secret value replaced. */
  text(value: string): string {
    let out = value;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  }

  /** A copy of a request fit for the journal: secret fields replaced, secret values cut out, long strings shortened. */
  arguments(method: string, value: unknown): unknown {
    return this.walk(method, value, 0);
  }

  private walk(method: string, value: unknown, depth: number): unknown {
    if (typeof value === 'string') {
      const clean = this.text(value);
      return clean.length > MAX_STRING ? `${clean.slice(0, MAX_STRING)}…(${clean.length - MAX_STRING} more characters)` : clean;
    }
    if (Buffer.isBuffer(value) || value instanceof Uint8Array) return `(${value.length} bytes)`;
    if (value === null || typeof value !== 'object') return value;
    if (depth > 12) return '(nested too deep)';
    if (Array.isArray(value)) return value.map((item) => this.walk(method, item, depth + 1));
    const out: Record<string, unknown> = {};
    for (const [field, item] of Object.entries(value as Record<string, unknown>)) {
      const keep = depth === 0 && NOT_SECRET.has(`${method} ${field}`);
      out[field] = !keep && isSecretField(field) && item !== '' && item !== null && item !== undefined ? REDACTED : this.walk(method, item, depth + 1);
    }
    return out;
  }
}
