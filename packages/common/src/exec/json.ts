import { ToolError, truncate } from './tool-error.js';

/** A ToolError for output that could not be understood (INTERNAL: a tool/agent mismatch, not the caller's fault). */
export function badOutput(command: string, args: readonly string[], detail: string, output = ''): ToolError {
  const shown = output ? ` (output began: ${JSON.stringify(truncate(output.trimStart(), 120))})` : '';
  return new ToolError({
    failure: 'bad-output',
    code: 'INTERNAL',
    message: `${[command, ...args].join(' ')}: ${detail}${shown}`,
    command,
    args,
    exitCode: 0,
    signal: null,
    stderr: '',
    details: { nextSteps: ['check that the tool version is supported (hvctl-agent doctor)'] },
  });
}

/**
 * Parses a tool's JSON output. Malformed JSON (an unterminated `[` from `ip -j`, a
 * truncated print) becomes a ToolError naming the command instead of a SyntaxError.
 */
export function parseToolJson(text: string, command: string, args: readonly string[]): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch (error) {
    throw badOutput(command, args, `printed invalid JSON: ${(error as Error).message}`, text);
  }
}
