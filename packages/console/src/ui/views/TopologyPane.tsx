import { Box } from 'ink';
import { useMemo } from 'react';
import { seg } from '../../state/format.js';
import type { PaneBox } from '../../state/layout.js';
import { visibleWindow, type RowModel } from '../../state/rows.js';
import { selectedIndexIn, type UiState } from '../../state/ui-state.js';
import { SegmentLine } from '../components/SegmentLine.js';
import { PaneTitle } from '../components/PaneTitle.js';
import { useCommandInput } from '../hooks/useCommandInput.js';
import type { Command } from '../key/commands.js';
import { topologyLine, vmColumns } from './topology-lines.js';

export interface TopologyPaneProps {
  readonly model: RowModel;
  readonly state: UiState;
  readonly box: PaneBox;
  readonly focused: boolean;
  /** True while this pane reads the keyboard (focused, and no overlay open). */
  readonly active: boolean;
  readonly nowMs: number;
  readonly onCommand: (command: Command) => void;
}

/**
 * The site -> node -> VM tree. Virtualized: only the rows that fit are rendered, the
 * window follows the selection (visibleWindow), so 4,000 rows cost as much as 20.
 */
export function TopologyPane({ model, state, box, focused, active, nowMs, onCommand }: TopologyPaneProps) {
  useCommandInput('pane', onCommand, active);
  const columns = useMemo(() => vmColumns(model.widths, box.width), [model.widths, box.width]);
  const total = model.rows.length;
  const selected = selectedIndexIn(state, model);
  const window = visibleWindow(total, selected, box.height, state.top);
  const visible = model.rows.slice(window.start, window.end);
  return (
    <Box flexDirection="column" width={box.width} height={box.height + 1} flexShrink={0}>
      <PaneTitle title="Topology" info={total ? `${selected + 1}/${total}` : 'no nodes'} focused={focused} width={box.width} />
      {visible.map((row, offset) => {
        const isSelected = window.start + offset === selected;
        const line = topologyLine(row, model.widths, columns, box.width, nowMs);
        const gutter = seg(isSelected ? '› ' : '  ', 'accent', true);
        return <SegmentLine key={row.id} line={{ ...line, segments: [gutter, ...line.segments] }} width={box.width} selected={isSelected && focused} />;
      })}
    </Box>
  );
}
