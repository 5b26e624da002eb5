/**
 * What every OpenAI-family adapter must do against its fake, as one table of node:test
 * cases: each provider's adapter.test.ts registers them with its own expectations (paths,
 * auth header, usage it reports, the names of renamed fields), then adds its own. Test code.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { EmbedRequestSchema, Role, type ChatChunk } from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { ProviderError } from "../errors.js";
import type { ProviderAdapter } from "../types.js";
import { assemble, assertProviderError, chatRequest, collect, collectUntilFailure, signal, TOOLS, useFakeAdapter } from "../adapter-test-kit.js";
import type { HttpAdapterOptions } from "../http-adapter.js";
import type { ProviderFake } from "../fake-scenario.js";
import { FAKE_EMBEDDING_DIMS, fakeVector } from "./fake-family.js";

/** One provider's expectations for the shared cases. */
export interface FamilyCase {
  /** Provider id used in adapters (appears in error messages). */
  id: string;
  /** Start the provider's fake. */
  start(): Promise<ProviderFake<string>>;
  /** Build the adapter for a fake's base URL and a key (and option overrides). */
  adapter(opts: HttpAdapterOptions): ProviderAdapter;
  /** The key the fake accepts (undefined: the server needs none). */
  apiKey: string | undefined;
  /** The deployment's model. */
  model: string;
  /** Paths the fake must see, query included. */
  chatPath: string;
  embedPath: string;
  /** The header carrying the key, and its expected value. */
  auth: [header: string, value: string] | undefined;
  /** Usage the fake reports, as unified. */
  usage: { prompt: number; completion: number; total: number; cached: number; reasoning: number };
  /** What the provider's tool call ids look like. */
  callId: RegExp;
  /** The provider's name of the `dimensions` embeddings field. */
  dimensionsField: string;
  /** The wait the fake's 429 announces. */
  retryAfterS: number;
}


/**
 * Register the shared cases for one provider: chat, stream, tools (single, parallel, parallel
 * off), a tool-result round trip, json_schema, images, embeddings (order, dimensions), and
 * every failure mode of its fake.
 */
