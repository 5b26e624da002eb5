import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { ProviderError } from "../errors.js";
import { assertProviderError, collect, collectUntilFailure, signal, useFakeAdapter } from "../adapter-test-kit.js";
import { EmbedRequestSchema } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { createGeminiAdapter, embedResponseFromGemini, geminiStatusError } from "./adapter.js";
import { FAKE_GEMINI_EMBED_DIMS, FAKE_GEMINI_KEY, fakeGeminiEmbedding, startFakeGemini } from "./fake.js";
import { SCENARIO_USAGE } from "../fake-scenario.js";


const env = useFakeAdapter(startFakeGemini, (fake) => createGeminiAdapter({ id: "gemini-test", baseUrl: fake.url, apiKey: FAKE_GEMINI_KEY, connections: 4, timeoutMs: 5_000 }));

const req = (init: Partial<MessageInitShape<typeof ChatRequestSchema>> = {}) =>
  create(ChatRequestSchema, { model: "alias", messages: [{ role: Role.SYSTEM, content: "Be brief." }, { role: Role.USER, content: "hello there" }], ...init } as MessageInitShape<typeof ChatRequestSchema>);
const withTools = () =>
  req({ tools: [{ type: "function", function: { name: "get_weather", description: "w", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }] });

test("chat: sends the documented request and translates the answer", async () => {
  const r = await env.adapter.chat(req({ temperature: 0.3 }), "gemini-2.5-flash", signal());
  assert.equal(r.choices[0]!.message?.content, "Echo: hello there");
  assert.equal(r.choices[0]!.finishReason, "stop");
  assert.equal(r.model, "gemini-2.5-flash");
  assert.match(r.id, /^fakeResp\d+$/);
  // completion = candidates + thoughts; prompt includes the cached tokens.
  assert.deepEqual(
    [r.usage?.promptTokens, r.usage?.completionTokens, r.usage?.totalTokens, r.usage?.cachedTokens, r.usage?.reasoningTokens],
    [SCENARIO_USAGE.prompt, SCENARIO_USAGE.completion, SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion, SCENARIO_USAGE.cached, SCENARIO_USAGE.reasoning],
  );
  const call = env.fake.calls[0]!;
  assert.equal(call.path, "/v1beta/models/gemini-2.5-flash:generateContent");
  assert.equal(call.headers["x-goog-api-key"], FAKE_GEMINI_KEY);
  assert.equal(call.headers["authorization"], undefined);
  assert.deepEqual(call.body, {
    contents: [{ role: "user", parts: [{ text: "hello there" }] }],
    systemInstruction: { parts: [{ text: "Be brief." }] },
    generationConfig: { temperature: 0.3 },
  });
});

test("chat: a models/ prefix on the deployment model is not doubled", async () => {
  await env.adapter.chat(req(), "models/gemini-2.0-flash", signal());
  assert.equal(env.fake.calls[0]!.path, "/v1beta/models/gemini-2.0-flash:generateContent");
});

test("chat with tools: the function call comes back as a tool call", async () => {
  const r = await env.adapter.chat(withTools(), "gemini-2.5-flash", signal());
  const c = r.choices[0]!;
  assert.equal(c.finishReason, "tool_calls");
  assert.equal(c.message?.toolCalls.length, 1);
  assert.equal(c.message!.toolCalls[0]!.id, `call_${r.id}_0`);
  assert.equal(c.message!.toolCalls[0]!.function?.name, "get_weather");
  assert.equal(c.message!.toolCalls[0]!.function?.arguments, '{"city":"Paris"}');
  assert.deepEqual(env.fake.calls[0]!.body["tools"], [
    { functionDeclarations: [{ name: "get_weather", description: "w", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } }] },
  ]);
});

test("chat: a blocked prompt is a content_filter answer", async () => {
  env.fake.mode = "blocked";
  const r = await env.adapter.chat(req(), "gemini-2.5-flash", signal());
  assert.equal(r.choices[0]!.finishReason, "content_filter");
  assert.match(r.choices[0]!.message!.refusal, /SAFETY/);
});

