import { test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatChunkSchema, ChatResponseSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { AnthropicStreamEncoder, encodeAnthropicSse, errorToAnthropic, messageId, responseToAnthropic, stopReasonToAnthropic } from "./response.js";

const stopReasons: [string, string | null][] = [
  ["stop", "end_turn"],
  ["length", "max_tokens"],
  ["tool_calls", "tool_use"],
  ["content_filter", "refusal"],
  ["", null],
  ["something_new", "end_turn"],
];
for (const [finish, want] of stopReasons) {
  test(`finish_reason ${JSON.stringify(finish)} → stop_reason ${want}`, () => assert.equal(stopReasonToAnthropic(finish), want));
}

test("message ids get the msg_ prefix unless they have it", () => {
  assert.equal(messageId("msg_abc"), "msg_abc");
  assert.equal(messageId("chatcmpl-1"), "msg_chatcmpl-1");
  assert.match(messageId(""), /^msg_[0-9a-f]{32}$/);
});

test("a text answer becomes a Message with one text block and Anthropic usage", () => {
  const r = create(ChatResponseSchema, {
    id: "chatcmpl-9",
    model: "gpt-4o-mini",
    choices: [{ index: 0, finishReason: "stop", message: { role: Role.ASSISTANT, content: "Hello" } }],
    usage: { promptTokens: 30, completionTokens: 5, totalTokens: 35, cachedTokens: 10 },
  });
  assert.deepEqual(responseToAnthropic(r), {
    id: "msg_chatcmpl-9",
    type: "message",
    role: "assistant",
    model: "gpt-4o-mini",
    content: [{ type: "text", text: "Hello" }],
    stop_reason: "end_turn",
    stop_sequence: null,
    usage: { input_tokens: 20, output_tokens: 5, cache_read_input_tokens: 10 },
  });
});

test("tool calls become tool_use blocks; arguments that are not a JSON object become {}", () => {
  const r = create(ChatResponseSchema, {
    id: "msg_1",
    model: "m",
    choices: [
      {
        finishReason: "tool_calls",
        message: {
          role: Role.ASSISTANT,
          content: "Checking.",
          toolCalls: [
            { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
            { id: "call_2", type: "function", function: { name: "f", arguments: "not json" } },
            { id: "call_3", type: "function", function: { name: "g", arguments: "[1]" } },
          ],
        },
      },
    ],
  });
  const out = responseToAnthropic(r);
  assert.equal(out.id, "msg_1");
  assert.equal(out.stop_reason, "tool_use");
  assert.deepEqual(out.content, [
    { type: "text", text: "Checking." },
    { type: "tool_use", id: "call_1", name: "get_weather", input: { city: "Paris" } },
    { type: "tool_use", id: "call_2", name: "f", input: {} },
    { type: "tool_use", id: "call_3", name: "g", input: {} },
  ]);
  assert.deepEqual(out.usage, { input_tokens: 0, output_tokens: 0 });
});

test("a refusal with no content is the text, stop_reason refusal; no text means no block", () => {
  const refused = responseToAnthropic(create(ChatResponseSchema, { choices: [{ finishReason: "content_filter", message: { role: Role.ASSISTANT, refusal: "I can't help with that." } }] }));
  assert.deepEqual(refused.content, [{ type: "text", text: "I can't help with that." }]);
  assert.equal(refused.stop_reason, "refusal");
  const empty = responseToAnthropic(create(ChatResponseSchema, { choices: [{ finishReason: "length", message: { role: Role.ASSISTANT } }] }));
  assert.deepEqual(empty.content, []);
  assert.equal(empty.stop_reason, "max_tokens");
});

type ChunkInit = MessageInitShape<typeof ChatChunkSchema>;
const chunk = (delta: NonNullable<NonNullable<ChunkInit["choices"]>[number]["delta"]>, finishReason = ""): ChunkInit => ({
  id: "chatcmpl-7",
  model: "gpt-4o-mini",
  choices: [{ index: 0, delta, finishReason }],
});

function encode(chunks: ChunkInit[], opts?: { inputTokens?: number }) {
  const enc = new AnthropicStreamEncoder({ model: "requested", ...opts });
  const events = chunks.flatMap((c) => enc.push(create(ChatChunkSchema, c)));
  return [...events, ...enc.finish()];
}

test("a text stream is message_start, one text block, message_delta with usage, message_stop", () => {
  const events = encode([
    chunk({ role: Role.ASSISTANT, content: "" }),
    chunk({ content: "Hel" }),
    chunk({ content: "lo" }),
    chunk({}, "stop"),
    { id: "chatcmpl-7", model: "gpt-4o-mini", choices: [], usage: { promptTokens: 9, completionTokens: 2, totalTokens: 11 } },
  ]);
  assert.deepEqual(events, [
    {
      type: "message_start",
      message: { id: "msg_chatcmpl-7", type: "message", role: "assistant", model: "gpt-4o-mini", content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 0, output_tokens: 0 } },
    },
    { type: "content_block_start", index: 0, content_block: { type: "text", text: "" } },
    { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "Hel" } },
    { type: "content_block_delta", index: 0, delta: { type: "text_delta", text: "lo" } },
    { type: "content_block_stop", index: 0 },
    { type: "message_delta", delta: { stop_reason: "end_turn", stop_sequence: null }, usage: { output_tokens: 2, input_tokens: 9, cache_read_input_tokens: 0 } },
    { type: "message_stop" },
  ]);
});

