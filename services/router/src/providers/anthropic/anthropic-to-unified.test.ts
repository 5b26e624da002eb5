import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { ProviderError } from "../errors.js";
import { assemble, sseEvents } from "../adapter-test-kit.js";
import { AnthropicStreamTranslator, finishReasonFromAnthropic, responseFromAnthropic, usageFromAnthropic } from "./anthropic-to-unified.js";
import type { AnthropicMessageResponse, AnthropicStreamEvent } from "@tessera/anthropic-format";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
const NOW = 1_750_000_000;

/** Parse a fixture .sse through the same SSE parser the adapter uses. */
const events = (name: string) => sseEvents<AnthropicStreamEvent>([Buffer.from(fixture(name))]);

test("response fixture (text): id, model, content, finish_reason and usage field by field", () => {
  const r = responseFromAnthropic(JSON.parse(fixture("message-text.json")), NOW);
  assert.equal(r.id, "msg_013Zva2CMHLNnXjNJJKqJ2EF");
  assert.equal(r.model, "claude-3-7-sonnet-20250219");
  assert.equal(r.created, BigInt(NOW));
  assert.equal(r.choices.length, 1);
  const c = r.choices[0]!;
  assert.equal(c.index, 0);
  assert.equal(c.finishReason, "stop");
  assert.equal(c.message?.role, Role.ASSISTANT);
  assert.equal(c.message?.content, "Hi! My name is Claude.");
  assert.equal(c.message?.toolCalls.length, 0);
  assert.equal(r.usage?.promptTokens, 2095);
  assert.equal(r.usage?.completionTokens, 503);
  assert.equal(r.usage?.totalTokens, 2598);
  assert.equal(r.usage?.cachedTokens, 0);
});

test("response fixture (tool_use): text kept, tool call with id, name and JSON-stringified input", () => {
  const r = responseFromAnthropic(JSON.parse(fixture("message-tool-use.json")), NOW);
  const c = r.choices[0]!;
  assert.equal(r.id, "msg_01Aq9w938a90dw8q");
  assert.equal(c.finishReason, "tool_calls");
  assert.equal(c.message?.content, "I'll check the current weather in San Francisco for you.");
  assert.equal(c.message?.toolCalls.length, 1);
  const tc = c.message!.toolCalls[0]!;
  assert.equal(tc.id, "toolu_01A09q90qw90lq917835lq9");
  assert.equal(tc.type, "function");
  assert.equal(tc.function?.name, "get_weather");
  assert.deepEqual(JSON.parse(tc.function!.arguments), { location: "San Francisco, CA", unit: "celsius" });
  // The documented example carries no usage: none is invented.
  assert.equal(r.usage, undefined);
});

test("response: several text blocks concatenate, thinking blocks are dropped", () => {
  const body: AnthropicMessageResponse = {
    id: "msg_x",
    type: "message",
    role: "assistant",
    model: "m",
    stop_reason: "end_turn",
    content: [
      { type: "thinking", thinking: "secret reasoning", signature: "sig" },
      { type: "redacted_thinking", data: "xyz" },
      { type: "text", text: "Hello, " },
      { type: "text", text: "world." },
    ],
    usage: { input_tokens: 10, output_tokens: 20 },
  };
  assert.equal(responseFromAnthropic(body, NOW).choices[0]!.message?.content, "Hello, world.");
});

test("usage: prompt tokens add cache reads and writes; cached_tokens are the cache reads", () => {
  const u = usageFromAnthropic({ input_tokens: 100, cache_read_input_tokens: 1000, cache_creation_input_tokens: 300, output_tokens: 50 })!;
  assert.equal(u.promptTokens, 1400);
  assert.equal(u.cachedTokens, 1000);
  assert.equal(u.completionTokens, 50);
  assert.equal(u.totalTokens, 1450);
  assert.equal(u.reasoningTokens, 0);
});

const FINISH: [string | null, string][] = [
  ["end_turn", "stop"],
  ["stop_sequence", "stop"],
  ["max_tokens", "length"],
  ["tool_use", "tool_calls"],
  ["refusal", "content_filter"],
  ["pause_turn", "stop"],
  [null, ""],
];
for (const [from, to] of FINISH)
  test(`finish_reason: ${String(from)} → ${JSON.stringify(to)}`, () => {
    assert.equal(finishReasonFromAnthropic(from), to);
  });

