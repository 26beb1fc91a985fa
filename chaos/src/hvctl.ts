/**
 * The campaign talks to the lab only as an operator would: the built `hvctl` CLI, run
 * through hvctl's one process runner (argv arrays, a bound on every call, the process tree
 * killed when the bound passes). A call that outlives its bound is reported as a hang.
 */
import { fileURLToPath } from 'node:url';
import { ProcessRunner, ToolError } from '@hvctl/common';

export const HVCTL_BIN = fileURLToPath(new URL('../../packages/console/bin/hvctl.js', import.meta.url));

export interface CliResult {
  readonly argv: readonly string[];
  /** Exit code; null when the harness killed it (bound passed, or a planned kill). */
  readonly exitCode: number | null;
  readonly durationMs: number;
  readonly stdout: string;
  readonly stderr: string;
  /** It was still running when its bound passed. */
  readonly hung: boolean;
  /** The harness killed it on purpose (a CLI killed mid-workflow). */
  readonly killed: boolean;
  readonly boundMs: number;
}

export interface Hvctl {
  /** Runs `hvctl ARGV` (with --cluster or --dir added as the command needs) within boundMs. */
  run(argv: readonly string[], options: { readonly boundMs: number; readonly killAfterMs?: number }): Promise<CliResult>;
  /** Runs and parses stdout as JSON (undefined when it failed or printed no JSON). */
  json<T>(argv: readonly string[], boundMs: number): Promise<{ readonly result: CliResult; readonly value: T | undefined }>;
}

/** Adds the lab location: `--dir` for `lab ...`, `--cluster` for everything else. */
export function withLab(argv: readonly string[], dir: string): string[] {
  if (argv[0] === 'lab') return [...argv, '--dir', dir];
  return ['--cluster', `${dir}/cluster.yaml`, ...argv];
}

export function createHvctl(dir: string, runner = new ProcessRunner()): Hvctl {
  const run: Hvctl['run'] = async (argv, options) => {
    const started = Date.now();
    const abort = new AbortController();
    const timer = options.killAfterMs !== undefined ? setTimeout(() => abort.abort(), options.killAfterMs) : undefined;
    try {
      const result = await runner.run(process.execPath, {
        args: [HVCTL_BIN, ...withLab(argv, dir)],
        timeoutMs: options.boundMs,
        signal: abort.signal,
        // Any exit status is an outcome to record, not an error.
        okExitCodes: Array.from({ length: 256 }, (_, code) => code),
        // A planned kill is a SIGKILL in effect: 1 ms between TERM and KILL.
        killGraceMs: options.killAfterMs !== undefined ? 1 : 2000,
        maxOutputBytes: 64 * 1024 * 1024,
      });
      return { argv, exitCode: result.exitCode, durationMs: result.durationMs, stdout: result.stdout, stderr: result.stderr, hung: false, killed: false, boundMs: options.boundMs };
    } catch (error) {
      if (!(error instanceof ToolError)) throw error;
      const durationMs = Date.now() - started;
      return { argv, exitCode: null, durationMs, stdout: '', stderr: error.stderr, hung: error.failure === 'timeout', killed: error.failure !== 'timeout' && abort.signal.aborted, boundMs: options.boundMs };
    } finally {
      if (timer) clearTimeout(timer);
    }
  };
  return {
    run,
    json: async <T>(argv: readonly string[], boundMs: number) => {
      const result = await run(argv, { boundMs });
      if (result.exitCode === null) return { result, value: undefined };
      try {
        return { result, value: JSON.parse(result.stdout) as T };
      } catch {
        return { result, value: undefined };
      }
    },
  };
}

/** The subcommands a `--help` output lists under "Commands:". */
export function parseHelpCommands(help: string): string[] {
  const section = help.split(/^Commands:\s*$/m)[1] ?? '';
  const names: string[] = [];
  for (const line of section.split('\n')) {
    if (/^\S/.test(line)) break;
    const match = /^ {2}([a-z][a-z0-9-]*)/.exec(line);
    if (match?.[1]) names.push(match[1]);
  }
  return names;
}
