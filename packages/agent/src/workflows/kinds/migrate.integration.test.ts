import { afterEach, describe, expect, it } from 'vitest';
import type {
  DestroyResponse__Output,
  GetDomainResponse__Output,
  ListAnnouncementsResponse__Output,
  ListResourcesResponse__Output,
  SubmitResponse__Output,
  WatchWorkflowResponse__Output,
  Workflow__Output,
} from '@hvctl/proto';
import { collectStream, deadline, unary } from '@hvctl/common';
import { waitFor } from '@hvctl/common/testing';
import { buildSeeds, Lab } from '../../testing/harness.js';

/**
 * A live migration whose guest dies on the way: the rollback leaves the VM's /32 announced
 * from no node that does not run it (MISSION invariant 3). Real agents on loopback with a
 * cluster file, driven through the coordinator's gRPC API.
 */
describe('migration rollback when the guest stops during the migration', () => {
  let lab: Lab | undefined;
  afterEach(async () => {
    await lab?.close();
    lab = undefined;
  });

  it('withdraws the /32 from the source once the VM runs nowhere', async () => {
    // Given vm-a runs on msk-1 (announcing 10.20.0.10/32), replicated to spb-1; a 4 GiB guest takes ~4 s to migrate
    lab = await Lab.start({
      nodes: [
        { name: 'msk-1', site: 'msk' },
        { name: 'spb-1', site: 'spb' },
        { name: 'bak-1', site: 'bak', siteKind: 'backup' },
      ],
      seeds: buildSeeds(['msk-1', 'spb-1', 'bak-1'], [{ name: 'vm-a', home: 'msk-1', peer: 'spb-1', witness: 'bak-1' }], 'bak-1'),
      clusterFile: true,
      timing: { migrationBytesPerSecond: 1024 ** 3 },
    });
    await lab.waitAllConnected();
    const client = (node: string) => (lab as Lab).client(node);
    await waitFor('vm-a in sync', async () => {
      const [resource] = (await unary<ListResourcesResponse__Output>('ListResources', (cb) => client('spb-1').drbd.listResources({}, deadline(), cb))).resources;
      return resource?.diskState === 'UpToDate' && resource.peers.every((peer) => peer.connectionState === 'Connected');
    });

    // When the migration to spb-1 runs and the guest is destroyed on msk-1 halfway
    const { workflow } = await unary<SubmitResponse__Output>('Submit', (cb) =>
      client('msk-1').workflows.submit({ requestId: 'm1', spec: { migrate: { vm: 'vm-a', targetNode: 'spb-1' } }, owner: 'tester' }, deadline(15_000), cb),
    );
    const id = (workflow as Workflow__Output).id;
    const watching = collectStream<WatchWorkflowResponse__Output>('WatchWorkflow', client('msk-1').workflows.watchWorkflow({ id }, deadline(30_000)));
    await waitFor('the migration under way', async () => {
      const { domain } = await unary<GetDomainResponse__Output>('GetDomain', (cb) => client('msk-1').kvm.getDomain({ name: 'vm-a' }, deadline(), cb));
      return domain?.migrating === true;
    });
    await unary<DestroyResponse__Output>('Destroy', (cb) => client('msk-1').kvm.destroy({ requestId: 'd1', name: 'vm-a' }, deadline(), cb));
    const done = (await watching).flatMap((message) => (message.workflow ? [message.workflow] : [])).at(-1) as Workflow__Output;

    // Then the migration failed (the guest arrived nowhere), and the rollback withdrew the /32 from msk-1, which no longer runs it
    expect(done.state).toBe('failed');
    expect(done.summary).toEqual(expect.arrayContaining(['rollback: withdrew 10.20.0.10/32 from msk-1 (vm-a does not run there)']));
    for (const node of ['msk-1', 'spb-1']) {
      const { announcements } = await unary<ListAnnouncementsResponse__Output>('ListAnnouncements', (cb) => client(node).routing.listAnnouncements({}, deadline(), cb));
      expect(announcements.map((a) => a.prefix)).not.toContain('10.20.0.10/32');
    }
  });
});
