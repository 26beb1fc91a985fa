import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withCallContext } from './call-context.js';
import { parseToolJson } from './json.js';
import { ProcessRunner, processAlive } from './runner.js';
import { ToolError } from './tool-error.js';

// Misbehaving fake tools are small /bin/sh scripts in a temp dir. Each writes the pids
// of everything it starts to $PIDS so the test can prove nothing outlives the call.

let dir: string;
const runner = new ProcessRunner();

async function fake(name: string, body: string): Promise<{ path: string; pids: string }> {
  const path = join(dir, name);
  const pids = join(dir, `${name}.pids`);
  await writeFile(path, `#!/bin/sh\nPIDS='${pids}'\n${body}\n`);
  await chmod(path, 0o755);
  return { path, pids };
}

async function pidsOf(file: string): Promise<number[]> {
  const text = await readFile(file, 'utf8').catch(() => '');
  return text.split('\n').filter(Boolean).map(Number);
}

/** Given the pid files, expects every recorded process to be gone (zombies count as gone). */
async function expectNoneLeft(file: string, expected: number): Promise<void> {
  const pids = await pidsOf(file);
  expect(pids.length).toBeGreaterThanOrEqual(expected);
  const alive = pids.filter((pid) => processAlive(pid));
  expect(alive, `still alive: ${alive.join(', ')}`).toEqual([]);
}

