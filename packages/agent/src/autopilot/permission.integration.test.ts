import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SubmitResponse__Output, WorkflowSpec } from '@hvctl/proto';
import { connectAgent, deadline, unary, type HvctlError } from '@hvctl/common';
import { startTlsAgent, type TlsAgentFixture } from '../security/testing/tls-agent.js';

/**
 * Over mutual TLS: the backup site's node (bak-1, the autopilot) may submit a failover
 * without force; with force, or any other node, or another kind, is PERMISSION_DENIED.
 * The failover itself is then refused by its own planning (spb-1 is not a member), which
 * shows the call got past authorisation.
 */
describe('who may submit what the autopilot submits', () => {
  let fixture: TlsAgentFixture;
  beforeAll(async () => {
    fixture = await startTlsAgent({ witness: 'bak-1' });
  }, 30_000);
  afterAll(async () => {
    await fixture?.close();
  });

  const identities = new Map<string, Awaited<ReturnType<TlsAgentFixture['certificate']>>>();
  const submit = async (node: string, spec: WorkflowSpec): Promise<HvctlError> => {
    const identity = identities.get(node) ?? (await fixture.certificate(node, 'node'));
    identities.set(node, identity);
    const client = connectAgent(fixture.address, 'msk-1', identity);
    try {
      await unary<SubmitResponse__Output>('Submit', (cb) => client.workflows.submit({ requestId: '', spec, owner: `autopilot@${node}` }, deadline(10_000), cb));
      throw new Error('expected a refusal');
    } catch (error) {
      return error as HvctlError;
    } finally {
      client.close();
    }
  };
  const failover = (force: boolean): WorkflowSpec => ({ failover: { node: 'spb-1', site: '', force } });

  it('lets bak-1 submit a failover without force (refused only by the plan)', async () => {
    const refusal = await submit('bak-1', failover(false));
    expect(refusal.code).not.toBe('PERMISSION_DENIED');
    expect(refusal.code).not.toBe('UNAUTHENTICATED');
    expect(refusal.message).toMatch(/spb-1/);
  });

  it('refuses bak-1 a forced failover or a migration, and refuses other nodes a failover', async () => {
    expect((await submit('bak-1', failover(true))).code).toBe('PERMISSION_DENIED');
    expect((await submit('bak-1', { migrate: { vm: 'web-1', targetNode: 'msk-1' } })).code).toBe('PERMISSION_DENIED');
    expect((await submit('msk-2', failover(false))).code).toBe('PERMISSION_DENIED');
  });
});
