import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Readable } from "node:stream";
import { Role, type ChatChunk } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { ProviderError } from "../errors.js";
import { assemble } from "../adapter-test-kit.js";
import { BedrockStreamTranslator, finishReasonFromBedrock, responseFromConverse, streamErrorFromBedrock, usageFromBedrock } from "./bedrock-to-unified.js";
import { converseStreamEvents, encodeConverseEvent, encodeConverseException } from "./event-stream.js";
import { STRUCTURED_OUTPUT_TOOL } from "./unified-to-bedrock.js";
import type { ConverseResponse } from "./wire.js";

const read = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
const NOW = 1_750_000_000;
const MODEL = "anthropic.claude-3-sonnet-20240229-v1:0";

type FixtureEvent = { eventType: string; payload: Record<string, unknown>; messageType?: string };

/** A stream fixture → binary frames → the decoder → one translator: what the adapter does. */
async function translate(events: FixtureEvent[]): Promise<{ chunks: ChatChunk[]; tr: BedrockStreamTranslator; error?: unknown }> {
  const wire = Buffer.concat(events.map((e) => (e.messageType === "exception" ? encodeConverseException(e.eventType, e.payload) : encodeConverseEvent(e.eventType, e.payload))));
  const tr = new BedrockStreamTranslator("bedrock-test", MODEL, NOW);
  const chunks: ChatChunk[] = [];
  try {
    for await (const ev of converseStreamEvents(Readable.from([wire]), "bedrock-test")) chunks.push(...tr.push(ev.event, JSON.parse(ev.data) as Record<string, unknown>));
    chunks.push(...tr.end());
  } catch (error) {
    return { chunks, tr, error };
  }
  return { chunks, tr };
}

const streamFixture = (name: string) => JSON.parse(read(name)) as FixtureEvent[];

test("response fixture (text): content, finish_reason, model, created and usage field by field", () => {
  const r = responseFromConverse(JSON.parse(read("converse-text.json")) as ConverseResponse, MODEL, NOW);
  assert.match(r.id, /^bedrock-[0-9a-f]{24}$/);
  assert.equal(r.model, MODEL);
  assert.equal(r.created, BigInt(NOW));
  assert.equal(r.choices.length, 1);
  const c = r.choices[0]!;
  assert.equal(c.index, 0);
  assert.equal(c.finishReason, "stop");
  assert.equal(c.message?.role, Role.ASSISTANT);
  assert.equal(
    c.message?.content,
    'Here is a list of 3 pop songs by artists from the United Kingdom:\n\n1. "Wannabe" by Spice Girls\n2. "Bitter Sweet Symphony" by The Verve \n3. "Don\'t Look Back in Anger" by Oasis',
  );
  assert.equal(c.message?.toolCalls.length, 0);
  assert.equal(r.usage?.promptTokens, 125);
  assert.equal(r.usage?.completionTokens, 60);
  assert.equal(r.usage?.totalTokens, 185);
  assert.equal(r.usage?.cachedTokens, 0);
  assert.equal(r.usage?.reasoningTokens, 0);
});