export function familyConformance(c: FamilyCase): void {
  const options = (fakeUrl: string, o: Partial<HttpAdapterOptions> = {}): HttpAdapterOptions => ({ id: c.id, baseUrl: fakeUrl, apiKey: c.apiKey, connections: 4, timeoutMs: 5_000, ...o });
  const env = useFakeAdapter(() => c.start(), (f) => c.adapter(options(f.url)));

  const usage = (u: ChatChunk["usage"]) => [u?.promptTokens, u?.completionTokens, u?.totalTokens, u?.cachedTokens, u?.reasoningTokens];
  const expectedUsage = [c.usage.prompt, c.usage.completion, c.usage.total, c.usage.cached, c.usage.reasoning];

  test(`${c.id}: chat sends the OpenAI-shaped request and reads the answer field by field`, async () => {
    const r = await env.adapter.chat(chatRequest({ temperature: 0.3, maxTokens: 64 }), c.model, signal());
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0]!.message?.role, Role.ASSISTANT);
    assert.equal(r.choices[0]!.message?.content, "Echo: hello there");
    assert.equal(r.choices[0]!.message?.toolCalls.length, 0);
    assert.equal(r.choices[0]!.finishReason, "stop");
    assert.equal(r.model, c.model);
    assert.notEqual(r.id, "");
    assert.ok(r.created > 0n);
    assert.deepEqual(usage(r.usage), expectedUsage);
    const call = env.fake.calls[0]!;
    assert.equal(call.path, c.chatPath);
    if (c.auth) assert.equal(call.headers[c.auth[0]], c.auth[1]);
    else assert.equal(call.headers["authorization"], undefined);
    assert.deepEqual(call.body["messages"], [
      { role: "system", content: "Be brief." },
      { role: "user", content: "hello there" },
    ]);
    assert.equal(call.body["temperature"], 0.3);
    assert.equal(call.body["stream"], undefined);
  });

  test(`${c.id}: a stream assembles into the answer: role first, word deltas, finish, usage last`, async () => {
    const a = assemble(await collect(env.adapter.stream(chatRequest(), c.model, signal())));
    assert.equal(a.chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
    assert.equal(a.text, "Echo: hello there");
    assert.deepEqual(
      a.chunks.flatMap((ch) => ch.choices.map((x) => x.delta?.content ?? "")).filter((t) => t !== ""),
      ["Echo: ", "hello ", "there"],
    );
    assert.equal(a.finish, "stop");
    assert.deepEqual(usage(a.chunks[a.chunks.length - 1]!.usage), expectedUsage);
    for (const ch of a.chunks) assert.equal(ch.model, c.model);
    assert.equal(env.fake.calls[0]!.path, c.chatPath);
    assert.equal(env.fake.calls[0]!.body["stream"], true);
    assert.equal(env.fake.calls[0]!.headers["accept"], "text/event-stream");
  });

  test(`${c.id}: one tool offered → one call with its arguments (chat and stream)`, async () => {
    const req = chatRequest({ tools: [TOOLS[0]] });
    const r = await env.adapter.chat(req, c.model, signal());
    const tc = r.choices[0]!.message!.toolCalls;
    assert.equal(r.choices[0]!.finishReason, "tool_calls");
    assert.equal(r.choices[0]!.message!.content, "");
    assert.deepEqual(tc.map((t) => [t.type, t.function?.name, t.function?.arguments]), [["function", "get_weather", '{"city":"Paris"}']]);
    assert.match(tc[0]!.id, c.callId);
    assert.deepEqual(env.fake.calls[0]!.body["tools"], [TOOLS[0]]);
    const a = assemble(await collect(env.adapter.stream(req, c.model, signal())));
    assert.deepEqual(a.callList.map(([i, , name, args]) => [i, name, args]), [[0, "get_weather", '{"city":"Paris"}']]);
    assert.match(a.callList[0]![1], c.callId);
    assert.equal(a.finish, "tool_calls");
  });

  test(`${c.id}: two tools → two parallel calls, kept apart by index (chat and stream)`, async () => {
    const req = chatRequest({ tools: [...TOOLS] });
    const r = await env.adapter.chat(req, c.model, signal());
    assert.deepEqual(
      r.choices[0]!.message!.toolCalls.map((t) => [t.function?.name, t.function?.arguments]),
      [
        ["get_weather", '{"city":"Paris"}'],
        ["get_time", '{"city":"Rome"}'],
      ],
    );
    const ids = r.choices[0]!.message!.toolCalls.map((t) => t.id);
    assert.notEqual(ids[0], ids[1]);
    const a = assemble(await collect(env.adapter.stream(req, c.model, signal())));
    assert.deepEqual(a.callList.map(([i, , name, args]) => [i, name, args]), [
      [0, "get_weather", '{"city":"Paris"}'],
      [1, "get_time", '{"city":"Rome"}'],
    ]);
    assert.equal(a.finish, "tool_calls");
  });

  test(`${c.id}: parallel_tool_calls false is sent and honoured; without tools it is not sent`, async () => {
    const r = await env.adapter.chat(chatRequest({ tools: [...TOOLS], parallelToolCalls: false }), c.model, signal());
    assert.equal(r.choices[0]!.message!.toolCalls.length, 1);
    assert.equal(env.fake.calls[0]!.body["parallel_tool_calls"], false);
    await env.adapter.chat(chatRequest({ parallelToolCalls: true }), c.model, signal());
    assert.equal("parallel_tool_calls" in env.fake.calls[1]!.body, false);
  });

  test(`${c.id}: a tool result goes back as a tool message and is acknowledged`, async () => {
    const first = await env.adapter.chat(chatRequest({ tools: [TOOLS[0]] }), c.model, signal());
    const call = first.choices[0]!.message!.toolCalls[0]!;
    const history = (id: string) =>
      chatRequest({
        tools: [TOOLS[0]],
        messages: [
          { role: Role.USER, content: "weather in Paris?" },
          { role: Role.ASSISTANT, toolCalls: [{ id, type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
          { role: Role.TOOL, toolCallId: id, content: "sunny, 24°C" },
        ],
      });
    const second = await env.adapter.chat(history(call.id), c.model, signal());
    assert.equal(second.choices[0]!.message!.content, "Tool said: sunny, 24°C");
    assert.equal(second.choices[0]!.finishReason, "stop");
    const sent = env.fake.calls[1]!.body["messages"] as { role: string; tool_calls?: { id: string }[]; tool_call_id?: string; content: unknown }[];
    assert.deepEqual(sent.map((m) => m.role), ["user", "assistant", "tool"]);
    assert.equal(sent[1]!.tool_calls![0]!.id, call.id);
    assert.equal(sent[2]!.tool_call_id, call.id);
    // A call id minted by another provider (OpenAI's shape) goes back too, paired.
    const foreign = await env.adapter.chat(history("call_abc123XYZ_0"), c.model, signal());
    assert.equal(foreign.choices[0]!.message!.content, "Tool said: sunny, 24°C");
    const fsent = env.fake.calls[2]!.body["messages"] as typeof sent;
    assert.equal(fsent[1]!.tool_calls![0]!.id, fsent[2]!.tool_call_id);
  });

  test(`${c.id}: a json_schema response format is sent as OpenAI's response_format`, async () => {
    const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"], additionalProperties: false };
    await env.adapter.chat(chatRequest({ responseFormat: { type: "json_schema", schemaName: "reply", schema, strict: true } }), c.model, signal());
    assert.deepEqual(env.fake.calls[0]!.body["response_format"], { type: "json_schema", json_schema: { name: "reply", schema, strict: true } });
  });

  test(`${c.id}: images travel as image_url parts next to the text`, async () => {
    const url = "data:image/png;base64,iVBORw0KGgo=";
    const r = await env.adapter.chat(
      chatRequest({ messages: [{ role: Role.USER, parts: [{ part: { case: "text", value: "what is this?" } }, { part: { case: "imageUrl", value: { url, detail: "low" } } }] }] }),
      c.model,
      signal(),
    );
    assert.equal(r.choices[0]!.message!.content, "Echo: what is this?");
    assert.deepEqual((env.fake.calls[0]!.body["messages"] as unknown[])[0], {
      role: "user",
      content: [
        { type: "text", text: "what is this?" },
        { type: "image_url", image_url: { url, detail: "low" } },
      ],
    });
  });

  test(`${c.id}: embeddings come back one per input, in input order, with usage`, async () => {
    const input = ["first text", "second text", "third text"];
    const r = await env.adapter.embed!(create(EmbedRequestSchema, { model: "alias", input }), c.model, signal());
    assert.deepEqual(r.data.map((e) => e.index), [0, 1, 2]);
    input.forEach((text, i) => assert.deepEqual(r.data[i]!.vector, fakeVector(text, FAKE_EMBEDDING_DIMS)));
    assert.equal(r.model, c.model);
    assert.equal(r.usage?.promptTokens, c.usage.prompt);
    assert.equal(r.usage?.totalTokens, c.usage.prompt);
    const call = env.fake.calls[0]!;
    assert.equal(call.path, c.embedPath);
    assert.deepEqual(call.body["input"], input);
    if (c.auth) assert.equal(call.headers[c.auth[0]], c.auth[1]);
  });

  test(`${c.id}: embeddings dimensions are sent as ${c.dimensionsField} and shorten the vectors`, async () => {
    const r = await env.adapter.embed!(create(EmbedRequestSchema, { model: "alias", input: ["x"], dimensions: 16 }), c.model, signal());
    assert.equal(r.data[0]!.vector.length, 16);
    assert.equal(env.fake.calls[0]!.body[c.dimensionsField], 16);
  });

  const failures: [string, string, string, string, boolean, number][] = [
    ["429 with Retry-After", "error_429", "rate_limited", "upstream_rate_limited", true, 429],
    ["500", "error_500", "upstream_error", "upstream_error", true, 502],
    ["400", "error_400", "invalid_request", "upstream_invalid_request", false, 400],
    ["401 (the gateway's key)", "error_401", "upstream_error", "upstream_auth", false, 502],
    ["garbage", "garbage", "upstream_error", "upstream_garbage", true, 502],
  ];
  for (const [name, mode, kind, code, retryable, status] of failures) {
    test(`${c.id}: ${name} → ${kind} (${code}), retryable=${retryable}`, async () => {
      env.fake.mode = mode;
      await assert.rejects(env.adapter.chat(chatRequest(), c.model, signal()), (err: unknown) => assertProviderError(err, kind, code, retryable, status));
      // In a stream the failure comes before the first chunk; garbage inside a stream cannot be retried.
      await assert.rejects(collect(env.adapter.stream(chatRequest(), c.model, signal())), (err: unknown) =>
        assertProviderError(err, kind, code, mode === "garbage" ? false : retryable, status),
      );
      if (mode !== "garbage")
        await assert.rejects(env.adapter.embed!(create(EmbedRequestSchema, { model: "alias", input: ["x"] }), c.model, signal()), (err: unknown) =>
          assertProviderError(err, kind, code, retryable, status),
        );
    });
  }

  test(`${c.id}: a 429 carries the provider's wait as retryAfterS`, async () => {
    env.fake.mode = "error_429";
    await assert.rejects(env.adapter.chat(chatRequest(), c.model, signal()), (err: unknown) => {
      assert.equal((err as ProviderError).details.retryAfterS, c.retryAfterS);
      return true;
    });
  });

  test(`${c.id}: a wrong key is upstream_auth, not the caller's fault`, async () => {
    const bad = c.adapter(options(env.fake.url, { apiKey: "wrong-key-0000" }));
    try {
      await assert.rejects(bad.chat(chatRequest(), c.model, signal()), (err: unknown) => {
        assertProviderError(err, "upstream_error", "upstream_auth", false, 502);
        assert.match((err as Error).message, /operator must fix the provider API key/);
        return true;
      });
    } finally {
      await bad.close();
    }
  });

  test(`${c.id}: a stream cut mid-way fails after the first chunks, not retryable`, async () => {
    env.fake.mode = "cut_stream";
    const seen = await collectUntilFailure(env.adapter.stream(chatRequest(), c.model, signal()), (err) => assertProviderError(err, "upstream_error", "upstream_stream_cut", false));
    assert.ok(seen.length >= 1, "the chunks before the cut were delivered");
    assert.equal(seen[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  });

  test(`${c.id}: an answer slower than the timeout is a retryable upstream_timeout`, async () => {
    const quick = c.adapter(options(env.fake.url, { timeoutMs: 200 }));
    env.fake.mode = "slow";
    try {
      await assert.rejects(quick.chat(chatRequest(), c.model, signal()), (err: unknown) => assertProviderError(err, "timeout", "upstream_timeout", true, 504));
    } finally {
      await quick.close();
    }
  });
}
