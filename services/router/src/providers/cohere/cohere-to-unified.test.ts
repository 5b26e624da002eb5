import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { ChatChunkSchema, ChatResponseSchema, EmbedRequestSchema, Role, type ChatChunk } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { ProviderError } from "../errors.js";
import { assemble as fold, sseEvents } from "../adapter-test-kit.js";
import {
  CohereStreamTranslator,
  embedResponseFromCohere,
  finishReasonFromCohere,
  generationFailure,
  responseFromCohere,
  usageFromCohere,
} from "./cohere-to-unified.js";
import { keepFirstToolCall, keepFirstToolCallDelta } from "../one-tool-call.js";
import type { CohereChatResponse, CohereEmbedResponse, CohereStreamEvent } from "./wire.js";

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");
const json = <T>(name: string) => JSON.parse(fixture(name)) as T;
const NOW = 1_750_000_000;
const MODEL = "command-a-03-2025";

/** Parse SSE bytes (given as pieces, as they might arrive) into events. */
const events = (pieces: Uint8Array[]) => sseEvents<CohereStreamEvent>(pieces);

/** Fold chunks the way a client would (text, tool calls by index, finish reason), plus what a split must not change: ids, usage and where it rides. */
function assemble(chunks: ChatChunk[]) {
  const { content, finish, roleChunks, calls, last } = fold(chunks);
  const u = last.usage;
  return {
    content,
    finish,
    roleChunks,
    calls: [...calls.entries()],
    ids: [...new Set(chunks.map((c) => c.id))],
    usage: u ? { prompt: u.promptTokens, completion: u.completionTokens, total: u.totalTokens, cached: u.cachedTokens } : undefined,
    usageChunks: chunks.filter((c) => c.usage).length,
    lastHasChoices: last.choices.length > 0,
  };
}

async function translate(name: string, pieces?: Uint8Array[]) {
  const bytes = new TextEncoder().encode(fixture(name));
  const tr = new CohereStreamTranslator("cohere", MODEL, NOW);
  const chunks = (await events(pieces ?? [bytes])).flatMap((e) => tr.push(e.data));
  return { chunks, done: tr.done, a: assemble(chunks) };
}

/**
 * Feed the fixture split at every byte: once as one read per byte (every boundary at once,
 * multi-byte characters included), then as two reads split at each position in turn. Each must
 * give the answer the whole body gives.
 */
async function assertEverySplit(name: string) {
  const bytes = new TextEncoder().encode(fixture(name));
  const whole = (await translate(name)).a;
  const single = await translate(name, [...bytes].map((b) => Uint8Array.of(b)));
  assert.equal(single.done, true);
  assert.deepEqual(single.a, whole, `${name} read one byte at a time`);
  for (let i = 0; i <= bytes.length; i++) {
    const { a, done } = await translate(name, [bytes.subarray(0, i), bytes.subarray(i)]);
    assert.equal(done, true, `${name} split at ${i}: message-end seen`);
    assert.deepEqual(a, whole, `${name} split at byte ${i}`);
  }
}

// ---------------------------------------------------------------- whole answers

test("fixture chat-text: id, model, content, finish stop and usage from `tokens` (not billed_units), field by field", () => {
  const r = responseFromCohere(json<CohereChatResponse>("chat-text.json"), MODEL, "cohere", NOW);
  assert.equal(r.id, "c14c80c3-18eb-4519-9460-6c92edd8cfb4");
  assert.equal(r.model, MODEL);
  assert.equal(r.created, BigInt(NOW));
  assert.equal(r.choices.length, 1);
  const c = r.choices[0]!;
  assert.equal(c.index, 0);
  assert.equal(c.finishReason, "stop");
  assert.equal(c.message?.role, Role.ASSISTANT);
  assert.ok(c.message!.content.startsWith("LLMs stand for Large Language Models, which are a type of neural network model"));
  assert.ok(c.message!.content.endsWith("exploring their applications in various domains."));
  const published = json<CohereChatResponse>("chat-text.json").message.content![0] as { text: string };
  assert.equal(c.message!.content, published.text);
  assert.match(c.message!.content, /Transformer 3\) — An open-source LLM/);
  assert.equal(c.message?.toolCalls.length, 0);
  assert.equal(r.usage?.promptTokens, 71);
  assert.equal(r.usage?.completionTokens, 418);
  assert.equal(r.usage?.totalTokens, 489);
  assert.equal(r.usage?.cachedTokens, 0);
  assert.equal(r.usage?.reasoningTokens, 0);
});