test("stream fixture (text): SSE event names match data types; role first, text assembled, finish and usage last", async () => {
  const evs = await events("stream-text.sse");
  for (const e of evs) assert.equal(e.event, e.data.type);
  const tr = new AnthropicStreamTranslator("anthropic", NOW);
  const chunks = evs.flatMap((e) => tr.push(e.data));
  assert.equal(tr.done, true);
  const a = assemble(chunks);
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT, "first chunk carries the role");
  assert.equal(a.roleChunks, 1);
  assert.equal(a.content, "Hello!");
  assert.equal(a.finish, "stop");
  for (const c of chunks) {
    assert.equal(c.id, "msg_1nZdL29xx5MUA1yADyHTEsnR8uuvGzszyY");
    assert.equal(c.model, "claude-sonnet-4-5-20250929");
  }
  assert.equal(a.last.choices.length, 0, "the usage chunk has no choices");
  assert.equal(a.last.usage?.promptTokens, 25);
  assert.equal(a.last.usage?.completionTokens, 15);
  assert.equal(a.last.usage?.totalTokens, 40);
  assert.equal(chunks.filter((c) => c.usage).length, 1, "usage only on the last chunk");
});

test("stream fixture (tool_use): tool call index 0 (block index 1), id/name first, arguments assembled from input_json_delta", async () => {
  const tr = new AnthropicStreamTranslator("anthropic", NOW);
  const chunks = (await events("stream-tool-use.sse")).flatMap((e) => tr.push(e.data));
  const a = assemble(chunks);
  assert.equal(a.content, "Okay, let's check the weather for San Francisco, CA:");
  assert.deepEqual([...a.calls.keys()], [0], "the tool call's own index, not the content block index 1");
  const call = a.calls.get(0)!;
  assert.equal(call.id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
  assert.equal(call.type, "function");
  assert.equal(call.name, "get_weather");
  assert.equal(call.arguments, '{"location": "San Francisco, CA", "unit": "fahrenheit"}');
  assert.deepEqual(JSON.parse(call.arguments), { location: "San Francisco, CA", unit: "fahrenheit" });
  // The header delta comes first with empty arguments.
  const header = chunks.find((c) => c.choices[0]?.delta?.toolCalls.length)!.choices[0]!.delta!.toolCalls[0]!;
  assert.equal(header.id, "toolu_01T1x1fJ34qAmk2tNTrN7Up6");
  assert.equal(header.arguments, "");
  assert.equal(a.finish, "tool_calls");
  assert.equal(a.last.usage?.promptTokens, 472);
  assert.equal(a.last.usage?.completionTokens, 89);
});

test("stream fixture (thinking): thinking and signature deltas are not content; missing usage counts as zero", async () => {
  const tr = new AnthropicStreamTranslator("anthropic", NOW);
  const chunks = (await events("stream-thinking.sse")).flatMap((e) => tr.push(e.data));
  const a = assemble(chunks);
  assert.equal(a.content, "27 * 453 = 12,231");
  assert.equal(a.finish, "stop");
  assert.equal(a.last.usage?.promptTokens, 0);
  assert.equal(a.last.usage?.completionTokens, 0);
});

test("stream: two tool_use blocks get tool call indexes 0 and 1 whatever their block indexes", () => {
  const tr = new AnthropicStreamTranslator("anthropic", NOW);
  const seq: AnthropicStreamEvent[] = [
    { type: "message_start", message: { id: "msg_p", model: "m", usage: { input_tokens: 5, cache_read_input_tokens: 7, output_tokens: 1 } } },
    { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
    { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Both:" } },
    { type: "content_block_stop", index: 0 },
    { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "toolu_a", name: "f", input: {} } },
    { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "toolu_b", name: "g", input: {} } },
    { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: '{"y":2}' } },
    { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: '{"x":1}' } },
    { type: "message_delta", delta: { stop_reason: "tool_use" }, usage: { output_tokens: 30 } },
    { type: "message_stop" },
  ];
  const a = assemble(seq.flatMap((e) => tr.push(e)));
  assert.deepEqual(a.calls.get(0), { id: "toolu_a", type: "function", name: "f", arguments: '{"x":1}' });
  assert.deepEqual(a.calls.get(1), { id: "toolu_b", type: "function", name: "g", arguments: '{"y":2}' });
  assert.equal(a.last.usage?.promptTokens, 12);
  assert.equal(a.last.usage?.cachedTokens, 7);
  assert.equal(a.last.usage?.completionTokens, 30);
});

test("stream fixture (error event): overloaded_error becomes a ProviderError", async () => {
  const [ev] = await events("stream-error-overloaded.sse");
  const tr = new AnthropicStreamTranslator("anthropic", NOW);
  assert.throws(
    () => tr.push(ev!.data),
    (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.kind, "upstream_error");
      assert.equal(err.retryable, false);
      assert.equal(err.details.code, "upstream_overloaded");
      assert.match(err.message, /\(overloaded_error\): Overloaded/);
      return true;
    },
  );
});

test("stream: ping and unknown event types are ignored", () => {
  const tr = new AnthropicStreamTranslator("anthropic", NOW);
  assert.deepEqual(tr.push({ type: "ping" }), []);
  assert.deepEqual(tr.push({ type: "some_future_event" }), []);
  assert.equal(tr.done, false);
});
