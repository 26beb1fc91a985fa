import { describe, expect, it } from 'vitest';
import {
  validateAddress,
  validateNodeName,
  validateOwner,
  validatePrefix,
  validateRequestId,
  validateResourceName,
  validateText,
} from './validation.js';

const invalid = (fn: () => unknown): void => {
  expect(fn).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
};

describe('validation grammars', () => {
  it.each(['msk-1', 'a', 'bak-1', 'x'.repeat(63)])('accepts the node name %j', (value) => {
    expect(validateNodeName(value)).toBe(value);
  });
  it.each(['', '-msk', 'msk-', 'MSK-1', 'msk_1', 'msk 1', 'мsk-1', 'x'.repeat(64), 'msk-1\n', 'msk;1', '..'])('refuses the node name %j', (value) => {
    invalid(() => validateNodeName(value));
  });

  it.each(['web-1', 'db_2', 'Web.3', 'a'])('accepts the resource name %j', (value) => {
    expect(validateResourceName(value)).toBe(value);
  });
  it.each(['', '-web', '.web', 'web..1', '../etc', 'web/1', 'web 1', 'web\u00001', 'wеb-1' /* Cyrillic е */, '$(reboot)', 'a'.repeat(64)])(
    'refuses the resource name %j',
    (value) => {
      invalid(() => validateResourceName(value));
    },
  );

  it.each(['10.20.0.11/32', '0.0.0.0/0', '203.0.113.0/24'])('accepts the prefix %j', (value) => {
    expect(validatePrefix(value)).toBe(value);
  });
  it.each(['10.20.0.11', '10.20.0.1/24', '256.0.0.0/8', '10.0.0.0/33', '010.0.0.0/8', '10.0.0.0/8 ', '-10.0.0.0/8'])('refuses the prefix %j', (value) => {
    invalid(() => validatePrefix(value));
  });

  it.each(['127.0.0.1:7400', 'msk-1.example.net:7400', '[::1]:0'])('accepts the address %j', (value) => {
    expect(validateAddress(value)).toBe(value);
  });
  it.each(['127.0.0.1', ':7400', '127.0.0.1:99999', 'host:port', 'a b:1'])('refuses the address %j', (value) => {
    invalid(() => validateAddress(value));
  });

  it('accepts an empty or safe request id and refuses others', () => {
    expect(validateRequestId('')).toBe('');
    expect(validateRequestId('cli-1:abc.def_9')).toBe('cli-1:abc.def_9');
    invalid(() => validateRequestId('a b'));
    invalid(() => validateRequestId('x'.repeat(129)));
  });

  it('accepts one line of printable text up to the limit and refuses control characters', () => {
    expect(validateText('kernel upgrade; ticket #42 — Привет', 'reason')).toBe('kernel upgrade; ticket #42 — Привет');
    invalid(() => validateText('x'.repeat(201), 'reason'));
    for (const control of ['\n', '\r', '\u0000', '\u001b[2J', '\u2028', '\u0085']) invalid(() => validateText(`a${control}b`, 'reason'));
  });

  it('accepts owners like alice@ops and refuses others', () => {
    expect(validateOwner('alice@ops-1')).toBe('alice@ops-1');
    expect(validateOwner('')).toBe('');
    invalid(() => validateOwner('alice bob'));
    invalid(() => validateOwner('x'.repeat(65)));
  });
});
