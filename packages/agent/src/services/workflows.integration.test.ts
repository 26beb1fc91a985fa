import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { loadProtos, type WatchWorkflowResponse__Output, type Workflow__Output } from '@hvctl/proto';
import { collectStream, createAgentClient, deadline, silentLogger, type AgentClient } from '@hvctl/common';
import { RequestLedger } from '../ledger.js';
import type { WorkflowEngine } from '../workflows/engine.js';
import { workflowsService } from './workflows.js';

const ID = 'wf-20261207-watch';
const state = (version: number, workflowState = 'running'): Workflow__Output => ({ id: ID, state: workflowState, summary: [`v${version}`] }) as unknown as Workflow__Output;

/** The two engine methods WatchWorkflow uses, driven by the test. */
class ScriptedEngine {
  current = state(0);
  running = true;
  private readonly listeners = new Set<(workflow: Workflow__Output) => void>();

  watch(_id: string, listener: (workflow: Workflow__Output) => void): () => void {
    listener(this.current);
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  isRunning(): boolean {
    return this.running;
  }

  emit(workflow: Workflow__Output): void {
    this.current = workflow;
    for (const listener of this.listeners) listener(workflow);
  }
}

let server: grpc.Server | undefined;
let client: AgentClient | undefined;
afterEach(() => {
  client?.close();
  server?.forceShutdown();
  server = client = undefined;
});

async function serve(engine: ScriptedEngine): Promise<AgentClient> {
  server = new grpc.Server();
  server.addService(loadProtos().v1.WorkflowsService.service, workflowsService(silentLogger(), engine as unknown as WorkflowEngine, new RequestLedger()) as grpc.UntypedServiceImplementation);
  const port = await new Promise<number>((resolve, reject) => server?.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
  client = createAgentClient(`127.0.0.1:${port}`);
  return client;
}

const versions = (messages: WatchWorkflowResponse__Output[]): string[] => messages.map((message) => `${message.workflow?.state}:${message.workflow?.summary[0]}`);

describe('WorkflowsService.WatchWorkflow', () => {
  it('sends the newest state at most every 100 ms, and the final state last before it ends', async () => {
    // Given a running workflow whose state changes every 5 ms for 600 ms, then succeeds
    const engine = new ScriptedEngine();
    const watcher = await serve(engine);
    let attached: () => void = () => undefined;
    const first = new Promise<void>((resolve) => (attached = resolve));
    const stream = collectStream<WatchWorkflowResponse__Output>('WatchWorkflow', watcher.workflows.watchWorkflow({ id: ID }, deadline(10_000)), () => attached());
    await first;
    const changes = 600 / 5;
    for (let version = 1; version <= changes; version += 1) {
      await new Promise((resolve) => setTimeout(resolve, 5));
      if (version === changes) engine.running = false;
      engine.emit(state(version, version === changes ? 'succeeded' : 'running'));
    }

    // Then the watcher got the first state, a paced few of the others, and the final state last
    const messages = await stream;
    const seen = versions(messages);
    expect(seen[0]).toBe('running:v0');
    expect(seen.at(-1)).toBe(`succeeded:v${changes}`);
    // (600 ms at one update per 100 ms: the first, ~6 paced ones, the final; timers may run late, never early)
    expect(messages.length).toBeLessThanOrEqual(9);
    expect(messages.length).toBeGreaterThanOrEqual(4);
    // And in order: no older state after a newer one
    const numbers = messages.map((message) => Number(message.workflow?.summary[0]?.slice(1)));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
  });

  it('sends a workflow that is not running here once and ends the stream', async () => {
    // Given a journal copy of a workflow another node coordinates, still running there
    const engine = new ScriptedEngine();
    engine.running = false;
    engine.current = state(7);
    const watcher = await serve(engine);
    // When it is watched here, then the stream carries its state once and ends
    const messages = await collectStream<WatchWorkflowResponse__Output>('WatchWorkflow', watcher.workflows.watchWorkflow({ id: ID }, deadline(5000)));
    expect(versions(messages)).toEqual(['running:v7']);
  });
});
