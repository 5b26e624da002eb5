import type { Interceptor, Transport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { createClientTracingInterceptor } from "./interceptors.js";

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
