import type { ClusterSnapshot } from '@hvctl/common';
import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it } from 'vitest';
import { Command } from '../ui/key/commands.js';
import { buildRowModel, type RowModel } from './rows.js';
import { initialUiState, selectedIndexIn, uiReducer, type UiAction, type UiState, type ViewMetrics } from './ui-state.js';

const NOW = 1_700_000_000_000;

function view(model: RowModel, overrides: Partial<ViewMetrics> = {}): ViewMetrics {
  return { list: model, listHeight: 10, detailHeight: 8, detailLines: 30, logHeight: 3, logLines: 20, helpHeight: 10, helpLines: 25, ...overrides };
}

/** Runs commands from a state, returning the final state. */
function press(state: UiState, metrics: ViewMetrics, ...commands: Command[]): UiState {
  return commands.reduce((current, command) => uiReducer(current, { type: 'command', command, view: metrics }), state);
}

const selected = (state: UiState, model: RowModel): string | undefined => model.rows[selectedIndexIn(state, model)]?.id;

const lab = (snapshot: ClusterSnapshot = fakeClusterSnapshot(fakeLabStates(3, NOW))): RowModel => buildRowModel(snapshot, NOW);

describe('navigation', () => {
  it('walks site -> node -> VMs -> next node with j/k and stops at both ends', () => {
    // Given the lab and a fresh state (selection on the first row)
    const model = lab();
    const metrics = view(model);
    const start = uiReducer(initialUiState, { type: 'sync', view: metrics });
    expect(start.selectedId).toBe('site:msk');

    // When moving down 5 times
    const down5 = press(start, metrics, ...Array<Command>(5).fill(Command.NavDown));
    // Then the selection went through msk-1 and its 3 VMs to msk-2
    expect(down5.selectedId).toBe('node:msk-2');

    // And moving up past the top stays on the first row
    expect(press(down5, metrics, ...Array<Command>(9).fill(Command.NavUp)).selectedId).toBe('site:msk');
  });

  it('jumps home and end', () => {
    const model = lab();
    const metrics = view(model);
    const end = press(initialUiState, metrics, Command.NavEnd);
    expect(end.selectedId).toBe('node:bak-1');
    expect(end.top).toBe(model.rows.length - metrics.listHeight);
    const home = press(end, metrics, Command.NavHome);
    expect(home).toMatchObject({ selectedId: 'site:msk', top: 0 });
  });

  it('pages by the pane height minus one and scrolls the window with the selection', () => {
    // Given a 10-row pane over the 20 lab rows
    const model = lab();
    const metrics = view(model, { listHeight: 10 });

    // When paging down once
    const paged = press(initialUiState, metrics, Command.NavPageDown);
    // Then the selection moved 9 rows and kept its place on screen (the window moved too)
    expect(paged.selectedIndex).toBe(9);
    expect(paged.top).toBe(9);

    // When paging down again, the selection stops at the last row
    const last = press(paged, metrics, Command.NavPageDown, Command.NavPageDown);
    expect(last.selectedIndex).toBe(model.rows.length - 1);
    expect(last.top).toBe(model.rows.length - 10);

    // And paging up from there returns to the top
    expect(press(last, metrics, Command.NavPageUp, Command.NavPageUp, Command.NavPageUp)).toMatchObject({ selectedIndex: 0, top: 0 });
  });

  it('does nothing on an empty list', () => {
    const empty = { rows: [], indexOf: () => -1 };
    const state = press(initialUiState, view(lab(), { list: empty }), Command.NavDown, Command.NavEnd);
    expect(state.selectedId).toBeUndefined();
  });
});

