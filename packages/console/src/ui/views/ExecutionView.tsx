import { Box, useInput } from 'ink';
import { useMemo } from 'react';
import type { PaneBox } from '../../state/layout.js';
import { isRunning, type Execution } from '../../state/workflow.js';
import { PaneTitle } from '../components/PaneTitle.js';
import { SegmentLine } from '../components/SegmentLine.js';
import { useCommandInput } from '../hooks/useCommandInput.js';
import { useSpinner } from '../hooks/useSpinner.js';
import type { Command } from '../key/commands.js';
import { executionLines } from './workflow-lines.js';

export interface ExecutionViewProps {
  readonly execution: Execution;
  readonly scroll: number;
  readonly box: PaneBox;
  readonly nowMs: number;
  /** Reads pane keys (a aborts, arrows scroll) while nothing is open over it. */
  readonly active: boolean;
  readonly onCommand: (command: Command) => void;
  /** The y/N answer while an abort is asked. */
  readonly onAbortAnswer: (yes: boolean) => void;
}

/**
 * A workflow as it runs, like a test runner's output: finished steps as lines (newest
 * last), every running step live with a spinner and its progress, the summary once it
 * ended. Esc detaches: the workflow goes on in its coordinator.
 */
export function ExecutionView({ execution, scroll, box, nowMs, active, onCommand, onAbortAnswer }: ExecutionViewProps) {
  const asking = execution.abort.status === 'asking';
  useCommandInput('pane', onCommand, active && !asking);
  useInput((input) => onAbortAnswer(input === 'y' || input === 'Y'), { isActive: active && asking });
  const frame = useSpinner(isRunning(execution) || execution.abort.status === 'sending');
  const { lines } = useMemo(() => executionLines(execution, box.width, box.height, scroll, nowMs, frame), [execution, box.width, box.height, scroll, nowMs, frame]);
  const state = isRunning(execution) ? 'running' : execution.workflow.state;
  const info = `${execution.id} on ${execution.coordinator} · ${state}${scroll > 0 ? ` · (${scroll} newer below)` : ''}`;
  return (
    <Box flexDirection="column" width={box.width} height={box.height + 1} flexShrink={0}>
      <PaneTitle title="Workflow" info={info} focused width={box.width} />
      {lines.map((line, index) => (
        <SegmentLine key={index} line={line} width={box.width} />
      ))}
    </Box>
  );
}
