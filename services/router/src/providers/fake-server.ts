import type { IncomingMessage, Server } from "node:http";
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

/** Read a request's whole body, then hand it on. */
export function onBody(req: IncomingMessage, then: (raw: Buffer) => void): void {
  const parts: Buffer[] = [];
  req.on("data", (c: Buffer) => parts.push(c));
  req.on("end", () => then(Buffer.concat(parts)));
}

/** A request body parsed as JSON; undefined when it is not JSON (the fake answers its own error). */
export function parseJsonBody<T = Record<string, unknown>>(raw: Buffer): T | undefined {
  try {
    return JSON.parse(raw.toString("utf8")) as T;
  } catch {
    return undefined;
  }
}
