import * as protoLoader from '@grpc/proto-loader';
import { describe, expect, it } from 'vitest';
import { HVCTL_V1_FILES, LOADER_OPTIONS, loadProtos } from './load.js';
import { planCachingSerializer } from './workflow-serializers.js';

type Method = protoLoader.MethodDefinition<object, object>;
const plain = protoLoader.loadSync([...HVCTL_V1_FILES], LOADER_OPTIONS);
const method = (definition: protoLoader.PackageDefinition, name: string): Method => (definition['hvctl.v1.WorkflowsService'] as Record<string, Method>)[name] as Method;

/** A drain-like workflow: `steps` plan steps, the first `done` of them finished. */
function workflow(steps: number, done: number, title = 'move') {
  const plan = {
    title: `drain msk-1 (${title})`,
    nodes: ['msk-1', 'spb-1'],
    resources: ['ci-1'],
    warnings: [],
    steps: Array.from({ length: steps }, (_, index) => ({
      id: `vm-${index}:migrate`,
      title: `${title} vm-${index} from msk-1 to spb-1`,
      node: 'msk-1',
      command: `virsh migrate --live vm-${index} qemu+tls://spb-1/system`,
      preconditions: ['vm running', 'peer UpToDate'],
      verify: 'vm runs on spb-1',
      phase: 'migrate',
    })),
  };
  return {
    id: 'wf-20261123-0a1b2c3d',
    spec: { kind: 'drain', drain: { node: 'msk-1', parallel: 4, skipUnmovable: false } },
    plan,
    coordinator: 'msk-1',
    owner: 'alice',
    state: 'running',
    steps: plan.steps.map((step, index) => ({ id: step.id, state: index < done ? 'done' : 'pending', detail: '', percent: index < done ? 100 : 0, startedUnixMs: '1795461467238', finishedUnixMs: '0' })),
    error: '',
    createdUnixMs: '1795461467000',
    finishedUnixMs: '0',
    timings: [{ phase: 'cordon', durationMs: 58 }],
    summary: ['one', 'two'],
  };
}

describe('workflow messages with the plan encoded once', () => {
  for (const [name, side, deserialize] of [
    ['WatchWorkflow', 'responseSerialize', 'responseDeserialize'],
    ['Record', 'requestSerialize', 'requestDeserialize'],
  ] as const) {
    it(`${name}: decodes to exactly what the plain serializer's bytes decode to, for successive states of one plan and for another plan`, () => {
      const installed = method(loadProtos().definition, name);
      const reference = method(plain, name);
      const first = workflow(200, 10);
      const later = { ...workflow(200, 150), plan: first.plan };
      const other = workflow(3, 1, 'other');
      for (const value of [first, later, other, { ...later, plan: null }]) {
        const message = { workflow: value };
        expect(reference[deserialize](installed[side](message))).toEqual(reference[deserialize](reference[side](message)));
      }
    });
  }

  it('encodes a plan object once, and a new plan object again', () => {
    let calls = 0;
    const reference = method(plain, 'WatchWorkflow').responseSerialize;
    const counting = planCachingSerializer((value) => {
      if ((value as { workflow: { plan?: unknown; id?: string } }).workflow.id === undefined) calls += 1;
      return reference(value);
    });
    const first = workflow(20, 1);
    counting({ workflow: first });
    counting({ workflow: { ...first, steps: [] } });
    expect(calls).toBe(1);
    counting({ workflow: workflow(20, 1) });
    expect(calls).toBe(2);
  });
});