for (const name of ["chat-tool-calls.json", "chat-tool-calls-thinking.json"])
  test(`fixture ${name}: two tool calls with ids, names and argument text; the plan does not leak into content`, () => {
    const r = responseFromCohere(json<CohereChatResponse>(name), MODEL, "cohere", NOW);
    const c = r.choices[0]!;
    assert.equal(r.id, "9e5f00aa-bf1e-481a-abe3-0eceac18c3ec");
    assert.equal(c.finishReason, "tool_calls");
    assert.equal(c.message?.content, "");
    assert.deepEqual(
      c.message!.toolCalls.map((t) => [t.id, t.type, t.function?.name, t.function?.arguments]),
      [
        ["query_daily_sales_report_hgxxmkby3wta", "function", "query_daily_sales_report", '{"day": "2023-09-29"}'],
        ["query_product_catalog_rpg0z5h8yyz2", "function", "query_product_catalog", '{"category": "Electronics"}'],
      ],
    );
    assert.equal(r.usage?.promptTokens, 1032);
    assert.equal(r.usage?.completionTokens, 124);
    assert.equal(r.usage?.totalTokens, 1156);
  });

test("fixture chat-cached-usage: MAX_TOKENS → length; cached_tokens are part of the prompt count", () => {
  const r = responseFromCohere(json<CohereChatResponse>("chat-cached-usage.json"), MODEL, "cohere", NOW);
  assert.equal(r.choices[0]!.finishReason, "length");
  assert.equal(r.choices[0]!.message?.content, "OK.");
  assert.equal(r.usage?.promptTokens, 500);
  assert.equal(r.usage?.cachedTokens, 448);
  assert.equal(r.usage?.completionTokens, 5);
  assert.equal(r.usage?.totalTokens, 505);
});

test("fixture chat-tool-call-no-args: arguments {} pass through; tool_plan dropped; cached usage", () => {
  const r = responseFromCohere(json<CohereChatResponse>("chat-tool-call-no-args.json"), MODEL, "cohere", NOW);
  const c = r.choices[0]!;
  assert.equal(c.message?.content, "");
  assert.equal(c.message?.toolCalls[0]?.id, "currentTime_tf4dywn8wgnk");
  assert.equal(c.message?.toolCalls[0]?.function?.name, "currentTime");
  assert.equal(c.message?.toolCalls[0]?.function?.arguments, "{}");
  assert.equal(r.usage?.promptTokens, 1445);
  assert.equal(r.usage?.cachedTokens, 992);
});

test("response: several text blocks concatenate, thinking blocks are dropped, empty arguments become {}", () => {
  const r = responseFromCohere(
    {
      id: "x",
      finish_reason: "TOOL_CALL",
      message: {
        role: "assistant",
        content: [{ type: "thinking", thinking: "secret" }, { type: "text", text: "Hello, " }, { type: "text", text: "world." }],
        tool_calls: [{ id: "f_1", type: "function", function: { name: "f", arguments: "" } }],
      },
    },
    MODEL,
    "cohere",
    NOW,
  );
  assert.equal(r.choices[0]!.message?.content, "Hello, world.");
  assert.equal(r.choices[0]!.message?.toolCalls[0]?.function?.arguments, "{}");
  assert.equal(r.usage, undefined, "no usage in the answer, none invented");
});

const FINISH: [string | undefined, string][] = [
  ["COMPLETE", "stop"],
  ["STOP_SEQUENCE", "stop"],
  ["MAX_TOKENS", "length"],
  ["TOOL_CALL", "tool_calls"],
  ["SOMETHING_NEW", "stop"],
  [undefined, ""],
];
for (const [from, to] of FINISH)
  test(`finish_reason: ${String(from)} → ${JSON.stringify(to)}`, () => {
    assert.equal(finishReasonFromCohere(from), to);
  });

