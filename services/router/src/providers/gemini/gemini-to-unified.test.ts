import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Role, type ChatChunk } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { ProviderError } from "../errors.js";
import { slices, sseEvents } from "../adapter-test-kit.js";
import { GeminiStreamTranslator, finishReasonFromGemini, responseFromGemini, usageFromGemini } from "./gemini-to-unified.js";
import type { GeminiResponse } from "@tessera/gemini-format";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
const json = (name: string) => JSON.parse(fixture(name)) as GeminiResponse;

/** A fixture .sse through the adapter's SSE parser, fed in awkward 7-byte slices so events split across reads, as on the network. */
const responses = async (name: string): Promise<GeminiResponse[]> => (await sseEvents<GeminiResponse>(slices(new TextEncoder().encode(fixture(name)), 7))).map((e) => e.data);

test("fixture text-response: content, role, finish reason, model fallback, no usage", () => {
  const r = responseFromGemini(json("text-response.json"), "gemini-pro");
  assert.equal(r.model, "gemini-pro");
  assert.match(r.id, /^gemini-[0-9a-f]{16}$/);
  assert.ok(r.created > 0n);
  assert.equal(r.choices.length, 1);
  const c = r.choices[0]!;
  assert.equal(c.index, 0);
  assert.equal(c.finishReason, "stop");
  assert.equal(c.message?.role, Role.ASSISTANT);
  assert.equal(c.message?.content, "```python\n# Example list to be sorted\nlist1 = [5, 3, 1, 2, 4]\n\n# Sort the list in ascending order\nlist1.sort()\n\n# Print the sorted list\nprint(list1)\n```");
  assert.equal(c.message?.toolCalls.length, 0);
  assert.equal(r.usage, undefined);
});

test("fixture function-call-response: a tool call with generated id, JSON arguments, finish tool_calls", () => {
  const r = responseFromGemini(json("function-call-response.json"), "gemini-pro");
  const c = r.choices[0]!;
  assert.equal(c.finishReason, "tool_calls");
  assert.equal(c.message?.content, "");
  assert.equal(c.message?.toolCalls.length, 1);
  const tc = c.message!.toolCalls[0]!;
  assert.match(tc.id, /^call_[0-9a-f]{12}_0$/);
  assert.equal(tc.type, "function");
  assert.equal(tc.function?.name, "find_theaters");
  assert.deepEqual(JSON.parse(tc.function!.arguments), { movie: "Barbie", location: "Mountain View, CA" });
});

test("tool call ids are call_<responseId>_<n>, and a Gemini-sent id wins", () => {
  const r = responseFromGemini(
    {
      responseId: "abc",
      candidates: [{ content: { role: "model", parts: [{ functionCall: { name: "f", args: {} } }, { functionCall: { id: "g-1", name: "g", args: { a: 1 } } }, { functionCall: { name: "h" } }] }, finishReason: "STOP" }],
    },
    "m",
  );
  assert.deepEqual(
    r.choices[0]!.message!.toolCalls.map((t) => [t.id, t.function?.name, t.function?.arguments]),
    [
      ["call_abc_0", "f", "{}"],
      ["g-1", "g", '{"a":1}'],
      ["call_abc_2", "h", "{}"],
    ],
  );
});

test("usage maps cached and thoughts tokens; thoughts count as completion", () => {
  const u = usageFromGemini({ promptTokenCount: 61, candidatesTokenCount: 34, totalTokenCount: 215, cachedContentTokenCount: 32, thoughtsTokenCount: 120 })!;
  assert.equal(u.promptTokens, 61);
  assert.equal(u.completionTokens, 154);
  assert.equal(u.totalTokens, 215);
  assert.equal(u.cachedTokens, 32);
  assert.equal(u.reasoningTokens, 120);
  const v = usageFromGemini({ promptTokenCount: 3, candidatesTokenCount: 4 })!;
  assert.equal(v.totalTokens, 7);
});

const finishCases: [string | undefined, boolean, string][] = [
  ["STOP", false, "stop"],
  ["STOP", true, "tool_calls"],
  ["MAX_TOKENS", false, "length"],
  ["MAX_TOKENS", true, "length"],
  ["SAFETY", false, "content_filter"],
  ["RECITATION", false, "content_filter"],
  ["BLOCKLIST", false, "content_filter"],
  ["PROHIBITED_CONTENT", false, "content_filter"],
  ["SPII", false, "content_filter"],
  ["OTHER", false, "stop"],
  ["MALFORMED_FUNCTION_CALL", false, "stop"],
  [undefined, false, "stop"],
];
for (const [reason, tools, expected] of finishCases) {
  test(`finishReason ${reason ?? "(none)"}${tools ? " with function calls" : ""} → ${expected}`, () => {
    assert.equal(finishReasonFromGemini(reason, tools), expected);
  });
}

test("thought parts are left out of the answer text", () => {
  const r = responseFromGemini({ candidates: [{ content: { role: "model", parts: [{ text: "thinking…", thought: true }, { text: "42" }] }, finishReason: "STOP" }] }, "m");
  assert.equal(r.choices[0]!.message?.content, "42");
});

test("a blocked prompt becomes a content_filter answer with a refusal, usage kept", () => {
  const r = responseFromGemini({ promptFeedback: { blockReason: "SAFETY" }, usageMetadata: { promptTokenCount: 9, totalTokenCount: 9 }, modelVersion: "gemini-2.5-flash", responseId: "r1" }, "m");
  assert.equal(r.id, "r1");
  assert.equal(r.model, "gemini-2.5-flash");
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0]!.finishReason, "content_filter");
  assert.equal(r.choices[0]!.message?.content, "");
  assert.match(r.choices[0]!.message!.refusal, /blocked the prompt \(SAFETY\)/);
  assert.equal(r.usage?.promptTokens, 9);
});

