import { useInput } from 'ink';
import { useCallback, useLayoutEffect, useRef } from 'react';
import type { Command, CommandScope } from '../key/commands.js';
import { commandForKey, keyNames } from '../key/keys.js';

/**
 * Reads keys while `isActive`, resolves them through the key table, and calls `onCommand`
 * for those bound in `scope`. Panes pass `isActive` = "I have the focus", so only the
 * focused pane reads pane keys; the App reads the global ones.
 */
export function useCommandInput(scope: CommandScope, onCommand: (command: Command) => void, isActive: boolean): void {
  const latest = useRef(onCommand);
  useLayoutEffect(() => {
    latest.current = onCommand;
  });
  const handler = useCallback(
    (input: string, key: Parameters<Parameters<typeof useInput>[0]>[1]) => {
      for (const name of keyNames(input, key)) {
        const command = commandForKey(name, scope);
        if (command) latest.current(command);
      }
    },
    [scope],
  );
  useInput(handler, { isActive });
}