test("text then two tool calls: a text block, then one tool_use block per call with input_json_delta", () => {
  const events = encode(
    [
      chunk({ role: Role.ASSISTANT, content: "Let me look." }),
      chunk({ toolCalls: [{ index: 0, id: "call_a", type: "function", name: "get_weather", arguments: "" }] }),
      chunk({ toolCalls: [{ index: 0, arguments: '{"city":' }] }),
      chunk({ toolCalls: [{ index: 0, arguments: '"Paris"}' }] }),
      chunk({ toolCalls: [{ index: 1, id: "call_b", type: "function", name: "get_time", arguments: "{}" }] }),
      chunk({}, "tool_calls"),
    ],
    { inputTokens: 42 },
  );
  assert.deepEqual(
    events.map((e) => e.type),
    ["message_start", "content_block_start", "content_block_delta", "content_block_stop", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop", "content_block_start", "content_block_delta", "content_block_stop", "message_delta", "message_stop"],
  );
  assert.deepEqual((events[0] as { message: { usage: unknown } }).message.usage, { input_tokens: 42, output_tokens: 0 });
  assert.deepEqual(events[4], { type: "content_block_start", index: 1, content_block: { type: "tool_use", id: "call_a", name: "get_weather", input: {} } });
  assert.deepEqual(events[5], { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: '{"city":' } });
  assert.deepEqual(events[6], { type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: '"Paris"}' } });
  assert.deepEqual(events[8], { type: "content_block_start", index: 2, content_block: { type: "tool_use", id: "call_b", name: "get_time", input: {} } });
  assert.deepEqual(events[9], { type: "content_block_delta", index: 2, delta: { type: "input_json_delta", partial_json: "{}" } });
  assert.deepEqual(events[11], { type: "message_delta", delta: { stop_reason: "tool_use", stop_sequence: null }, usage: { output_tokens: 0 } });
});

test("a stream with no chunks still has message_start … message_stop; finish twice adds nothing", () => {
  const enc = new AnthropicStreamEncoder({ model: "m" });
  const events = enc.finish();
  assert.deepEqual(
    events.map((e) => e.type),
    ["message_start", "message_delta", "message_stop"],
  );
  assert.equal((events[0] as { message: { model: string } }).message.model, "m");
  assert.deepEqual(enc.finish(), []);
});

test("an open block is closed by finish() when the upstream sent no finish reason", () => {
  const events = encode([chunk({ content: "cut" })]);
  assert.deepEqual(
    events.slice(-3).map((e) => e.type),
    ["content_block_stop", "message_delta", "message_stop"],
  );
});

test("interleaved argument fragments of a closed tool block are an upstream_error", () => {
  const enc = new AnthropicStreamEncoder();
  enc.push(create(ChatChunkSchema, chunk({ toolCalls: [{ index: 0, id: "a", name: "f", arguments: "{" }] })));
  enc.push(create(ChatChunkSchema, chunk({ toolCalls: [{ index: 1, id: "b", name: "g", arguments: "{" }] })));
  assert.throws(
    () => enc.push(create(ChatChunkSchema, chunk({ toolCalls: [{ index: 0, arguments: "}" }] }))),
    (err: unknown) => err instanceof TesseraError && err.kind === "upstream_error",
  );
});

test("SSE encoding is `event: <type>` and the JSON data", () => {
  assert.equal(encodeAnthropicSse({ type: "message_stop" }), 'event: message_stop\ndata: {"type":"message_stop"}\n\n');
});

const errorCases: [TesseraError, number, string][] = [
  [new TesseraError("invalid_request", "bad"), 400, "invalid_request_error"],
  [new TesseraError("unauthenticated", "who"), 401, "authentication_error"],
  [new TesseraError("permission_denied", "no"), 403, "permission_error"],
  [new TesseraError("not_found", "gone"), 404, "not_found_error"],
  [new TesseraError("payload_too_large", "big"), 413, "request_too_large"],
  [new TesseraError("rate_limited", "slow"), 429, "rate_limit_error"],
  [new TesseraError("internal", "oops"), 500, "api_error"],
  [new TesseraError("upstream_error", "up"), 502, "api_error"],
  [new TesseraError("upstream_error", "busy", { code: "upstream_overloaded" }), 502, "overloaded_error"],
  [new TesseraError("unavailable", "down"), 503, "api_error"],
  [new TesseraError("timeout", "slow"), 504, "api_error"],
];
for (const [err, status, type] of errorCases) {
  test(`${err.kind}${err.details.code ? `/${err.details.code}` : ""} → ${status} ${type}`, () => {
    assert.equal(err.status, status);
    assert.deepEqual(errorToAnthropic(err), { type: "error", error: { type, message: err.message } });
  });
}

test("the request id goes in the error body when known", () => {
  assert.equal(errorToAnthropic(new TesseraError("not_found", "x"), "01ABC").request_id, "01ABC");
});
