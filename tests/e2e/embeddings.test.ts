import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { GatewayService } from "@tessera/gen/tessera/gateway/v1/gateway_pb";
import { TEST_KEYS } from "../helpers/config.js";
import { startTestGateway } from "../helpers/gateway.js";
import { FAKE_EMBEDDING_DIMS, fakeVector } from "../../services/router/src/providers/openai/fake-family.js";
import { SCENARIO_USAGE } from "../../services/router/src/providers/fake-scenario.js";

describe("embeddings: POST /v1/embeddings with the official openai client, and gRPC Embed", () => {
  let g: Awaited<ReturnType<typeof startTestGateway>>;
  let client: OpenAI;
  before(async () => {
    g = await startTestGateway();
    client = new OpenAI({ apiKey: TEST_KEYS.acme, baseURL: `${g.url}/v1`, maxRetries: 0 });
  });
  after(() => g.stop());

  test("one text: the SDK's default base64 encoding decodes to the provider's vector", async () => {
    const r = await client.embeddings.create({ model: "embed-fake", input: "hello world" });
    assert.equal(r.object, "list");
    assert.equal(r.model, "text-embedding-3-small", "the served model, as for chat");
    assert.equal(r.data.length, 1);
    assert.deepEqual(r.data[0]!.embedding, fakeVector("hello world", FAKE_EMBEDDING_DIMS));
    assert.equal(r.usage.prompt_tokens, SCENARIO_USAGE.prompt);
    assert.equal(r.usage.total_tokens, SCENARIO_USAGE.prompt);
    const sent = g.fake.calls.at(-1)!;
    assert.equal(sent.path, "/v1/embeddings");
    assert.equal(sent.body["model"], "text-embedding-3-small");
  });

  test("a batch as floats keeps input order; dimensions reach the provider", async () => {
    const input = ["alpha", "beta", "gamma"];
    const { data: r, response } = await client.embeddings.create({ model: "embed-fake", input, encoding_format: "float", dimensions: 4 }).withResponse();
    assert.deepEqual(r.data.map((d) => d.index), [0, 1, 2]);
    input.forEach((t, i) => assert.deepEqual(r.data[i]!.embedding, fakeVector(t, 4), t));
    assert.equal(g.fake.calls.at(-1)!.body["dimensions"], 4);
    assert.equal(response.headers.get("x-tessera-deployment"), "fake/text-embedding-3-small");
    assert.match(response.headers.get("x-request-id") ?? "", /^[0-9A-Z]{26}$/);
  });

  test("inputs are redacted by the tenant's policy before they leave", async () => {
    await client.embeddings.create({ model: "embed-fake", input: ["mail me at jane@corp.example"], encoding_format: "float" });
    assert.deepEqual(g.fake.calls.at(-1)!.body["input"], ["mail me at <EMAIL_1>"]);
  });

  test("each call is one stored event with the prompt tokens", async () => {
    const { response } = await client.embeddings.create({ model: "embed-fake", input: "count me" }).withResponse();
    await g.gw.events.flush();
    const row = await g.gw.store.findRequest(response.headers.get("x-request-id")!);
    assert.ok(row, "event stored");
    assert.equal(row.tenantId, "acme");
    assert.equal(row.deployment, "fake/text-embedding-3-small");
    assert.equal(row.promptTokens, SCENARIO_USAGE.prompt);
    assert.equal(row.statusCode, 200);
  });

  test("bad input gets OpenAI-style 400s naming the parameter", async () => {
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ model: "embed-fake" }, "input", /input/],
      [{ model: "embed-fake", input: [] }, "input", /input/],
      [{ model: "embed-fake", input: [[1, 2, 3]] }, "input", /text/i],
      [{ model: "embed-fake", input: "x", dimensions: -1 }, "dimensions", /dimensions/],
      [{ model: "embed-fake", input: "x", encoding_format: "int8" }, "encoding_format", /'float' and 'base64'/],
    ];
    for (const [body, param, message] of cases) {
      const res = await fetch(`${g.url}/v1/embeddings`, { method: "POST", headers: { authorization: `Bearer ${TEST_KEYS.acme}`, "content-type": "application/json" }, body: JSON.stringify(body) });
      assert.equal(res.status, 400, JSON.stringify(body));
      const err = ((await res.json()) as { error: { type: string; param: string; message: string } }).error;
      assert.equal(err.type, "invalid_request_error");
      assert.equal(err.param, param, JSON.stringify(body));
      assert.match(err.message, message);
    }
  });

  test("a chat-only model, an unknown model and a bad key are refused clearly", async () => {
    await assert.rejects(client.embeddings.create({ model: "claude-fake", input: "x" }), (e: unknown) => {
      assert.ok(e instanceof OpenAI.BadRequestError);
      assert.match(e.message, /cannot create embeddings/);
      return true;
    });
    await assert.rejects(client.embeddings.create({ model: "no-such-model", input: "x" }), OpenAI.NotFoundError);
    const bad = new OpenAI({ apiKey: "tk-wrong", baseURL: `${g.url}/v1`, maxRetries: 0 });
    await assert.rejects(bad.embeddings.create({ model: "embed-fake", input: "x" }), OpenAI.AuthenticationError);
  });

  test("the upstream's 429 reaches the caller as 429 with Retry-After", async () => {
    g.fake.mode = "error_429";
    try {
      const res = await fetch(`${g.url}/v1/embeddings`, { method: "POST", headers: { authorization: `Bearer ${TEST_KEYS.acme}`, "content-type": "application/json" }, body: JSON.stringify({ model: "embed-fake", input: "x" }) });
      assert.equal(res.status, 429);
      assert.ok(Number(res.headers.get("retry-after")) > 0);
      assert.equal(((await res.json()) as { error: { type: string } }).error.type, "rate_limit_error");
    } finally {
      g.fake.mode = "ok";
    }
  });

  test("gRPC Embed answers the same vectors and validates its input", async () => {
    const grpc = createClient(GatewayService, createGrpcTransport({ baseUrl: g.url }));
    const auth = { headers: { authorization: `Bearer ${TEST_KEYS.acme}` } };
    const r = await grpc.embed({ request: { model: "embed-fake", input: ["one", "two"] } }, auth);
    assert.equal(r.deployment, "fake/text-embedding-3-small");
    assert.deepEqual(r.response!.data.map((d) => d.vector), [fakeVector("one", FAKE_EMBEDDING_DIMS), fakeVector("two", FAKE_EMBEDDING_DIMS)]);
    await assert.rejects(grpc.embed({ request: { model: "embed-fake", input: [] } }, auth), (e: unknown) => ConnectError.from(e).code === Code.InvalidArgument);
    await assert.rejects(grpc.embed({ request: { model: "embed-fake", input: ["x"] } }), (e: unknown) => ConnectError.from(e).code === Code.Unauthenticated);
  });
});
