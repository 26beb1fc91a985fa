import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { stripVTControlCharacters } from 'node:util';
import { describe, expect, it } from 'vitest';

// Chalk decides on colours when it is first loaded: force them before Ink is imported.
process.env['FORCE_COLOR'] = '1';
const { render, cleanup } = await import('ink-testing-library');
const { App } = await import('./App.js');

const NOW = 1_700_000_000_000;
const DIM = '\u001B[2m';
const RED = '\u001B[31m';

describe('console colours', () => {
  it('greys an unreachable node and everything under it, but keeps its UNREACHABLE marker red', async () => {
    // Given spb-1 unreachable
    const snapshot = fakeClusterSnapshot(fakeLabStates(3, NOW), ['spb-1']);
    const source = { snapshot: () => snapshot, subscribe: () => () => undefined };
    const app = render(<App source={source} now={() => NOW} readOnly={false} />);
    Object.defineProperty(app.stdout, 'columns', { value: 200, configurable: true });
    Object.defineProperty(app.stdout, 'rows', { value: 50, configurable: true });
    app.stdout.emit('resize');
    // Wait for the frame drawn at that size, with its 200-column event-log title (a loaded machine may take more than a tick)
    const resized = (): boolean => stripVTControlCharacters(app.lastFrame() ?? '').split('\n').some((entry) => [...entry].length === 200);
    for (let waited = 0; !resized() && waited < 5000; waited += 10) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    await new Promise((resolve) => setTimeout(resolve, 20));

    // Then its node row and VM rows are dim, a reachable node's rows are not
    const lines = (app.lastFrame() ?? '').split('\n');
    // The topology part of the first line containing `text` (the detail pane's dim border cut off).
    const line = (text: string): string => (lines.find((entry) => stripVTControlCharacters(entry).includes(text)) ?? '').split(`${DIM}│`)[0]?.split('│')[0] ?? '';
    expect(line('✖ spb-1')).toContain(DIM);
    expect(line('UNREACHABLE')).toContain(RED);
    expect(line('vm-spb-1-2')).toContain(DIM);
    expect(line('vm-msk-2-2')).not.toContain(DIM);
    // And the header's ALERT marker is red
    expect(line('ALERT')).toContain(RED);
    cleanup();
  });
});