test("response fixture (tool use): the toolUse block becomes a tool call, finish tool_calls, no usage published", () => {
  const r = responseFromConverse(JSON.parse(read("converse-tool-use.json")) as ConverseResponse, MODEL, NOW);
  const c = r.choices[0]!;
  assert.equal(c.finishReason, "tool_calls");
  assert.equal(c.message?.content, "");
  assert.equal(c.message?.toolCalls.length, 1);
  const call = c.message!.toolCalls[0]!;
  assert.equal(call.id, "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
  assert.equal(call.type, "function");
  assert.equal(call.function?.name, "top_song");
  assert.equal(call.function?.arguments, '{"sign":"WZPZ"}');
  assert.equal(r.usage, undefined);
});

test("response fixture (after the tool result): the answer text with finish stop", () => {
  const r = responseFromConverse(JSON.parse(read("converse-after-tool-result.json")) as ConverseResponse, MODEL, NOW);
  assert.equal(r.choices[0]!.message?.content, "The most popular song on WZPZ is Elemental Hotel by 8 Storey Hike.");
  assert.equal(r.choices[0]!.finishReason, "stop");
});

test("a response with text, reasoning and two tool calls keeps the calls in order and drops the reasoning", () => {
  const r = responseFromConverse(
    {
      output: {
        message: {
          role: "assistant",
          content: [
            { reasoningContent: { reasoningText: { text: "The user wants two cities.", signature: "sig" } } },
            { text: "Checking both." },
            { toolUse: { toolUseId: "tooluse_a", name: "get_weather", input: { city: "Paris" } } },
            { toolUse: { toolUseId: "tooluse_b", name: "get_weather", input: { city: "Rome" } } },
          ],
        },
      },
      stopReason: "tool_use",
    },
    MODEL,
    NOW,
  );
  const m = r.choices[0]!.message!;
  assert.equal(m.content, "Checking both.");
  assert.deepEqual(
    m.toolCalls.map((t) => [t.id, t.function?.name, t.function?.arguments]),
    [
      ["tooluse_a", "get_weather", '{"city":"Paris"}'],
      ["tooluse_b", "get_weather", '{"city":"Rome"}'],
    ],
  );
});

test("a call of the structured-output tool becomes the message text with finish stop", () => {
  const r = responseFromConverse(
    { output: { message: { role: "assistant", content: [{ toolUse: { toolUseId: "tooluse_x", name: STRUCTURED_OUTPUT_TOOL, input: { city: "Paris", temp: 21 } } }] } }, stopReason: "tool_use" },
    MODEL,
    NOW,
  );
  assert.equal(r.choices[0]!.message?.content, '{"city":"Paris","temp":21}');
  assert.equal(r.choices[0]!.message?.toolCalls.length, 0);
  assert.equal(r.choices[0]!.finishReason, "stop");
});

const FINISH: [string | undefined, string][] = [
  ["end_turn", "stop"],
  ["stop_sequence", "stop"],
  ["tool_use", "tool_calls"],
  ["max_tokens", "length"],
  ["model_context_window_exceeded", "length"],
  ["guardrail_intervened", "content_filter"],
  ["content_filtered", "content_filter"],
  ["malformed_model_output", "stop"],
  ["malformed_tool_use", "stop"],
  ["a_reason_added_later", "stop"],
  [undefined, ""],
];
for (const [reason, want] of FINISH)
  test(`stopReason ${reason} → finish_reason ${JSON.stringify(want)}`, () => {
    assert.equal(finishReasonFromBedrock(reason), want);
  });

test("usage: the prompt counts cache reads and writes on top of inputTokens; cache reads are the cached tokens", () => {
  const u = usageFromBedrock({ inputTokens: 14, outputTokens: 268, totalTokens: 1553, cacheReadInputTokens: 1271, cacheWriteInputTokens: 0 })!;
  assert.equal(u.promptTokens, 1285);
  assert.equal(u.completionTokens, 268);
  assert.equal(u.totalTokens, 1553);
  assert.equal(u.cachedTokens, 1271);
  assert.equal(u.reasoningTokens, 0);
  const w = usageFromBedrock({ inputTokens: 9, outputTokens: 357, cacheWriteInputTokens: 37209 })!;
  assert.equal(w.promptTokens, 37218);
  assert.equal(w.cachedTokens, 0);
  assert.equal(w.totalTokens, 37575);
  assert.equal(usageFromBedrock(undefined), undefined);
});

test("stream fixture (text): one role chunk, the text pieces, finish length, usage on the last chunk", async () => {
  const { chunks, tr, error } = await translate(streamFixture("stream-text.json"));
  assert.equal(error, undefined);
  const a = assemble(chunks);
  assert.equal(a.roleChunks, 1);
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  assert.equal(a.content, " Title: The");
  assert.equal(a.finish, "length");
  assert.equal(a.calls.size, 0);
  assert.equal(a.last.choices.length, 0);
  assert.equal(a.last.usage?.promptTokens, 47);
  assert.equal(a.last.usage?.completionTokens, 20);
  assert.equal(a.last.usage?.totalTokens, 67);
  assert.ok(chunks.every((c) => c.id === tr.id && c.model === MODEL && c.created === BigInt(NOW)));
  assert.equal(tr.done, true);
});

test("stream fixture (tool use): text, then the call's id and name, its input fragments, finish tool_calls, cache usage", async () => {
  const { chunks, error } = await translate(streamFixture("stream-tool-use.json"));
  assert.equal(error, undefined);
  const a = assemble(chunks);
  assert.equal(a.content, "I'll look up the top song on WZPZ.");
  assert.deepEqual([...a.calls.entries()], [[0, { id: "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", type: "function", name: "top_song", arguments: '{"sign": "WZPZ"}' }]]);
  const deltas = chunks.flatMap((c) => c.choices[0]?.delta?.toolCalls ?? []);
  assert.equal(deltas[0]!.name, "top_song", "the first delta names the call");
  assert.equal(deltas[0]!.arguments, "");
  assert.deepEqual(
    deltas.slice(1).map((d) => d.arguments),
    ['{"sign": "W', 'ZPZ"}'],
    "the empty fragment is not sent",
  );
  assert.equal(a.finish, "tool_calls");
  assert.equal(a.last.usage?.promptTokens, 712);
  assert.equal(a.last.usage?.cachedTokens, 300);
  assert.equal(a.last.usage?.completionTokens, 58);
  assert.equal(a.last.usage?.totalTokens, 770);
});

test("parallel tool calls get indexes 0 and 1 by call order, not by content block index", async () => {
  const { chunks } = await translate([
    { eventType: "messageStart", payload: { role: "assistant" } },
    { eventType: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { text: "Both." } } },
    { eventType: "contentBlockStop", payload: { contentBlockIndex: 0 } },
    { eventType: "contentBlockStart", payload: { contentBlockIndex: 1, start: { toolUse: { toolUseId: "tooluse_p", name: "get_weather" } } } },
    { eventType: "contentBlockDelta", payload: { contentBlockIndex: 1, delta: { toolUse: { input: '{"city":"Paris"}' } } } },
    { eventType: "contentBlockStop", payload: { contentBlockIndex: 1 } },
    { eventType: "contentBlockStart", payload: { contentBlockIndex: 2, start: { toolUse: { toolUseId: "tooluse_r", name: "get_time" } } } },
    { eventType: "contentBlockDelta", payload: { contentBlockIndex: 2, delta: { toolUse: { input: '{"city":' } } } },
    { eventType: "contentBlockDelta", payload: { contentBlockIndex: 2, delta: { toolUse: { input: '"Rome"}' } } } },
    { eventType: "contentBlockStop", payload: { contentBlockIndex: 2 } },
    { eventType: "messageStop", payload: { stopReason: "tool_use" } },
    { eventType: "metadata", payload: { usage: { inputTokens: 1, outputTokens: 2, totalTokens: 3 } } },
  ]);
  const a = assemble(chunks);
  assert.deepEqual(
    [...a.calls.entries()],
    [
      [0, { id: "tooluse_p", type: "function", name: "get_weather", arguments: '{"city":"Paris"}' }],
      [1, { id: "tooluse_r", type: "function", name: "get_time", arguments: '{"city":"Rome"}' }],
    ],
  );
});

