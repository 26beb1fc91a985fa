import { Command, commandSpec } from '../ui/key/commands.js';
import { visibleWindow, type Row } from './rows.js';
import {
  abortAsked,
  askAbort,
  closeScreen,
  initialWorkflowUi,
  notePlan,
  openPlan,
  runnablePlan,
  showLast,
  startsWorkflow,
  submitPlan,
  workflowReducer,
  workflowRequest,
  type WorkflowAction,
  type WorkflowUi,
} from './workflow.js';

/** The panes that can hold the keyboard focus, in Tab order. */
export type Pane = 'topology' | 'detail' | 'log';

/** A dangerous command waiting for the operator to type the target's name. */
export interface Confirmation {
  readonly command: Command;
  /** Row id of the target (`node:msk-1`). */
  readonly target: string;
  /** What must be typed to proceed: the target's name. */
  readonly expected: string;
  readonly typed: string;
}

/**
 * Everything the console remembers between key presses. Live cluster data is not here:
 * it arrives as snapshots and is joined with this state at render time.
 */
export interface UiState {
  /** Stable id of the selected row (`site:msk`, `node:msk-1`, `vm:web-1`): survives reordering. */
  readonly selectedId: string | undefined;
  /** Where the selection was last seen; used when the selected row disappears. */
  readonly selectedIndex: number;
  /** First topology row drawn. */
  readonly top: number;
  readonly focus: Pane;
  readonly helpOpen: boolean;
  readonly helpScroll: number;
  readonly detailVisible: boolean;
  readonly detailScroll: number;
  /** Event-log lines scrolled back from the newest; 0 follows new entries. */
  readonly logScroll: number;
  readonly confirm: Confirmation | undefined;
  /** Plan screen, execution view and the workflows started here (see workflow.ts). */
  readonly workflow: WorkflowUi;
}

export const initialUiState: UiState = {
  selectedId: undefined,
  selectedIndex: 0,
  top: 0,
  focus: 'topology',
  helpOpen: false,
  helpScroll: 0,
  detailVisible: true,
  detailScroll: 0,
  logScroll: 0,
  confirm: undefined,
  workflow: initialWorkflowUi,
};

/** The row list as the reducer needs it (RowModel satisfies this). */
export interface RowList {
  readonly rows: readonly Row[];
  indexOf(id: string): number;
}

/** What the reducer must know about the screen to move and scroll: the list and pane sizes. */
export interface ViewMetrics {
  readonly list: RowList;
  readonly listHeight: number;
  /** 0 while the detail pane is not shown. */
  readonly detailHeight: number;
  readonly detailLines: number;
  readonly logHeight: number;
  readonly logLines: number;
  readonly helpHeight: number;
  readonly helpLines: number;
  /** Plan screen: lines in its scrolling area and their count; execution view: finished-step lines. */
  readonly workflowHeight?: number;
  readonly workflowLines?: number;
}

export type UiAction =
  | { readonly type: 'command'; readonly command: Command; readonly view: ViewMetrics; readonly readOnly?: boolean }
  | { readonly type: 'select'; readonly id: string; readonly view: ViewMetrics }
  /** The rows or the terminal size changed: re-resolve the selection and clamp every scroll. */
  | { readonly type: 'sync'; readonly view: ViewMetrics }
  | { readonly type: 'confirm.type'; readonly text: string }
  | { readonly type: 'confirm.backspace' }
  | { readonly type: 'confirm.cancel' }
  | { readonly type: 'confirm.submit' }
  | WorkflowAction;

const clamp = (value: number, min: number, max: number): number => Math.min(Math.max(value, min), Math.max(min, max));

/**
 * The index of the selected row: where its id is now, or, when that row is gone, the row
 * that took its place (same index, clamped). -1 for an empty list.
 */
export function selectedIndexIn(state: UiState, list: RowList): number {
  if (list.rows.length === 0) return -1;
  if (state.selectedId !== undefined) {
    const index = list.indexOf(state.selectedId);
    if (index >= 0) return index;
  }
  return clamp(state.selectedIndex, 0, list.rows.length - 1);
}

