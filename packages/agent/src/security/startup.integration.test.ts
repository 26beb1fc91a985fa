import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import type { GetInfoResponse__Output } from '@hvctl/proto';
import { createAgentClient, deadline, unary } from '@hvctl/common';
import { freePorts, makeTempDir, removeTempDir, waitFor } from '@hvctl/common/testing';

const AGENT_BIN = fileURLToPath(new URL('../../bin/hvctl-agent.js', import.meta.url));

/** Runs bin/hvctl-agent.js; resolves with its exit code and stderr, or once `until` shows up in stderr (then it keeps running). */
function runAgent(args: string[], until?: RegExp): Promise<{ code: number | null; stderr: string; stop: () => void }> {
  const child = spawn(process.execPath, [AGENT_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  return new Promise((resolve) => {
    const stop = (): void => {
      child.kill('SIGKILL');
    };
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
      if (until?.test(stderr)) resolve({ code: null, stderr, stop });
    });
    child.on('exit', (code) => resolve({ code, stderr, stop }));
  });
}

describe('hvctl-agent start-up security', () => {
  let dir: string;
  let config: string;
  beforeEach(async () => {
    dir = await makeTempDir('hvctl-startup-');
    const [port, link] = await freePorts(2);
    await writeFile(join(dir, 'seed.json'), JSON.stringify({ resources: [], domains: [], announcements: [] }));
    config = join(dir, 'agent.yaml');
    await writeFile(
      config,
      stringify({ node: 'msk-1', site: 'msk', listen: `127.0.0.1:${port}`, stateDir: './state', log: { file: './agent.log' }, sim: { link: `127.0.0.1:${link}`, peers: [], seed: './seed.json' } }),
    );
  });
  afterEach(async () => removeTempDir(dir));

  it('refuses to start without certificates, saying what is missing and how to fix it', async () => {
    // Given a config without tls:, When the agent starts without --insecure-lab
    const { code, stderr } = await runAgent(['--config', config]);
    // Then it exits 2 and nothing listens
    expect(code).toBe(2);
    expect(stderr).toMatch(/no `tls:` section/);
    expect(stderr).toMatch(/hvctl certs init/);
    expect(stderr).toMatch(/hvctl certs issue msk-1 --role node/);
    expect(stderr).toMatch(/--insecure-lab/);
    expect(stderr).not.toMatch(/listening on/);
  }, 20_000);

  it('serves plaintext with --insecure-lab, and warns on stderr', async () => {
    const { stderr, stop } = await runAgent(['--config', config, '--insecure-lab'], /listening on/);
    try {
      expect(stderr).toMatch(/WARNING: --insecure-lab: this agent serves PLAINTEXT/);
      expect(stderr).toMatch(/PLAINTEXT, insecure lab/);
      const address = /listening on (\S+)/.exec(stderr)?.[1] as string;
      const client = createAgentClient(address);
      try {
        const info = await waitFor('GetInfo over plaintext', () => unary<GetInfoResponse__Output>('GetInfo', (cb) => client.node.getInfo({}, deadline(1000), cb)));
        expect(info.node?.name).toBe('msk-1');
      } finally {
        client.close();
      }
    } finally {
      stop();
    }
  }, 20_000);
});
