import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { protoPath as healthProtoPath } from 'grpc-health-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HVCTL_V1_SERVICES } from '@hvctl/proto';
import type { AnnounceResponse__Output, CordonResponse__Output, GetInfoResponse__Output, GetResourceResponse__Output, ListAnnouncementsResponse__Output, ListDomainsResponse__Output, ListResourcesResponse__Output, PromoteResponse__Output, ShutdownResponse__Output, StartResponse__Output } from '@hvctl/proto';
import { collectStream, deadline, unary, type AgentClient, type HvctlError } from '@hvctl/common';
import { buildSeeds, Lab } from './testing/harness.js';

/** The buf CLI installed by the root package (@bufbuild/buf). */
const BUF = fileURLToPath(new URL('../../../node_modules/.bin/buf', import.meta.url));

function runBuf(args: readonly string[]): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(BUF, [...args], { timeout: 20_000 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`buf ${args.join(' ')} failed: ${error.message}\n${stderr}`));
      else resolve({ stdout, stderr });
    });
  });
}

interface HealthClient extends grpc.Client {
  check(request: { service: string }, options: grpc.CallOptions, callback: (error: grpc.ServiceError | null, response?: { status: string }) => void): void;
}

/** One agent (msk-1) with vm-a Primary and running, paired with an absent spb-1. */
describe('the agent server', () => {
  let lab: Lab;
  let client: AgentClient;
  let port: number;

  beforeAll(async () => {
    lab = await Lab.start({
      nodes: [{ name: 'msk-1', site: 'msk' }],
      seeds: buildSeeds(['msk-1'], [{ name: 'vm-a', home: 'msk-1', peer: 'spb-1' }, { name: 'vm-b', home: 'msk-1', peer: 'spb-1', running: false }]),
      // The absent peer makes vm-a's writes pile up as out-of-sync; keep the state still instead.
      timing: { writeBytesPerSecond: 0 },
    });
    client = lab.client('msk-1');
    port = lab.node('msk-1').agent!.port;
  });

  afterAll(async () => {
    await lab?.close();
  });

  describe('grpc.health.v1', () => {
    it('reports the server and every hvctl.v1 service SERVING once started', async () => {
      // Given the standard health proto, loaded from grpc-health-check
      const definition = protoLoader.loadSync(healthProtoPath, { keepCase: true, enums: String, defaults: true });
      const Health = (grpc.loadPackageDefinition(definition) as unknown as { grpc: { health: { v1: { Health: new (address: string, credentials: grpc.ChannelCredentials) => HealthClient } } } }).grpc.health.v1.Health;
      const health = new Health(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
      try {
        // When each service is checked
        for (const service of ['', ...HVCTL_V1_SERVICES]) {
          const response = await unary<{ status: string }>(`Check ${service}`, (cb) => health.check({ service }, deadline(), cb));
          // Then it is SERVING
          expect({ service, status: response.status }).toEqual({ service, status: 'SERVING' });
        }
        // And an unknown service is NOT_FOUND
        await expect(unary('Check', (cb) => health.check({ service: 'hvctl.v1.NoSuchService' }, deadline(), cb))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      } finally {
        health.close();
      }
    });
  });

  describe('reflection', () => {
    it('lets buf curl list the hvctl.v1 services and call GetInfo without the .proto files', async (context) => {
      if (!existsSync(BUF)) {
        // In CI buf must be there (it is a root devDependency); elsewhere say why nothing ran.
        if (process.env['CI']) throw new Error(`buf is missing at ${BUF}; run npm ci`);
        context.skip(`buf is not installed at ${BUF}`);
      }
      const url = `http://127.0.0.1:${port}`;
      // When buf lists the services through reflection
      const listed = await runBuf(['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--list-services', url]);
      const services = listed.stdout.split('\n').map((line) => line.trim()).filter(Boolean);
      // Then every hvctl.v1 service is there, and reflection offers nothing but hvctl's own services
      for (const service of HVCTL_V1_SERVICES) expect(services).toContain(service);
      expect(services.filter((service) => !service.startsWith('hvctl.v1.'))).toEqual([]);

      // When buf calls GetInfo with an empty request
      const called = await runBuf(['curl', '--protocol', 'grpc', '--http2-prior-knowledge', '--data', '{}', `${url}/hvctl.v1.NodeService/GetInfo`]);
      // Then the answer is JSON naming the node
      const answer = JSON.parse(called.stdout) as { node?: { name?: string; site?: string } };
      expect(answer.node).toMatchObject({ name: 'msk-1', site: 'msk' });
    });
  });

  describe('bad input', () => {
    const BAD_NAMES = ['a;rm -rf /', '-x', '../etc', 'x'.repeat(10 * 1024), '', 'vm a', '$(reboot)', 'vm-a\n'];

    /** Everything a call could have changed, and the hub revision (every change bumps it). */
    async function observable(): Promise<unknown> {
      const [resources, domains, announcements, info] = await Promise.all([
        unary<ListResourcesResponse__Output>('ListResources', (cb) => client.drbd.listResources({}, deadline(), cb)),
        unary<ListDomainsResponse__Output>('ListDomains', (cb) => client.kvm.listDomains({}, deadline(), cb)),
        unary<ListAnnouncementsResponse__Output>('ListAnnouncements', (cb) => client.routing.listAnnouncements({}, deadline(), cb)),
        unary<GetInfoResponse__Output>('GetInfo', (cb) => client.node.getInfo({}, deadline(), cb)),
      ]);
      return { resources, domains, announcements, flags: info.node?.flags, revision: lab.node('msk-1').agent!.context.hub.currentRevision() };
    }

    async function expectInvalid(call: Promise<unknown>, what: string): Promise<void> {
      const error = await call.then(
        () => undefined,
        (failure: HvctlError) => failure,
      );
      expect(error, `${what} should fail`).toBeDefined();
      // A clear error: the right status, and a message that does not echo 10 KB back
      expect({ what, code: error?.code }).toEqual({ what, code: 'INVALID_ARGUMENT' });
      expect(error?.message.length).toBeLessThan(400);
    }

    it('rejects invalid names to Promote, Start and Announce with INVALID_ARGUMENT and changes nothing', async () => {
      // Given the node's state before
      const before = await observable();
      // When each bad name is sent to Promote, Start and Announce
      for (const name of BAD_NAMES) {
        await expectInvalid(unary<PromoteResponse__Output>('Promote', (cb) => client.drbd.promote({ name, force: true }, deadline(), cb)), `Promote ${name.slice(0, 20)}`);
        await expectInvalid(unary<StartResponse__Output>('Start', (cb) => client.kvm.start({ name }, deadline(), cb)), `Start ${name.slice(0, 20)}`);
        await expectInvalid(
          unary<AnnounceResponse__Output>('Announce', (cb) => client.routing.announce({ prefix: '10.20.0.99/32', kind: 'ANNOUNCEMENT_KIND_VM', vm: name }, deadline(), cb)),
          `Announce vm ${name.slice(0, 20)}`,
        );
        await expectInvalid(
          unary<AnnounceResponse__Output>('Announce', (cb) => client.routing.announce({ prefix: name, kind: 'ANNOUNCEMENT_KIND_BGP' }, deadline(), cb)),
          `Announce prefix ${name.slice(0, 20)}`,
        );
      }
      // Then nothing changed
      expect(await observable()).toEqual(before);
    });

    it('rejects malformed prefixes, kinds, request ids and targets, and changes nothing', async () => {
      const before = await observable();
      for (const prefix of ['10.20.0.1', '10.20.0.1/33', '10.20.0.1/24', '300.1.1.1/32', '10.20.0.1/32 ']) {
        await expectInvalid(unary<AnnounceResponse__Output>('Announce', (cb) => client.routing.announce({ prefix, kind: 'ANNOUNCEMENT_KIND_BGP' }, deadline(), cb)), `Announce ${prefix}`);
      }
      // A VM announcement must be a /32 of a named VM, and the kind must be set
      await expectInvalid(unary<AnnounceResponse__Output>('Announce', (cb) => client.routing.announce({ prefix: '10.20.0.0/24', kind: 'ANNOUNCEMENT_KIND_VM', vm: 'vm-a' }, deadline(), cb)), 'VM /24');
      await expectInvalid(unary<AnnounceResponse__Output>('Announce', (cb) => client.routing.announce({ prefix: '10.20.0.99/32', vm: 'vm-a' }, deadline(), cb)), 'no kind');
      await expectInvalid(unary<CordonResponse__Output>('Cordon', (cb) => client.node.cordon({ requestId: 'id with spaces' }, deadline(), cb)), 'request id');
      await expectInvalid(unary<PromoteResponse__Output>('Promote', (cb) => client.drbd.promote({ requestId: 'x'.repeat(200), name: 'vm-b' }, deadline(), cb)), 'long request id');
      await expectInvalid(unary<ShutdownResponse__Output>('Shutdown', (cb) => client.kvm.shutdown({ name: 'vm-a', timeoutSeconds: 100_000 }, deadline(), cb)), 'huge timeout');
      // Streaming calls check their input the same way
      for (const target of ['../etc', '-x', 'MSK-1', 'msk-1']) {
        await expectInvalid(collectStream('Migrate', client.kvm.migrate({ name: 'vm-a', targetNode: target }, deadline())), `Migrate to ${target}`);
      }
      await expectInvalid(collectStream('Migrate', client.kvm.migrate({ name: '../vm-a', targetNode: 'spb-1' }, deadline())), 'Migrate ../vm-a');
      const backup = collectStream('CreateBackup', client.backup.createBackup({ vm: 'a;rm -rf /' }, deadline()));
      await expectInvalid(backup, 'CreateBackup');
      expect(await observable()).toEqual(before);
    });

    it('answers NOT_FOUND for well-formed names that do not exist, and changes nothing', async () => {
      const before = await observable();
      await expect(unary<PromoteResponse__Output>('Promote', (cb) => client.drbd.promote({ name: 'vm-nope' }, deadline(), cb))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(unary<StartResponse__Output>('Start', (cb) => client.kvm.start({ name: 'vm-nope' }, deadline(), cb))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      await expect(unary<GetResourceResponse__Output>('GetResource', (cb) => client.drbd.getResource({ name: 'vm-nope' }, deadline(), cb))).rejects.toMatchObject({ code: 'NOT_FOUND' });
      expect(await observable()).toEqual(before);
    });
  });
});
