import { Box, useApp } from 'ink';
import { useEffect, useMemo, useReducer, useState } from 'react';
import { detailLines } from '../state/detail.js';
import { computeLayout } from '../state/layout.js';
import { createRowModelMemo } from '../state/rows.js';
import { confirmationAccepted, initialUiState, selectedIndexIn, selectedRow, uiReducer, type Pane, type ViewMetrics } from '../state/ui-state.js';
import { abortAsked, shownExecution, startsWorkflow, targetOf } from '../state/workflow.js';
import { consoleOwner, type RunnerDeps } from '../workflows/runner.js';
import { SegmentLine } from './components/SegmentLine.js';
import { useClusterSnapshot, type ClusterSource } from './hooks/useClusterSnapshot.js';
import { useCommandInput } from './hooks/useCommandInput.js';
import { useNow } from './hooks/useNow.js';
import { useTerminalSize } from './hooks/useTerminalSize.js';
import { useWorkflowEffects } from './hooks/useWorkflowEffects.js';
import type { Role } from '@hvctl/common';
import { Command, commandSpec, permitted } from './key/commands.js';
import { helpLines } from './key/help-lines.js';
import { ConfirmDialog } from './views/ConfirmDialog.js';
import { DetailPane } from './views/DetailPane.js';
import { EventLogPane } from './views/EventLogPane.js';
import { ExecutionView } from './views/ExecutionView.js';
import { footerLine } from './views/footer-line.js';
import { Header } from './views/Header.js';
import { HelpOverlay } from './views/HelpOverlay.js';
import { PlanView, planScrollHeight } from './views/PlanView.js';
import { TopologyPane } from './views/TopologyPane.js';
import { executionLines, planLines } from './views/workflow-lines.js';

export interface AppProps {
  readonly source: ClusterSource;
  readonly title?: string;
  /** The clock (tests pass a fixed one). */
  readonly now: () => number;
  /** Hides the commands that change the cluster (every workflow) and refuses to run them. */
  readonly readOnly: boolean;
  /** The console identity's role (from its certificate or token): hides and ignores what it may not run. */
  readonly role?: Role | undefined;
  /** Runs a dangerous command other than a workflow once its confirmation was typed (none exists yet). */
  readonly onConfirmed?: (command: Command, target: string) => void;
  /** Who submits workflows (journaled by the agents); default `user@console`. */
  readonly owner?: string;
}

/**
 * The console: joins the live snapshot (outside React), the terminal size, the clock and
 * the UI state (a pure reducer), and hands each pane what it draws. Global keys are read
 * here; pane keys only by the focused pane, or by the screen over the panes (help, plan,
 * workflow execution). Workflow I/O runs in useWorkflowEffects, driven by the state.
 */
