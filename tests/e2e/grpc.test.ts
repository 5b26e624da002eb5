import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as http2 from "node:http2";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { GatewayService } from "@tessera/gen/tessera/gateway/v1/gateway_pb";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { Health, HealthCheckResponse_ServingStatus } from "@tessera/gen/grpc/health/v1/health_pb";
import { TEST_KEYS } from "../helpers/config.js";
import { startTestGateway } from "../helpers/gateway.js";

describe("GatewayService over gRPC, Connect and gRPC-Web on the REST port", () => {
  let g: Awaited<ReturnType<typeof startTestGateway>>;
  before(async () => {
    g = await startTestGateway();
  });
  after(() => g.stop());

  const auth = { headers: { authorization: `Bearer ${TEST_KEYS.acme}` } };
  const request = (content: string, model = "demo") => ({ request: { model, messages: [{ role: Role.USER, content }] } });

  test("Chat answers over gRPC (h2c), Connect (HTTP/1.1) and gRPC-Web alike", async () => {
    const transports = {
      grpc: createGrpcTransport({ baseUrl: g.url }),
      connect: createConnectTransport({ baseUrl: g.url, httpVersion: "1.1" }),
      grpcWeb: createGrpcWebTransport({ baseUrl: g.url, httpVersion: "1.1" }),
    };
    for (const [name, t] of Object.entries(transports)) {
      const client = createClient(GatewayService, t);
      const res = await client.chat(request(`hello ${name} x@y.com`), auth);
      assert.equal(res.response!.choices[0]!.message!.content, `hello ${name} <EMAIL_1>`, name);
      assert.equal(res.deployment, "demo/demo");
      assert.match(res.requestId, /^[0-9A-Z]{26}$/);
    }
  });

  test("ChatStream streams chunks from an OpenAI upstream", async () => {
    const client = createClient(GatewayService, createGrpcTransport({ baseUrl: g.url }));
    let text = "";
    let n = 0;
    for await (const m of client.chatStream(request("alpha beta", "gpt-fake"), auth)) {
      n++;
      text += m.chunk!.choices[0]?.delta?.content ?? "";
      assert.equal(m.deployment, "fake/gpt-4o-mini");
    }
    assert.equal(text, "Echo: alpha beta");
    assert.ok(n >= 3);
  });

  test("ListModels lists enabled models", async () => {
    const client = createClient(GatewayService, createGrpcTransport({ baseUrl: g.url }));
    const res = await client.listModels({}, auth);
    assert.deepEqual(res.models.map((m) => m.id).sort(), ["approved-only", "claude-fake", "demo", "embed-fake", "gemini-fake", "gpt-fake", "routed", "with-fallback"]);
  });

  test("denials and bad requests are precise gRPC codes", async () => {
    const client = createClient(GatewayService, createGrpcTransport({ baseUrl: g.url }));
    const code = async (p: Promise<unknown>) => {
      try {
        await p;
        return undefined;
      } catch (err) {
        return ConnectError.from(err).code;
      }
    };
    assert.equal(await code(client.chat(request("x"), { headers: { authorization: "Bearer nope" } })), Code.Unauthenticated);
    assert.equal(await code(client.chat(request("x"))), Code.Unauthenticated);
    assert.equal(await code(client.chat(request("x", "gpt-fake"), { headers: { authorization: `Bearer ${TEST_KEYS.beta}` } })), Code.PermissionDenied);
    assert.equal(await code(client.chat(request("x", "no-such"), auth)), Code.NotFound);
    assert.equal(await code(client.chat({ request: { model: "demo", messages: [] } }, auth)), Code.InvalidArgument);
    assert.equal(await code(client.chat({}, auth)), Code.InvalidArgument);
    g.fake.mode = "error_500";
    try {
      assert.equal(await code(client.chat(request("x", "gpt-fake"), auth)), Code.Unavailable);
    } finally {
      g.fake.mode = "ok";
    }
  });

  test("invalid protobuf bytes get a gRPC status, not a crash", async () => {
    const session = http2.connect(g.url);
    try {
      const garbage = Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f, 0x12]);
      const frame = Buffer.concat([Buffer.from([0, 0, 0, 0, garbage.length]), garbage]);
      const { headers, trailers } = await new Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders }>((resolve, reject) => {
        const s = session.request({
          ":method": "POST",
          ":path": "/tessera.gateway.v1.GatewayService/Chat",
          "content-type": "application/grpc",
          te: "trailers",
          authorization: `Bearer ${TEST_KEYS.acme}`,
        });
        let h: http2.IncomingHttpHeaders = {};
        s.on("response", (x) => (h = x));
        s.on("trailers", (t) => resolve({ headers: h, trailers: t }));
        s.on("error", reject);
        s.on("end", () => resolve({ headers: h, trailers: {} }));
        s.resume();
        s.end(frame);
      });
      const status = Number(trailers["grpc-status"] ?? headers["grpc-status"]);
      assert.ok(status === Code.InvalidArgument || status === Code.Internal, `grpc-status ${status}`);
      assert.match(String(trailers["grpc-message"] ?? headers["grpc-message"]), /parse|invalid|decode/i);
    } finally {
      session.close();
    }
    // and the server still serves
    const client = createClient(GatewayService, createGrpcTransport({ baseUrl: g.url }));
    assert.equal((await client.chat(request("ok"), auth)).response!.choices[0]!.message!.content, "ok");
  });

  test("health: /healthz and the gRPC health protocol both say serving", async () => {
    const r = await fetch(`${g.url}/healthz`);
    assert.equal(r.status, 200);
    assert.equal(((await r.json()) as { status: string }).status, "ok");
    const health = createClient(Health, createGrpcTransport({ baseUrl: g.url }));
    assert.equal((await health.check({})).status, HealthCheckResponse_ServingStatus.SERVING);
  });
});
