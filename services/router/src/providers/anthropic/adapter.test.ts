import { test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { assertProviderError, chatErrorTable, collect, collectUntilFailure, type ErrorCase, rejectsWith, useFakeAdapter } from "../adapter-test-kit.js";
import { createAnthropicAdapter } from "./adapter.js";
import { startFakeAnthropic, type FakeAnthropic } from "./fake.js";
import { SCENARIO_USAGE } from "../fake-scenario.js";

const MODEL = "claude-sonnet-4-5";

const env = useFakeAdapter(startFakeAnthropic, (fake) => createAnthropicAdapter({ id: "anthropic-test", baseUrl: fake.url, apiKey: "sk-ant-test", connections: 4, timeoutMs: 5_000 }));

const req = (init: MessageInitShape<typeof ChatRequestSchema> = {}) =>
  create(ChatRequestSchema, { messages: [{ role: Role.SYSTEM, content: "Be brief." }, { role: Role.USER, content: "Hello" }], ...init });
const withTool = () => req({ tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }] });

test("chat: posts to /v1/messages with Anthropic headers and body, returns the echo with usage", async () => {
  const r = await env.adapter.chat(req(), MODEL, AbortSignal.timeout(5_000));
  assert.equal(r.choices[0]!.message?.content, "Echo: Hello");
  assert.equal(r.choices[0]!.finishReason, "stop");
  assert.match(r.id, /^msg_fake/);
  assert.equal(r.model, MODEL);
  // input_tokens + cache_read_input_tokens, as the scenario's prompt count includes cached tokens.
  assert.equal(r.usage?.promptTokens, SCENARIO_USAGE.prompt);
  assert.equal(r.usage?.cachedTokens, SCENARIO_USAGE.cached);
  assert.equal(r.usage?.completionTokens, SCENARIO_USAGE.completion);
  assert.equal(r.usage?.totalTokens, SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion);
  const call = env.fake.calls[0]!;
  assert.equal(call.path, "/v1/messages");
  assert.equal(call.headers["x-api-key"], "sk-ant-test");
  assert.equal(call.headers["anthropic-version"], "2023-06-01");
  assert.match(String(call.headers["content-type"]), /application\/json/);
  assert.equal(call.headers["authorization"], undefined);
  assert.deepEqual(call.body, { model: MODEL, max_tokens: 4096, system: "Be brief.", messages: [{ role: "user", content: "Hello" }] });
});

test("chat with tools: tool_use comes back as a tool call with JSON arguments", async () => {
  const r = await env.adapter.chat(withTool(), MODEL, AbortSignal.timeout(5_000));
  const c = r.choices[0]!;
  assert.equal(c.finishReason, "tool_calls");
  assert.equal(c.message?.content, "");
  assert.equal(c.message?.toolCalls.length, 1);
  assert.equal(c.message?.toolCalls[0]?.function?.name, "get_weather");
  assert.match(c.message!.toolCalls[0]!.id, /^toolu_fake/);
  assert.deepEqual(JSON.parse(c.message!.toolCalls[0]!.function!.arguments), { city: "Paris" });
});

test("stream: role first, echoed text, finish stop, usage on the last chunk; the request asks for stream", async () => {
  const chunks = await collect(env.adapter.stream(req(), MODEL, AbortSignal.timeout(5_000)));
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  const text = chunks.map((c) => c.choices[0]?.delta?.content ?? "").join("");
  assert.equal(text, "Echo: Hello");
  assert.equal(chunks.find((c) => c.choices[0]?.finishReason)?.choices[0]?.finishReason, "stop");
  const last = chunks[chunks.length - 1]!;
  assert.equal(last.usage?.completionTokens, SCENARIO_USAGE.completion);
  assert.equal(last.usage?.promptTokens, SCENARIO_USAGE.prompt);
  assert.equal(last.usage?.cachedTokens, SCENARIO_USAGE.cached);
  assert.equal(env.fake.calls[0]!.body["stream"], true);
  assert.match(String(env.fake.calls[0]!.headers["accept"]), /text\/event-stream/);
});

test("stream with tools: the call's id and name arrive first, the arguments assemble to the fake's input", async () => {
  const chunks = await collect(env.adapter.stream(withTool(), MODEL, AbortSignal.timeout(5_000)));
  const deltas = chunks.flatMap((c) => c.choices[0]?.delta?.toolCalls ?? []);
  assert.ok(deltas.length >= 3, "several fragments");
  assert.ok(deltas.every((d) => d.index === 0));
  assert.match(deltas[0]!.id, /^toolu_fake/);
  assert.equal(deltas[0]!.name, "get_weather");
  assert.equal(deltas[0]!.type, "function");
  assert.deepEqual(JSON.parse(deltas.map((d) => d.arguments).join("")), { city: "Paris" });
  assert.equal(chunks.find((c) => c.choices[0]?.finishReason)?.choices[0]?.finishReason, "tool_calls");
});

const ERRORS: ErrorCase<FakeAnthropic["mode"]>[] = [
  { mode: "error_429", kind: "rate_limited", retryable: true, code: "upstream_rate_limited", status: 429, retryAfterS: 7, message: /rate_limit_error/ },
  { mode: "error_529", kind: "upstream_error", retryable: true, code: "upstream_overloaded", status: 502, message: /529: overloaded_error: Overloaded/ },
  { mode: "error_400", kind: "invalid_request", retryable: false, code: "upstream_invalid_request", status: 400, message: /temperature: range: 0\.\.1/ },
  { mode: "error_401", kind: "upstream_error", retryable: false, code: "upstream_auth", status: 502 },
  { mode: "garbage", kind: "upstream_error", retryable: true, code: "upstream_garbage", status: 502 },
];

