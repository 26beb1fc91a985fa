import { Box } from 'ink';
import type { Line } from '../../state/format.js';
import type { PaneBox } from '../../state/layout.js';
import { SegmentLine } from '../components/SegmentLine.js';
import { PaneTitle } from '../components/PaneTitle.js';
import { useCommandInput } from '../hooks/useCommandInput.js';
import type { Command } from '../key/commands.js';

export interface DetailPaneProps {
  readonly lines: readonly Line[];
  readonly scroll: number;
  readonly box: PaneBox;
  /** Drawn right of the topology with a separator line on its left. */
  readonly beside: boolean;
  readonly focused: boolean;
  readonly active: boolean;
  readonly onCommand: (command: Command) => void;
}

/** Everything about the selected site, node or VM; scrolls when focused. */
export function DetailPane({ lines, scroll, box, beside, focused, active, onCommand }: DetailPaneProps) {
  useCommandInput('pane', onCommand, active);
  const visible = lines.slice(scroll, scroll + box.height);
  const more = lines.length > box.height ? `${scroll + 1}-${scroll + visible.length}/${lines.length}` : undefined;
  return (
    <Box
      flexDirection="column"
      width={box.width + (beside ? 1 : 0)}
      height={box.height + 1}
      flexShrink={0}
      {...(beside ? { borderStyle: 'single' as const, borderTop: false, borderBottom: false, borderRight: false, borderDimColor: true } : {})}
    >
      <PaneTitle title="Detail" {...(more ? { info: more } : {})} focused={focused} width={box.width} />
      {visible.map((line, index) => (
        <SegmentLine key={scroll + index} line={line} width={box.width} />
      ))}
    </Box>
  );
}
