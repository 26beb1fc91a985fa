import { invalidArgument } from './errors.js';

/**
 * Strict grammars for every operator-supplied string. Validation happens once, at the
 * edge (the gRPC service or the CLI), before any driver sees the value.
 */
const NAME = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const RESOURCE = /^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,62})$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function describeValue(value: string): string {
  const shown = value.length > 40 ? `${value.slice(0, 40)}…` : value;
  return JSON.stringify(shown);
}

/** A node or site name: lowercase letters, digits and inner dashes, 1-63 characters. */
export function validateNodeName(value: string, field = 'node'): string {
  if (!NAME.test(value)) {
    throw invalidArgument(
      `${field} ${describeValue(value)} is not a valid name: use 1-63 lowercase letters, digits and inner dashes (like "msk-1")`,
    );
  }
  return value;
}

/** A VM, domain or DRBD resource name: letters, digits, "_", "." and "-", not starting with "-" or ".". */
export function validateResourceName(value: string, field = 'name'): string {
  if (!RESOURCE.test(value) || value.includes('..')) {
    throw invalidArgument(
      `${field} ${describeValue(value)} is not a valid name: use 1-63 letters, digits, "_", "." or "-", starting with a letter or digit`,
    );
  }
  return value;
}

/** C0/C1 control characters (NUL, newlines, escapes) and Unicode line/paragraph separators. */
function isControl(char: string): boolean {
  const code = char.codePointAt(0) ?? 0;
  return code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029;
}

/**
 * Free text an operator types (a cordon or lease-break reason): printable, one line, at
 * most `max` characters. It is shown and logged, never handed to a tool.
 */
export function validateText(value: string, field: string, max = 200): string {
  if (value.length > max) throw invalidArgument(`${field} is ${value.length} characters long; at most ${max} are allowed`);
  if ([...value].some(isControl)) {
    throw invalidArgument(`${field} ${describeValue(value)} contains control characters (newlines, NUL or escapes); use one line of printable text`);
  }
  return value;
}

/** Who asks (a workflow's owner, a lease's holder): up to 64 letters, digits or "@._:-". */
export function validateOwner(value: string, field = 'owner'): string {
  if (!/^[A-Za-z0-9@._:-]{0,64}$/.test(value)) throw invalidArgument(`${field} ${describeValue(value)} is not valid: use up to 64 letters, digits or "@._:-"`);
  return value;
}

/** A request id: empty (no idempotency) or 1-128 safe characters. */
export function validateRequestId(value: string): string {
  if (value !== '' && !REQUEST_ID.test(value)) {
    throw invalidArgument(`request_id ${describeValue(value)} is not valid: use 1-128 letters, digits, ".", "_", ":" or "-"`);
  }
  return value;
}

/** Parses a dotted-quad IPv4 address into a 32-bit unsigned number, or undefined. */
export function parseIpv4(value: string): number | undefined {
  const parts = value.split('.');
  if (parts.length !== 4) return undefined;
  let result = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const octet = Number(part);
    if (octet > 255) return undefined;
    result = result * 256 + octet;
  }
  return result;
}

/** An IPv4 prefix in canonical CIDR form ("10.20.0.11/32"); host bits must be zero. */
export function validatePrefix(value: string, field = 'prefix'): string {
  const match = /^([0-9.]+)\/([0-9]{1,2})$/.exec(value);
  const address = match ? parseIpv4(match[1] ?? '') : undefined;
  const length = match ? Number(match[2]) : NaN;
  if (address === undefined || !(length >= 0 && length <= 32)) {
    throw invalidArgument(`${field} ${describeValue(value)} is not an IPv4 prefix in CIDR form (like "10.20.0.11/32")`);
  }
  const hostBits = 32 - length;
  if (hostBits > 0 && address % 2 ** hostBits !== 0) {
    throw invalidArgument(`${field} ${describeValue(value)} has host bits set; the network address is required`);
  }
  return value;
}

/** A host:port address on which an agent listens or is reached. */
export function validateAddress(value: string, field = 'address'): string {
  const match = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]{1,253}):([0-9]{1,5})$/.exec(value);
  const port = match ? Number(match[2]) : NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    throw invalidArgument(`${field} ${describeValue(value)} is not a host:port address (like "127.0.0.1:7400")`);
  }
  return value;
}
