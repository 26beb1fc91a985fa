import { Box } from 'ink';
import { useMemo } from 'react';
import type { PaneBox } from '../../state/layout.js';
import type { PlanScreen } from '../../state/workflow.js';
import { PaneTitle } from '../components/PaneTitle.js';
import { SegmentLine } from '../components/SegmentLine.js';
import { useCommandInput } from '../hooks/useCommandInput.js';
import { useSpinner } from '../hooks/useSpinner.js';
import type { Command } from '../key/commands.js';
import { planBar, planLines } from './workflow-lines.js';

export interface PlanViewProps {
  readonly screen: PlanScreen;
  /** The area below the header: a title line, then `box.height` lines (the last one is the button bar). */
  readonly box: PaneBox;
  /** Reads pane keys (Enter runs, arrows scroll) while nothing is open over it. */
  readonly active: boolean;
  readonly onCommand: (command: Command) => void;
}

/** Lines of the plan that scroll (everything but the button bar). */
export const planScrollHeight = (box: PaneBox): number => Math.max(1, box.height - 1);

/**
 * The plan screen, over the panes like help: a spinner while the coordinator plans, then
 * the plan (title, coordinator, evidence, warnings, every step with its command) or the
 * refusal; Enter runs, Esc cancels.
 */
export function PlanView({ screen, box, active, onCommand }: PlanViewProps) {
  useCommandInput('pane', onCommand, active);
  const frame = useSpinner(screen.status === 'loading' || screen.status === 'submitting');
  const lines = useMemo(() => planLines(screen, box.width, frame), [screen, box.width, frame]);
  const height = planScrollHeight(box);
  const visible = lines.slice(screen.scroll, screen.scroll + height);
  const position = lines.length > height ? `${screen.scroll + 1}-${screen.scroll + visible.length}/${lines.length}` : '';
  const info = `${screen.request.label}${screen.request.dangerous ? ' (dangerous)' : ''}`;
  return (
    <Box flexDirection="column" width={box.width} height={box.height + 1} flexShrink={0}>
      <PaneTitle title="Plan" info={info} focused width={box.width} />
      <Box flexDirection="column" height={height} flexShrink={0}>
        {visible.map((line, index) => (
          <SegmentLine key={screen.scroll + index} line={line} width={box.width} />
        ))}
      </Box>
      <SegmentLine line={planBar(screen, frame, position)} width={box.width} />
    </Box>
  );
}