test("the structured-output tool streams as content and finishes with stop", async () => {
  const { chunks } = await translate([
    { eventType: "messageStart", payload: { role: "assistant" } },
    { eventType: "contentBlockStart", payload: { contentBlockIndex: 0, start: { toolUse: { toolUseId: "tooluse_j", name: STRUCTURED_OUTPUT_TOOL } } } },
    { eventType: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { toolUse: { input: '{"city":' } } } },
    { eventType: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { toolUse: { input: '"Paris"}' } } } },
    { eventType: "contentBlockStop", payload: { contentBlockIndex: 0 } },
    { eventType: "messageStop", payload: { stopReason: "tool_use" } },
    { eventType: "metadata", payload: { usage: { inputTokens: 3, outputTokens: 4, totalTokens: 7 } } },
  ]);
  const a = assemble(chunks);
  assert.equal(a.content, '{"city":"Paris"}');
  assert.equal(a.calls.size, 0);
  assert.equal(a.finish, "stop");
});

test("reasoning deltas are dropped; text around them is kept", async () => {
  const { chunks } = await translate([
    { eventType: "messageStart", payload: { role: "assistant" } },
    { eventType: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { reasoningContent: { text: "thinking…" } } } },
    { eventType: "contentBlockDelta", payload: { contentBlockIndex: 0, delta: { reasoningContent: { signature: "sig" } } } },
    { eventType: "contentBlockDelta", payload: { contentBlockIndex: 1, delta: { text: "Answer." } } },
    { eventType: "messageStop", payload: { stopReason: "end_turn" } },
    { eventType: "metadata", payload: {} },
  ]);
  assert.equal(assemble(chunks).content, "Answer.");
});

