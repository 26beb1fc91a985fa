import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { createAgentClient, type AgentClient } from '@hvctl/common';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningAgent } from '../agent.js';
import { startFakeToolAgent } from '../drivers/real/testing/fake-agent.js';
import { fakeToolbox, type FakeToolbox } from '../drivers/real/testing/fake-tools.js';

// Thousands of hostile strings against every RPC that takes a name, path, prefix, id or
// text, on an agent whose drivers are all real and whose tools are fakes recording their
// argv. Names, paths, prefixes and ids must be refused with INVALID_ARGUMENT; nothing
// hostile may ever reach a tool's argv; refused calls must start no mutating tool.

/** Every hostile value carries this marker, so the tools' argv log can be searched for it. */
const MARK = 'q7x';

const SHAPES: readonly string[] = [
  `${MARK}; rm -rf /`,
  `$(${MARK})`,
  `\`${MARK}\``,
  `${MARK} | nc 127.0.0.1 9`,
  `${MARK} && reboot`,
  `${MARK}||true`,
  `-${MARK}`,
  `--${MARK}`,
  `--force=${MARK}`,
  `-o ${MARK}`,
  `../${MARK}`,
  `../../${MARK}/etc/passwd`,
  `/${MARK}/abs`,
  `${MARK}/..`,
  `${MARK}/../..`,
  `.${MARK}`,
  `${MARK}\u0000`,
  `${MARK}\u0000--force`,
  `${MARK}\n--force`,
  `${MARK}\r\nx`,
  `${MARK}\t-x`,
  ` ${MARK}`,
  `${MARK} `,
  `${MARK.slice(0, 2)}х-${MARK}`, // Cyrillic х
  `${MARK}-ԁb`, // Cyrillic ԁ
  `${MARK}\u200b`,
  `${MARK}\u202egnp.exe`,
  `ｑ7x-${MARK}`, // fullwidth
  `${MARK}\u00a0`,
  `${MARK}%2e%2e%2f`,
  `${MARK}*`,
  `${MARK}?`,
  `~${MARK}`,
  `${MARK}{a,b}`,
  `${MARK}'`,
  `${MARK}"`,
  `${MARK}\\`,
  `${MARK}>out`,
  `${MARK}<in`,
  `\${IFS}${MARK}`,
  `${MARK}#`,
  `${MARK}:`,
  `@${MARK}`,
  `%${MARK}`,
  `${MARK}=1`,
  `${MARK}\u001b[2J`,
  `${MARK}`.padEnd(10 * 1024, 'A'),
  `-${MARK}`.padEnd(10 * 1024, '/'),
];

/** What no name grammar may refuse ("web-1-q7x" is a fine name): dropped from the hostile set. */
const BENIGN = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;

/** Every shape alone and glued to a valid name on either side, minus the glued values that are plain names. */
const HOSTILE: readonly string[] = SHAPES.flatMap((shape) => [shape, `web-1${shape}`, `${shape}web-1`]).filter((value) => !BENIGN.test(value) || value.includes('..'));

/** Tool subcommands that change something: none may run for a refused call. */
const MUTATING = /^(drbdadm\t.*(primary|secondary|connect|disconnect|net-options|adjust|outdate|verify)|virsh\t.*\t(start|shutdown|destroy|migrate|domfsfreeze)|restic\t.*(backup|restore|forget|prune)|birdc\t.*configure)/;

type Kind = 'unary' | 'stream';
interface Target {
  readonly rpc: string;
  readonly kind: Kind;
  /** The request with the hostile value in one field. */
  readonly request: (hostile: string) => unknown;
  /** Strict fields (names, paths, prefixes, ids) must be refused with INVALID_ARGUMENT. */
  readonly strict: boolean;
}

