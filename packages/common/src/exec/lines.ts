import { StringDecoder } from 'node:string_decoder';

export interface LineSplitterOptions {
  /** Also split on a lone `\r` (virsh migrate --verbose progress). Default false. */
  readonly carriageReturn?: boolean;
  /** Longest partial line kept in the buffer, in characters; longer raises LineTooLongError. */
  readonly maxLineChars?: number;
}

/** A streamed line grew past the limit without a newline. */
export class LineTooLongError extends Error {
  override readonly name = 'LineTooLongError';
}

/**
 * Splits a byte stream into lines, keeping the partial last line until its newline
 * arrives (or `end()`), and never cutting a UTF-8 sequence in half. `\r\n` counts as one
 * separator; blank lines are returned (callers decide whether they matter).
 */
export class LineSplitter {
  private readonly decoder = new StringDecoder('utf8');
  private buffer = '';
  /** A `\r` ended the previous chunk: a `\n` at the start of the next one belongs to it. */
  private pendingCr = false;
  private readonly separator: RegExp;
  private readonly carriageReturn: boolean;
  private readonly maxLineChars: number;

  constructor(options: LineSplitterOptions = {}) {
    this.carriageReturn = options.carriageReturn ?? false;
    this.separator = this.carriageReturn ? /\r\n|\n|\r/ : /\r?\n/;
    this.maxLineChars = options.maxLineChars ?? 1024 * 1024;
  }

  /** Feeds a chunk; returns the lines it completed. */
  push(chunk: Buffer | string): string[] {
    let text = typeof chunk === 'string' ? chunk : this.decoder.write(chunk);
    if (this.pendingCr && text.startsWith('\n')) text = text.slice(1);
    // In \r mode a chunk ending in "\r" may be the first half of "\r\n".
    this.pendingCr = this.carriageReturn && text.endsWith('\r');
    this.buffer += text;
    const parts = this.buffer.split(this.separator);
    this.buffer = parts.pop() ?? '';
    if (this.buffer.length > this.maxLineChars) {
      const length = this.buffer.length;
      this.buffer = '';
      throw new LineTooLongError(`a line grew past ${this.maxLineChars} characters (${length} without a newline)`);
    }
    return parts;
  }

  /** Flushes the partial last line (if any) at the end of the stream. */
  end(): string[] {
    this.buffer += this.decoder.end();
    const rest = this.buffer.replace(/\r$/, '');
    this.buffer = '';
    return rest === '' ? [] : [rest];
  }

  /** The partial line currently buffered. */
  get partial(): string {
    return this.buffer;
  }
}

/** Splits a complete output into non-blank lines (virsh prints a trailing empty line). */
export function nonBlankLines(text: string): string[] {
  return text.split(/\r?\n/).filter((line) => line.trim() !== '');
}
