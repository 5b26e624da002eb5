import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient, createRouterTransport } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { RouterService } from "@tessera/gen/tessera/router/v1/router_pb";
import { createErrorInterceptor, routesOf, startServer, toTesseraError, type RunningServer } from "@tessera/runtime";
import { testConfig } from "../../../tests/helpers/config.js";
import { memoryLogger } from "../../../tests/helpers/log.js";
import { startFakeOpenAI, type FakeOpenAI } from "./providers/openai/fake.js";
import { build } from "./server.js";
import { SCENARIO_USAGE } from "./providers/fake-scenario.js";

const req = (model: string, content = "hi") => ({ request: { model, messages: [{ role: Role.USER, content }] }, requestId: "r1", tenantId: "t" });

describe("router service, in memory and on a real port", () => {
  let fake: FakeOpenAI;
  let svc: Awaited<ReturnType<typeof build>>;
  let server: RunningServer;
  const { log } = memoryLogger("router");
  before(async () => {
    fake = await startFakeOpenAI();
    svc = await build(testConfig({ fakeUrl: fake.url }), log);
    server = await startServer({ name: "router", host: "127.0.0.1", port: 0, bindings: svc.bindings, log });
  });
  after(async () => {
    await server.close();
    await svc.stop();
    await fake.close();
  });

  const inMemory = () => createClient(RouterService, createRouterTransport(routesOf(svc.bindings), { router: { interceptors: [createErrorInterceptor(log)] } }));
  const overNetwork = () => createClient(RouterService, createGrpcTransport({ baseUrl: server.url }));

  for (const [name, client] of [["in memory", inMemory], ["over HTTP/2", overNetwork]] as const) {
    test(`${name}: Route translates the upstream answer and names the deployment`, async () => {
      const res = await client().route(req("gpt-fake", "abc"));
      assert.equal(res.response!.choices[0]!.message!.content, "Echo: abc");
      assert.equal(res.response!.usage!.completionTokens, SCENARIO_USAGE.completion);
      assert.deepEqual({ ...res.served!, $typeName: undefined }, { $typeName: undefined, deployment: "fake/gpt-4o-mini", provider: "openai", providerModel: "gpt-4o-mini", attempts: 1, fallbacks: 0 });
    });

    test(`${name}: RouteStream yields chunks, served on the first, usage on the last`, async () => {
      const out = [];
      for await (const m of client().routeStream(req("gpt-fake", "a b"))) out.push(m);
      assert.equal(out[0]!.served!.deployment, "fake/gpt-4o-mini");
      assert.equal(out.slice(1).some((m) => m.served), false);
      assert.equal(out.map((m) => m.chunk!.choices[0]?.delta?.content ?? "").join(""), "Echo: a b");
      assert.equal(out.at(-1)!.chunk!.usage!.completionTokens, SCENARIO_USAGE.completion);
    });

    test(`${name}: fallback skips an unreachable deployment and counts attempts`, async () => {
      const res = await client().route(req("with-fallback"));
      assert.equal(res.served!.deployment, "fake/gpt-4o-mini");
      assert.equal(res.served!.attempts, 3, "one try and one retry on the unreachable deployment, then the next");
    });

    test(`${name}: unknown model is NotFound with its code kept across the hop`, async () => {
      await assert.rejects(client().route(req("nope")), (err: unknown) => {
        assert.equal(ConnectError.from(err).code, Code.NotFound);
        assert.equal(toTesseraError(err).details.code, "model_not_found");
        return true;
      });
    });

    test(`${name}: upstream 429 is ResourceExhausted with retry-after kept`, async () => {
      fake.mode = "error_429";
      try {
        await assert.rejects(client().route(req("gpt-fake")), (err: unknown) => {
          const e = toTesseraError(err);
          assert.equal(e.status, 429);
          assert.equal(e.details.retryAfterS, 7);
          return true;
        });
      } finally {
        fake.mode = "ok";
      }
    });
  }
});
