import { fit, formatClock, seg, type Line, type Tone } from '../../state/format.js';
import type { EventLine } from '../../state/event-log.js';

const TONES: Readonly<Record<EventLine['level'], Tone>> = { info: 'normal', warn: 'warn', error: 'bad' };

/** Wide enough for every area name the agents use ("workflow" is the longest). */
export const AREA_WIDTH = 8;

/**
 * One event-log line: `14:03:12 msk-1 drbd     message`, coloured by level. Workflow lines
 * (started, finished, aborted, adopted — by this console or any other operator) stand out:
 * their area is highlighted and an informational one is drawn in the accent colour.
 */
export function eventLine(event: EventLine, nodeWidth: number): Line {
  const workflow = event.area === 'workflow';
  const tone = workflow && event.level === 'info' ? 'accent' : TONES[event.level];
  return {
    segments: [
      seg(`${formatClock(event.timeMs)} `, 'muted'),
      seg(fit(event.node, nodeWidth), 'accent'),
      seg(' '),
      seg(fit(event.area, AREA_WIDTH), workflow ? 'info' : 'muted', workflow),
      seg(' '),
      seg(event.message, tone, event.level === 'error' || workflow),
    ],
  };
}

/** The window of the log to draw: the newest `height` lines, `scroll` lines back. */
export function logWindow<T>(events: readonly T[], height: number, scroll: number): readonly T[] {
  const end = Math.max(0, events.length - Math.max(0, scroll));
  return events.slice(Math.max(0, end - height), end);
}
