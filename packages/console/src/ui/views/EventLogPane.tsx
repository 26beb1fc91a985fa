import { Box } from 'ink';
import type { EventLine } from '../../state/event-log.js';
import type { PaneBox } from '../../state/layout.js';
import { SegmentLine } from '../components/SegmentLine.js';
import { PaneTitle } from '../components/PaneTitle.js';
import { useCommandInput } from '../hooks/useCommandInput.js';
import type { Command } from '../key/commands.js';
import { eventLine, logWindow } from './log-lines.js';

export interface EventLogPaneProps {
  readonly events: readonly EventLine[];
  readonly scroll: number;
  readonly box: PaneBox;
  readonly nodeWidth: number;
  readonly focused: boolean;
  readonly active: boolean;
  readonly onCommand: (command: Command) => void;
}

/** Every node's log and the console's connection events, merged, newest last. */
export function EventLogPane({ events, scroll, box, nodeWidth, focused, active, onCommand }: EventLogPaneProps) {
  useCommandInput('pane', onCommand, active);
  const visible = logWindow(events, box.height, scroll);
  const info = scroll > 0 ? `(${scroll} newer below)` : `(${events.length})`;
  return (
    <Box flexDirection="column" width={box.width} height={box.height + 1} flexShrink={0}>
      <PaneTitle title="Events" info={info} focused={focused} width={box.width} />
      {visible.map((event, index) => (
        <SegmentLine key={index} line={eventLine(event, nodeWidth)} width={box.width} />
      ))}
    </Box>
  );
}
