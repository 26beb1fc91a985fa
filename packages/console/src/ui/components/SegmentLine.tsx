import { Text } from 'ink';
import { memo } from 'react';
import { clipLine, type Line, type Segment, type Tone } from '../../state/format.js';

const COLORS: Readonly<Record<Tone, string | undefined>> = {
  normal: undefined,
  ok: 'green',
  warn: 'yellow',
  bad: 'red',
  muted: 'gray',
  accent: 'cyan',
  info: 'blue',
};

export interface SegmentLineProps {
  readonly line: Line;
  /** Columns available; the line is cut to fit and never wraps. */
  readonly width: number;
  /** Drawn inverted: the selected row of the focused pane. */
  readonly selected?: boolean;
}

const sameSegment = (a: Segment, b: Segment): boolean => a.text === b.text && a.tone === b.tone && a.bold === b.bold;

/** True when two lines draw alike (lines are rebuilt on every render, so compared by content). */
export function sameLine(a: Line, b: Line): boolean {
  return (
    a === b ||
    (a.muted === b.muted && a.segments.length === b.segments.length && a.segments.every((segment, index) => sameSegment(segment, b.segments[index] as Segment)))
  );
}

/**
 * One line of segments. A muted line (last-known data of an unreachable node) is drawn
 * dim and grey, keeping only red so that alarms still stand out. Memoized on the line's
 * content: a key press or a new snapshot re-renders only the lines that look different.
 */
export const SegmentLine = memo(SegmentLineView, (before, after) => before.width === after.width && before.selected === after.selected && sameLine(before.line, after.line));

function SegmentLineView({ line, width, selected = false }: SegmentLineProps) {
  const clipped = clipLine(line, width);
  return (
    <Text wrap="truncate-end" dimColor={line.muted === true} inverse={selected}>
      {clipped.segments.length === 0 ? ' ' : null}
      {clipped.segments.map((segment, index) => {
        const tone = line.muted && segment.tone !== 'bad' ? 'muted' : (segment.tone ?? 'normal');
        const color = COLORS[tone];
        return (
          <Text key={index} {...(color ? { color } : {})} bold={segment.bold === true}>
            {segment.text}
          </Text>
        );
      })}
    </Text>
  );
}
