import { chmod, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCa, issueCertificate } from '@hvctl/common';
import { fakeToolbox, type FakeToolbox } from '../drivers/real/testing/fake-tools.js';
import { formatDoctorReport, runDoctor } from './doctor.js';

describe('hvctl-agent doctor', () => {
  let box: FakeToolbox;
  let peer: Server;
  let peerPort = 0;

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-doctor-');
    // A fake restic that answers `version` and `cat config` like 0.14.
    await box.tool('restic', `case "$1" in version) echo 'restic 0.14.0 compiled with go1.19.8 on linux/amd64' ;; cat) echo '{"version":2}' ;; *) exit 1 ;; esac`);
    peer = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    peerPort = (peer.address() as { port: number }).port;
    await writeFile(
      join(box.dir, 'cluster.yaml'),
      `name: t
sites: [{ name: msk, kind: main }, { name: spb, kind: main }]
nodes:
  - { name: msk-1, site: msk, address: 127.0.0.1:7400 }
  - { name: spb-1, site: spb, address: 127.0.0.1:${peerPort} }
  - { name: spb-2, site: spb, address: 127.0.0.1:1 }
`,
    );
    await writeFile(join(box.dir, 'restic.pw'), 'x');
    // The node's TLS files, as `hvctl certs issue msk-1 --role node` writes them.
    const ca = await createCa({ cluster: 't' });
    const node = await issueCertificate({ ca, name: 'msk-1', role: 'node' });
    await writeFile(join(box.dir, 'ca.crt'), ca.certPem);
    await writeFile(join(box.dir, 'msk-1.crt'), node.certPem);
    await writeFile(join(box.dir, 'msk-1.key'), node.keyPem, { mode: 0o600 });
    await writeFile(join(box.dir, 'revoked.json'), '{"version":1,"serials":[],"tokens":[]}');
  });
  afterAll(async () => {
    peer.close();
    await box.cleanup();
  });

  const config = async (name: string, body: string): Promise<string> => {
    const path = join(box.dir, name);
    await writeFile(path, body);
    return path;
  };

  it('reports a config it cannot read, with the fix', async () => {
    const report = await runDoctor(join(box.dir, 'missing.yaml'));
    expect(report.ok).toBe(false);
    expect(report.checks).toEqual([expect.objectContaining({ name: 'config', status: 'fail', fix: expect.stringContaining('agent.example.yaml') })]);
  });

  it('checks tools, versions, the password file mode and the peers', async () => {
    // Given backup real with a fake restic, a world-readable password file, one peer up and one down
    await chmod(join(box.dir, 'restic.pw'), 0o644);
    const path = await config(
      'agent.yaml',
      `node: msk-1
site: msk
listen: 127.0.0.1:7400
stateDir: ./state
cluster: ./cluster.yaml
drivers: { drbd: real, kvm: sim, routing: sim, backup: real, host: sim }
tools: { restic: ${join(box.dir, 'restic')}, drbdadm: ${join(box.dir, 'no-drbdadm')}, drbdsetup: ${join(box.dir, 'no-drbdsetup')} }
backup: { repository: ./repo, passwordFile: ./restic.pw, restoreRoot: ./restore }
sim: { link: 127.0.0.1:7501, peers: [], repositoryNode: msk-1 }
`,
    );
    const report = await runDoctor(path, { connectTimeoutMs: 500 });
    const byName = Object.fromEntries(report.checks.map((check) => [check.name, check]));
    expect(report.ok).toBe(false);
    expect(byName['tool restic']).toMatchObject({ status: 'ok', detail: expect.stringContaining('(restic 0.14.0)') });
    expect(byName['tool drbdadm']).toMatchObject({ status: 'fail', fix: expect.stringContaining('apt install drbd-utils') });
    expect(byName['restic password file']).toMatchObject({ status: 'fail', detail: expect.stringContaining('mode 0644'), fix: `chmod 600 ${join(box.dir, 'restic.pw')}` });
    expect(byName['backup driver']).toMatchObject({ status: 'ok', detail: 'restic 0.14.0, repository reachable' });
    expect(byName['kvm driver']).toMatchObject({ status: 'skip' });
    expect(byName['peer spb-1']).toMatchObject({ status: 'ok' });
    expect(byName['peer spb-2']).toMatchObject({ status: 'fail', detail: expect.stringContaining('ECONNREFUSED') });
    expect(byName['drbd driver']).toBeUndefined();
    // The human form lists each check and the fixes
    const text = formatDoctorReport(report);
    expect(text).toMatch(/FAIL {2}restic password file/);
    expect(text).toContain(`fix: chmod 600 ${join(box.dir, 'restic.pw')}`);
    expect(text.trim().split('\n').at(-1)).toMatch(/^\d problem\(s\) to fix/);
  });

  it('passes when everything is in order', async () => {
    await chmod(join(box.dir, 'restic.pw'), 0o600);
    const path = await config(
      'good.yaml',
      `node: msk-1
site: msk
listen: 127.0.0.1:7400
stateDir: ./state
tls: { ca: ./ca.crt, cert: ./msk-1.crt, key: ./msk-1.key, revoked: ./revoked.json }
drivers: { drbd: sim, kvm: sim, routing: sim, backup: real, host: sim }
tools: { restic: ${join(box.dir, 'restic')} }
backup: { repository: ./repo, passwordFile: ./restic.pw, restoreRoot: ./restore }
sim: { link: 127.0.0.1:7501, peers: [], repositoryNode: msk-1 }
`,
    );
    const report = await runDoctor(path);
    expect(report.checks.filter((check) => check.status === 'fail')).toEqual([]);
    expect(report.ok).toBe(true);
    expect(report.checks.find((check) => check.name === 'tls cert')).toMatchObject({ status: 'ok', detail: expect.stringContaining('node certificate for msk-1') });
    expect(formatDoctorReport(report)).toMatch(/All checks passed \(1 warning\(s\)\)\.\n$/);
  });
});
