import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { stripVTControlCharacters } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';

// Chalk decides on colours when it is first loaded: force them before Ink is imported.
process.env['FORCE_COLOR'] = '1';
const { Box, Text } = await import('ink');
const { render, cleanup } = await import('ink-testing-library');

const RED = '\u001B[31m';

interface Row {
  readonly text: string;
  readonly red?: boolean;
}

function Rows({ rows }: { readonly rows: readonly Row[] }) {
  return (
    <Box flexDirection="column">
      {rows.map((row, index) => (
        <Text key={index} {...(row.red ? { color: 'red' } : {})}>
          {row.text}
        </Text>
      ))}
    </Box>
  );
}

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 10));

/** Renders `rows` in place of the last tree and returns the frame's lines (with their ANSI codes). */
async function draw(app: ReturnType<typeof render>, rows: readonly Row[]): Promise<string[]> {
  app.rerender(<Rows rows={rows} />);
  await tick();
  return (app.lastFrame() ?? '').split('\n');
}

// The console's frame cost depends on patches/ink+6.8.0.patch (applied by the root package's
// postinstall): Ink's Output keeps styled characters and drawn rows across frames. These tests
// check that it is applied and that reusing rows never draws a stale one.
describe("Ink's output with frame-spanning caches (patches/ink+6.8.0.patch)", () => {
  afterEach(() => cleanup());

  it('is applied to the installed Ink', () => {
    const output = join(dirname(createRequire(import.meta.url).resolve('ink')), 'output.js');
    expect(readFileSync(output, 'utf8'), 'run `npm ci` (its postinstall applies patches/) or `npx patch-package`').toContain('hvctl patch');
  });

  it('draws a row again when only its colour changes, and the same rows again when they come back', async () => {
    const app = render(<Rows rows={[]} />);
    const first = await draw(app, [{ text: 'alpha', red: true }, { text: 'beta' }, { text: 'gamma' }]);
    expect(first[0]).toContain(RED);
    expect(first[1]).not.toContain(RED);

    const second = await draw(app, [{ text: 'alpha' }, { text: 'beta', red: true }, { text: 'gamma' }]);
    expect(second[0]).not.toContain(RED);
    expect(second[1]).toContain(RED);
    expect(second.map((line) => stripVTControlCharacters(line))).toEqual(['alpha', 'beta', 'gamma']);

    expect(await draw(app, [{ text: 'alpha', red: true }, { text: 'beta' }, { text: 'gamma' }])).toEqual(first);
  });

  it('leaves nothing of a wide or longer row behind when a narrower one replaces it', async () => {
    const app = render(<Rows rows={[]} />);
    const wide = await draw(app, [{ text: '日本語 wide' }, { text: 'a longer second row' }]);
    expect(wide.map((line) => stripVTControlCharacters(line))).toEqual(['日本語 wide', 'a longer second row']);
    const narrow = await draw(app, [{ text: 'abc' }, { text: 'short' }]);
    expect(narrow.map((line) => stripVTControlCharacters(line))).toEqual(['abc', 'short']);
  });

  it('keeps two apps that share the caches apart', async () => {
    const left = render(<Rows rows={[]} />);
    const right = render(<Rows rows={[]} />);
    await draw(left, [{ text: 'left one', red: true }, { text: 'left two' }]);
    const rightFrame = await draw(right, [{ text: 'right one' }, { text: 'right two', red: true }]);
    const leftFrame = await draw(left, [{ text: 'left one', red: true }, { text: 'left two' }]);
    expect(leftFrame.map((line) => stripVTControlCharacters(line))).toEqual(['left one', 'left two']);
    expect(leftFrame[0]).toContain(RED);
    expect(rightFrame.map((line) => stripVTControlCharacters(line))).toEqual(['right one', 'right two']);
    expect(rightFrame[1]).toContain(RED);
  });
});