test("stream: role, word deltas, finish and usage on the last chunk", async () => {
  const chunks = await collect(env.adapter.stream(req(), "gemini-2.5-flash", signal()));
  assert.equal(env.fake.calls[0]!.path, "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse");
  assert.equal(env.fake.calls[0]!.headers["accept"], "text/event-stream");
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  assert.equal(chunks.map((c) => c.choices[0]?.delta?.content ?? "").join(""), "Echo: hello there");
  const last = chunks[chunks.length - 1]!;
  assert.equal(last.choices[0]!.finishReason, "stop");
  assert.equal(last.usage?.completionTokens, SCENARIO_USAGE.completion);
  assert.equal(last.usage?.reasoningTokens, SCENARIO_USAGE.reasoning);
  assert.equal(last.usage?.promptTokens, SCENARIO_USAGE.prompt);
  for (const c of chunks.slice(0, -1)) assert.equal(c.choices[0]!.finishReason, "");
});

test("stream with tools: one complete tool call delta, finish tool_calls", async () => {
  const chunks = await collect(env.adapter.stream(withTools(), "gemini-2.5-flash", signal()));
  const calls = chunks.flatMap((c) => c.choices.flatMap((ch) => ch.delta?.toolCalls ?? []));
  assert.deepEqual(calls.map((t) => [t.index, t.id, t.name, t.arguments]), [[0, `call_${chunks[0]!.id}_0`, "get_weather", '{"city":"Paris"}']]);
  assert.match(chunks[0]!.id, /^fakeResp\d+$/);
  assert.equal(chunks[chunks.length - 1]!.choices[0]!.finishReason, "tool_calls");
});

const errorCases: [string, "error_429" | "error_503" | "error_400", string, string, boolean, number, RegExp][] = [
  ["429 RESOURCE_EXHAUSTED", "error_429", "rate_limited", "upstream_rate_limited", true, 429, /RESOURCE_EXHAUSTED: You exceeded your current quota/],
  ["503 UNAVAILABLE", "error_503", "upstream_error", "upstream_error", true, 502, /UNAVAILABLE: The model is overloaded/],
  ["400 INVALID_ARGUMENT", "error_400", "invalid_request", "upstream_invalid_request", false, 400, /INVALID_ARGUMENT: \* GenerateContentRequest\.generation_config\.temperature: must be at most 2/],
];
for (const [name, mode, kind, code, retryable, status, message] of errorCases) {
  for (const how of ["chat", "stream"] as const) {
    test(`${how}: ${name} → ${kind} (${code}), retryable=${retryable}`, async () => {
      env.fake.mode = mode;
      const call = how === "chat" ? env.adapter.chat(req(), "gemini-2.5-flash", signal()) : collect(env.adapter.stream(req(), "gemini-2.5-flash", signal()));
      await assert.rejects(call, (err: unknown) => {
        assertProviderError(err, kind, code, retryable, status);
        assert.match((err as Error).message, message);
        return true;
      });
    });
  }
}

test("429 carries RetryInfo.retryDelay as retryAfterS", async () => {
  env.fake.mode = "error_429";
  await assert.rejects(env.adapter.chat(req(), "gemini-2.5-flash", signal()), (err: unknown) => {
    assert.equal((err as ProviderError).details.retryAfterS, 7);
    return true;
  });
});

test("a wrong API key (Google's 400 API_KEY_INVALID) → upstream_auth, not the caller's fault", async () => {
  const bad = createGeminiAdapter({ id: "gemini-test", baseUrl: env.fake.url, apiKey: "wrong", connections: 1, timeoutMs: 5_000 });
  try {
    await assert.rejects(bad.chat(req(), "gemini-2.5-flash", signal()), (err: unknown) => assertProviderError(err, "upstream_error", "upstream_auth", false, 502));
  } finally {
    await bad.close();
  }
});

test("a missing API key (403 PERMISSION_DENIED) → upstream_auth", async () => {
  const none = createGeminiAdapter({ id: "gemini-test", baseUrl: env.fake.url, apiKey: undefined, connections: 1, timeoutMs: 5_000 });
  try {
    await assert.rejects(collect(none.stream(req(), "gemini-2.5-flash", signal())), (err: unknown) => assertProviderError(err, "upstream_error", "upstream_auth", false));
  } finally {
    await none.close();
  }
});

test("chat: garbage body → upstream_garbage, retryable", async () => {
  env.fake.mode = "garbage";
  await assert.rejects(env.adapter.chat(req(), "gemini-2.5-flash", signal()), (err: unknown) => assertProviderError(err, "upstream_error", "upstream_garbage", true));
});