const TARGETS: readonly Target[] = [
  { rpc: 'node.Cordon', kind: 'unary', strict: false, request: (h) => ({ reason: h }) },
  { rpc: 'drbd.GetResource', kind: 'unary', strict: true, request: (h) => ({ name: h }) },
  { rpc: 'drbd.Promote', kind: 'unary', strict: true, request: (h) => ({ name: h, force: true }) },
  { rpc: 'drbd.Promote', kind: 'unary', strict: false, request: (h) => ({ name: 'nope-1', requestId: h }) },
  { rpc: 'drbd.Demote', kind: 'unary', strict: true, request: (h) => ({ name: h }) },
  { rpc: 'drbd.Connect', kind: 'unary', strict: true, request: (h) => ({ name: h }) },
  { rpc: 'drbd.Disconnect', kind: 'unary', strict: true, request: (h) => ({ name: h }) },
  { rpc: 'drbd.SetAllowTwoPrimaries', kind: 'unary', strict: true, request: (h) => ({ name: h, allow: true }) },
  { rpc: 'kvm.GetDomain', kind: 'unary', strict: true, request: (h) => ({ name: h }) },
  { rpc: 'kvm.Start', kind: 'unary', strict: true, request: (h) => ({ name: h }) },
  { rpc: 'kvm.Shutdown', kind: 'unary', strict: true, request: (h) => ({ name: h, timeoutMs: 1000, destroyAfterTimeout: true }) },
  { rpc: 'kvm.Destroy', kind: 'unary', strict: true, request: (h) => ({ name: h }) },
  { rpc: 'kvm.SetIntent', kind: 'unary', strict: true, request: (h) => ({ name: h, intent: 'DOMAIN_INTENT_RUNNING' }) },
  { rpc: 'kvm.SetIntent', kind: 'unary', strict: false, request: (h) => ({ name: 'web-1', intent: 'DOMAIN_INTENT_RUNNING', onBehalfOf: h }) },
  { rpc: 'kvm.Migrate', kind: 'stream', strict: true, request: (h) => ({ name: h, targetNode: 'msk-2' }) },
  { rpc: 'kvm.Migrate', kind: 'stream', strict: true, request: (h) => ({ name: 'web-1', targetNode: h }) },
  { rpc: 'routing.Announce', kind: 'unary', strict: true, request: (h) => ({ prefix: h, kind: 'ANNOUNCEMENT_KIND_VM', vm: 'web-1' }) },
  { rpc: 'routing.Announce', kind: 'unary', strict: true, request: (h) => ({ prefix: '10.20.0.11/32', kind: 'ANNOUNCEMENT_KIND_VM', vm: h }) },
  { rpc: 'routing.Withdraw', kind: 'unary', strict: true, request: (h) => ({ prefix: h }) },
  { rpc: 'backup.ListSnapshots', kind: 'unary', strict: true, request: (h) => ({ vm: h }) },
  { rpc: 'backup.CreateBackup', kind: 'stream', strict: true, request: (h) => ({ vm: h }) },
  { rpc: 'backup.Restore', kind: 'unary', strict: true, request: (h) => ({ snapshotId: h, targetResource: 'restored-1' }) },
  { rpc: 'backup.Restore', kind: 'unary', strict: true, request: (h) => ({ snapshotId: 'deadbeef', targetResource: h, overwrite: true }) },
  { rpc: 'workflows.Plan', kind: 'unary', strict: true, request: (h) => ({ spec: { migrate: { vm: h } } }) },
  { rpc: 'workflows.Plan', kind: 'unary', strict: true, request: (h) => ({ spec: { migrate: { vm: 'web-1', targetNode: h } } }) },
  { rpc: 'workflows.Plan', kind: 'unary', strict: true, request: (h) => ({ spec: { drain: { node: h } } }) },
  { rpc: 'workflows.Plan', kind: 'unary', strict: true, request: (h) => ({ spec: { undrain: { node: h } } }) },
  { rpc: 'workflows.Plan', kind: 'unary', strict: true, request: (h) => ({ spec: { failover: { node: h } } }) },
  { rpc: 'workflows.Plan', kind: 'unary', strict: true, request: (h) => ({ spec: { failover: { site: h } } }) },
  { rpc: 'workflows.Plan', kind: 'unary', strict: true, request: (h) => ({ spec: { failback: { node: h } } }) },
  { rpc: 'workflows.Plan', kind: 'unary', strict: true, request: (h) => ({ spec: { start: { vm: h } } }) },
  { rpc: 'workflows.Plan', kind: 'unary', strict: true, request: (h) => ({ spec: { stop: { vm: h } } }) },
  { rpc: 'workflows.Submit', kind: 'unary', strict: true, request: (h) => ({ spec: { drain: { node: h } }, owner: 'fuzz' }) },
  { rpc: 'workflows.Submit', kind: 'unary', strict: false, request: (h) => ({ spec: { migrate: { vm: 'nope-1' } }, owner: h }) },
  { rpc: 'workflows.Abort', kind: 'unary', strict: true, request: (h) => ({ id: h, owner: 'fuzz' }) },
  { rpc: 'workflows.Resume', kind: 'unary', strict: true, request: (h) => ({ id: h, owner: 'fuzz' }) },
  { rpc: 'workflows.WatchWorkflow', kind: 'stream', strict: true, request: (h) => ({ id: h }) },
  { rpc: 'workflows.Record', kind: 'unary', strict: true, request: (h) => ({ workflow: { id: h } }) },
  { rpc: 'leases.Acquire', kind: 'unary', strict: true, request: (h) => ({ keys: [h], workflowId: 'wf-fuzz-1', owner: 'fuzz', coordinator: 'msk-1', ttlMs: 5000 }) },
  { rpc: 'leases.Acquire', kind: 'unary', strict: true, request: (h) => ({ keys: ['vm/web-1'], workflowId: h, owner: 'fuzz', coordinator: 'msk-1', ttlMs: 5000 }) },
  { rpc: 'leases.Acquire', kind: 'unary', strict: false, request: (h) => ({ keys: ['vm/web-1'], workflowId: 'wf-fuzz-1', owner: h, coordinator: h, ttlMs: 1000 }) },
  { rpc: 'leases.Release', kind: 'unary', strict: true, request: (h) => ({ workflowId: h }) },
  { rpc: 'leases.Break', kind: 'unary', strict: true, request: (h) => ({ key: h, owner: 'fuzz', reason: 'fuzz' }) },
  { rpc: 'leases.Break', kind: 'unary', strict: false, request: (h) => ({ key: 'vm/nope-1', owner: h, reason: h }) },
  // Refused before parsing on a plaintext agent (FAILED_PRECONDITION); on a TLS agent a list must carry the CA's signature.
  { rpc: 'security.UpdateRevocations', kind: 'unary', strict: false, request: (h) => ({ list: h }) },
];