/** The panes Tab cycles through on this screen. */
export function focusablePanes(view: ViewMetrics): readonly Pane[] {
  return view.detailHeight > 0 ? ['topology', 'detail', 'log'] : ['topology', 'log'];
}

const pageOf = (height: number): number => Math.max(1, height - 1);

type Move = 'up' | 'down' | 'pageUp' | 'pageDown' | 'home' | 'end';

const MOVES: Partial<Record<Command, Move>> = {
  [Command.NavUp]: 'up',
  [Command.NavDown]: 'down',
  [Command.NavPageUp]: 'pageUp',
  [Command.NavPageDown]: 'pageDown',
  [Command.NavHome]: 'home',
  [Command.NavEnd]: 'end',
};

/** The new position of a cursor or scroll offset in [0, last] after a move. */
function moved(position: number, move: Move, page: number, last: number): number {
  switch (move) {
    case 'up':
      return clamp(position - 1, 0, last);
    case 'down':
      return clamp(position + 1, 0, last);
    case 'pageUp':
      return clamp(position - page, 0, last);
    case 'pageDown':
      return clamp(position + page, 0, last);
    case 'home':
      return 0;
    case 'end':
      return Math.max(0, last);
  }
}

function select(state: UiState, view: ViewMetrics, index: number, top: number): UiState {
  const { rows } = view.list;
  const row = rows[index];
  if (!row) return state;
  const window = visibleWindow(rows.length, index, view.listHeight, top);
  if (row.id === state.selectedId && index === state.selectedIndex && window.start === state.top) return state;
  return {
    ...state,
    selectedId: row.id,
    selectedIndex: index,
    top: window.start,
    detailScroll: row.id === state.selectedId ? state.detailScroll : 0,
  };
}

function moveSelection(state: UiState, view: ViewMetrics, move: Move): UiState {
  const { rows } = view.list;
  if (rows.length === 0) return state;
  const current = selectedIndexIn(state, view.list);
  const next = moved(current, move, pageOf(view.listHeight), rows.length - 1);
  // Paging scrolls the window by the same amount, so the selection keeps its place on screen.
  const paging = move === 'pageUp' || move === 'pageDown';
  return select(state, view, next, paging ? state.top + (next - current) : state.top);
}

function scrollWorkflow(state: UiState, view: ViewMetrics, move: Move): UiState {
  const ui = state.workflow;
  const height = view.workflowHeight ?? 0;
  const last = (view.workflowLines ?? 0) - height;
  if (ui.screen === 'plan' && ui.plan) {
    return { ...state, workflow: { ...ui, plan: { ...ui.plan, scroll: moved(ui.plan.scroll, move, pageOf(height), last) } } };
  }
  // The execution view is drawn newest last, like the event log: "up" goes further back.
  const back = Math.max(0, last) - ui.scroll;
  return { ...state, workflow: { ...ui, scroll: clamp(last - moved(back, move, pageOf(height), last), 0, last) } };
}

function navigate(state: UiState, view: ViewMetrics, move: Move): UiState {
  if (state.confirm || abortAsked(state.workflow)) return state;
  if (state.helpOpen) {
    return { ...state, helpScroll: moved(state.helpScroll, move, pageOf(view.helpHeight), view.helpLines - view.helpHeight) };
  }
  if (state.workflow.screen !== 'none') return scrollWorkflow(state, view, move);
  switch (state.focus) {
    case 'topology':
      return moveSelection(state, view, move);
    case 'detail':
      return { ...state, detailScroll: moved(state.detailScroll, move, pageOf(view.detailHeight), view.detailLines - view.detailHeight) };
    case 'log': {
      // The log is drawn newest last, so "up" means further back: a larger offset from the end.
      const last = view.logLines - view.logHeight;
      const back = last - state.logScroll;
      return { ...state, logScroll: clamp(last - moved(back, move, pageOf(view.logHeight), last), 0, last) };
    }
  }
}