test("stream: garbage event → upstream_garbage", async () => {
  env.fake.mode = "garbage";
  await assert.rejects(collect(env.adapter.stream(req(), "gemini-2.5-flash", signal())), (err: unknown) => assertProviderError(err, "upstream_error", "upstream_garbage", false));
});

test("stream: connection cut mid-stream → upstream_stream_cut after the chunks already sent", async () => {
  env.fake.mode = "cut_stream";
  const got = await collectUntilFailure(env.adapter.stream(req(), "gemini-2.5-flash", signal()), (err) => assertProviderError(err, "upstream_error", "upstream_stream_cut", false));
  assert.equal(got.length, 2);
  assert.equal(got.map((c) => c.choices[0]!.delta?.content).join(""), "Echo: hello ");
});

test("an invalid request is rejected before any upstream call", async () => {
  const bad = req({ messages: [{ role: Role.USER, content: "x" }, { role: Role.ASSISTANT, toolCalls: [{ id: "c", type: "function", function: { name: "f", arguments: "{" } }] }] });
  await assert.rejects(env.adapter.chat(bad, "gemini-2.5-flash", signal()), (err: unknown) => {
    assert.ok(err instanceof TesseraError && err.kind === "invalid_request");
    return true;
  });
  assert.equal(env.fake.calls.length, 0);
});

test("unreachable upstream → upstream_unreachable, retryable", async () => {
  const dead = createGeminiAdapter({ id: "gemini-test", baseUrl: "http://127.0.0.1:1/v1beta", apiKey: "k", connections: 1, timeoutMs: 2_000 });
  try {
    await assert.rejects(dead.chat(req(), "m", signal()), (err: unknown) => assertProviderError(err, "upstream_error", "upstream_unreachable", true));
  } finally {
    await dead.close();
  }
});

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

test("recorded error fixtures map as documented", () => {
  assertProviderError(geminiStatusError("g", 400, fixture("error-400-api-key-invalid.json")), "upstream_error", "upstream_auth", false);
  const e = geminiStatusError("g", 429, fixture("error-429-resource-exhausted.json"), "3");
  assertProviderError(e, "rate_limited", "upstream_rate_limited", true, 429);
  assert.equal(e.details.retryAfterS, 3);
  assert.match(e.message, /^g returned 429: RESOURCE_EXHAUSTED: You exceeded your current quota/);
  assertProviderError(geminiStatusError("g", 400, '{"error":{"code":400,"message":"User location is not supported for the API use.","status":"FAILED_PRECONDITION"}}'), "upstream_error", "upstream_failed_precondition", true);
  assertProviderError(geminiStatusError("g", 404, '{"error":{"code":404,"message":"models/x is not found","status":"NOT_FOUND"}}'), "invalid_request", "upstream_invalid_request", false, 404);
  assertProviderError(geminiStatusError("g", 500, "<html>oops</html>"), "upstream_error", "upstream_error", true);
});

const twoTools = () =>
  req({
    tools: ["get_weather", "get_time"].map((name) => ({ type: "function", function: { name, parameters: { type: "object", properties: { city: { type: "string" } } } } })),
  });

test("chat with two tools: parallel function calls in order, ids distinct", async () => {
  const r = await env.adapter.chat(twoTools(), "gemini-2.5-flash", signal());
  const calls = r.choices[0]!.message!.toolCalls;
  assert.deepEqual(
    calls.map((c) => [c.id, c.function?.name, c.function?.arguments]),
    [
      [`call_${r.id}_0`, "get_weather", '{"city":"Paris"}'],
      [`call_${r.id}_1`, "get_time", '{"city":"Rome"}'],
    ],
  );
  assert.equal(r.choices[0]!.finishReason, "tool_calls");
});

test("a tool result is sent as a functionResponse and acknowledged", async () => {
  const r = await env.adapter.chat(
    req({
      messages: [
        { role: Role.USER, content: "weather?" },
        { role: Role.ASSISTANT, toolCalls: [{ id: "call_a", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
        { role: Role.TOOL, toolCallId: "call_a", content: "sunny" },
      ],
    }),
    "gemini-2.5-flash",
    signal(),
  );
  assert.equal(r.choices[0]!.message?.content, "Tool said: sunny");
  assert.deepEqual((env.fake.calls[0]!.body["contents"] as unknown[])[2], { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { content: "sunny" } } }] });
});