async function failure(promise: Promise<unknown>): Promise<ToolError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ToolError);
    return error as ToolError;
  }
  throw new Error('expected the call to fail');
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'hvctl-exec-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('ProcessRunner with misbehaving tools', () => {
  it('kills a tool that never exits at its timeout', async () => {
    // Given a tool that sleeps forever (and a child doing the same)
    const tool = await fake('hang', 'echo $$ >> "$PIDS"; sleep 1000 & echo $! >> "$PIDS"; wait');
    // When it is run with a 400 ms timeout
    const started = Date.now();
    const error = await failure(runner.run(tool.path, { args: ['status', '--json'], timeoutMs: 400 }));
    // Then the call fails within its budget, as DEADLINE_EXCEEDED naming the command
    expect(Date.now() - started).toBeLessThan(1000);
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    expect(error.failure).toBe('timeout');
    expect(error.message).toContain('hang status --json');
    await expectNoneLeft(tool.pids, 2);
  });

  it('kills a tool that ignores TERM, and its TERM-ignoring children, within the deadline', async () => {
    const tool = await fake(
      'stubborn',
      `trap '' TERM
echo $$ >> "$PIDS"
for i in 1 2 3; do (trap '' TERM; exec sleep 1000) & echo $! >> "$PIDS"; done
while :; do sleep 1; done`,
    );
    const started = Date.now();
    const error = await failure(runner.run(tool.path, { args: [], timeoutMs: 600 }));
    expect(Date.now() - started).toBeLessThan(1100);
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    await expectNoneLeft(tool.pids, 4);
  });

  it('reaps children a tool leaves behind when it exits by itself', async () => {
    // Given a tool that forks TERM-ignoring helpers holding stdout and exits 0 at once
    const tool = await fake('leaky', `(trap '' TERM; exec sleep 1000) & echo $! >> "$PIDS"\necho done`);
    const started = Date.now();
    const result = await runner.run(tool.path, { args: [], timeoutMs: 5000 });
    expect(result.stdout).toBe('done\n');
    expect(Date.now() - started).toBeLessThan(2000);
    await expectNoneLeft(tool.pids, 1);
  });

  it('takes its deadline from the ambient gRPC call context', async () => {
    const tool = await fake('hang2', 'echo $$ >> "$PIDS"; sleep 1000 & echo $! >> "$PIDS"; wait');
    const started = Date.now();
    // Given a call whose deadline is 700 ms away and a generous per-call timeout
    const error = await failure(withCallContext({ deadlineMs: Date.now() + 700 }, () => runner.run(tool.path, { args: [], timeoutMs: 30_000 })));
    // Then the tool is killed before the caller's deadline
    expect(Date.now() - started).toBeLessThan(700);
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    expect(error.message).toContain("caller's deadline");
    await expectNoneLeft(tool.pids, 2);
  });

  it('does not start a tool when the deadline has already passed', async () => {
    const tool = await fake('never', 'echo $$ >> "$PIDS"');
    const error = await failure(runner.run(tool.path, { args: [], deadlineMs: Date.now() - 1 }));
    expect(error.code).toBe('DEADLINE_EXCEEDED');
    expect(await pidsOf(tool.pids)).toEqual([]);
  });

  it('kills the tree when the caller aborts', async () => {
    const tool = await fake('abortable', `trap '' TERM; echo $$ >> "$PIDS"; (trap '' TERM; exec sleep 1000) & echo $! >> "$PIDS"; wait`);
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 150);
    const started = Date.now();
    const error = await failure(runner.run(tool.path, { args: [], timeoutMs: 30_000, signal: controller.signal, killGraceMs: 200 }));
    expect(error.code).toBe('ABORTED');
    expect(Date.now() - started).toBeLessThan(1000);
    await expectNoneLeft(tool.pids, 2);
  });

  it('stops a tool printing 100 MB at the output limit', async () => {
    const tool = await fake('flood', 'echo $$ >> "$PIDS"; exec head -c 104857600 /dev/zero');
    const started = Date.now();
    const error = await failure(runner.run(tool.path, { args: [], timeoutMs: 20_000 }));
    expect(error.code).toBe('RESOURCE_EXHAUSTED');
    expect(error.message).toContain('stdout grew past 16777216 bytes');
    expect(Date.now() - started).toBeLessThan(5000);
    await expectNoneLeft(tool.pids, 1);
  });

  it('bounds stderr the same way', async () => {
    const tool = await fake('flood-err', 'exec head -c 3000000 /dev/zero >&2');
    const error = await failure(runner.run(tool.path, { args: [], maxOutputBytes: 1024 * 1024 }));
    expect(error.code).toBe('RESOURCE_EXHAUSTED');
    expect(error.message).toContain('stderr grew past');
  });

  it('turns malformed JSON into a typed error naming the command', async () => {
    // Given a tool printing the lone "[" that `ip -j route show table 999` prints
    const tool = await fake('badjson', 'echo "["');
    const result = await runner.run(tool.path, { args: ['-j', 'route'] });
    let error: unknown;
    try {
      parseToolJson(result.stdout, tool.path, ['-j', 'route']);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ToolError);
    expect((error as ToolError).failure).toBe('bad-output');
    expect((error as ToolError).message).toMatch(/badjson -j route: printed invalid JSON/);
  });

  it('reports an exit status with stderr, classified by the caller', async () => {
    const tool = await fake(
      'exit17',
      `echo 'sh: 1: modinfo: not found' >&2
echo 'r0: State change failed: (-2) Need access to UpToDate data' >&2
echo 'Command drbdsetup primary r0 terminated with exit code 17' >&2
exit 17`,
    );
    const error = await failure(
      runner.run(tool.path, { args: ['primary', '--', 'r0'], classifyExit: (code) => (code === 17 ? 'FAILED_PRECONDITION' : 'INTERNAL') }),
    );
    expect(error.code).toBe('FAILED_PRECONDITION');
    expect(error.exitCode).toBe(17);
    expect(error.signal).toBeNull();
    expect(error.args).toEqual(['primary', '--', 'r0']);
    expect(error.stderr).toContain('Need access to UpToDate data');
    // The known noise line is not what the message quotes first.
    expect(error.message).toMatch(/exited with status 17: r0: State change failed/);
    expect(error.firstStderrLine).toBe('r0: State change failed: (-2) Need access to UpToDate data');
  });

  it('accepts extra exit codes as success when asked', async () => {
    const tool = await fake('exit3', 'echo partial; exit 3');
    const result = await runner.run(tool.path, { args: [], okExitCodes: [0, 3] });
    expect(result.exitCode).toBe(3);
  });

  it('says UNAVAILABLE for a missing tool and refuses relative paths', async () => {
    const missing = await failure(runner.run(join(dir, 'no-such-tool'), { args: [] }));
    expect(missing.code).toBe('UNAVAILABLE');
    expect(missing.failure).toBe('missing');
    expect(missing.details.nextSteps?.[0]).toContain('install');
    await expect(runner.run('drbdadm', { args: [] })).rejects.toThrow(/absolute path only/);
  });

  it('runs with LC_ALL=C and a clean environment, never a shell', async () => {
    process.env['RESTIC_PASSWORD'] = 'leak-me-not';
    try {
      const tool = await fake('env', 'printf "%s|" "$LC_ALL" "$LANG" "$RESTIC_PASSWORD" "$EXTRA"; printf "%s|" "$@"');
      const result = await runner.run(tool.path, { args: ['a b', '$(id)', ';ls'], env: { EXTRA: 'x' } });
      expect(result.stdout).toBe('C|C||x|a b|$(id)|;ls|');
    } finally {
      delete process.env['RESTIC_PASSWORD'];
    }
  });

  it('feeds stdin and reads stdout and stderr separately', async () => {
    const tool = await fake('cat', 'cat; echo oops >&2');
    const result = await runner.run(tool.path, { args: [], stdin: 'hello\n' });
    expect(result.stdout).toBe('hello\n');
    expect(result.stderr).toBe('oops\n');
  });

  it('streams a file into a follower as its stdin, byte for byte, and refuses an unreadable one before starting', async () => {
    // Given a binary file larger than a pipe buffer
    const data = Buffer.alloc(300_000);
    for (let i = 0; i < data.length; i += 1) data[i] = (i * 7919) % 256;
    const input = join(dir, 'stdin.bin');
    await writeFile(input, data);
    const tool = await fake('copy-stdin', `cat > '${join(dir, 'stdin.copy')}'; echo copied`);
    // When a follower is fed from it
    const lines: string[] = [];
    const handle = runner.stream(tool.path, { args: [], stdinFile: input, onLine: (line) => lines.push(line) });
    await handle.done;
    // Then the tool read exactly its bytes
    expect(lines).toEqual(['copied']);
    expect((await readFile(join(dir, 'stdin.copy'))).equals(data)).toBe(true);
    // And a missing file fails before anything runs, naming the file
    const before = await readFile(join(dir, 'stdin.copy'));
    expect(() => runner.stream(tool.path, { args: [], stdinFile: join(dir, 'missing.bin'), onLine: () => undefined })).toThrow(/cannot read .*missing\.bin.*was not started/);
    expect((await readFile(join(dir, 'stdin.copy'))).equals(before)).toBe(true);
  });

  it('debug-logs the argv with secrets redacted, also in errors', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, callback) {
        lines.push(chunk.toString());
        callback();
      },
    });
    const logged = new ProcessRunner({ logger: pino({ level: 'debug' }, sink) });
    const tool = await fake('secret', 'echo "bad password s3cr3t" >&2; exit 1');
    const error = await failure(logged.run(tool.path, { args: ['--password=s3cr3t'], redact: ['s3cr3t'] }));
    const all = lines.join('') + error.message + error.stderr + error.args.join(' ');
    expect(all).not.toContain('s3cr3t');
    expect(lines.join('')).toContain('--password=[redacted]');
  });
});

