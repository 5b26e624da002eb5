import type { Server } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * Listen on a free loopback port (fakes are for tests and benchmarks only) and return the
 * origin plus a close() that drops kept-alive connections too.
 */
export async function listenLoopback(server: Server): Promise<{ origin: string; close: () => Promise<void> }> {
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}
