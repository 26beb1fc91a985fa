import type * as grpc from '@grpc/grpc-js';
import { loadProtos, type Domain__Output, type ListDomainsResponse__Output } from '@hvctl/proto';
import { describe, expect, it, vi } from 'vitest';
import { UnchangedAnswer, encodeOnce, sameData } from './response-cache.js';

function domain(name: string, state: Domain__Output['state'] = 'DOMAIN_STATE_RUNNING'): Domain__Output {
  return {
    name,
    state,
    stateReason: 'booted',
    vcpus: 2,
    memoryBytes: 4 * 1024 ** 3,
    ip: '10.0.0.1',
    resources: [`${name}-disk`],
    priority: 1,
    migrating: false,
    stateChangedUnixMs: 1_700_000_000_000,
    intent: 'DOMAIN_INTENT_RUNNING',
    intentSetUnixMs: 1,
    intentSetBy: 'test',
  };
}

/** ListDomains answered as the agent answers it: UnchangedAnswer, then the real definition wrapped by encodeOnce. */
function listDomains(): { answer: (domains: Domain__Output[]) => ListDomainsResponse__Output; encode: (response: object) => Buffer; decode: (bytes: Buffer) => ListDomainsResponse__Output } {
  const definition = loadProtos().v1.KvmService.service;
  const method = encodeOnce(definition)['ListDomains'] as grpc.MethodDefinition<object, ListDomainsResponse__Output>;
  const listed = new UnchangedAnswer<Domain__Output[], ListDomainsResponse__Output>((domains) => ({ domains: [...domains].sort((a, b) => a.name.localeCompare(b.name)) }));
  return {
    answer: (domains) => listed.answer(domains),
    encode: (response) => method.responseSerialize(response as ListDomainsResponse__Output),
    decode: (bytes) => method.responseDeserialize(bytes),
  };
}

describe('encoded-response cache', () => {
  it('answers unchanged data with the same response object and the same bytes', () => {
    // Given ListDomains answered once
    const { answer, encode } = listDomains();
    const first = answer([domain('b'), domain('a')]);
    const bytes = encode(first);

    // When the driver lists the same domains again (new objects, same data)
    const second = answer([domain('b'), domain('a')]);

    // Then the response is the same object, answered with the bytes encoded the first time
    expect(second).toBe(first);
    expect(encode(second)).toBe(bytes);
  });

  it('never answers stale data: a changed domain yields a new response and a new encoding', () => {
    // Given ListDomains answered and encoded with vm-a running
    const { answer, encode, decode } = listDomains();
    const before = encode(answer([domain('vm-a'), domain('vm-b')]));

    // When vm-a is shut off
    const after = encode(answer([domain('vm-a', 'DOMAIN_STATE_SHUTOFF'), domain('vm-b')]));

    // Then the bytes sent show it shut off
    expect(after).not.toBe(before);
    expect(decode(after).domains.map((d) => [d.name, d.state])).toEqual([
      ['vm-a', 'DOMAIN_STATE_SHUTOFF'],
      ['vm-b', 'DOMAIN_STATE_RUNNING'],
    ]);
    expect(decode(before).domains[0]?.state).toBe('DOMAIN_STATE_RUNNING');
  });

  it('notices a change made in place to the objects a driver returned earlier', () => {
    // Given a driver that returns the same list object every time, and an answer built from it
    const { answer, encode, decode } = listDomains();
    const list = [domain('vm-a')];
    const first = answer(list);
    encode(first);

    // When the driver changes that object in place
    (list[0] as { migrating: boolean }).migrating = true;

    // Then the next answer is new and its bytes show the change; the first answer did not move
    const second = answer(list);
    expect(second).not.toBe(first);
    expect(decode(encode(second)).domains[0]?.migrating).toBe(true);
    expect(first.domains[0]?.migrating).toBe(false);
  });

  it('freezes its answers all the way down, so that an encoded answer cannot change', () => {
    const { answer } = listDomains();
    const response = answer([domain('vm-a')]);
    expect(Object.isFrozen(response)).toBe(true);
    expect(Object.isFrozen(response.domains)).toBe(true);
    expect(Object.isFrozen(response.domains[0]?.resources)).toBe(true);
    expect(() => (response.domains as Domain__Output[]).push(domain('vm-b'))).toThrow(TypeError);
  });

  it('encodes responses that are not frozen every time', () => {
    // Given a method whose serializer counts its calls
    const serialize = vi.fn((value: object) => Buffer.from(JSON.stringify(value)));
    const parse = (bytes: Buffer): object => JSON.parse(bytes.toString()) as object;
    const method = { path: '/t.T/M', requestStream: false, responseStream: false, requestSerialize: serialize, requestDeserialize: parse, responseSerialize: serialize, responseDeserialize: parse };
    const wrapped = encodeOnce({ M: method })['M'] as grpc.MethodDefinition<object, object>;
    const mutable = { n: 1 };
    const frozen = Object.freeze({ n: 1 });

    // When each is sent twice, the mutable one changed in between
    wrapped.responseSerialize(mutable);
    mutable.n = 2;
    const mutableBytes = wrapped.responseSerialize(mutable);
    wrapped.responseSerialize(frozen);
    wrapped.responseSerialize(frozen);

    // Then the mutable response was encoded twice (showing its change), the frozen one once
    expect(mutableBytes.toString()).toBe('{"n":2}');
    expect(serialize).toHaveBeenCalledTimes(3);
  });
});

describe('sameData', () => {
  it('compares plain data by value', () => {
    expect(sameData({ a: [1, { b: 'x' }], c: null }, { a: [1, { b: 'x' }], c: null })).toBe(true);
    expect(sameData({ a: [1, 2] }, { a: [1, 2, 3] })).toBe(false);
    expect(sameData({ a: 1 }, { a: 1, b: 2 })).toBe(false);
    expect(sameData({ a: 1, b: undefined }, { a: 1 })).toBe(false);
    expect(sameData({ a: 1 }, { b: 1 })).toBe(false);
    expect(sameData([1], { 0: 1 })).toBe(false);
    expect(sameData(Number.NaN, Number.NaN)).toBe(true);
    expect(sameData(0, -0)).toBe(false);
    expect(sameData(Buffer.from([1, 2]), Buffer.from([1, 2]))).toBe(true);
    expect(sameData(Buffer.from([1, 2]), Buffer.from([1, 3]))).toBe(false);
  });

  it('counts anything that is not plain data as changed', () => {
    expect(sameData(new Date(0), new Date(0))).toBe(false);
    expect(sameData(new Map(), new Map())).toBe(false);
  });
});
