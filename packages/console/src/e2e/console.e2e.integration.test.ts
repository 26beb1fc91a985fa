import { execFile, execFileSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { labDown, labKill, labUp } from '../lab/lab.js';
import { labClusterPath } from '../lab/state.js';

const run = promisify(execFile);
const HVCTL = fileURLToPath(new URL('../../bin/hvctl.js', import.meta.url));

function hasTmux(): boolean {
  try {
    execFileSync('tmux', ['-V'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const tmuxAvailable = hasTmux();
if (!tmuxAvailable && process.env['CI']) throw new Error('tmux is required in CI for the console end-to-end test (.ci/run installs it)');
const session = `hvctl-e2e-${process.pid}`;
// A private tmux server: its environment is this test's, not that of whatever server runs already.
const socket = `hvctl-e2e-${process.pid}`;

const tmux = (...args: string[]): Promise<{ stdout: string }> => run('tmux', ['-L', socket, ...args]);
const screen = async (): Promise<string> => (await tmux('capture-pane', '-p', '-t', session)).stdout;

async function waitForScreen(predicate: (text: string) => boolean, timeoutMs: number): Promise<{ text: string; elapsedMs: number }> {
  const started = Date.now();
  let text = '';
  while (Date.now() - started < timeoutMs) {
    text = await screen().catch(() => '');
    if (predicate(text)) return { text, elapsedMs: Date.now() - started };
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`screen did not match within ${timeoutMs} ms; last screen:\n${text}`);
}

/** True while the console runs in the pane (remain-on-exit keeps a dead pane around). */
async function consoleRunning(): Promise<boolean> {
  try {
    return (await tmux('display-message', '-p', '-t', session, '#{pane_dead}')).stdout.trim() === '0';
  } catch {
    return false;
  }
}

describe.skipIf(!tmuxAvailable)('the console in a real terminal (tmux) against a running lab', () => {
  let dir: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'hvctl-e2e-'));
    await labUp({ dir, vms: 12, autopilot: 'off' });
    await tmux('-f', '/dev/null', 'new-session', '-d', '-s', session, '-x', '120', '-y', '40');
    // Keep the pane after the console exits, so a crash leaves its message on the screen.
    await tmux('set-option', '-t', session, 'remain-on-exit', 'on');
    // Ink draws only a final frame when it believes it runs in CI ($CI): an operator's terminal has no $CI.
    await tmux('respawn-pane', '-k', '-t', session, `env -u CI ${process.execPath} ${HVCTL} --cluster ${labClusterPath(dir)}`);
  }, 60_000);

  afterAll(async () => {
    await tmux('kill-server').catch(() => undefined);
    await labDown({ dir, force: true });
    await rm(dir, { recursive: true, force: true });
  }, 30_000);

  it('shows every node and VM of the lab live', async () => {
    // Given the console started against the lab; Then all five nodes are connected and up, and the VMs appear.
    // A node's name shows before its own agent answers (its peers report the replicas it holds), so wait for "5 up".
    const { text } = await waitForScreen((t) => /5 up/.test(t), 15_000);
    for (const word of ['msk-1', 'msk-2', 'spb-1', 'spb-2', 'bak-1', 'web-1', 'vpn-1']) expect(text).toContain(word);
  });

  it('opens the help screen with ? and closes it again', async () => {
    // When the operator presses ?
    await tmux('send-keys', '-t', session, '?');
    // Then the key list generated from the key table is shown
    await waitForScreen((t) => /help/i.test(t) && t.includes('quit'), 5000);
    await tmux('send-keys', '-t', session, 'Escape');
    await waitForScreen((t) => t.includes('web-1'), 5000);
  });

  it('marks a killed node unreachable within 3 s', async () => {
    // When spb-1's agent is killed
    await labKill(dir, 'spb-1');
    // Then its line says so within 3 s
    const { elapsedMs } = await waitForScreen((t) => t.split('\n').some((line) => line.includes('spb-1') && /unreachable/i.test(line)), 3000);
    expect(elapsedMs).toBeLessThan(3000);
  });

  it('quits on q', async () => {
    expect(await consoleRunning()).toBe(true);
    await tmux('send-keys', '-t', session, 'q');
    const until = Date.now() + 5000;
    while ((await consoleRunning()) && Date.now() < until) await new Promise((resolve) => setTimeout(resolve, 100));
    expect(await consoleRunning()).toBe(false);
    // Where tmux reports the exit status, it is 0 (some tmux builds leave it empty).
    const status = (await tmux('display-message', '-p', '-t', session, '#{pane_dead_status}')).stdout.trim();
    expect(['0', '']).toContain(status);
  });
});
