import { EventEmitter } from 'node:events';
import type { WatchResponse__Output } from '@hvctl/proto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { AgentClient } from './client.js';
import { ClusterModel } from './cluster-model.js';
import { fakeLabStates, labClusterFile } from './testing/fixtures.js';

/** A watch stream the test writes messages into. */
class FakeStream extends EventEmitter {
  cancelled = false;
  cancel(): void {
    this.cancelled = true;
  }
}

const STATES = fakeLabStates(1);

function message(node: string, event: 'snapshot' | 'heartbeat', revision: number): WatchResponse__Output {
  return {
    event,
    epoch: `epoch-${node}`,
    revision: String(revision),
    sentUnixMs: String(Date.now()),
    ...(event === 'snapshot' ? { snapshot: STATES.get(node) } : {}),
  } as unknown as WatchResponse__Output;
}

describe('ClusterModel stale detection', () => {
  const streams = new Map<string, FakeStream>();
  let model: ClusterModel;

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_700_000_000_000 });
    const cluster = labClusterFile();
    const nameOf = new Map(cluster.nodes.map((node) => [node.address, node.name]));
    model = new ClusterModel({
      cluster,
      staleAfterMs: 600,
      connect: (address) =>
        ({
          address,
          events: {
            watch: () => {
              const stream = new FakeStream();
              streams.set(nameOf.get(address) as string, stream);
              return stream;
            },
          },
          close: () => undefined,
        }) as unknown as AgentClient,
    });
    model.start();
    for (const [node, stream] of streams) stream.emit('data', message(node, 'snapshot', 1));
    vi.advanceTimersByTime(1);
  });

  afterEach(() => {
    model.stop();
    streams.clear();
    vi.useRealTimers();
  });

  /** Whether the model's latest published snapshot shows `node` reachable (publishing waits for setImmediate). */
  const reachable = (node: string): boolean | undefined => {
    vi.advanceTimersByTime(1);
    return model.snapshot().nodes.find((entry) => entry.name === node)?.reachable;
  };
  const heartbeats = (revision: number): void => {
    for (const [node, stream] of streams) stream.emit('data', message(node, 'heartbeat', revision));
  };

  it('does not declare agents lost because its own event loop stalled', () => {
    // Given every node reachable, heartbeating every 100 ms
    for (let i = 0; i < 5; i += 1) {
      heartbeats(2);
      vi.advanceTimersByTime(100);
    }
    expect(reachable('msk-1')).toBe(true);

    // When the console's event loop stalls for 5 s (no timer, no message processed)...
    vi.setSystemTime(Date.now() + 5000);
    // ...the late stale check runs first, then the heartbeats queued meanwhile are processed
    vi.advanceTimersByTime(100);
    heartbeats(3);
    vi.advanceTimersByTime(100);

    // Then no node was declared unreachable, and no stream was cancelled
    vi.advanceTimersByTime(1);
    expect(model.snapshot().nodes.every((node) => node.reachable)).toBe(true);
    expect([...streams.values()].some((stream) => stream.cancelled)).toBe(false);
  });

  it('still finds a silent agent after a stall', () => {
    // Given every node reachable, then a stall after which only msk-1 stays silent
    heartbeats(2);
    vi.advanceTimersByTime(100);
    vi.setSystemTime(Date.now() + 5000);
    vi.advanceTimersByTime(100);
    for (const [node, stream] of streams) if (node !== 'msk-1') stream.emit('data', message(node, 'heartbeat', 3));

    // When the next check runs on time
    vi.advanceTimersByTime(100);

    // Then msk-1 is unreachable and its stream cancelled; the others are fine
    expect(reachable('msk-1')).toBe(false);
    expect(streams.get('msk-1')?.cancelled).toBe(true);
    expect(reachable('spb-1')).toBe(true);
  });

  it('finds silent agents even when every check runs late', () => {
    // Given a console whose checks are all late (a stall before each) and agents that never answer again
    vi.advanceTimersByTime(100);
    vi.setSystemTime(Date.now() + 5000);
    vi.advanceTimersByTime(100);
    expect(reachable('msk-1')).toBe(true);

    // When the next check is late too
    vi.setSystemTime(Date.now() + 5000);
    vi.advanceTimersByTime(100);

    // Then it judges anyway
    expect(reachable('msk-1')).toBe(false);
  });
});