test("finish_reason ERROR and TIMEOUT are failures, retryable for a whole answer; other reasons are not failures", () => {
  for (const reason of ["ERROR", "TIMEOUT"] as const) {
    assert.throws(
      () => responseFromCohere({ id: "x", finish_reason: reason, message: { role: "assistant", content: [{ type: "text", text: "partial" }] } }, MODEL, "cohere", NOW),
      (err: unknown) => {
        assert.ok(err instanceof ProviderError);
        assert.equal(err.retryable, true);
        assert.equal(err.kind, reason === "ERROR" ? "upstream_error" : "timeout");
        assert.equal(err.details.code, reason === "ERROR" ? "upstream_generation_error" : "upstream_timeout");
        assert.match(err.message, new RegExp(`finish_reason ${reason}`));
        return true;
      },
    );
  }
  assert.equal(generationFailure("cohere", "COMPLETE", undefined, true), undefined);
});

test("usage: tokens win over billed_units; billed_units are the fallback; doubles become whole numbers", () => {
  const both = usageFromCohere({ billed_units: { input_tokens: 5, output_tokens: 9 }, tokens: { input_tokens: 69, output_tokens: 9 } })!;
  assert.deepEqual([both.promptTokens, both.completionTokens, both.totalTokens, both.cachedTokens], [69, 9, 78, 0]);
  const billed = usageFromCohere({ billed_units: { input_tokens: 37.0, output_tokens: 28.0 } })!;
  assert.deepEqual([billed.promptTokens, billed.completionTokens, billed.totalTokens], [37, 28, 65]);
  assert.equal(usageFromCohere(undefined), undefined);
  assert.equal(usageFromCohere({}), undefined);
});

// ---------------------------------------------------------------- streams

test("stream fixture stream-text: event names match data types; role first, text assembled, finish stop, usage last", async () => {
  const evs = await events([new TextEncoder().encode(fixture("stream-text.sse"))]);
  for (const e of evs) assert.equal(e.event, e.data.type);
  const { chunks, done, a } = await translate("stream-text.sse");
  assert.equal(done, true);
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT, "first chunk carries the role");
  assert.equal(a.roleChunks, 1);
  assert.equal(a.content, "LLMs stand for Large Language Models, which are a type of neural network model specialized in processing and generating human language.");
  assert.equal(a.finish, "stop");
  assert.deepEqual(a.ids, ["29f14a5a-11de-4cae-9800-25e4747408ea"]);
  for (const c of chunks) {
    assert.equal(c.model, MODEL);
    assert.equal(c.created, BigInt(NOW));
  }
  assert.equal(a.lastHasChoices, false, "the usage chunk has no choices");
  assert.deepEqual(a.usage, { prompt: 71, completion: 26, total: 97, cached: 0 });
  assert.equal(a.usageChunks, 1, "usage only on the last chunk");
  assert.deepEqual(a.calls, []);
});

test("stream fixture stream-tool-calls: tool-plan-delta is dropped; two calls at index 0 and 1 with ids, names and assembled arguments", async () => {
  const { chunks, a } = await translate("stream-tool-calls.sse");
  assert.equal(a.content, "", "the tool plan is not content");
  assert.deepEqual(a.calls, [
    [0, { id: "query_daily_sales_report_j3f0adww9pmr", type: "function", name: "query_daily_sales_report", arguments: '{"day": "2023-09-29"}' }],
    [1, { id: "query_product_catalog_c66nf11r6s8g", type: "function", name: "query_product_catalog", arguments: '{"category": "Electronics"}' }],
  ]);
  assert.equal(a.finish, "tool_calls");
  assert.deepEqual(a.usage, { prompt: 1589, completion: 135, total: 1724, cached: 0 });
  const starts = chunks.flatMap((c) => c.choices[0]?.delta?.toolCalls ?? []).filter((t) => t.id);
  assert.deepEqual(
    starts.map((t) => [t.index, t.name, t.arguments]),
    [
      [0, "query_daily_sales_report", ""],
      [1, "query_product_catalog", ""],
    ],
    "id and name arrive once per call, first",
  );
});