describe('ProcessRunner.stream', () => {
  it('delivers lines as they come, keeping the partial last line', async () => {
    const tool = await fake('lines', `printf 'exists resource name:r0\\nexists -\\nchange res'; sleep 0.2; printf 'ource name:r0 role:Primary\\nlast-without-newline'`);
    const lines: string[] = [];
    const handle = runner.stream(tool.path, { args: [], onLine: (line) => lines.push(line) });
    await handle.done;
    expect(lines).toEqual(['exists resource name:r0', 'exists -', 'change resource name:r0 role:Primary', 'last-without-newline']);
  });

  it('splits on carriage returns for progress output', async () => {
    const tool = await fake('progress', `printf '\\rMigration: [ 10.00 %%]\\rMigration: [ 55.50 %%]' >&2; printf '\\rMigration: [100.00 %%]\\r\\n' >&2`);
    const lines: string[] = [];
    const handle = runner.stream(tool.path, { args: [], onLine: () => undefined, onStderrLine: (line) => lines.push(line), carriageReturn: true });
    await handle.done;
    expect(lines.filter(Boolean)).toEqual(['Migration: [ 10.00 %]', 'Migration: [ 55.50 %]', 'Migration: [100.00 %]']);
  });

  it('stops a follower that ignores TERM, with its children, and resolves', async () => {
    const tool = await fake(
      'follower',
      `trap '' TERM; echo $$ >> "$PIDS"; (trap '' TERM; exec sleep 1000) & echo $! >> "$PIDS"
while :; do echo tick; sleep 0.05; done`,
    );
    const lines: string[] = [];
    const handle = runner.stream(tool.path, { args: [], onLine: (line) => lines.push(line), killGraceMs: 200 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    await handle.stop();
    await expect(handle.done).resolves.toBeDefined();
    expect(lines.length).toBeGreaterThan(0);
    await expectNoneLeft(tool.pids, 2);
  });

  it('rejects done when the follower dies, with its stderr', async () => {
    const tool = await fake('dies', `echo 'error: Disconnected from test:///default due to end of file' >&2; exit 1`);
    const handle = runner.stream(tool.path, { args: ['event', '--loop'], onLine: () => undefined });
    const error = await failure(handle.done);
    expect(error.exitCode).toBe(1);
    expect(error.message).toContain('Disconnected');
  });

  it('writes to stdin of a --poll follower', async () => {
    const tool = await fake('poll', 'while read -r line; do echo "got $line"; [ "$line" = q ] && exit 0; done');
    const lines: string[] = [];
    const handle = runner.stream(tool.path, { args: [], onLine: (line) => lines.push(line), keepStdinOpen: true });
    handle.write('n\n');
    handle.write('q\n');
    await handle.done;
    expect(lines).toEqual(['got n', 'got q']);
  });

  it('kills a follower whose line never ends', async () => {
    const tool = await fake('noline', 'echo $$ >> "$PIDS"; exec head -c 5000000 /dev/zero');
    const handle = runner.stream(tool.path, { args: [], onLine: () => undefined, maxLineBytes: 1024 * 1024 });
    const error = await failure(handle.done);
    expect(error.code).toBe('RESOURCE_EXHAUSTED');
    await expectNoneLeft(tool.pids, 1);
  });
});
