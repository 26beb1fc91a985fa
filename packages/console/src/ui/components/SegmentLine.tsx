import { Text } from 'ink';
import { clipLine, type Line, type Tone } from '../../state/format.js';

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

/**
 * One line of segments. A muted line (last-known data of an unreachable node) is drawn
 * dim and grey, keeping only red so that alarms still stand out.
 */
export function SegmentLine({ line, width, selected = false }: SegmentLineProps) {
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