export function App({ source, title, now, readOnly, role, onConfirmed, owner }: AppProps) {
  const { exit } = useApp();
  const snapshot = useClusterSnapshot(source);
  const size = useTerminalSize();
  const nowMs = useNow(now);
  const [rowModelOf] = useState(() => createRowModelMemo(now));
  const model = rowModelOf(snapshot);
  const [state, dispatch] = useReducer(uiReducer, initialUiState);
  const layout = computeLayout(size.columns, size.rows, state.detailVisible);
  const selected = model.rows[selectedIndexIn(state, model)];
  const target = targetOf(selectedRow(state, model));
  const detailWidth = layout.detail?.width ?? 0;
  const detail = useMemo(() => (detailWidth ? detailLines(model, selected, nowMs, detailWidth) : []), [model, selected, nowMs, detailWidth]);
  const help = useMemo(() => helpLines({ readOnly, role, selection: target, width: layout.overlay.width }), [readOnly, role, target?.kind, target?.name, layout.overlay.width]);
  const ui = state.workflow;
  const execution = ui.screen === 'execution' ? shownExecution(ui) : undefined;
  const overlay = layout.overlay;
  // What the plan screen and the execution view can scroll, for the reducer to clamp.
  const planCount = useMemo(() => (ui.plan ? planLines(ui.plan, overlay.width, ' ').length : 0), [ui.plan, overlay.width]);
  const scrolling = useMemo(
    () => (execution ? executionLines(execution, overlay.width, overlay.height, 0, 0, ' ') : undefined),
    [execution, overlay.width, overlay.height],
  );
  const view: ViewMetrics = {
    list: model,
    listHeight: layout.topology.height,
    detailHeight: layout.detail?.height ?? 0,
    detailLines: detail.length,
    logHeight: layout.log.height,
    logLines: model.events.length,
    helpHeight: overlay.height,
    helpLines: help.length,
    workflowHeight: ui.screen === 'plan' ? planScrollHeight(overlay) : (scrolling?.scrollHeight ?? 0),
    workflowLines: ui.screen === 'plan' ? planCount : (scrolling?.scrollCount ?? 0),
  };
  // New rows or a new size: keep the selection on its id and every scroll in range.
  useEffect(
    () => dispatch({ type: 'sync', view }),
    [model, layout.topology.height, layout.detail?.height, detail.length, help.length, view.workflowHeight, view.workflowLines],
  );
  const [runner] = useState<RunnerDeps>(() => ({ client: (node) => source.client?.(node), owner: owner ?? consoleOwner() }));
  useWorkflowEffects(ui, dispatch, runner, model.topology);

  const onCommand = (command: Command): void => {
    if (command === Command.AppQuit) exit();
    else if (!permitted(commandSpec(command), role)) return;
    else dispatch({ type: 'command', command, view, readOnly });
  };
  useCommandInput('global', onCommand, !state.confirm && !abortAsked(ui));
  const overScreen = state.helpOpen || state.confirm !== undefined;
  const reads = (pane: Pane): boolean => !overScreen && ui.screen === 'none' && state.focus === pane;

  let body;
  if (state.confirm) {
    const confirm = state.confirm;
    const request = ui.plan?.request;
    const forPlan = request !== undefined && startsWorkflow(confirm.command);
    body = (
      <Box height={overlay.height + 1} flexShrink={0} alignItems="flex-start">
        <ConfirmDialog
          confirm={confirm}
          width={layout.width}
          {...(forPlan ? { title: `Run: ${request.label}`, detail: `${ui.plan?.plan?.title ?? ''} — coordinator ${ui.plan?.coordinator ?? '?'}` } : {})}
          onType={(text) => dispatch({ type: 'confirm.type', text })}
          onBackspace={() => dispatch({ type: 'confirm.backspace' })}
          onCancel={() => dispatch({ type: 'confirm.cancel' })}
          onQuit={() => exit()}
          onSubmit={() => {
            if (!forPlan && confirmationAccepted(confirm)) onConfirmed?.(confirm.command, confirm.target);
            dispatch({ type: 'confirm.submit' });
          }}
        />
      </Box>
    );
  } else if (state.helpOpen) {
    body = <HelpOverlay lines={help} scroll={state.helpScroll} box={overlay} active onCommand={onCommand} />;
  } else if (ui.screen === 'plan' && ui.plan) {
    body = <PlanView screen={ui.plan} box={overlay} active onCommand={onCommand} />;
  } else if (execution) {
    body = (
      <ExecutionView
        execution={execution}
        scroll={ui.scroll}
        box={overlay}
        nowMs={nowMs}
        active
        onCommand={onCommand}
        onAbortAnswer={(yes) => dispatch({ type: 'workflow.abortAnswer', yes })}
      />
    );
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
  const footer = footerLine({ row: selected, workflow: ui, readOnly, role, onTopology: !overScreen && ui.screen === 'none' }, layout.width);
  return (
    <Box flexDirection="column" width={layout.width} height={layout.height}>
      <Header model={model} title={title} width={layout.width} />
      {body}
      <SegmentLine line={footer} width={layout.width} />
    </Box>
  );
}