test("several candidates keep their index", () => {
  const r = responseFromGemini(
    { candidates: [{ index: 0, content: { role: "model", parts: [{ text: "a" }] }, finishReason: "STOP" }, { index: 1, content: { role: "model", parts: [{ text: "b" }] }, finishReason: "MAX_TOKENS" }] },
    "m",
  );
  assert.deepEqual(r.choices.map((c) => [c.index, c.message?.content, c.finishReason]), [[0, "a", "stop"], [1, "b", "length"]]);
});

function run(events: GeminiResponse[], model = "gemini-pro"): ChatChunk[] {
  const tr = new GeminiStreamTranslator("gemini-test", model);
  return [...events.flatMap((e) => tr.push(e)), ...tr.end()];
}

test("stream fixture stream-text: role first, text deltas in order, one finish at the end", async () => {
  const events = await responses("stream-text.sse");
  assert.equal(events.length, 6);
  const chunks = run(events);
  assert.equal(chunks.length, 7);
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  for (const c of chunks.slice(1)) assert.equal(c.choices[0]!.delta?.role, Role.UNSPECIFIED);
  // STOP on every recorded chunk must not end the stream early.
  for (const c of chunks.slice(0, 6)) assert.equal(c.choices[0]!.finishReason, "");
  const text = chunks.map((c) => c.choices[0]!.delta?.content ?? "").join("");
  assert.equal(text, events.map((e) => e.candidates![0]!.content!.parts[0]!.text).join(""));
  assert.ok(text.startsWith("In the quaint, sunlit cottage") && text.endsWith("stronger than ever."));
  const last = chunks[6]!;
  assert.equal(last.choices[0]!.finishReason, "stop");
  assert.equal(last.choices[0]!.delta?.content, "");
  assert.equal(last.usage, undefined);
  assert.equal(new Set(chunks.map((c) => c.id)).size, 1);
  assert.equal(chunks[0]!.model, "gemini-pro");
});

test("stream fixture stream-function-call: text, two whole tool calls, finish tool_calls, usage on last", async () => {
  const chunks = run(await responses("stream-function-call.sse"), "alias");
  assert.equal(chunks.length, 3);
  assert.equal(chunks[0]!.id, "x5BPaJ3tL4yW1dkP6_6OqAk");
  assert.equal(chunks[0]!.model, "gemini-2.5-flash");
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  assert.equal(chunks[0]!.choices[0]!.delta?.content, "Let me check the weather in both cities.");
  const calls = chunks[1]!.choices[0]!.delta!.toolCalls;
  assert.deepEqual(
    calls.map((t) => [t.index, t.id, t.type, t.name, t.arguments]),
    [
      [0, "call_x5BPaJ3tL4yW1dkP6_6OqAk_0", "function", "get_current_temperature", '{"location":"Paris"}'],
      [1, "call_x5BPaJ3tL4yW1dkP6_6OqAk_1", "function", "get_current_temperature", '{"location":"London"}'],
    ],
  );
  assert.equal(chunks[1]!.choices[0]!.finishReason, "");
  assert.equal(chunks[2]!.choices[0]!.finishReason, "tool_calls");
  assert.deepEqual(
    { p: chunks[2]!.usage?.promptTokens, c: chunks[2]!.usage?.completionTokens, t: chunks[2]!.usage?.totalTokens, cached: chunks[2]!.usage?.cachedTokens, r: chunks[2]!.usage?.reasoningTokens },
    { p: 61, c: 154, t: 215, cached: 32, r: 120 },
  );
});

test("stream tool-call ids match the non-streamed ids for the same response", async () => {
  const events = await responses("stream-function-call.sse");
  const whole = responseFromGemini({ ...events[1]!, candidates: [{ ...events[1]!.candidates![0]!, content: { role: "model", parts: events.flatMap((e) => e.candidates![0]!.content!.parts) } }] }, "m");
  const streamed = run(events).flatMap((c) => c.choices.flatMap((ch) => ch.delta?.toolCalls ?? []));
  assert.deepEqual(streamed.map((t) => t.id), whole.choices[0]!.message!.toolCalls.map((t) => t.id));
});

test("a stream that ends without a finishReason is upstream_stream_cut", async () => {
  const events = await responses("stream-function-call.sse");
  const tr = new GeminiStreamTranslator("gemini-test", "m");
  tr.push(events[0]!);
  assert.throws(
    () => tr.end(),
    (err: unknown) => err instanceof ProviderError && err.details.code === "upstream_stream_cut" && err.kind === "upstream_error" && !err.retryable,
  );
});

test("a blocked prompt in a stream ends with content_filter", () => {
  const chunks = run([{ promptFeedback: { blockReason: "PROHIBITED_CONTENT" }, usageMetadata: { promptTokenCount: 4, totalTokenCount: 4 } }]);
  assert.equal(chunks.length, 2);
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  assert.match(chunks[0]!.choices[0]!.delta!.refusal, /PROHIBITED_CONTENT/);
  assert.equal(chunks[1]!.choices[0]!.finishReason, "content_filter");
  assert.equal(chunks[1]!.usage?.promptTokens, 4);
});

test("a chunk with nothing new yields no unified chunk", () => {
  const tr = new GeminiStreamTranslator("gemini-test", "m");
  assert.equal(tr.push({ candidates: [{ content: { role: "model", parts: [{ text: "a" }] } }] }).length, 1);
  assert.equal(tr.push({ candidates: [{ content: { role: "model", parts: [{ text: "" }] } }], usageMetadata: { promptTokenCount: 1 } }).length, 0);
  assert.equal(tr.lastUsage?.promptTokens, 1);
});