interface Outcome {
  readonly code: grpc.status;
  readonly details: string;
}

function call(client: AgentClient, target: Target, request: unknown): Promise<Outcome> {
  const [service, method] = target.rpc.split('.') as [keyof AgentClient, string];
  const stub = client[service] as unknown as Record<string, (...args: unknown[]) => unknown>;
  const options = { deadline: new Date(Date.now() + 5000) };
  return new Promise<Outcome>((resolve) => {
    if (target.kind === 'unary') {
      stub[method]!.call(stub, request, options, (error: grpc.ServiceError | null) =>
        resolve(error ? { code: error.code, details: error.details } : { code: grpc.status.OK, details: '' }),
      );
      return;
    }
    const stream = stub[method]!.call(stub, request, options) as grpc.ClientReadableStream<unknown>;
    stream.on('data', () => undefined);
    stream.on('error', () => undefined);
    stream.on('status', (status: grpc.StatusObject) => resolve({ code: status.code, details: status.details }));
  });
}

describe('hostile input against every RPC of an agent with real drivers', () => {
  let box: FakeToolbox;
  let agent: RunningAgent;
  let client: AgentClient;

  beforeAll(async () => {
    box = await fakeToolbox('hvctl-hostile-');
    agent = await startFakeToolAgent(box);
    client = createAgentClient(`127.0.0.1:${agent.port}`);
  });
  afterAll(async () => {
    client?.close();
    await agent?.stop(500);
    await box?.cleanup();
  });

  it(`refuses ${HOSTILE.length} hostile values in every strict field and never hands one to a tool`, async () => {
    const before = (await box.calls()).length;
    const wrong: string[] = [];
    let calls = 0;
    for (const target of TARGETS) {
      for (const hostile of HOSTILE) {
        const outcome = await call(client, target, target.request(hostile));
        calls += 1;
        if (target.strict && outcome.code !== grpc.status.INVALID_ARGUMENT) {
          wrong.push(`${target.rpc} ${JSON.stringify(hostile.slice(0, 30))}: ${grpc.status[outcome.code]} ${outcome.details.slice(0, 80)}`);
        }
        // The refusal names the problem without echoing 10 KB back.
        if (outcome.details.length > 600) wrong.push(`${target.rpc} ${JSON.stringify(hostile.slice(0, 30))}: ${outcome.details.length}-character message`);
      }
    }
    expect(calls).toBeGreaterThan(5000);
    expect(wrong).toEqual([]);

    const log = await readFile(join(box.dir, 'calls.log'), 'utf8');
    expect(log.includes(MARK)).toBe(false);
    const during = (await box.calls()).slice(before).map((argv) => argv.join('\t'));
    expect(during.filter((line) => MUTATING.test(line))).toEqual([]);
  }, 120_000);
});
