import * as http from "node:http";
import * as http2 from "node:http2";
import * as net from "node:net";
import { createConnectRouter } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { createContextKey, createContextValues } from "@connectrpc/connect";
import { create } from "@bufbuild/protobuf";
import {
  Health,
  HealthCheckResponse_ServingStatus,
  HealthCheckResponseSchema,
} from "@tessera/gen/grpc/health/v1/health_pb";
import type { Logger } from "./log.js";
import { createErrorInterceptor, createServerTracingInterceptor } from "./interceptors.js";
import { routesOf, type ServiceBinding } from "./binding.js";
import { createConnectFastPath } from "./connect-fast.js";
import type { MetricsRegistry } from "./metrics.js";

/** A Node request handler for both HTTP/1.1 and HTTP/2 requests. */
export type NodeHandler = (
  req: http.IncomingMessage | http2.Http2ServerRequest,
  res: http.ServerResponse | http2.Http2ServerResponse,
) => void;

/** Options for {@link startServer}. */
export interface ServerOptions {
  /** Service name, for logs and the gRPC health protocol. */
  name: string;
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
  /** Connect/gRPC/gRPC-Web services to serve. */
  bindings: readonly ServiceBinding[];
  /** Plain HTTP routes (REST surfaces); called for paths no RPC matches. */
  rest?: NodeHandler;
  log: Logger;
  /** Largest RPC message accepted. */
  readMaxBytes?: number;
  /** How long close() waits for in-flight calls. */
  drainTimeoutMs?: number;
  /** Served as Prometheus text at `GET /metrics` (404 without). */
  metrics?: MetricsRegistry;
}

/** A running server. */
export interface RunningServer {
  port: number;
  url: string;
  /** Stop accepting, mark not serving, wait for in-flight calls (bounded), then close. */
  close(): Promise<void>;
}

/** Answers a scrape; a failing collector is logged and answered 500, never thrown. */
function serveMetrics(registry: MetricsRegistry, res: http.ServerResponse | http2.Http2ServerResponse, log: Logger): void {
  registry.metrics().then(
    (text) => {
      (res as http.ServerResponse).writeHead(200, { "content-type": registry.contentType });
      res.end(text);
    },
    (err: unknown) => {
      log.error({ err: (err as Error).message }, "collecting metrics failed");
      (res as http.ServerResponse).writeHead(500, { "content-type": "text/plain" });
      res.end("collecting metrics failed\n");
    },
  );
}

const H2_PREFACE = Buffer.from("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");

/**
 * Start one listener that speaks HTTP/1.1 and cleartext HTTP/2 (h2c, prior knowledge) on the
 * same port, serving Connect, gRPC and gRPC-Web for `bindings` (Connect's binary unary and
 * server-streaming calls on a fast path, everything else through connect-node), `/healthz`,
 * `/metrics` (when given a registry), the gRPC health
 * protocol, and `rest` for everything else. The protocol is told from the first bytes of each
 * connection: the HTTP/2 preface goes to the HTTP/2 server, anything else to HTTP/1.1.
 */
/** The caller's network address, in every Connect handler's context values. */
export const REMOTE_ADDRESS = createContextKey<string>("", { description: "remote address" });

/** The header ingress forwards a caller's address in to internal services (admin calls). */
export const SOURCE_IP_HEADER = "tessera-source-ip";

