import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Workflow__Output } from '@hvctl/proto';
import { PacedSender } from './paced-sender.js';

const state = (id: string, version: number): Workflow__Output => ({ id, state: `v${version}` }) as Workflow__Output;

describe('paced states of a workflow (journal copies, watch streams)', () => {
  afterEach(() => vi.useRealTimers());

  it('keeps one state in flight per workflow and destination, and sends only the newest of those that waited', () => {
    // Given a sender whose copies are answered only when the test says so
    const sent: { node: string; id: string; state: string; done: () => void }[] = [];
    const sender = new PacedSender((node, workflow, done) => sent.push({ node, id: workflow.id, state: workflow.state, done }), 0);
    // When five states of one workflow are copied to spb-1 while the first is in flight
    for (let version = 1; version <= 5; version += 1) sender.offer('spb-1', state('wf-a', version));
    // Then only the first went out
    expect(sent.map((copy) => copy.state)).toEqual(['v1']);
    // And once it is answered, the newest waiting state follows, and nothing else
    sent[0]?.done();
    expect(sent.map((copy) => copy.state)).toEqual(['v1', 'v5']);
    sent[1]?.done();
    expect(sent).toHaveLength(2);
  });

  it('does not hold back other destinations or other workflows, and sends a state again after an idle answer', () => {
    const sent: string[] = [];
    const pending: (() => void)[] = [];
    const sender = new PacedSender((node, workflow, done) => {
      sent.push(`${workflow.id}@${node}:${workflow.state}`);
      pending.push(done);
    }, 0);
    sender.offer('spb-1', state('wf-a', 1));
    sender.offer('bak-1', state('wf-a', 1));
    sender.offer('spb-1', state('wf-b', 1));
    expect(sent).toEqual(['wf-a@spb-1:v1', 'wf-a@bak-1:v1', 'wf-b@spb-1:v1']);
    for (const done of pending.splice(0)) done();
    // A copy after every answer came back goes out at once
    sender.offer('spb-1', state('wf-a', 2));
    expect(sent.at(-1)).toBe('wf-a@spb-1:v2');
  });

  it('starts states to one destination at least the interval apart, and always sends the last state', () => {
    // Given a sender with a 250 ms interval whose copies are answered at once
    vi.useFakeTimers();
    const sent: string[] = [];
    const sender = new PacedSender((_node, workflow, done) => {
      sent.push(workflow.state === 'running' ? (workflow.summary[0] ?? '') : workflow.state);
      done();
    }, 250);
    // When a running workflow's states follow each other every 10 ms for 600 ms, the last one final
    for (let version = 1; version <= 60; version += 1) {
      const running = { id: 'wf-a', state: 'running', summary: [`v${version}`] } as Workflow__Output;
      sender.offer('spb-1', version === 60 ? { ...running, state: 'succeeded' } : running);
      vi.advanceTimersByTime(10);
    }
    vi.advanceTimersByTime(1000);
    // Then the first went out at once, then one per interval, the newest each time, and the final state last
    expect(sent).toEqual(['v1', 'v25', 'v50', 'succeeded']);
  });
});
