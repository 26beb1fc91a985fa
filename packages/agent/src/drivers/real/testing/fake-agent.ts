import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger } from '@hvctl/common';
import { startAgent, type RunningAgent } from '../../../agent.js';
import { parseAgentConfig } from '../../../config.js';
import { FAKE_DRBDSETUP, type FakeToolbox } from './fake-tools.js';

/** A fake virsh: `--version`, an empty `list`, an `event` loop that never ends; anything else fails. */
export const FAKE_VIRSH = `[ "$1" = --version ] && { echo 9.0.0; exit 0; }
shift 2
case "$1" in list) printf '\\n' ;; event) while :; do sleep 1; done ;; *) exit 1 ;; esac`;

/**
 * Starts an agent (plaintext, --insecure-lab) whose every driver is real and whose every
 * tool is a fake of `box` recording its argv: drbd-utils 9, an empty DRBD, virsh (or
 * `virshBody`), a BIRD that is not running, restic with an empty repository.
 */
export async function startFakeToolAgent(box: FakeToolbox, options: { readonly virshBody?: string } = {}): Promise<RunningAgent> {
  const tools = {
    drbdadm: await box.tool('drbdadm', `printf 'DRBD_KERNEL_VERSION=9.2.12\\nDRBDADM_VERSION=9.22.0\\n'`),
    drbdsetup: await box.tool('drbdsetup', FAKE_DRBDSETUP),
    virsh: await box.tool('virsh', options.virshBody ?? FAKE_VIRSH),
    birdc: await box.tool('birdc', `echo 'Unable to connect to server control socket (/x): No such file or directory' >&2; exit 1`),
    ip: await box.tool('ip', `echo '[]'`),
    restic: await box.tool('restic', `case "$1" in version) echo 'restic 0.14.0 compiled with go1.19.8 on linux/amd64' ;; cat) echo '{}' ;; snapshots) echo '[]' ;; *) exit 1 ;; esac`),
  };
  await box.set('status.json', '[]');
  await box.set('events2.txt', 'exists -\n');
  await writeFile(join(box.dir, 'pw'), 'x', { mode: 0o600 });
  const config = parseAgentConfig(
    {
      node: 'msk-1',
      site: 'msk',
      listen: '127.0.0.1:0',
      stateDir: join(box.dir, 'state'),
      drivers: { drbd: 'real', kvm: 'real', routing: 'real', backup: 'real', host: 'real' },
      tools,
      kvm: { uri: 'qemu:///system', timeoutMs: 800 },
      routing: { socket: join(box.dir, 'bird.ctl'), includeFile: join(box.dir, 'hvctl.conf'), bootQuorumWaitMs: 0 },
      backup: { repository: join(box.dir, 'repo'), passwordFile: join(box.dir, 'pw'), restoreRoot: join(box.dir, 'restore') },
    },
    join(box.dir, 'agent.yaml'),
  );
  return startAgent({ ...config, insecureLab: true }, silentLogger());
}
