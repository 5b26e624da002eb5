import type { ConnectRouter, Interceptor, Transport } from "@connectrpc/connect";
import { createRouterTransport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { Logger } from "./log.js";
import { createClientTracingInterceptor, createErrorInterceptor } from "./interceptors.js";

/**
 * A transport to another service over HTTP/2 (mesh). Connections are kept alive and
 * multiplexed; one transport per peer is made at start-up and shared by every call.
 */
export function createMeshTransport(baseUrl: string, extra: Interceptor[] = []): Transport {
  return createGrpcTransport({
    baseUrl,
    interceptors: [createClientTracingInterceptor(), ...extra],
    pingIntervalMs: 30_000,
    idleConnectionTimeoutMs: 15 * 60_000,
  });
}

/**
 * A transport to a service in this process (all-in-one): Connect's in-memory router
 * transport, which runs the same handlers, interceptors and serialisation as the network,
 * without a socket.
 */
export function createInProcessTransport(routes: (router: ConnectRouter) => void, log: Logger): Transport {
  return createRouterTransport(routes, {
    router: { interceptors: [createErrorInterceptor(log)] },
  });
}
