import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import { Writable } from "node:stream";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { connectNodeAdapter, createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { ChatChunkSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { RouterService } from "@tessera/gen/tessera/router/v1/router_pb";
import { bind, createErrorInterceptor, createLogger, createMeshClient, startServer, TesseraError, toTesseraError, type RunningServer } from "./index.js";

const log = createLogger({ name: "t", level: "silent", destination: new Writable({ write: (_c, _e, cb) => cb() }) });
let lastSignal: AbortSignal | undefined;

/** A RouterService whose answers are derived from the request, to check both directions. */
const binding = bind(RouterService, {
  route(req, ctx) {
    const text = req.request?.messages[0]?.content ?? "";
    if (text === "deny") throw new TesseraError("rate_limited", "slow down", { retryAfterS: 9, code: "limit" });
    if (text === "boom") throw new Error("secret internal detail");
    ctx.responseHeader.set("x-seen-auth", ctx.requestHeader.get("authorization") ?? "");
    return { response: { id: `echo:${text}`, model: req.request!.model }, served: { deployment: "d", attempts: 1 } };
  },
  async *routeStream(req, ctx) {
    lastSignal = ctx.signal;
    const n = Number(req.request?.messages[0]?.content ?? "0");
    const count = n === 99 ? 2 : Math.abs(n);
    for (let i = 0; i < count; i++) yield { chunk: create(ChatChunkSchema, { id: `c${i}` }), served: i === 0 ? { deployment: "d" } : undefined };
    if (n < 0) throw new TesseraError("upstream_error", "cut mid-way", { code: "upstream_stream_cut" });
    if (n === 99)
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 10_000);
        ctx.signal.addEventListener("abort", () => (clearTimeout(t), resolve()));
      });
  },
  embed: () => ({}),
  listModels: () => ({ models: [{ id: "m" }] }),
});

const req = (content: string) => ({ request: { model: "m", messages: [{ role: Role.USER, content }] } });

async function collectIds(it: AsyncIterable<{ chunk?: { id: string } }>) {
  const ids: string[] = [];
  for await (const m of it) ids.push(m.chunk!.id);
  return ids;
}

function suite(name: string, makeClient: (url: string) => Client<typeof RouterService>, plainServer: boolean) {
  describe(name, () => {
    let server: RunningServer | undefined;
    let plain: http2.Http2Server | undefined;
    let client: Client<typeof RouterService>;
    before(async () => {
      if (plainServer) {
        plain = http2.createServer(connectNodeAdapter({ routes: (r) => r.service(binding.service, binding.impl), interceptors: [createErrorInterceptor(log)] }));
        await new Promise<void>((r) => plain!.listen(0, "127.0.0.1", r));
        client = makeClient(`http://127.0.0.1:${(plain.address() as AddressInfo).port}`);
      } else {
        server = await startServer({ name: "t", host: "127.0.0.1", port: 0, bindings: [binding], log });
        client = makeClient(server.url);
      }
    });
    after(async () => {
      (client as unknown as { close?: () => void }).close?.();
      await server?.close();
      plain?.close();
    });

    test("unary: the answer comes back field by field, headers both ways", async () => {
      let header: Headers | undefined;
      const res = await client.route(req("hi"), { headers: { authorization: "Bearer k" }, onHeader: (h) => (header = h) });
      assert.equal(res.response!.id, "echo:hi");
      assert.equal(res.served!.deployment, "d");
      if (header) assert.equal(header.get("x-seen-auth"), "Bearer k");
    });

    test("unary: a TesseraError keeps its kind and details across the hop", async () => {
      await assert.rejects(client.route(req("deny")), (err: unknown) => {
        assert.equal(ConnectError.from(err).code, Code.ResourceExhausted);
        const e = toTesseraError(err);
        assert.equal(e.kind, "rate_limited");
        assert.equal(e.details.retryAfterS, 9);
        assert.equal(e.details.code, "limit");
        assert.equal(e.message, "slow down");
        return true;
      });
    });

    test("unary: an unexpected error is Internal and hides its message", async () => {
      await assert.rejects(client.route(req("boom")), (err: unknown) => {
        const e = ConnectError.from(err);
        assert.equal(e.code, Code.Internal);
        assert.doesNotMatch(e.message, /secret/);
        return true;
      });
    });

    test("server stream: every message in order, then a clean end", async () => {
      assert.deepEqual(await collectIds(client.routeStream(req("3"))), ["c0", "c1", "c2"]);
      assert.deepEqual(await collectIds(client.routeStream(req("0"))), []);
    });

    test("server stream: an error after messages arrives after them, with its details", async () => {
      const ids: string[] = [];
      await assert.rejects(
        (async () => {
          for await (const m of client.routeStream(req("-2"))) ids.push(m.chunk!.id);
        })(),
        (err: unknown) => toTesseraError(err).details.code === "upstream_stream_cut",
      );
      assert.deepEqual(ids, ["c0", "c1"]);
    });

    test("server stream: the caller's abort cancels the handler", async () => {
      const ac = new AbortController();
      const it = client.routeStream(req("99"), { signal: ac.signal })[Symbol.asyncIterator]();
      await it.next();
      await it.next();
      ac.abort();
      await assert.rejects(it.next());
      for (let i = 0; i < 50 && !lastSignal?.aborted; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(lastSignal?.aborted, true);
    });
  });
}

suite("mesh client → Tessera server (fast path)", (url) => createMeshClient(RouterService, url), false);
suite("connect-es Connect-protocol client → Tessera server (fast path)", (url) =>
  createClient(RouterService, createConnectTransport({ baseUrl: url, httpVersion: "2", useBinaryFormat: true })), false);
suite("connect-es gRPC client → Tessera server (connect-node path)", (url) => createClient(RouterService, createGrpcTransport({ baseUrl: url })), false);
suite("mesh client → plain connect-node server", (url) => createMeshClient(RouterService, url), true);

test("mesh client: an unreachable peer is Unavailable", async () => {
  const c = createMeshClient(RouterService, "http://127.0.0.1:1");
  await assert.rejects(c.route(req("x")), (err: unknown) => ConnectError.from(err).code === Code.Unavailable);
  c.close();
});