test("stream fixture stream-text-openapi: v1-style event names do not matter, the data type does", async () => {
  const evs = await events([new TextEncoder().encode(fixture("stream-text-openapi.sse"))]);
  assert.deepEqual([...new Set(evs.map((e) => e.event))], ["stream-start", "text-generation", "stream-end"]);
  const { a, done } = await translate("stream-text-openapi.sse");
  assert.equal(done, true);
  assert.equal(a.content, "Hello! How can I help you today?");
  assert.equal(a.finish, "stop");
  assert.deepEqual(a.usage, { prompt: 69, completion: 9, total: 78, cached: 0 });
});

test("stream fixture stream-citations: citation events carry nothing; text around them assembles", async () => {
  const { a } = await translate("stream-citations.sse");
  assert.equal(a.content, "Both Nsync and Backstreet Boys were");
  assert.equal(a.finish, "stop");
  assert.deepEqual(a.usage, { prompt: 1661, completion: 19, total: 1680, cached: 0 });
});

test("stream fixture stream-tool-call-no-args (data lines only): a call with no argument deltas assembles to {}", async () => {
  const evs = await events([new TextEncoder().encode(fixture("stream-tool-call-no-args.sse"))]);
  assert.ok(evs.every((e) => e.event === "message"), "recorded without event: lines");
  const { a } = await translate("stream-tool-call-no-args.sse");
  assert.deepEqual(a.calls, [[0, { id: "currentTime_y46ar19t5gvw", type: "function", name: "currentTime", arguments: "{}" }]]);
  assert.equal(a.content, "");
  assert.equal(a.finish, "tool_calls");
  assert.deepEqual(a.usage, { prompt: 1445, completion: 43, total: 1488, cached: 704 });
});

test("stream fixture stream-cached-usage: MAX_TOKENS → length, cached tokens on the usage chunk", async () => {
  const { a } = await translate("stream-cached-usage.sse");
  assert.equal(a.content, "OK.");
  assert.equal(a.finish, "length");
  assert.deepEqual(a.ids, ["88492c0b-8227-4256-9b88-1ac956f43de5"]);
  assert.deepEqual(a.usage, { prompt: 500, completion: 5, total: 505, cached: 448 });
});

for (const name of ["stream-text.sse", "stream-text-openapi.sse", "stream-tool-calls.sse", "stream-citations.sse", "stream-tool-call-no-args.sse", "stream-cached-usage.sse"])
  test(`stream fixture ${name} split at every byte gives the same answer`, async () => {
    await assertEverySplit(name);
  });

test("stream: thinking content is dropped, text kept", () => {
  const tr = new CohereStreamTranslator("cohere", MODEL, NOW);
  const chunks = [
    { type: "message-start", id: "m1" },
    { type: "content-start", index: 0, delta: { message: { content: { type: "thinking", thinking: "" } } } },
    { type: "content-delta", index: 0, delta: { message: { content: { thinking: "Let me think." } } } },
    { type: "content-end", index: 0 },
    { type: "content-start", index: 1, delta: { message: { content: { type: "text", text: "" } } } },
    { type: "content-delta", index: 1, delta: { message: { content: { text: "Answer." } } } },
    { type: "message-end", delta: { finish_reason: "COMPLETE" } },
  ].flatMap((e) => tr.push(e as CohereStreamEvent));
  const a = assemble(chunks);
  assert.equal(a.content, "Answer.");
  assert.equal(a.usage, undefined, "no usage reported, none invented");
});

test("stream: message-end with finish_reason ERROR → non-retryable ProviderError carrying Cohere's error text", () => {
  const tr = new CohereStreamTranslator("cohere", MODEL, NOW);
  tr.push({ type: "message-start", id: "m1" });
  assert.throws(
    () => tr.push({ type: "message-end", delta: { finish_reason: "ERROR", error: "internal server error" } }),
    (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.equal(err.retryable, false);
      assert.equal(err.details.code, "upstream_generation_error");
      assert.match(err.message, /internal server error/);
      return true;
    },
  );
  assert.equal(tr.done, false);
});