function cycleFocus(state: UiState, view: ViewMetrics, step: 1 | -1): UiState {
  if (state.helpOpen || state.confirm || state.workflow.screen !== 'none') return state;
  const panes = focusablePanes(view);
  const at = Math.max(0, panes.indexOf(state.focus));
  return { ...state, focus: panes[(at + step + panes.length) % panes.length] ?? 'topology' };
}

function openConfirmation(state: UiState, command: Command, readOnly: boolean): UiState {
  if (readOnly || state.confirm || !state.selectedId || state.workflow.screen !== 'none') return state;
  const target = state.selectedId;
  return { ...state, helpOpen: false, confirm: { command, target, expected: target.slice(target.indexOf(':') + 1), typed: '' } };
}

/** True when the operator typed exactly what the confirmation asks for. */
export function confirmationAccepted(confirm: Confirmation | undefined): boolean {
  return confirm !== undefined && confirm.typed === confirm.expected;
}

/** `state` with a new workflow part; the same object when nothing changed. */
const withWorkflow = (state: UiState, workflow: WorkflowUi): UiState => (workflow === state.workflow ? state : { ...state, workflow });

/** The selected row, as drawn. */
export function selectedRow(state: UiState, list: RowList): Row | undefined {
  return list.rows[selectedIndexIn(state, list)];
}

/** True while the topology screen is showing: no help, confirmation or workflow screen over it. */
const onTopology = (state: UiState): boolean => !state.helpOpen && !state.confirm && state.workflow.screen === 'none';

/** m, D, U, R, F, B: the plan screen of the selected row's workflow (nothing when it does not apply). */
function startWorkflow(state: UiState, command: Command, view: ViewMetrics, readOnly: boolean): UiState {
  if (readOnly || !onTopology(state)) return state;
  const request = workflowRequest(command, selectedRow(state, view.list));
  return request ? withWorkflow(state, openPlan(state.workflow, request)) : state;
}

/** Enter on the plan screen: a dangerous plan asks for the target's name first (Cancel focused). */
function runPlan(state: UiState, readOnly: boolean): UiState {
  const plan = runnablePlan(state.workflow);
  if (readOnly || !plan || state.helpOpen || state.confirm) return state;
  const { request } = plan;
  if (!request.dangerous) return withWorkflow(state, submitPlan(state.workflow));
  return { ...state, confirm: { command: request.command, target: request.target.rowId, expected: request.target.name, typed: '' } };
}

/** True when the open confirmation guards the plan on screen (rather than another dangerous command). */
function confirmsPlan(state: UiState): boolean {
  const plan = runnablePlan(state.workflow);
  return state.confirm !== undefined && plan !== undefined && state.confirm.command === plan.request.command && state.confirm.target === plan.request.target.rowId;
}

/** The confirmation closes; when it guarded a plan, say on the plan screen that nothing ran. */
function closeConfirmation(state: UiState, note: string): UiState {
  if (!state.confirm) return state;
  return { ...state, confirm: undefined, workflow: confirmsPlan(state) ? notePlan(state.workflow, note) : state.workflow };
}

function runCommand(state: UiState, command: Command, view: ViewMetrics, readOnly: boolean): UiState {
  if (startsWorkflow(command)) return startWorkflow(state, command, view, readOnly);
  if (commandSpec(command).dangerous) return openConfirmation(state, command, readOnly);
  const move = MOVES[command];
  if (move) return navigate(state, view, move);
  switch (command) {
    case Command.FocusNext:
      return cycleFocus(state, view, 1);
    case Command.FocusPrev:
      return cycleFocus(state, view, -1);
    case Command.ViewHelp:
      return state.confirm || abortAsked(state.workflow) ? state : { ...state, helpOpen: !state.helpOpen, helpScroll: 0 };
    case Command.ViewClose:
      if (state.confirm) return closeConfirmation(state, 'Cancelled: nothing was run.');
      if (state.helpOpen) return { ...state, helpOpen: false };
      return abortAsked(state.workflow) ? state : withWorkflow(state, closeScreen(state.workflow));
    case Command.WorkflowRun:
      return runPlan(state, readOnly);
    case Command.WorkflowAbort:
      return readOnly || state.helpOpen || state.confirm ? state : withWorkflow(state, askAbort(state.workflow));
    case Command.WorkflowShow:
      return onTopology(state) ? withWorkflow(state, showLast(state.workflow)) : state;
    case Command.ViewToggleDetail: {
      const detailVisible = !state.detailVisible;
      return { ...state, detailVisible, focus: !detailVisible && state.focus === 'detail' ? 'topology' : state.focus };
    }
    case Command.LogScrollUp:
      return { ...state, logScroll: clamp(state.logScroll + 1, 0, view.logLines - view.logHeight) };
    case Command.LogScrollDown:
      return { ...state, logScroll: clamp(state.logScroll - 1, 0, view.logLines - view.logHeight) };
    default:
      // app.quit and other effects are carried out by the App, not stored.
      return state;
  }
}

