import { afterEach, describe, expect, it } from 'vitest';
import type { Domain__Output, GetDomainResponse__Output, GetInfoResponse__Output, ListDomainsResponse__Output, GetResourceResponse__Output, ListAnnouncementsResponse__Output, ListRoutesResponse__Output, Resource__Output } from '@hvctl/proto';
import { deadline, silentLogger, unary, type HvctlError } from '@hvctl/common';
import { startAgent } from '../../agent.js';
import { WatchRecorder, waitFor } from '@hvctl/common/testing';
import { buildSeeds, Lab } from '../../testing/harness.js';

/**
 * A lab node is two processes: its simulated host (DRBD, domains, routes) and its agent.
 * spb-1's agent runs as a child process (killed with SIGKILL) and reaches its host over
 * the host channel; msk-1 and the witness bak-1 run in this process.
 */
describe('a simulated host and its agent', () => {
  let lab: Lab | undefined;
  const recorders: WatchRecorder[] = [];

  afterEach(async () => {
    for (const recorder of recorders.splice(0)) recorder.close();
    await lab?.close();
    lab = undefined;
  });

  const startLab = async (): Promise<Lab> =>
    Lab.start({
      nodes: [
        { name: 'msk-1', site: 'msk' },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
        { name: 'spb-1', site: 'spb', child: true, separateHost: true },
      ],
      seeds: buildSeeds(
        ['msk-1', 'spb-1', 'bak-1'],
        [
          { name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' },
          { name: 'vm-b', home: 'spb-1', peer: 'msk-1', witness: 'bak-1' },
        ],
        'bak-1',
      ),
    });
  const resource = async (running: Lab, node: string, name: string): Promise<Resource__Output> =>
    (await unary<GetResourceResponse__Output>('GetResource', (cb) => running.client(node).drbd.getResource({ name }, deadline(), cb))).resource!;
  const domain = async (running: Lab, node: string, name: string): Promise<Domain__Output> =>
    (await unary<GetDomainResponse__Output>('GetDomain', (cb) => running.client(node).kvm.getDomain({ name }, deadline(), cb))).domain!;
  const connectionTo = async (running: Lab, node: string, name: string, peer: string): Promise<string | undefined> =>
    (await resource(running, node, name)).peers.find((p) => p.node === peer)?.connectionState;
  const routedVia = async (running: Lab, node: string, prefix: string): Promise<string | undefined> =>
    (await unary<ListRoutesResponse__Output>('ListRoutes', (cb) => running.client(node).routing.listRoutes({}, deadline(), cb))).routes.find((route) => route.prefix === prefix)?.viaNode;

  it('keeps the host running when only the agent is killed: peers stay Connected, VMs run, routes stay', async () => {
    lab = await startLab();
    const running = lab;
    await running.waitAllConnected();
    await waitFor('msk-1 to route vm-b via spb-1', async () => (await routedVia(running, 'msk-1', '10.20.0.11/32')) === 'spb-1');
    const before = await domain(running, 'spb-1', 'vm-b');
    expect(before.state).toBe('DOMAIN_STATE_RUNNING');
    const survivor = new WatchRecorder(running.client('msk-1'));
    recorders.push(survivor);
    await survivor.until('snapshot', (w) => w.view !== undefined);

    // When spb-1's agent (only) is killed with SIGKILL
    await running.kill('spb-1');

    // Then for three peer timeouts msk-1 stays Connected to spb-1 on both resources and keeps routing vm-b to it
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      expect(await connectionTo(running, 'msk-1', 'vm-a', 'spb-1')).toBe('Connected');
      expect(await connectionTo(running, 'msk-1', 'vm-b', 'spb-1')).toBe('Connected');
      expect(await routedVia(running, 'msk-1', '10.20.0.11/32')).toBe('spb-1');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    // And msk-1's stream never reported spb-1 anything but Connected (no flap in between)
    const spb1States = survivor.messages
      .flatMap((message) => (message.change?.resource ? message.change.resource.peers.filter((peer) => peer.node === 'spb-1') : []))
      .map((peer) => peer.connectionState);
    expect(spb1States.filter((state) => state !== 'Connected')).toEqual([]);

    // When the agent starts again
    await running.start('spb-1');
    const returning = new WatchRecorder(running.client('spb-1'));
    recorders.push(returning);
    await returning.until('snapshot', (w) => w.view !== undefined);

    // Then it finds its host as it was: vm-b still running since before the kill (never shut off), Primary, announced
    const after = await domain(running, 'spb-1', 'vm-b');
    expect(after).toMatchObject({ state: 'DOMAIN_STATE_RUNNING', stateChangedUnixMs: before.stateChangedUnixMs });
    expect((await resource(running, 'spb-1', 'vm-b')).role).toBe('Primary');
    expect(await connectionTo(running, 'spb-1', 'vm-b', 'msk-1')).toBe('Connected');
    const announced = (await unary<ListAnnouncementsResponse__Output>('ListAnnouncements', (cb) => running.client('spb-1').routing.listAnnouncements({}, deadline(), cb))).announcements;
    expect(announced.map((a) => a.vm)).toContain('vm-b');
    // And its log says it found the host running, not that it crashed
    await returning.until('the reconnect note', (w) => w.logMessages().some((m) => /agent connected to its running host/.test(m)));
    expect(returning.logMessages().some((m) => /restarted after a crash/.test(m))).toBe(false);
  });

  it('still looks like a crash when the host dies with its agent', async () => {
    lab = await startLab();
    const running = lab;
    await running.waitAllConnected();

    // When spb-1 crashes (agent and host)
    await running.crash('spb-1');

    // Then msk-1 loses it within 3 s
    await waitFor('msk-1 to lose spb-1', async () => (await connectionTo(running, 'msk-1', 'vm-b', 'spb-1')) === 'Connecting', { timeoutMs: 3000 });
    // And it comes back as after a crash: vm-b shut off, its disk Secondary, its /32 withdrawn
    await running.start('spb-1');
    expect(await domain(running, 'spb-1', 'vm-b')).toMatchObject({ state: 'DOMAIN_STATE_SHUTOFF', stateReason: 'crashed' });
    expect((await resource(running, 'spb-1', 'vm-b')).role).toBe('Secondary');
    const announced = (await unary<ListAnnouncementsResponse__Output>('ListAnnouncements', (cb) => running.client('spb-1').routing.listAnnouncements({}, deadline(), cb))).announcements;
    expect(announced.filter((a) => a.vm === 'vm-b')).toEqual([]);
  });

  it('fails clearly while its host is gone, reports the areas unavailable, and reconnects when the host is back', async () => {
    lab = await startLab();
    const running = lab;
    await running.waitAllConnected();

    // When spb-1's host stops while its agent runs
    await running.stopHost('spb-1');

    // Then a call fails at once with UNAVAILABLE, saying what is missing
    const startedMs = Date.now();
    const error = await unary('Start', (cb) => running.client('spb-1').kvm.start({ name: 'vm-a' }, deadline(), cb)).then(
      () => undefined,
      (failure: unknown) => failure as HvctlError,
    );
    expect(Date.now() - startedMs).toBeLessThan(2000);
    expect(error?.code).toBe('UNAVAILABLE');
    expect(error?.message).toMatch(/simulated host of spb-1 is not running/);
    // And the node reports the host's areas unavailable
    const info = async () => (await unary<GetInfoResponse__Output>('GetInfo', (cb) => running.client('spb-1').node.getInfo({}, deadline(), cb))).node!;
    await waitFor('every area unavailable', async () => (await info()).capabilities.every((capability) => !capability.available), { timeoutMs: 5000 });

    // When the host starts again (a reboot: it comes back as after a crash)
    await running.startHost('spb-1');
    // Then the running agent reconnects: areas available, vm-b reported shut off
    await waitFor('areas available again', async () => (await info()).capabilities.every((capability) => capability.available), { timeoutMs: 10_000 });
    await waitFor('vm-b shut off', async () => (await domain(running, 'spb-1', 'vm-b')).state === 'DOMAIN_STATE_SHUTOFF', { timeoutMs: 5000 });
  });

  it('starts without its host (areas unavailable, not hanging) and takes the host state in when the host comes', async () => {
    lab = await startLab();
    const running = lab;
    await running.waitAllConnected();
    await running.crash('spb-1');

    // When spb-1's agent starts while its host is down
    const startedMs = Date.now();
    const agent = await startAgent(running.node('spb-1').config, silentLogger());
    try {
      // Then it starts within its 5 s wait for the host, reporting every area unavailable and no domain
      expect(Date.now() - startedMs).toBeLessThan(10_000);
      const info = async () => (await unary<GetInfoResponse__Output>('GetInfo', (cb) => running.client('spb-1').node.getInfo({}, deadline(), cb))).node!;
      expect((await info()).capabilities.filter((capability) => capability.available)).toEqual([]);
      const domains = async () => (await unary<ListDomainsResponse__Output>('ListDomains', (cb) => running.client('spb-1').kvm.listDomains({}, deadline(), cb))).domains;
      await expect(domains()).rejects.toMatchObject({ code: 'UNAVAILABLE' });

      // When the host comes up
      await running.startHost('spb-1');
      // Then the agent connects and publishes the host's state: areas available, vm-b there (shut off after the crash)
      await waitFor('areas available', async () => (await info()).capabilities.every((capability) => capability.available), { timeoutMs: 10_000 });
      const recorder = new WatchRecorder(running.client('spb-1'));
      recorders.push(recorder);
      await recorder.until('vm-b in the watched state', (w) => w.view?.domains.get('vm-b')?.state === 'DOMAIN_STATE_SHUTOFF');
    } finally {
      await agent.stop(200);
    }
  });
});
