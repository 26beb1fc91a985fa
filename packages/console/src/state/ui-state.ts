import { Command, commandSpec } from '../ui/key/commands.js';
import { visibleWindow } from './rows.js';

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
};

/** The row list as the reducer needs it (RowModel satisfies this). */
export interface RowList {
  readonly rows: readonly { readonly id: string }[];
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
}

export type UiAction =
  | { readonly type: 'command'; readonly command: Command; readonly view: ViewMetrics; readonly readOnly?: boolean }
  | { readonly type: 'select'; readonly id: string; readonly view: ViewMetrics }
  /** The rows or the terminal size changed: re-resolve the selection and clamp every scroll. */
  | { readonly type: 'sync'; readonly view: ViewMetrics }
  | { readonly type: 'confirm.type'; readonly text: string }
  | { readonly type: 'confirm.backspace' }
  | { readonly type: 'confirm.cancel' }
  | { readonly type: 'confirm.submit' };

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

function navigate(state: UiState, view: ViewMetrics, move: Move): UiState {
  if (state.confirm) return state;
  if (state.helpOpen) {
    return { ...state, helpScroll: moved(state.helpScroll, move, pageOf(view.helpHeight), view.helpLines - view.helpHeight) };
  }
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
  if (state.helpOpen || state.confirm) return state;
  const panes = focusablePanes(view);
  const at = Math.max(0, panes.indexOf(state.focus));
  return { ...state, focus: panes[(at + step + panes.length) % panes.length] ?? 'topology' };
}

function openConfirmation(state: UiState, command: Command, readOnly: boolean): UiState {
  if (readOnly || state.confirm || !state.selectedId) return state;
  const target = state.selectedId;
  return { ...state, helpOpen: false, confirm: { command, target, expected: target.slice(target.indexOf(':') + 1), typed: '' } };
}

/** True when the operator typed exactly what the confirmation asks for. */
export function confirmationAccepted(confirm: Confirmation | undefined): boolean {
  return confirm !== undefined && confirm.typed === confirm.expected;
}

function runCommand(state: UiState, command: Command, view: ViewMetrics, readOnly: boolean): UiState {
  if (commandSpec(command).dangerous) return openConfirmation(state, command, readOnly);
  const move = MOVES[command];
  if (move) return navigate(state, view, move);
  switch (command) {
    case Command.FocusNext:
      return cycleFocus(state, view, 1);
    case Command.FocusPrev:
      return cycleFocus(state, view, -1);
    case Command.ViewHelp:
      return state.confirm ? state : { ...state, helpOpen: !state.helpOpen, helpScroll: 0 };
    case Command.ViewClose:
      if (state.confirm) return { ...state, confirm: undefined };
      return state.helpOpen ? { ...state, helpOpen: false } : state;
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
    case 'confirm.submit':
      // The dialog checks confirmationAccepted() and runs the command before submitting.
      return state.confirm ? { ...state, confirm: undefined } : state;
  }
}