test("stream fixture (exception): the chunks before it arrive, then a non-retryable rate_limited ProviderError", async () => {
  const { chunks, error } = await translate(streamFixture("stream-exception-throttling.json"));
  assert.equal(assemble(chunks).content, "Here is");
  assert.ok(error instanceof ProviderError);
  assert.equal(error.kind, "rate_limited");
  assert.equal(error.retryable, false);
  assert.equal(error.details.code, "upstream_stream_error");
  assert.equal(error.message, "bedrock-test stream error (throttlingException): Your request was denied due to exceeding the account quotas for Amazon Bedrock.");
});

test("stream exceptions map by type; modelStreamErrorException keeps the model's status", () => {
  const e1 = streamErrorFromBedrock("p", "modelStreamErrorException", { message: "stream broke", originalStatusCode: 500, originalMessage: "boom" });
  assert.equal(e1.kind, "upstream_error");
  assert.equal(e1.details.code, "upstream_stream_error");
  assert.equal(e1.message, "p stream error (modelStreamErrorException): stream broke (model status 500: boom)");
  const e2 = streamErrorFromBedrock("p", "serviceUnavailableException", { message: "busy" });
  assert.equal(e2.details.code, "upstream_overloaded");
  assert.equal(e2.retryable, false);
  const tr = new BedrockStreamTranslator("p", MODEL, NOW);
  assert.throws(() => tr.push("someFutureException", { message: "new" }), (err: unknown) => err instanceof ProviderError && /someFutureException/.test(err.message));
});

test("a stream that ends before messageStop is upstream_stream_cut", async () => {
  const { chunks, error } = await translate(streamFixture("stream-text.json").slice(0, 3));
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  assert.ok(error instanceof ProviderError);
  assert.equal(error.details.code, "upstream_stream_cut");
  assert.equal(error.retryable, false);
});

test("a stream that ends after messageStop without metadata is complete, without usage", async () => {
  const { chunks, error, tr } = await translate(streamFixture("stream-text.json").slice(0, 6));
  assert.equal(error, undefined);
  assert.equal(assemble(chunks).finish, "length");
  assert.ok(chunks.every((c) => c.usage === undefined));
  assert.equal(tr.done, false, "done waits for metadata");
});

test("tool input for a block that never started as toolUse is upstream_garbage", () => {
  const tr = new BedrockStreamTranslator("p", MODEL, NOW);
  assert.throws(
    () => tr.push("contentBlockDelta", { contentBlockIndex: 4, delta: { toolUse: { input: "{}" } } }),
    (err: unknown) => err instanceof ProviderError && err.details.code === "upstream_garbage",
  );
});

test("events added later and contentBlockStop yield nothing", () => {
  const tr = new BedrockStreamTranslator("p", MODEL, NOW);
  assert.deepEqual(tr.push("contentBlockStop", { contentBlockIndex: 0 }), []);
  assert.deepEqual(tr.push("someNewEvent", { x: 1 }), []);
});
