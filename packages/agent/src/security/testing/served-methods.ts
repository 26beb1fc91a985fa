import type * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { service as healthService } from 'grpc-health-check';
import { loadProtos } from '@hvctl/proto';

/** One RPC method an agent serves. */
export interface ServedMethod {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
}

/**
 * Every method an agent can serve, read from the loaded definitions rather than
 * listed by hand: each hvctl.v1 service, the lab's FaultsService, health and reflection.
 */
export function servedMethods(): ServedMethod[] {
  const { v1, labV1, definition } = loadProtos();
  const definitions: grpc.ServiceDefinition[] = [];
  for (const value of [...Object.values(v1), ...Object.values(labV1)]) {
    const service = (value as { service?: grpc.ServiceDefinition }).service;
    if (typeof value === 'function' && service) definitions.push(service);
  }
  definitions.push(healthService as unknown as grpc.ServiceDefinition);
  // Reflection adds its services (v1 and v1alpha) to whatever server it is given.
  new ReflectionService(definition).addToServer({ addService: (service: grpc.ServiceDefinition) => definitions.push(service) } as unknown as grpc.Server);
  return definitions.flatMap((service) =>
    Object.values(service).map((method) => ({ path: method.path, requestStream: method.requestStream, responseStream: method.responseStream })),
  );
}
