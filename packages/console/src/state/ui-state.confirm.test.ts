import { fakeClusterSnapshot, fakeLabStates } from '@hvctl/common/testing';
import { describe, expect, it, vi } from 'vitest';
import { Command, type CommandSpec } from '../ui/key/commands.js';
import type * as Commands from '../ui/key/commands.js';
import { buildRowModel } from './rows.js';
import { confirmationAccepted, initialUiState, uiReducer, type ViewMetrics } from './ui-state.js';

// No command is dangerous yet; pretend `view.toggleDetail` is one, as a future failover would be.
vi.mock('../ui/key/commands.js', async (importOriginal) => {
  const original = await importOriginal<typeof Commands>();
  return {
    ...original,
    commandSpec: (command: Command): CommandSpec => {
      const spec = original.commandSpec(command);
      return command === original.Command.ViewToggleDetail ? { ...spec, dangerous: true } : spec;
    },
  };
});

const NOW = 1_700_000_000_000;
const model = buildRowModel(fakeClusterSnapshot(fakeLabStates(3, NOW)), NOW);
const view: ViewMetrics = { list: model, listHeight: 10, detailHeight: 8, detailLines: 0, logHeight: 3, logLines: 0, helpHeight: 10, helpLines: 0 };
const onSpb1 = uiReducer(initialUiState, { type: 'select', id: 'node:spb-1', view });

describe('a dangerous command', () => {
  it('does not run but asks for the target name, with nothing typed (Cancel focused)', () => {
    // When the dangerous command is pressed with spb-1 selected
    const state = uiReducer(onSpb1, { type: 'command', command: Command.ViewToggleDetail, view });

    // Then its effect did not happen and a confirmation waits for "spb-1"
    expect(state.detailVisible).toBe(true);
    expect(state.confirm).toEqual({ command: Command.ViewToggleDetail, target: 'node:spb-1', expected: 'spb-1', typed: '' });
    expect(confirmationAccepted(state.confirm)).toBe(false);
  });

  it('is accepted only when the typed text matches exactly', () => {
    // Given the confirmation
    let state = uiReducer(onSpb1, { type: 'command', command: Command.ViewToggleDetail, view });

    // When the operator types "spb-12", then erases one character
    for (const text of ['s', 'p', 'b', '-', '1', '2']) state = uiReducer(state, { type: 'confirm.type', text });
    expect(confirmationAccepted(state.confirm)).toBe(false);
    state = uiReducer(state, { type: 'confirm.backspace' });

    // Then it matches, and submitting closes it
    expect(confirmationAccepted(state.confirm)).toBe(true);
    expect(uiReducer(state, { type: 'confirm.submit' }).confirm).toBeUndefined();
  });

  it('is cancelled by Esc, and ignores navigation and focus keys while open', () => {
    const open = uiReducer(onSpb1, { type: 'command', command: Command.ViewToggleDetail, view });
    const afterKeys = [Command.NavDown, Command.FocusNext, Command.ViewHelp].reduce((s, command) => uiReducer(s, { type: 'command', command, view }), open);
    expect(afterKeys).toBe(open);
    expect(uiReducer(open, { type: 'command', command: Command.ViewClose, view }).confirm).toBeUndefined();
  });

  it('is refused in read-only mode and without a selection', () => {
    expect(uiReducer(onSpb1, { type: 'command', command: Command.ViewToggleDetail, view, readOnly: true }).confirm).toBeUndefined();
    expect(uiReducer(initialUiState, { type: 'command', command: Command.ViewToggleDetail, view }).confirm).toBeUndefined();
  });
});