test("stream: a tool-call-delta for a call that never started is garbage", () => {
  const tr = new CohereStreamTranslator("cohere", MODEL, NOW);
  tr.push({ type: "message-start", id: "m1" });
  assert.throws(
    () => tr.push({ type: "tool-call-delta", index: 3, delta: { message: { tool_calls: { function: { arguments: "{" } } } } }),
    (err: unknown) => err instanceof ProviderError && err.details.code === "upstream_garbage" && !err.retryable,
  );
});

test("stream: done only after message-end; unknown event types are ignored", () => {
  const tr = new CohereStreamTranslator("cohere", MODEL, NOW);
  assert.equal(tr.push({ type: "message-start", id: "m1" }).length, 1);
  assert.deepEqual(tr.push({ type: "debug" }), []);
  assert.equal(tr.done, false);
  tr.push({ type: "message-end", delta: { finish_reason: "COMPLETE" } });
  assert.equal(tr.done, true);
});

// ---------------------------------------------------------------- embeddings

test("fixture embed-response: vectors in input order, usage from meta.billed_units.input_tokens, the asked model", () => {
  const req = create(EmbedRequestSchema, { input: ["sunny day at the beach", "rainy day in the city"] });
  const r = embedResponseFromCohere(json<CohereEmbedResponse>("embed-response.json"), "embed-v4.0", req, "cohere");
  assert.equal(r.model, "embed-v4.0");
  assert.deepEqual(
    r.data.map((d) => d.index),
    [0, 1],
  );
  assert.deepEqual(r.data[0]!.vector, [0.03302002, 0.020904541, -0.019744873, -0.0625, 0.04437256]);
  assert.deepEqual(r.data[1]!.vector, [-0.04660034, 0.00037765503, -0.061157227, -0.08239746, -0.010360718]);
  assert.equal(r.usage?.promptTokens, 10);
  assert.equal(r.usage?.totalTokens, 10);
  assert.equal(r.usage?.completionTokens, 0);
});

test("embed answers that cannot be read are retryable garbage", () => {
  const req = create(EmbedRequestSchema, { input: ["a", "b"] });
  const cases: unknown[] = [{ id: "x", embeddings: {} }, { id: "x", embeddings: { float: [[0.1]] } }, { id: "x", embeddings: { float: [[0.1], ["no"]] } }];
  for (const body of cases)
    assert.throws(
      () => embedResponseFromCohere(body as CohereEmbedResponse, "m", req, "cohere"),
      (err: unknown) => err instanceof ProviderError && err.details.code === "upstream_garbage" && err.retryable,
    );
});

// ---------------------------------------------------------------- parallel_tool_calls=false

test("keepFirstToolCall keeps only the first call of an answer", () => {
  const r = create(ChatResponseSchema, {
    choices: [
      {
        message: {
          toolCalls: [
            { id: "a", function: { name: "f" } },
            { id: "b", function: { name: "g" } },
          ],
        },
      },
    ],
  });
  assert.deepEqual(
    keepFirstToolCall(r).choices[0]!.message!.toolCalls.map((t) => t.id),
    ["a"],
  );
});

test("keepFirstToolCallDelta drops deltas of later calls and chunks left empty, keeps finish and usage chunks", () => {
  const chunk = (toolCalls: { index: number; arguments?: string }[], finishReason = "") => create(ChatChunkSchema, { choices: [{ delta: { toolCalls }, finishReason }] });
  assert.equal(keepFirstToolCallDelta(chunk([{ index: 1, arguments: "{" }])), undefined);
  assert.deepEqual(
    keepFirstToolCallDelta(chunk([{ index: 0, arguments: "{" }]))!.choices[0]!.delta!.toolCalls.map((t) => t.index),
    [0],
  );
  assert.equal(keepFirstToolCallDelta(chunk([{ index: 1 }], "tool_calls"))?.choices[0]?.finishReason, "tool_calls");
  const usage = create(ChatChunkSchema, { choices: [], usage: { promptTokens: 1 } });
  assert.equal(keepFirstToolCallDelta(usage), usage);
});