const embedReq = (init: { input?: string[]; inputType?: string; dimensions?: number } = {}) => create(EmbedRequestSchema, { model: "alias", input: ["alpha", "beta"], ...init });

test("embed: one batchEmbedContents call, one request per input, vectors back in input order", async () => {
  const r = await env.adapter.embed!(embedReq(), "gemini-embedding-001", signal());
  const call = env.fake.calls[0]!;
  assert.equal(call.path, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
  assert.equal(call.headers["x-goog-api-key"], FAKE_GEMINI_KEY);
  assert.deepEqual(call.body, {
    requests: [
      { model: "models/gemini-embedding-001", content: { parts: [{ text: "alpha" }] } },
      { model: "models/gemini-embedding-001", content: { parts: [{ text: "beta" }] } },
    ],
  });
  assert.equal(r.model, "gemini-embedding-001");
  assert.deepEqual(
    r.data.map((e) => e.index),
    [0, 1],
  );
  for (const [i, text] of ["alpha", "beta"].entries()) {
    assert.equal(r.data[i]!.vector.length, FAKE_GEMINI_EMBED_DIMS);
    r.data[i]!.vector.forEach((v, k) => assert.ok(Math.abs(v - fakeGeminiEmbedding(text)[k]!) < 1e-6, `${text}[${k}]`));
  }
  // Google's documented answer has no usage.
  assert.equal(r.usage?.promptTokens, 0);
  assert.equal(r.usage?.totalTokens, 0);
});

const TASK_TYPES: [string, string][] = [
  ["search_document", "RETRIEVAL_DOCUMENT"],
  ["search_query", "RETRIEVAL_QUERY"],
  ["classification", "CLASSIFICATION"],
  ["clustering", "CLUSTERING"],
];
for (const [inputType, taskType] of TASK_TYPES) {
  test(`embed: input_type ${inputType} → taskType ${taskType}; dimensions → outputDimensionality`, async () => {
    const r = await env.adapter.embed!(embedReq({ input: ["q"], inputType, dimensions: 4 }), "models/gemini-embedding-001", signal());
    assert.deepEqual((env.fake.calls[0]!.body["requests"] as unknown[])[0], {
      model: "models/gemini-embedding-001",
      content: { parts: [{ text: "q" }] },
      taskType,
      outputDimensionality: 4,
    });
    assert.equal(env.fake.calls[0]!.path, "/v1beta/models/gemini-embedding-001:batchEmbedContents");
    assert.equal(r.data[0]!.vector.length, 4);
  });
}

test("embed: an unknown input_type or no input is an invalid request before any upstream call", async () => {
  for (const bad of [embedReq({ inputType: "summarization" }), embedReq({ input: [] })]) {
    await assert.rejects(env.adapter.embed!(bad, "gemini-embedding-001", signal()), (err: unknown) => {
      assert.ok(err instanceof TesseraError && err.kind === "invalid_request", String(err));
      return true;
    });
  }
  assert.equal(env.fake.calls.length, 0);
});

test("embed: 429 RESOURCE_EXHAUSTED → rate_limited with the retry delay", async () => {
  env.fake.mode = "error_429";
  await assert.rejects(env.adapter.embed!(embedReq(), "gemini-embedding-001", signal()), (err: unknown) => {
    assertProviderError(err, "rate_limited", "upstream_rate_limited", true, 429);
    assert.equal((err as ProviderError).details.retryAfterS, 7);
    return true;
  });
});

test("embed: answers that do not fit the inputs are upstream_garbage", () => {
  const two = embedReq();
  for (const json of [{}, { embeddings: [{ values: [1] }] }, { embeddings: [{ values: [1] }, { values: ["x"] }] }, { embeddings: [{ values: [1] }, {}] }])
    assertProviderError(
      (() => {
        try {
          embedResponseFromGemini("g", json, "m", two);
        } catch (err) {
          return err;
        }
        return undefined;
      })(),
      "upstream_error",
      "upstream_garbage",
      true,
    );
  const withUsage = embedResponseFromGemini("g", { embeddings: [{ values: [0.5] }, { values: [0.25] }], usageMetadata: { promptTokenCount: 4, totalTokenCount: 4 } }, "models/m", two);
  assert.deepEqual([withUsage.model, withUsage.usage?.promptTokens, withUsage.usage?.totalTokens], ["m", 4, 4]);
});
