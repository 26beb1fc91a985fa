import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Component name, for example "agent" or "console". */
  readonly name: string;
  /** pino level; defaults to $HVCTL_LOG_LEVEL or "info". */
  readonly level?: string;
  /** Write to this file instead of stderr (the console must never write to stdout). */
  readonly file?: string;
  /** Extra bindings on every line, for example the node name. */
  readonly bindings?: Record<string, string>;
}

/** Creates a pino logger; logs go to stderr or a file, never stdout. */
export function createLogger(options: LoggerOptions): Logger {
  const destination = options.file
    ? pino.destination({ dest: options.file, mkdir: true, sync: false })
    : pino.destination({ fd: 2, sync: false });
  return pino(
    {
      name: options.name,
      level: options.level ?? process.env['HVCTL_LOG_LEVEL'] ?? 'info',
      base: { pid: process.pid, ...options.bindings },
      redact: { paths: ['password', '*.password', 'token', '*.token'], censor: '[redacted]' },
    },
    destination,
  );
}

/** A logger that drops everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
