import { Box } from 'ink';
import type { Line } from '../../state/format.js';
import type { PaneBox } from '../../state/layout.js';
import { SegmentLine } from '../components/SegmentLine.js';
import { PaneTitle } from '../components/PaneTitle.js';
import { useCommandInput } from '../hooks/useCommandInput.js';
import type { Command } from '../key/commands.js';

export interface HelpOverlayProps {
  /** helpLines(): generated from the key table. */
  readonly lines: readonly Line[];
  readonly scroll: number;
  readonly box: PaneBox;
  readonly active: boolean;
  readonly onCommand: (command: Command) => void;
}

/** The key list over the panes; navigation keys scroll it, `?` or Esc close it. */
export function HelpOverlay({ lines, scroll, box, active, onCommand }: HelpOverlayProps) {
  useCommandInput('pane', onCommand, active);
  const visible = lines.slice(scroll, scroll + box.height);
  return (
    <Box flexDirection="column" width={box.width} height={box.height + 1} flexShrink={0}>
      <PaneTitle title="Help" info="(? or Esc closes)" focused width={box.width} />
      {visible.map((line, index) => (
        <SegmentLine key={scroll + index} line={line} width={box.width} />
      ))}
    </Box>
  );
}
