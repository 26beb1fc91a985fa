import { describe, expect, it } from 'vitest';
import { lineText } from '../../state/format.js';
import { eventLine } from './log-lines.js';

const at = new Date(2026, 10, 23, 14, 3, 12).getTime();

describe('event-log lines', () => {
  it('show the whole "workflow" area and make workflow lines stand out, whoever started them', () => {
    const started = eventLine({ timeMs: at, node: 'msk-1', level: 'info', area: 'workflow', message: 'workflow wf-1 started by bob@cli: Drain msk-1' }, 5);
    expect(lineText(started)).toBe('14:03:12 msk-1 workflow workflow wf-1 started by bob@cli: Drain msk-1');
    expect(started.segments.at(-1)).toMatchObject({ tone: 'accent', bold: true });
    expect(started.segments.find((segment) => segment.text === 'workflow')).toMatchObject({ tone: 'info', bold: true });
    // A failed one stays red, a warning yellow
    expect(eventLine({ timeMs: at, node: 'msk-1', level: 'error', area: 'workflow', message: 'workflow wf-1 failed' }, 5).segments.at(-1)?.tone).toBe('bad');
    expect(eventLine({ timeMs: at, node: 'msk-1', level: 'warn', area: 'workflow', message: 'abort requested' }, 5).segments.at(-1)?.tone).toBe('warn');
    // Other areas are as before
    const drbd = eventLine({ timeMs: at, node: 'msk-1', level: 'info', area: 'drbd', message: 'promoted' }, 5);
    expect(lineText(drbd)).toBe('14:03:12 msk-1 drbd     promoted');
    expect(drbd.segments.at(-1)?.tone).toBe('normal');
  });
});
