import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { afterEach, describe, expect, it } from 'vitest';
import { HVCTL_V1_SERVICES, loadProtos } from '@hvctl/proto';
import { REFLECTION_METHODS, addLazyReflection, reflectionMethods } from './lazy-reflection.js';

const require = createRequire(import.meta.url);
const REFLECTION_MODULE = require.resolve('@grpc/reflection');

interface ReflectionResponse {
  readonly listServicesResponse?: { readonly service: readonly { readonly name: string }[] };
}
interface ReflectionClient extends grpc.Client {
  serverReflectionInfo(): grpc.ClientDuplexStream<{ listServices: string }, ReflectionResponse>;
}

/** A plain reflection v1 client, from the .proto file @grpc/reflection ships (not from the module). */
function reflectionClient(port: number): ReflectionClient {
  const protoFile = join(dirname(require.resolve('@grpc/reflection/package.json')), 'build', 'proto', 'grpc', 'reflection', 'v1', 'reflection.proto');
  const loaded = grpc.loadPackageDefinition(protoLoader.loadSync(protoFile, { keepCase: false, defaults: true, oneofs: true })) as unknown as {
    grpc: { reflection: { v1: { ServerReflection: new (address: string, credentials: grpc.ChannelCredentials) => ReflectionClient } } };
  };
  return new loaded.grpc.reflection.v1.ServerReflection(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
}

function listServices(client: ReflectionClient): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const stream = client.serverReflectionInfo();
    stream.once('data', (response: ReflectionResponse) => {
      resolve((response.listServicesResponse?.service ?? []).map((service) => service.name));
      stream.end();
    });
    stream.once('error', reject);
    stream.write({ listServices: '' });
  });
}

let server: grpc.Server | undefined;
afterEach(() => {
  server?.forceShutdown();
  server = undefined;
});

describe('lazy reflection', () => {
  it('loads @grpc/reflection on the first reflection call, which it answers', async () => {
    // Given a server with lazy reflection, bound
    server = new grpc.Server();
    addLazyReflection(server, loadProtos().definition, HVCTL_V1_SERVICES);
    const port = await new Promise<number>((resolve, reject) => server?.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (error, bound) => (error ? reject(error) : resolve(bound))));
    // Then nothing has loaded the module yet
    expect(require.cache[REFLECTION_MODULE]).toBeUndefined();

    // When a client lists the services through reflection
    const client = reflectionClient(port);
    try {
      const services = await listServices(client);
      // Then the first call is answered with hvctl's services only
      expect([...services].sort()).toEqual([...HVCTL_V1_SERVICES].sort());
      // And the module is loaded now
      expect(require.cache[REFLECTION_MODULE]).toBeDefined();
    } finally {
      client.close();
    }
  });

  it('registers exactly the methods @grpc/reflection serves', () => {
    expect([...reflectionMethods(loadProtos().definition, HVCTL_V1_SERVICES).keys()].sort()).toEqual([...REFLECTION_METHODS].sort());
  });
});
