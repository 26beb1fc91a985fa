import { createRequire } from 'node:module';
import type * as grpc from '@grpc/grpc-js';
import type { PackageDefinition } from '@grpc/proto-loader';
import type { ReflectionService } from '@grpc/reflection';

/** The methods @grpc/reflection serves: v1 and v1alpha, one bidi stream each (the standard names). */
export const REFLECTION_METHODS = ['/grpc.reflection.v1.ServerReflection/ServerReflectionInfo', '/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo'] as const;

interface ReflectionMethod {
  readonly handler: grpc.handleBidiStreamingCall<unknown, unknown>;
  readonly serialize: grpc.serialize<unknown>;
  readonly deserialize: grpc.deserialize<unknown>;
}

/**
 * Serves server reflection limited to `services`, with @grpc/reflection loaded by the first
 * reflection call instead of at start-up: its index of every file of the definition (~1 MB
 * of heap for the life of the process) is built only once a client asks. The methods are
 * registered at once, so the first call is answered like any other; the module is required
 * synchronously because grpc-js deserializes a request the moment it arrives.
 */
export function addLazyReflection(server: grpc.Server, definition: PackageDefinition, services: readonly string[]): void {
  let methods: Map<string, ReflectionMethod> | undefined;
  const method = (path: string): ReflectionMethod => {
    methods ??= reflectionMethods(definition, services);
    const found = methods.get(path);
    if (!found) throw new Error(`@grpc/reflection does not serve ${path}`);
    return found;
  };
  for (const path of REFLECTION_METHODS) {
    server.register(
      path,
      (call: grpc.ServerDuplexStream<unknown, unknown>) => method(path).handler(call),
      (value: unknown) => method(path).serialize(value),
      (bytes: Buffer) => method(path).deserialize(bytes),
      'bidi',
    );
  }
}

/** Builds @grpc/reflection's services for `definition` and returns their methods by path. */
export function reflectionMethods(definition: PackageDefinition, services: readonly string[]): Map<string, ReflectionMethod> {
  const require = createRequire(import.meta.url);
  const { ReflectionService: Reflection } = require('@grpc/reflection') as { ReflectionService: typeof ReflectionService };
  const methods = new Map<string, ReflectionMethod>();
  // addToServer takes anything with addService: collect what it would register.
  new Reflection(definition, { services: [...services] }).addToServer({
    addService: (service, implementation) => {
      for (const [name, attrs] of Object.entries(service)) {
        methods.set(attrs.path, {
          handler: implementation[name] as grpc.handleBidiStreamingCall<unknown, unknown>,
          serialize: attrs.responseSerialize,
          deserialize: attrs.requestDeserialize,
        });
      }
    },
  });
  return methods;
}
