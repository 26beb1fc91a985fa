import { silentLogger } from '@hvctl/common';
import { freePorts, waitFor } from '@hvctl/common/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { SimNet } from './simnet.js';

describe('the simulated replication link', () => {
  const nets: SimNet[] = [];
  afterEach(() => {
    for (const net of nets.splice(0)) net.stop();
  });

  /** Two linked nodes whose heartbeats are a minute apart: only a push can deliver a change in time. */
  async function pair(): Promise<{ a: SimNet; setState(state: unknown): void; seenByB: unknown[] }> {
    const [portA, portB] = await freePorts(2);
    let stateA: unknown = { role: 'Secondary' };
    const seenByB: unknown[] = [];
    const common = { logger: silentLogger(), heartbeatMs: 60_000, timeoutMs: 120_000, onPeerChange: () => undefined, handlers: {} };
    const a = new SimNet({
      ...common,
      self: { name: 'a', site: 'msk' },
      listen: `127.0.0.1:${portA}`,
      peers: [{ name: 'b', site: 'spb', address: `127.0.0.1:${portB}` }],
      heartbeat: () => stateA,
      onState: () => undefined,
    });
    const b = new SimNet({
      ...common,
      self: { name: 'b', site: 'spb' },
      listen: `127.0.0.1:${portB}`,
      peers: [{ name: 'a', site: 'msk', address: `127.0.0.1:${portA}` }],
      heartbeat: () => ({}),
      onState: (_peer, state) => seenByB.push(state),
    });
    nets.push(a, b);
    await Promise.all([a.start(), b.start()]);
    // The first state goes out when the link connects.
    await waitFor('the first state', () => seenByB.length === 1);
    return { a, setState: (state) => (stateA = state), seenByB };
  }

  it('delivers a changed state to the peer at once when pushed, not at the next heartbeat', async () => {
    const { a, setState, seenByB } = await pair();
    setState({ role: 'Primary' });
    a.pushState();
    await waitFor('the pushed state', () => seenByB.length === 2, { timeoutMs: 2000 });
    expect(seenByB).toEqual([{ role: 'Secondary' }, { role: 'Primary' }]);
  });

  it('delivers nothing new for a push of an unchanged state, and the last state once for pushes in one turn', async () => {
    const { a, setState, seenByB } = await pair();
    a.pushState();
    setState({ role: 'Primary' });
    a.pushState();
    a.pushState();
    await waitFor('the pushed state', () => seenByB.length === 2, { timeoutMs: 2000 });
    a.pushState();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seenByB).toEqual([{ role: 'Secondary' }, { role: 'Primary' }]);
  });
});
