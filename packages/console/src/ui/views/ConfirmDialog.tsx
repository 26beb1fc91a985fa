import { Box, Text, useInput } from 'ink';
import type { Confirmation } from '../../state/ui-state.js';
import { commandSpec } from '../key/commands.js';
import { keyName } from '../key/keys.js';

export interface ConfirmDialogProps {
  readonly confirm: Confirmation;
  readonly width: number;
  /** What runs, in one line (default: the command's description and the target row). */
  readonly title?: string;
  /** More context under the title (a workflow's plan title and coordinator). */
  readonly detail?: string;
  readonly onType: (text: string) => void;
  readonly onBackspace: () => void;
  /** Enter: runs the command only when the typed text matches; otherwise it cancels. */
  readonly onSubmit: () => void;
  readonly onCancel: () => void;
  /** Ctrl-C still quits the console (nothing has run yet). */
  readonly onQuit: () => void;
}

/**
 * The typed confirmation a dangerous command needs: the operator types the target's name;
 * Cancel is focused, so Enter on anything else cancels.
 */
export function ConfirmDialog({ confirm, width, title, detail, onType, onBackspace, onSubmit, onCancel, onQuit }: ConfirmDialogProps) {
  useInput((input, key) => {
    const name = keyName(input, key);
    if (name === 'ctrl+c') onQuit();
    else if (name === 'escape') onCancel();
    else if (name === 'return') onSubmit();
    else if (name === 'backspace' || name === 'delete') onBackspace();
    else if (!key.ctrl && !key.meta && input && name !== 'tab' && name !== 'shift+tab') onType(input);
  });
  const spec = commandSpec(confirm.command);
  const matches = confirm.typed === confirm.expected;
  return (
    <Box flexDirection="column" borderStyle="double" borderColor="red" width={Math.min(width, 72)} paddingX={1}>
      <Text color="red" bold>
        {title ?? `${spec.description} — ${confirm.target}`}
      </Text>
      {detail ? <Text>{detail}</Text> : null}
      <Text>
        Type <Text bold>{confirm.expected}</Text> and press Enter to proceed:
      </Text>
      <Text>
        {'> '}
        {confirm.typed}
        <Text inverse> </Text>
      </Text>
      <Text>
        <Text inverse={!matches} bold>
          [ Cancel ]
        </Text>{' '}
        <Text inverse={matches} color="red">
          [ Proceed ]
        </Text>
      </Text>
      <Text dimColor>Enter with anything else typed, or Esc, cancels.</Text>
    </Box>
  );
}