chatErrorTable(env, ERRORS, (a) => a.chat(req(), MODEL, AbortSignal.timeout(5_000)));

test("stream error_529 before any event → retryable overloaded error", async () => {
  env.fake.mode = "error_529";
  await rejectsWith(collect(env.adapter.stream(req(), MODEL, AbortSignal.timeout(5_000))), (err) => {
    assert.equal(err.details.code, "upstream_overloaded");
    assert.equal(err.retryable, true);
  });
});

test("stream garbage event → upstream_garbage", async () => {
  env.fake.mode = "garbage";
  await rejectsWith(collect(env.adapter.stream(req(), MODEL, AbortSignal.timeout(5_000))), (err) => {
    assert.equal(err.details.code, "upstream_garbage");
  });
});

test("stream cut before message_stop → upstream_stream_cut after the chunks already sent", async () => {
  env.fake.mode = "cut_stream";
  const got = await collectUntilFailure(env.adapter.stream(req(), MODEL, AbortSignal.timeout(5_000)), (err) => {
    assertProviderError(err, "upstream_error", "upstream_stream_cut", false);
  });
  assert.equal(got[0]?.choices[0]?.delta?.role, Role.ASSISTANT, "the role chunk was delivered before the cut");
});

test("stream error event mid-stream → ProviderError with Anthropic's error type", async () => {
  env.fake.mode = "stream_error";
  await rejectsWith(collect(env.adapter.stream(req(), MODEL, AbortSignal.timeout(5_000))), (err) => {
    assert.equal(err.details.code, "upstream_overloaded");
    assert.match(err.message, /overloaded_error/);
  });
});

test("a request that cannot be translated fails with invalid_request before any upstream call", async () => {
  const bad = req({ responseFormat: { type: "json_schema", schemaName: "x" } });
  await assert.rejects(env.adapter.chat(bad, MODEL, AbortSignal.timeout(5_000)), (err: unknown) => {
    assert.ok(err instanceof TesseraError);
    assert.equal(err.kind, "invalid_request");
    return true;
  });
  assert.equal(env.fake.calls.length, 0);
});

test("an unreachable origin → retryable upstream_unreachable", async () => {
  const dead = createAnthropicAdapter({ id: "dead", baseUrl: "http://127.0.0.1:1/v1", apiKey: "k", connections: 1, timeoutMs: 2_000 });
  try {
    await rejectsWith(dead.chat(req(), MODEL, AbortSignal.timeout(5_000)), (err) => {
      assert.equal(err.details.code, "upstream_unreachable");
      assert.equal(err.retryable, true);
    });
  } finally {
    await dead.close();
  }
});

test("chat with two tools: parallel tool_use blocks become tool calls in order; disable_parallel_tool_use gives one", async () => {
  const tools = ["get_weather", "get_time"].map((name) => ({ type: "function", function: { name, parameters: { type: "object", properties: { city: { type: "string" } } } } }));
  const r = await env.adapter.chat(req({ tools }), MODEL, AbortSignal.timeout(5_000));
  assert.deepEqual(
    r.choices[0]!.message!.toolCalls.map((c) => [c.function?.name, c.function?.arguments]),
    [
      ["get_weather", '{"city":"Paris"}'],
      ["get_time", '{"city":"Rome"}'],
    ],
  );
  assert.notEqual(r.choices[0]!.message!.toolCalls[0]!.id, r.choices[0]!.message!.toolCalls[1]!.id);
  const one = await env.adapter.chat(req({ tools, parallelToolCalls: false }), MODEL, AbortSignal.timeout(5_000));
  assert.deepEqual(env.fake.calls[1]!.body["tool_choice"], { type: "auto", disable_parallel_tool_use: true });
  assert.deepEqual(
    one.choices[0]!.message!.toolCalls.map((c) => c.function?.name),
    ["get_weather"],
  );
});

test("stream with two tools: each call's arguments assemble from its own fragments", async () => {
  const tools = ["get_weather", "get_time"].map((name) => ({ type: "function", function: { name, parameters: { type: "object" } } }));
  const chunks = await collect(env.adapter.stream(req({ tools }), MODEL, AbortSignal.timeout(5_000)));
  const deltas = chunks.flatMap((c) => c.choices[0]?.delta?.toolCalls ?? []);
  const args = [0, 1].map((i) => JSON.parse(deltas.filter((d) => d.index === i).map((d) => d.arguments).join("")));
  assert.deepEqual(args, [{ city: "Paris" }, { city: "Rome" }]);
  assert.deepEqual(
    deltas.filter((d) => d.id).map((d) => [d.index, d.name]),
    [
      [0, "get_weather"],
      [1, "get_time"],
    ],
  );
});

test("a tool result is sent as a tool_result block and acknowledged", async () => {
  const r = await env.adapter.chat(
    req({
      messages: [
        { role: Role.USER, content: "weather?" },
        { role: Role.ASSISTANT, toolCalls: [{ id: "toolu_a", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
        { role: Role.TOOL, toolCallId: "toolu_a", content: "sunny" },
      ],
    }),
    MODEL,
    AbortSignal.timeout(5_000),
  );
  assert.equal(r.choices[0]!.message?.content, "Tool said: sunny");
  assert.equal(r.choices[0]!.finishReason, "stop");
  assert.deepEqual((env.fake.calls[0]!.body["messages"] as unknown[])[2], { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_a", content: "sunny" }] });
});
