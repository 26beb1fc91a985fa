import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

// Ink draws each changed row with @alcalzone/ansi-tokenize's styledCharsToString, which
// allocated three Sets and several arrays per screen cell to diff its styles with the previous
// cell's. patches/@alcalzone+ansi-tokenize+0.2.5.patch (applied by the root package's
// postinstall) skips the diff when both cells have the same styles. These tests check that it
// is applied and that it writes exactly what the unpatched function wrote.
const tokenizeDir = join(dirname(createRequire(createRequire(import.meta.url).resolve('ink')).resolve('@alcalzone/ansi-tokenize/package.json')), 'build');

interface Code {
  readonly type: 'ansi';
  readonly code: string;
  readonly endCode: string;
}
interface StyledChar {
  readonly type: 'char';
  readonly value: string;
  readonly fullWidth: boolean;
  readonly styles: readonly Code[];
}
interface AnsiTokenize {
  styledCharsToString(chars: readonly StyledChar[]): string;
  diffAnsiCodes(from: readonly Code[], to: readonly Code[]): Code[];
  ansiCodesToString(codes: readonly Code[]): string;
}
const tokenize = (await import(pathToFileURL(join(tokenizeDir, 'index.js')).href)) as AnsiTokenize;

/** The function as published (0.2.5), before the patch. */
function unpatched(chars: readonly StyledChar[]): string {
  let out = '';
  chars.forEach((char, index) => {
    out += tokenize.ansiCodesToString(index === 0 ? char.styles : tokenize.diffAnsiCodes((chars[index - 1] as StyledChar).styles, char.styles));
    out += char.value;
    if (index === chars.length - 1) out += tokenize.ansiCodesToString(tokenize.diffAnsiCodes(char.styles, []));
  });
  return out;
}

const code = (open: number, close: number): Code => ({ type: 'ansi', code: `\u001B[${open}m`, endCode: `\u001B[${close}m` });
// Foreground colours share an end code, bold and dim share theirs (the intensity special case).
const PALETTE = [code(31, 39), code(32, 39), code(1, 22), code(2, 22), code(4, 24), code(41, 49), code(7, 27)];

/** A deterministic pseudo-random generator (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomRow(next: () => number): StyledChar[] {
  const row: StyledChar[] = [];
  let styles: Code[] = [];
  const length = Math.floor(next() * 40);
  for (let index = 0; index < length; index++) {
    // Runs of equal styles (as copies, the way Ink builds them), then a code added, dropped,
    // replaced (same length, other codes), the order reversed, or all cleared.
    const roll = next();
    if (roll < 0.15) styles = [];
    else if (roll < 0.35) styles = [...styles, PALETTE[Math.floor(next() * PALETTE.length)] as Code];
    else if (roll < 0.45 && styles.length > 0) styles = styles.slice(1);
    else if (roll < 0.6 && styles.length > 0) styles = [...styles.slice(0, -1), PALETTE[Math.floor(next() * PALETTE.length)] as Code];
    else if (roll < 0.65 && styles.length > 1) styles = [...styles].reverse();
    row.push({ type: 'char', value: String.fromCharCode(97 + Math.floor(next() * 26)), fullWidth: false, styles: [...styles] });
  }
  return row;
}

describe('ansi-tokenize without a style diff between equally styled cells', () => {
  it('is applied to the installed package', () => {
    expect(readFileSync(join(tokenizeDir, 'styledChars.js'), 'utf8'), 'run `npm ci` (its postinstall applies patches/) or `npx patch-package`').toContain('hvctl patch');
  });

  it('writes what the published function wrote, for 2,000 random rows', () => {
    const next = random(6);
    for (let row = 0; row < 2000; row++) {
      const chars = randomRow(next);
      expect(tokenize.styledCharsToString(chars), `row ${row}`).toBe(unpatched(chars));
    }
  });

  it('writes no codes for a plain row and one reset at the end of a styled one', () => {
    const plain = [...'plain'].map((value): StyledChar => ({ type: 'char', value, fullWidth: false, styles: [] }));
    expect(tokenize.styledCharsToString(plain)).toBe('plain');
    const red = [...'red'].map((value): StyledChar => ({ type: 'char', value, fullWidth: false, styles: [PALETTE[0] as Code] }));
    expect(tokenize.styledCharsToString(red)).toBe('\u001B[31mred\u001B[39m');
  });
});
