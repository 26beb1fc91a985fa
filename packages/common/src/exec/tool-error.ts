import { HvctlError, type ErrorCode, type ErrorDetails } from '../errors.js';

/** Why a tool call failed. */
export type ToolFailure =
  /** The executable is not there (or not executable). */
  | 'missing'
  /** The call's deadline passed; the process tree was killed. */
  | 'timeout'
  /** The caller's AbortSignal fired; the process tree was killed. */
  | 'aborted'
  /** stdout or stderr grew past the limit (or one streamed line did); the process tree was killed. */
  | 'output-limit'
  /** The tool exited with a status the caller does not accept, or was killed by a signal. */
  | 'exit'
  /** The tool ran but its output could not be understood. */
  | 'bad-output';

/** How much of stderr an error keeps. */
export const STDERR_IN_ERROR_CHARS = 2000;

export interface ToolErrorInit {
  readonly failure: ToolFailure;
  readonly code: ErrorCode;
  readonly message: string;
  /** Absolute path of the executable. */
  readonly command: string;
  /** The argv after the command, with secrets redacted. */
  readonly args: readonly string[];
  readonly exitCode: number | null;
  readonly signal: string | null;
  /** stderr (truncated to STDERR_IN_ERROR_CHARS). */
  readonly stderr: string;
  readonly details?: ErrorDetails;
}

/**
 * A failed tool call. An HvctlError, so it maps to a gRPC status on its own: UNAVAILABLE
 * when the tool is missing, DEADLINE_EXCEEDED on timeout, ABORTED on cancel,
 * RESOURCE_EXHAUSTED past the output limit, and for an exit status whatever the caller's
 * classification says (INTERNAL by default). Drivers usually catch it and rethrow a
 * domain error that tells the operator what to do; `cause` keeps the original.
 */
export class ToolError extends HvctlError {
  readonly failure: ToolFailure;
  readonly command: string;
  readonly args: readonly string[];
  readonly exitCode: number | null;
  readonly signal: string | null;
  readonly stderr: string;

  constructor(init: ToolErrorInit) {
    super(init.code, init.message, init.details ?? {});
    this.failure = init.failure;
    this.command = init.command;
    this.args = init.args;
    this.exitCode = init.exitCode;
    this.signal = init.signal;
    this.stderr = truncate(init.stderr, STDERR_IN_ERROR_CHARS);
  }

  /** The command line as an operator would type it (secrets already redacted). */
  get commandLine(): string {
    return formatCommandLine(this.command, this.args);
  }

  /** The first stderr line that is not known noise, for short messages. */
  get firstStderrLine(): string {
    return meaningfulStderr(this.stderr).split('\n')[0] ?? '';
  }
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max)}… [${text.length - max} more characters]`;
}

/** Quotes an argv for display (never for execution: the runner never uses a shell). */
export function formatCommandLine(command: string, args: readonly string[]): string {
  const quote = (word: string): string => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);
  return [command, ...args].map(quote).join(' ');
}

/**
 * Lines every call of a tool prints that say nothing about the call (docs/reference/tools.md §0):
 * drbdadm's `sh: 1: modinfo: not found` on hosts without kmod tools, for example.
 */
const STDERR_NOISE = [/^sh: \d+: modinfo: not found$/, /^\s*$/];

/** stderr without the known noise lines, trimmed. */
export function meaningfulStderr(stderr: string): string {
  return stderr
    .split('\n')
    .filter((line) => !STDERR_NOISE.some((noise) => noise.test(line)))
    .join('\n')
    .trim();
}
