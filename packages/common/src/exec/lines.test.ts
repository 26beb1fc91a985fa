import { describe, expect, it } from 'vitest';
import { LineSplitter, LineTooLongError, nonBlankLines } from './lines.js';

describe('LineSplitter', () => {
  it('keeps the partial last line until its newline arrives', () => {
    const splitter = new LineSplitter();
    expect(splitter.push('exists resource name:r0\nchange res')).toEqual(['exists resource name:r0']);
    expect(splitter.partial).toBe('change res');
    expect(splitter.push('ource name:r0 role:Primary\n')).toEqual(['change resource name:r0 role:Primary']);
    expect(splitter.end()).toEqual([]);
  });

  it('flushes an unterminated last line at the end', () => {
    const splitter = new LineSplitter();
    expect(splitter.push('a\nb')).toEqual(['a']);
    expect(splitter.end()).toEqual(['b']);
  });

  it('never cuts a UTF-8 sequence in half', () => {
    const splitter = new LineSplitter();
    const bytes = Buffer.from('név\n');
    expect(splitter.push(bytes.subarray(0, 2))).toEqual([]);
    expect(splitter.push(bytes.subarray(2))).toEqual(['név']);
  });

  it('treats \\r\\n as one separator, also across chunks', () => {
    const plain = new LineSplitter();
    expect(plain.push('a\r')).toEqual([]);
    expect(plain.push('\nb\r\n')).toEqual(['a', 'b']);
    const cr = new LineSplitter({ carriageReturn: true });
    expect(cr.push('\rMigration: [ 45 %]\r')).toEqual(['', 'Migration: [ 45 %]']);
    expect(cr.push('\nnext\n')).toEqual(['next']);
  });

  it('refuses a line longer than the limit', () => {
    const splitter = new LineSplitter({ maxLineChars: 10 });
    expect(() => splitter.push('x'.repeat(11))).toThrow(LineTooLongError);
  });

  it('nonBlankLines drops virsh trailing empty lines', () => {
    expect(nonBlankLines('test\n\n')).toEqual(['test']);
  });
});
