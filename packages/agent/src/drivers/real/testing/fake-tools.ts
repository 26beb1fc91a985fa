import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Fake tools for driver tests: small /bin/sh scripts in a temp dir. Each appends its
 * argv (one line, arguments separated by a tab) to `calls.log`, then replays what the
 * test put in its state directory.
 */
export interface FakeToolbox {
  readonly dir: string;
  /** Writes an executable script `name` with `body` (sh), returning its absolute path. */
  tool(name: string, body: string): Promise<string>;
  /** Writes a state file the fakes read. */
  set(file: string, content: string): Promise<void>;
  /** The argv of every call so far, in order: [tool, ...args]. */
  calls(): Promise<string[][]>;
  cleanup(): Promise<void>;
}

export async function fakeToolbox(prefix = 'hvctl-fake-'): Promise<FakeToolbox> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const log = join(dir, 'calls.log');
  return {
    dir,
    async tool(name, body) {
      const path = join(dir, name);
      const header = `#!/bin/sh
STATE='${dir}'
{ printf '%s' '${name}'; for a in "$@"; do printf '\\t%s' "$a"; done; printf '\\n'; } >> '${log}'
`;
      await writeFile(path, header + body + '\n');
      await chmod(path, 0o755);
      return path;
    },
    async set(file, content) {
      await writeFile(join(dir, file), content);
    },
    async calls() {
      const text = await readFile(log, 'utf8').catch(() => '');
      return text
        .split('\n')
        .filter(Boolean)
        .map((line) => line.split('\t'));
    },
    async cleanup() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A fake drbdsetup: `status` prints $STATE/status.json (exit $STATE/status.rc, stderr
 * $STATE/status.stderr), `show` prints $STATE/show.txt, `events2` prints
 * $STATE/events2.txt then keeps running (answering `n` on stdin with
 * $STATE/events2-poll.txt) unless $STATE/events2.exit exists; anything else exits with
 * $STATE/<command>.rc and prints $STATE/<command>.stderr.
 */
export const FAKE_DRBDSETUP = `cmd="$1"
out() { [ -f "$STATE/$1" ] && cat "$STATE/$1"; }
rc() { if [ -f "$STATE/$1.rc" ]; then exit "$(cat "$STATE/$1.rc")"; fi; exit 0; }
case "$cmd" in
  status) out status.json; out status.stderr >&2; rc status ;;
  show) out show.txt; exit 0 ;;
  events2)
    out events2.txt
    [ -f "$STATE/events2.exit" ] && exit "$(cat "$STATE/events2.exit")"
    while read -r line; do [ "$line" = n ] && out events2-poll.txt; done
    exit 0 ;;
  *) out "$cmd.stderr" >&2; rc "$cmd" ;;
esac`;

/** Is a real tool installed? In CI (CI set) a missing tool is an error, elsewhere a skip reason. */
export function requireTool(path: string, what: string): string | undefined {
  if (existsSync(path)) return undefined;
  const reason = `${what} is not installed (${path}); apt install ${what}`;
  if (process.env['CI']) throw new Error(`CI: ${reason}`);
  return reason;
}

/** Is this process root (needed for network namespaces)? */
export function requireRoot(what: string): string | undefined {
  if (process.getuid?.() === 0) return undefined;
  const reason = `${what} needs root (network namespaces)`;
  if (process.env['CI']) throw new Error(`CI: ${reason}`);
  return reason;
}

/** Runs a command synchronously for test setup (never for code under test). */
export function sh(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}