export async function startServer(opts: ServerOptions): Promise<RunningServer> {
  const log = opts.log;
  let serving = true;
  let inFlight = 0;
  let drained: (() => void) | undefined;

  const routes = routesOf(opts.bindings);
  const connect = connectNodeAdapter({
    routes: (router) => {
      routes(router);
      router.service(Health, {
        check: () =>
          create(HealthCheckResponseSchema, {
            status: serving ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING,
          }),
        async *watch() {
          yield create(HealthCheckResponseSchema, {
            status: serving ? HealthCheckResponse_ServingStatus.SERVING : HealthCheckResponse_ServingStatus.NOT_SERVING,
          });
        },
      });
    },
    interceptors: [createServerTracingInterceptor(), createErrorInterceptor(log)],
    contextValues: (req) => createContextValues().set(REMOTE_ADDRESS, req.socket.remoteAddress ?? ""),
    readMaxBytes: opts.readMaxBytes ?? 4 * 1024 * 1024,
  }) as unknown as NodeHandler;

  const fallback: NodeHandler = (req, res) => {
    if (req.url === "/healthz" || req.url === "/readyz") {
      const body = JSON.stringify({ status: serving ? "ok" : "draining", service: opts.name });
      (res as http.ServerResponse).writeHead(serving ? 200 : 503, { "content-type": "application/json" });
      res.end(body);
      return;
    }
    if (req.url === "/metrics" && opts.metrics) return serveMetrics(opts.metrics, res, log);
    if (opts.rest) return opts.rest(req, res);
    (res as http.ServerResponse).writeHead(404, { "content-type": "application/json" });
    res.end(JSON.stringify({ error: { message: `no route for ${req.method} ${req.url}`, type: "not_found" } }));
  };

  // RPC paths are /<package.Service>/<Method>; anything else goes straight to the REST
  // handler without passing through the Connect adapter's routing.
  const fast = createConnectFastPath(opts.bindings, { log, readMaxBytes: opts.readMaxBytes ?? 4 * 1024 * 1024 });
  const rpcPaths = new Set<string>(["/grpc.health.v1.Health/Check", "/grpc.health.v1.Health/Watch"]);
  const probe = createConnectRouter();
  routes(probe);
  for (const h of probe.handlers) rpcPaths.add(h.requestPath);

  const handler: NodeHandler = (req, res) => {
    inFlight++;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      inFlight--;
      if (inFlight === 0 && drained) drained();
    };
    res.once("finish", finish);
    res.once("close", finish);
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    if (!rpcPaths.has(q < 0 ? url : url.slice(0, q))) fallback(req, res);
    else if (!fast(req, res)) connect(req, res);
  };

  const h1 = http.createServer({ keepAliveTimeout: 65_000 }, handler as http.RequestListener);
  const h2 = http2.createServer({}, handler as unknown as (req: http2.Http2ServerRequest, res: http2.Http2ServerResponse) => void);
  const sessions = new Set<http2.ServerHttp2Session>();
  h2.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  const sockets = new Set<net.Socket>();

  const listener = net.createServer((sock) => {
    sockets.add(sock);
    sock.once("close", () => sockets.delete(sock));
    sock.setNoDelay(true);
    sock.once("readable", function onReadable() {
      const head: Buffer | null = sock.read();
      if (head === null) {
        sock.once("readable", onReadable);
        return;
      }
      sock.unshift(head);
      const n = Math.min(head.length, H2_PREFACE.length);
      const isH2 = head.subarray(0, n).equals(H2_PREFACE.subarray(0, n));
      (isH2 ? h2 : h1).emit("connection", sock);
    });
  });

  await new Promise<void>((resolve, reject) => {
    listener.once("error", reject);
    listener.listen(opts.port, opts.host, () => resolve());
  });
  const addr = listener.address() as net.AddressInfo;
  const host = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  log.info({ port: addr.port, host: addr.address }, `${opts.name} listening`);

  let closing: Promise<void> | undefined;
  return {
    port: addr.port,
    url: `http://${host}:${addr.port}`,
    close() {
      closing ??= (async () => {
        serving = false;
        listener.close();
        for (const s of sessions) s.close();
        h1.closeIdleConnections();
        if (inFlight > 0) {
          const timeout = opts.drainTimeoutMs ?? 10_000;
          log.info({ inFlight, timeoutMs: timeout }, "draining in-flight calls");
          await new Promise<void>((resolve) => {
            drained = resolve;
            setTimeout(resolve, timeout).unref();
          });
        }
        h1.closeAllConnections();
        for (const s of sessions) s.destroy();
        for (const s of sockets) s.destroy();
        log.info("server closed");
      })();
      return closing;
    },
  };
}
