import * as grpc from '@grpc/grpc-js';

/** A server interceptor that counts every call by method and final status code. */
export function rpcMetricsInterceptor(count: (method: string, code: string) => void): grpc.ServerInterceptor {
  return (methodDescriptor, call) =>
    new grpc.ServerInterceptingCall(call, {
      sendStatus: (status, next) => {
        count(methodDescriptor.path, grpc.status[status.code] ?? String(status.code));
        next(status);
      },
    });
}