function syncWorkflow(ui: WorkflowUi, view: ViewMetrics): WorkflowUi {
  if (view.workflowHeight === undefined || view.workflowLines === undefined || ui.screen === 'none') return ui;
  const last = view.workflowLines - view.workflowHeight;
  if (ui.screen === 'plan' && ui.plan) {
    const scroll = clamp(ui.plan.scroll, 0, last);
    return scroll === ui.plan.scroll ? ui : { ...ui, plan: { ...ui.plan, scroll } };
  }
  const scroll = clamp(ui.scroll, 0, last);
  return scroll === ui.scroll ? ui : { ...ui, scroll };
}

function sync(state: UiState, view: ViewMetrics): UiState {
  const { rows } = view.list;
  const index = selectedIndexIn(state, view.list);
  const row = index >= 0 ? rows[index] : undefined;
  const top = visibleWindow(rows.length, index, view.listHeight, state.top).start;
  const focus = view.detailHeight === 0 && state.focus === 'detail' ? 'topology' : state.focus;
  const next: UiState = {
    ...state,
    selectedId: row?.id ?? state.selectedId,
    selectedIndex: index >= 0 ? index : state.selectedIndex,
    top,
    focus,
    detailScroll: row && row.id !== state.selectedId ? 0 : clamp(state.detailScroll, 0, view.detailLines - view.detailHeight),
    logScroll: clamp(state.logScroll, 0, view.logLines - view.logHeight),
    helpScroll: clamp(state.helpScroll, 0, view.helpLines - view.helpHeight),
    workflow: syncWorkflow(state.workflow, view),
  };
  const changed = (Object.keys(next) as (keyof UiState)[]).some((key) => next[key] !== state[key]);
  return changed ? next : state;
}

/** The console's UI state machine. Pure: no clock, no I/O, no rendering. */
export function uiReducer(state: UiState, action: UiAction): UiState {
  switch (action.type) {
    case 'command':
      return runCommand(state, action.command, action.view, action.readOnly ?? false);
    case 'select': {
      const index = action.view.list.indexOf(action.id);
      return index >= 0 ? select(state, action.view, index, state.top) : state;
    }
    case 'sync':
      return sync(state, action.view);
    case 'confirm.type':
      return state.confirm ? { ...state, confirm: { ...state.confirm, typed: state.confirm.typed + action.text } } : state;
    case 'confirm.backspace':
      return state.confirm ? { ...state, confirm: { ...state.confirm, typed: [...state.confirm.typed].slice(0, -1).join('') } } : state;
    case 'confirm.cancel':
      return closeConfirmation(state, 'Cancelled: nothing was run.');
    case 'confirm.submit':
      if (confirmsPlan(state)) {
        // A workflow's confirmation: the typed name runs the plan, anything else cancels.
        return confirmationAccepted(state.confirm)
          ? { ...state, confirm: undefined, workflow: submitPlan(state.workflow) }
          : closeConfirmation(state, 'Not confirmed: nothing was run.');
      }
      // Other dangerous commands: the App checks confirmationAccepted() and runs the command before submitting.
      return state.confirm ? { ...state, confirm: undefined } : state;
    default:
      return withWorkflow(state, workflowReducer(state.workflow, action));
  }
}
