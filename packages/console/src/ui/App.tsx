import { Box, useApp } from 'ink';
import { useEffect, useMemo, useReducer, useState } from 'react';
import { detailLines } from '../state/detail.js';
import { computeLayout } from '../state/layout.js';
import { createRowModelMemo } from '../state/rows.js';
import { confirmationAccepted, initialUiState, selectedIndexIn, uiReducer, type Pane, type ViewMetrics } from '../state/ui-state.js';
import { useClusterSnapshot, type ClusterSource } from './hooks/useClusterSnapshot.js';
import { useCommandInput } from './hooks/useCommandInput.js';
import { useNow } from './hooks/useNow.js';
import { useTerminalSize } from './hooks/useTerminalSize.js';
import { Command } from './key/commands.js';
import { helpLines } from './key/help-lines.js';
import { ConfirmDialog } from './views/ConfirmDialog.js';
import { DetailPane } from './views/DetailPane.js';
import { EventLogPane } from './views/EventLogPane.js';
import { Header } from './views/Header.js';
import { HelpOverlay } from './views/HelpOverlay.js';
import { TopologyPane } from './views/TopologyPane.js';

export interface AppProps {
  readonly source: ClusterSource;
  readonly title?: string;
  /** The clock (tests pass a fixed one). */
  readonly now: () => number;
  /** Hides dangerous commands and refuses to run them. */
  readonly readOnly: boolean;
  /** Runs a dangerous command once its confirmation was typed (no such command exists yet). */
  readonly onConfirmed?: (command: Command, target: string) => void;
}

/**
 * The console: joins the live snapshot (outside React), the terminal size, the clock and
 * the UI state (a pure reducer), and hands each pane what it draws. Global keys are read
 * here; pane keys only by the focused pane.
 */
export function App({ source, title, now, readOnly, onConfirmed }: AppProps) {
  const { exit } = useApp();
  const snapshot = useClusterSnapshot(source);
  const size = useTerminalSize();
  const nowMs = useNow(now);
  const [rowModelOf] = useState(() => createRowModelMemo(now));
  const model = rowModelOf(snapshot);
  const [state, dispatch] = useReducer(uiReducer, initialUiState);
  const layout = computeLayout(size.columns, size.rows, state.detailVisible);
  const selected = model.rows[selectedIndexIn(state, model)];
  const detailWidth = layout.detail?.width ?? 0;
  const detail = useMemo(() => (detailWidth ? detailLines(model, selected, nowMs, detailWidth) : []), [model, selected, nowMs, detailWidth]);
  const help = useMemo(() => helpLines({ readOnly }), [readOnly]);
  const view: ViewMetrics = {
    list: model,
    listHeight: layout.topology.height,
    detailHeight: layout.detail?.height ?? 0,
    detailLines: detail.length,
    logHeight: layout.log.height,
    logLines: model.events.length,
    helpHeight: layout.overlay.height,
    helpLines: help.length,
  };
  // New rows or a new size: keep the selection on its id and every scroll in range.
  useEffect(() => dispatch({ type: 'sync', view }), [model, layout.topology.height, layout.detail?.height, detail.length, help.length]);

  const onCommand = (command: Command): void => {
    if (command === Command.AppQuit) exit();
    else dispatch({ type: 'command', command, view, readOnly });
  };
  useCommandInput('global', onCommand, !state.confirm);
  const reads = (pane: Pane): boolean => !state.helpOpen && !state.confirm && state.focus === pane;

  let body;
  if (state.confirm) {
    const confirm = state.confirm;
    body = (
      <Box height={layout.overlay.height + 1} flexShrink={0}>
        <ConfirmDialog
          confirm={confirm}
          width={layout.width}
          onType={(text) => dispatch({ type: 'confirm.type', text })}
          onBackspace={() => dispatch({ type: 'confirm.backspace' })}
          onCancel={() => dispatch({ type: 'confirm.cancel' })}
          onQuit={() => exit()}
          onSubmit={() => {
            if (confirmationAccepted(confirm)) onConfirmed?.(confirm.command, confirm.target);
            dispatch({ type: 'confirm.submit' });
          }}
        />
      </Box>
    );
  } else if (state.helpOpen) {
    body = <HelpOverlay lines={help} scroll={state.helpScroll} box={layout.overlay} active onCommand={onCommand} />;
  } else {
    body = (
      <>
        <Box flexDirection={layout.wide ? 'row' : 'column'} flexShrink={0}>
          <TopologyPane model={model} state={state} box={layout.topology} focused={state.focus === 'topology'} active={reads('topology')} nowMs={nowMs} onCommand={onCommand} />
          {layout.detail ? (
            <DetailPane lines={detail} scroll={state.detailScroll} box={layout.detail} beside={layout.wide} focused={state.focus === 'detail'} active={reads('detail')} onCommand={onCommand} />
          ) : null}
        </Box>
        <EventLogPane events={model.events} scroll={state.logScroll} box={layout.log} nodeWidth={model.widths.node} focused={state.focus === 'log'} active={reads('log')} onCommand={onCommand} />
      </>
    );
  }
  return (
    <Box flexDirection="column" width={layout.width} height={layout.height}>
      <Header model={model} title={title} width={layout.width} />
      {body}
    </Box>
  );
}
