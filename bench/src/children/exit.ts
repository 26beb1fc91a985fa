/**
 * Sends `message` to the bench, then exits with `code` once the message is written. A result
 * of tens of thousands of samples is larger than the pipe's buffer: it is written as the bench
 * reads, and exiting after a fixed delay lost it when the bench was busy ("child exited (0)
 * before "done"").
 */
export function sendAndExit(message: object, code: number): void {
  if (!process.send) process.exit(code);
  process.send(message, undefined, {}, () => process.exit(code));
}
