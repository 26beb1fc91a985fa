import { fit, formatClock, seg, type Line, type Tone } from '../../state/format.js';
import type { EventLine } from '../../state/event-log.js';

const TONES: Readonly<Record<EventLine['level'], Tone>> = { info: 'normal', warn: 'warn', error: 'bad' };

/** One event-log line: `14:03:12 msk-1 drbd  message`, coloured by level. */
export function eventLine(event: EventLine, nodeWidth: number): Line {
  return {
    segments: [
      seg(`${formatClock(event.timeMs)} `, 'muted'),
      seg(fit(event.node, nodeWidth), 'accent'),
      seg(` ${fit(event.area, 7)} `, 'muted'),
      seg(event.message, TONES[event.level], event.level === 'error'),
    ],
  };
}

/** The window of the log to draw: the newest `height` lines, `scroll` lines back. */
export function logWindow<T>(events: readonly T[], height: number, scroll: number): readonly T[] {
  const end = Math.max(0, events.length - Math.max(0, scroll));
  return events.slice(Math.max(0, end - height), end);
}
