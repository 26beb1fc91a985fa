import type * as protoLoader from '@grpc/proto-loader';

type Serialize = (value: object) => Buffer;

/** Messages whose only field is `Workflow workflow = 1`, and which carry a running workflow many times. */
const WORKFLOW_CARRIERS: ReadonlyArray<readonly [service: string, method: string, side: 'requestSerialize' | 'responseSerialize']> = [
  ['hvctl.v1.WorkflowsService', 'WatchWorkflow', 'responseSerialize'],
  ['hvctl.v1.WorkflowsService', 'Record', 'requestSerialize'],
];

/** The body of a message that is exactly one length-delimited field 1 (`0x0a`, varint length, body). */
function fieldOneBody(bytes: Buffer): Buffer {
  if (bytes[0] !== 0x0a) throw new Error(`expected field 1 (length-delimited) first, got tag byte ${bytes[0]}`);
  let offset = 1;
  let length = 0;
  for (let shift = 0; ; shift += 7) {
    const byte = bytes[offset++] as number;
    length += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) break;
  }
  if (offset + length !== bytes.length) throw new Error('expected the message to hold field 1 only');
  return bytes.subarray(offset);
}

function fieldOneHeader(length: number): Buffer {
  const bytes = [0x0a];
  let rest = length;
  while (rest >= 0x80) {
    bytes.push((rest % 0x80) | 0x80);
    rest = Math.floor(rest / 0x80);
  }
  bytes.push(rest);
  return Buffer.from(bytes);
}

/**
 * A serializer for a message whose only field is `Workflow workflow = 1` that encodes each
 * workflow's plan once. A plan never changes after it is made (engine code replaces a
 * workflow object on every change but keeps its plan object), yet it is about two thirds
 * of every WatchWorkflow update and journal copy: a drain of 20 VMs sent its 200-step plan
 * ~700 times to the CLI and hundreds of times to the touched agents. The plan's field is
 * encoded on first sight of a plan object and appended to the rest of the workflow (a
 * protobuf decoder accepts fields in any order), so the bytes decode to the same message.
 */
export function planCachingSerializer(serialize: Serialize): Serialize {
  const plans = new WeakMap<object, Buffer>();
  return (value) => {
    const workflow = (value as { workflow?: { plan?: unknown } }).workflow;
    const plan = workflow?.plan;
    if (!workflow || !plan || typeof plan !== 'object' || Object.keys(value).length !== 1) return serialize(value);
    let planField = plans.get(plan);
    if (!planField) {
      planField = fieldOneBody(serialize({ workflow: { plan } }));
      plans.set(plan, planField);
    }
    const rest = fieldOneBody(serialize({ workflow: { ...workflow, plan: null } }));
    return Buffer.concat([fieldOneHeader(rest.length + planField.length), rest, planField]);
  };
}

/** Installs planCachingSerializer on the methods that carry whole workflows (before clients or servers are made from `definition`). */
export function installWorkflowSerializers(definition: protoLoader.PackageDefinition): void {
  for (const [service, method, side] of WORKFLOW_CARRIERS) {
    const methods = definition[service] as Record<string, protoLoader.MethodDefinition<object, object>> | undefined;
    const target = methods?.[method];
    if (!target) throw new Error(`${service}/${method} is not in the loaded protos`);
    target[side] = planCachingSerializer(target[side] as Serialize);
  }
}
