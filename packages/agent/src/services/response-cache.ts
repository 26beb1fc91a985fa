import type * as grpc from '@grpc/grpc-js';

/**
 * Answers of read-only methods encoded once while what they show is unchanged (issue #6:
 * ListDomains encoded 80 domains with protobufjs on every call). Two halves:
 *
 * - `UnchangedAnswer` gives back the previous response object, frozen, while the data it
 *   is built from equals the data of the previous call;
 * - `encodeOnce` wraps a service definition so that a frozen response object is encoded
 *   the first time it is sent and answered with those bytes afterwards (grpc-js copies them
 *   into each frame; the bytes themselves are never written to).
 *
 * The data is compared on every call, not trusted to announce its changes: a change the
 * hub has not heard of yet (a real driver's next poll) still yields a new encoding.
 */
export class UnchangedAnswer<In, Out extends object> {
  private last?: { readonly input: In; readonly output: Out };

  constructor(private readonly build: (input: In) => Out) {}

  /** The response for `input`: the previous one when `input` equals the previous input, else a new one. */
  answer(input: In): Out {
    if (this.last && sameData(this.last.input, input)) return this.last.output;
    // A private copy: the caller's objects may change later without this answer changing with them.
    const copy = structuredClone(input);
    const output = deepFreeze(this.build(copy));
    this.last = { input: copy, output };
    return output;
  }
}

/**
 * A copy of `definition` whose methods remember the encoding of each frozen response object
 * (in a WeakMap: forgotten with the object). A frozen response must be frozen all the way
 * down, as UnchangedAnswer's are; responses that are not frozen are encoded every time.
 */
export function encodeOnce(definition: grpc.ServiceDefinition): grpc.ServiceDefinition {
  const wrapped: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const [name, method] of Object.entries(definition)) {
    const serialize = method.responseSerialize;
    const encoded = new WeakMap<object, Buffer>();
    wrapped[name] = {
      ...method,
      responseSerialize: (value: unknown): Buffer => {
        if (typeof value !== 'object' || value === null || !Object.isFrozen(value)) return serialize(value);
        let bytes = encoded.get(value);
        if (!bytes) {
          bytes = serialize(value);
          encoded.set(value, bytes);
        }
        return bytes;
      },
    };
  }
  return wrapped;
}

/**
 * Equality of plain data (what proto-loader objects hold: primitives, arrays, plain
 * objects, byte arrays). Anything else (a Date, a Map, a class instance) counts as changed,
 * which only costs a new encoding. Walks without allocating: it runs on every call.
 */
export function sameData(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i += 1) if (!sameData(a[i], b[i])) return false;
    return true;
  }
  if (ArrayBuffer.isView(a)) {
    return ArrayBuffer.isView(b) && Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  }
  const proto = Object.getPrototypeOf(a) as unknown;
  if ((proto !== Object.prototype && proto !== null) || Object.getPrototypeOf(b) !== proto || Array.isArray(b)) return false;
  const left = a as Record<string, unknown>;
  const right = b as Record<string, unknown>;
  let keys = 0;
  for (const key in left) {
    if (!Object.hasOwn(right, key) || !sameData(left[key], right[key])) return false;
    keys += 1;
  }
  for (const key in right) if (Object.hasOwn(right, key)) keys -= 1;
  return keys === 0;
}

/** Freezes plain data all the way down (byte arrays cannot be frozen; UnchangedAnswer's are private copies). */
function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || ArrayBuffer.isView(value)) return value;
  for (const key of Object.keys(value)) deepFreeze((value as Record<string, unknown>)[key]);
  return Object.freeze(value);
}