describe('selection by stable id', () => {
  it('follows the selected node when the rows are reordered', () => {
    // Given spb-1 selected
    const model = lab();
    const state = uiReducer(initialUiState, { type: 'select', id: 'node:spb-1', view: view(model) });
    expect(selected(state, model)).toBe('node:spb-1');

    // When the cluster file lists spb before msk
    const snapshot = fakeClusterSnapshot(fakeLabStates(3, NOW));
    const reordered = lab({ ...snapshot, cluster: { ...snapshot.cluster, sites: [...snapshot.cluster.sites].reverse() }, version: 2 });
    const synced = uiReducer(state, { type: 'sync', view: view(reordered) });

    // Then spb-1 is still selected, at its new index
    expect(reordered.indexOf('node:spb-1')).not.toBe(model.indexOf('node:spb-1'));
    expect(synced.selectedId).toBe('node:spb-1');
    expect(synced.selectedIndex).toBe(reordered.indexOf('node:spb-1'));
  });

  it('follows a VM that migrated to another node', () => {
    // Given vm-msk-1-2 selected under msk-1
    const model = lab();
    const state = uiReducer(initialUiState, { type: 'select', id: 'vm:vm-msk-1-2', view: view(model) });

    // When the VM now runs on spb-1 (msk-1 no longer defines it)
    const states = fakeLabStates(3, NOW);
    const msk1 = states.get('msk-1')!;
    const domain = msk1.domains.find((d) => d.name === 'vm-msk-1-2')!;
    msk1.domains = msk1.domains.filter((d) => d !== domain);
    states.get('spb-1')!.domains.push(domain);
    const moved = lab(fakeClusterSnapshot(states, [], 2));
    const synced = uiReducer(state, { type: 'sync', view: view(moved) });

    // Then the selection is still the VM, now under spb-1
    expect(synced.selectedId).toBe('vm:vm-msk-1-2');
    expect(moved.rows[synced.selectedIndex]).toMatchObject({ id: 'vm:vm-msk-1-2', parent: 'node:spb-1' });
  });

  it('lands on the row that took its place when the selected node disappears', () => {
    // Given msk-2 selected
    const model = lab();
    const state = uiReducer(initialUiState, { type: 'select', id: 'node:msk-2', view: view(model) });
    const index = model.indexOf('node:msk-2');

    // When msk-2 and its VMs vanish from the cluster
    const snapshot = fakeClusterSnapshot(fakeLabStates(3, NOW));
    const without = lab({ ...snapshot, cluster: { ...snapshot.cluster, nodes: snapshot.cluster.nodes.filter((n) => n.name !== 'msk-2') }, nodes: snapshot.nodes.filter((n) => n.name !== 'msk-2'), version: 2 });
    const synced = uiReducer(state, { type: 'sync', view: view(without) });

    // Then the selection is the row now at msk-2's old index, and moving from there works
    expect(without.indexOf('node:msk-2')).toBe(-1);
    expect(synced.selectedId).toBe(without.rows[index]?.id);
    expect(press(synced, view(without), Command.NavUp).selectedIndex).toBe(index - 1);
  });

  it('returns the same state object when a sync changes nothing', () => {
    const model = lab();
    const state = uiReducer(initialUiState, { type: 'sync', view: view(model) });
    expect(uiReducer(state, { type: 'sync', view: view(model) })).toBe(state);
  });
});

describe('panes, help and log', () => {
  it('cycles the focus through the visible panes, skipping a hidden detail pane', () => {
    const metrics = view(lab());
    expect(press(initialUiState, metrics, Command.FocusNext).focus).toBe('detail');
    expect(press(initialUiState, metrics, Command.FocusNext, Command.FocusNext, Command.FocusNext).focus).toBe('topology');
    expect(press(initialUiState, metrics, Command.FocusPrev).focus).toBe('log');
    expect(press(initialUiState, view(lab(), { detailHeight: 0 }), Command.FocusNext).focus).toBe('log');
  });

  it('hiding the detail pane while it has the focus gives the focus back to the topology', () => {
    const metrics = view(lab());
    const state = press(initialUiState, metrics, Command.FocusNext, Command.ViewToggleDetail);
    expect(state).toMatchObject({ detailVisible: false, focus: 'topology' });
  });

  it('routes navigation to the focused pane: the detail scrolls, the selection stays', () => {
    // Given the detail pane focused (8 lines of 30)
    const metrics = view(lab());
    const focused = press(initialUiState, { ...metrics }, Command.FocusNext);

    // When moving down twice and to the end
    const scrolled = press(focused, metrics, Command.NavDown, Command.NavDown);
    expect(scrolled).toMatchObject({ detailScroll: 2, selectedIndex: 0 });
    expect(press(scrolled, metrics, Command.NavEnd).detailScroll).toBe(30 - 8);
  });

  it('scrolls the log back and forward within its length; 0 follows the newest', () => {
    const metrics = view(lab(), { logLines: 5, logHeight: 3 });
    const back = press(initialUiState, metrics, Command.LogScrollUp, Command.LogScrollUp, Command.LogScrollUp);
    expect(back.logScroll).toBe(2);
    expect(press(back, metrics, Command.LogScrollDown, Command.LogScrollDown, Command.LogScrollDown).logScroll).toBe(0);

    // And with the log focused, Home goes to the oldest line, End back to following
    const focused = press(initialUiState, metrics, Command.FocusPrev);
    expect(press(focused, metrics, Command.NavHome).logScroll).toBe(2);
    expect(press(focused, metrics, Command.NavHome, Command.NavEnd).logScroll).toBe(0);
  });

  it('opens help, scrolls it with navigation keys without moving the selection, closes with ? or Esc', () => {
    const metrics = view(lab());
    const open = press(initialUiState, metrics, Command.ViewHelp, Command.NavDown, Command.NavDown);
    expect(open).toMatchObject({ helpOpen: true, helpScroll: 2, selectedIndex: 0 });
    expect(press(open, metrics, Command.ViewHelp).helpOpen).toBe(false);
    expect(press(open, metrics, Command.ViewClose).helpOpen).toBe(false);
    // Tab does nothing while help is open
    expect(press(open, metrics, Command.FocusNext).focus).toBe('topology');
  });

  it('leaves quitting to the App', () => {
    const action: UiAction = { type: 'command', command: Command.AppQuit, view: view(lab()) };
    expect(uiReducer(initialUiState, action)).toBe(initialUiState);
  });
});
