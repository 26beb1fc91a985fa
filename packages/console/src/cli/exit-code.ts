import { HvctlError } from '@hvctl/common';
import { EXIT } from './workflow-client.js';

/**
 * The exit code of a command that ended with `error` (docs/cli.md "Exit codes"):
 * 2 invalid input and 3 refused by a precondition (the command cannot run here; nothing
 * was changed), both for every command; 1 for any other error.
 */
export function exitCodeForError(error: unknown): number {
  if (!(error instanceof HvctlError)) return EXIT.error;
  if (error.code === 'INVALID_ARGUMENT') return EXIT.invalid;
  if (error.code === 'FAILED_PRECONDITION') return EXIT.refused;
  return EXIT.error;
}
