/**
 * What every OpenAI-family adapter must do against its fake, as one table of node:test
 * cases: each provider's adapter.test.ts registers them with its own expectations (paths,
 * auth header, usage it reports, the names of renamed fields), then adds its own. Test code.
 */
import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, EmbedRequestSchema, Role, type ChatChunk } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { ProviderError } from "../errors.js";
import type { ProviderAdapter } from "../types.js";
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

/** Collected output of a stream. */
export interface Assembled {
  chunks: ChatChunk[];
  text: string;
  /** [index, id, name, arguments] per tool call, by index. */
  calls: [number, string, string, string][];
  finish: string;
  usage: ChatChunk["usage"];
}

/** Read a whole stream. */
export async function collect(it: AsyncIterable<ChatChunk>): Promise<ChatChunk[]> {
  const out: ChatChunk[] = [];
  for await (const c of it) out.push(c);
  return out;
}

/** Assemble text, tool calls (by index), finish reason and usage from chunks. */
export function assemble(chunks: ChatChunk[]): Assembled {
  let text = "";
  let finish = "";
  let usage: ChatChunk["usage"];
  const calls = new Map<number, { id: string; name: string; args: string }>();
  for (const c of chunks) {
    for (const ch of c.choices) {
      text += ch.delta?.content ?? "";
      for (const t of ch.delta?.toolCalls ?? []) {
        const cur = calls.get(t.index) ?? { id: "", name: "", args: "" };
        if (t.id) cur.id = t.id;
        if (t.name) cur.name = t.name;
        cur.args += t.arguments;
        calls.set(t.index, cur);
      }
      if (ch.finishReason) finish = ch.finishReason;
    }
    if (c.usage) usage = c.usage;
  }
  const sorted = [...calls.entries()].sort(([a], [b]) => a - b).map(([i, c]): [number, string, string, string] => [i, c.id, c.name, c.args]);
  return { chunks, text, calls: sorted, finish, usage };
}

/** A unified chat request: a system and a user message, plus what the case adds. */
export function chatRequest(init: Partial<MessageInitShape<typeof ChatRequestSchema>> = {}) {
  return create(ChatRequestSchema, {
    model: "alias",
    messages: [
      { role: Role.SYSTEM, content: "Be brief." },
      { role: Role.USER, content: "hello there" },
    ],
    ...init,
  } as MessageInitShape<typeof ChatRequestSchema>);
}

const CITY = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
/** The tools the cases offer: get_weather, then get_time. */
export const TOOLS = [
  { type: "function", function: { name: "get_weather", description: "Weather of a city", parameters: CITY } },
  { type: "function", function: { name: "get_time", description: "Time in a city", parameters: CITY } },
] as const;

/** Assert a ProviderError of the given kind, code, retryability and HTTP status. */
export function assertProviderError(err: unknown, kind: string, code: string, retryable: boolean, status?: number): true {
  assert.ok(err instanceof ProviderError, `expected a ProviderError, got ${String(err)}`);
  assert.equal(err.kind, kind, err.message);
  assert.equal(err.details.code, code, err.message);
  assert.equal(err.retryable, retryable);
  if (status !== undefined) assert.equal(err.status, status);
  return true;
}

const signal = () => AbortSignal.timeout(5_000);

/**
 * Register the shared cases for one provider: chat, stream, tools (single, parallel, parallel
 * off), a tool-result round trip, json_schema, images, embeddings (order, dimensions), and
 * every failure mode of its fake.
 */
export function familyConformance(c: FamilyCase): void {
  let fake: ProviderFake<string>;
  let adapter: ProviderAdapter;
  const options = (fakeUrl: string, o: Partial<HttpAdapterOptions> = {}): HttpAdapterOptions => ({ id: c.id, baseUrl: fakeUrl, apiKey: c.apiKey, connections: 4, timeoutMs: 5_000, ...o });

  before(async () => {
    fake = await c.start();
    adapter = c.adapter(options(fake.url));
  });
  after(async () => {
    await adapter.close();
    await fake.close();
  });
  beforeEach(() => {
    fake.mode = "ok";
    fake.calls.length = 0;
  });

  const usage = (u: ChatChunk["usage"]) => [u?.promptTokens, u?.completionTokens, u?.totalTokens, u?.cachedTokens, u?.reasoningTokens];
  const expectedUsage = [c.usage.prompt, c.usage.completion, c.usage.total, c.usage.cached, c.usage.reasoning];

  test(`${c.id}: chat sends the OpenAI-shaped request and reads the answer field by field`, async () => {
    const r = await adapter.chat(chatRequest({ temperature: 0.3, maxTokens: 64 }), c.model, signal());
    assert.equal(r.choices.length, 1);
    assert.equal(r.choices[0]!.message?.role, Role.ASSISTANT);
    assert.equal(r.choices[0]!.message?.content, "Echo: hello there");
    assert.equal(r.choices[0]!.message?.toolCalls.length, 0);
    assert.equal(r.choices[0]!.finishReason, "stop");
    assert.equal(r.model, c.model);
    assert.notEqual(r.id, "");
    assert.ok(r.created > 0n);
    assert.deepEqual(usage(r.usage), expectedUsage);
    const call = fake.calls[0]!;
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
    const a = assemble(await collect(adapter.stream(chatRequest(), c.model, signal())));
    assert.equal(a.chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
    assert.equal(a.text, "Echo: hello there");
    assert.deepEqual(
      a.chunks.flatMap((ch) => ch.choices.map((x) => x.delta?.content ?? "")).filter((t) => t !== ""),
      ["Echo: ", "hello ", "there"],
    );
    assert.equal(a.finish, "stop");
    assert.deepEqual(usage(a.chunks[a.chunks.length - 1]!.usage), expectedUsage);
    for (const ch of a.chunks) assert.equal(ch.model, c.model);
    assert.equal(fake.calls[0]!.path, c.chatPath);
    assert.equal(fake.calls[0]!.body["stream"], true);
    assert.equal(fake.calls[0]!.headers["accept"], "text/event-stream");
  });

  test(`${c.id}: one tool offered → one call with its arguments (chat and stream)`, async () => {
    const req = chatRequest({ tools: [TOOLS[0]] });
    const r = await adapter.chat(req, c.model, signal());
    const tc = r.choices[0]!.message!.toolCalls;
    assert.equal(r.choices[0]!.finishReason, "tool_calls");
    assert.equal(r.choices[0]!.message!.content, "");
    assert.deepEqual(tc.map((t) => [t.type, t.function?.name, t.function?.arguments]), [["function", "get_weather", '{"city":"Paris"}']]);
    assert.match(tc[0]!.id, c.callId);
    assert.deepEqual(fake.calls[0]!.body["tools"], [TOOLS[0]]);
    const a = assemble(await collect(adapter.stream(req, c.model, signal())));
    assert.deepEqual(a.calls.map(([i, , name, args]) => [i, name, args]), [[0, "get_weather", '{"city":"Paris"}']]);
    assert.match(a.calls[0]![1], c.callId);
    assert.equal(a.finish, "tool_calls");
  });

  test(`${c.id}: two tools → two parallel calls, kept apart by index (chat and stream)`, async () => {
    const req = chatRequest({ tools: [...TOOLS] });
    const r = await adapter.chat(req, c.model, signal());
    assert.deepEqual(
      r.choices[0]!.message!.toolCalls.map((t) => [t.function?.name, t.function?.arguments]),
      [
        ["get_weather", '{"city":"Paris"}'],
        ["get_time", '{"city":"Rome"}'],
      ],
    );
    const ids = r.choices[0]!.message!.toolCalls.map((t) => t.id);
    assert.notEqual(ids[0], ids[1]);
    const a = assemble(await collect(adapter.stream(req, c.model, signal())));
    assert.deepEqual(a.calls.map(([i, , name, args]) => [i, name, args]), [
      [0, "get_weather", '{"city":"Paris"}'],
      [1, "get_time", '{"city":"Rome"}'],
    ]);
    assert.equal(a.finish, "tool_calls");
  });

  test(`${c.id}: parallel_tool_calls false is sent and honoured; without tools it is not sent`, async () => {
    const r = await adapter.chat(chatRequest({ tools: [...TOOLS], parallelToolCalls: false }), c.model, signal());
    assert.equal(r.choices[0]!.message!.toolCalls.length, 1);
    assert.equal(fake.calls[0]!.body["parallel_tool_calls"], false);
    await adapter.chat(chatRequest({ parallelToolCalls: true }), c.model, signal());
    assert.equal("parallel_tool_calls" in fake.calls[1]!.body, false);
  });

  test(`${c.id}: a tool result goes back as a tool message and is acknowledged`, async () => {
    const first = await adapter.chat(chatRequest({ tools: [TOOLS[0]] }), c.model, signal());
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
    const second = await adapter.chat(history(call.id), c.model, signal());
    assert.equal(second.choices[0]!.message!.content, "Tool said: sunny, 24°C");
    assert.equal(second.choices[0]!.finishReason, "stop");
    const sent = fake.calls[1]!.body["messages"] as { role: string; tool_calls?: { id: string }[]; tool_call_id?: string; content: unknown }[];
    assert.deepEqual(sent.map((m) => m.role), ["user", "assistant", "tool"]);
    assert.equal(sent[1]!.tool_calls![0]!.id, call.id);
    assert.equal(sent[2]!.tool_call_id, call.id);
    // A call id minted by another provider (OpenAI's shape) goes back too, paired.
    const foreign = await adapter.chat(history("call_abc123XYZ_0"), c.model, signal());
    assert.equal(foreign.choices[0]!.message!.content, "Tool said: sunny, 24°C");
    const fsent = fake.calls[2]!.body["messages"] as typeof sent;
    assert.equal(fsent[1]!.tool_calls![0]!.id, fsent[2]!.tool_call_id);
  });

  test(`${c.id}: a json_schema response format is sent as OpenAI's response_format`, async () => {
    const schema = { type: "object", properties: { answer: { type: "string" } }, required: ["answer"], additionalProperties: false };
    await adapter.chat(chatRequest({ responseFormat: { type: "json_schema", schemaName: "reply", schema, strict: true } }), c.model, signal());
    assert.deepEqual(fake.calls[0]!.body["response_format"], { type: "json_schema", json_schema: { name: "reply", schema, strict: true } });
  });

  test(`${c.id}: images travel as image_url parts next to the text`, async () => {
    const url = "data:image/png;base64,iVBORw0KGgo=";
    const r = await adapter.chat(
      chatRequest({ messages: [{ role: Role.USER, parts: [{ part: { case: "text", value: "what is this?" } }, { part: { case: "imageUrl", value: { url, detail: "low" } } }] }] }),
      c.model,
      signal(),
    );
    assert.equal(r.choices[0]!.message!.content, "Echo: what is this?");
    assert.deepEqual((fake.calls[0]!.body["messages"] as unknown[])[0], {
      role: "user",
      content: [
        { type: "text", text: "what is this?" },
        { type: "image_url", image_url: { url, detail: "low" } },
      ],
    });
  });

  test(`${c.id}: embeddings come back one per input, in input order, with usage`, async () => {
    const input = ["first text", "second text", "third text"];
    const r = await adapter.embed!(create(EmbedRequestSchema, { model: "alias", input }), c.model, signal());
    assert.deepEqual(r.data.map((e) => e.index), [0, 1, 2]);
    input.forEach((text, i) => assert.deepEqual(r.data[i]!.vector, fakeVector(text, FAKE_EMBEDDING_DIMS)));
    assert.equal(r.model, c.model);
    assert.equal(r.usage?.promptTokens, c.usage.prompt);
    assert.equal(r.usage?.totalTokens, c.usage.prompt);
    const call = fake.calls[0]!;
    assert.equal(call.path, c.embedPath);
    assert.deepEqual(call.body["input"], input);
    if (c.auth) assert.equal(call.headers[c.auth[0]], c.auth[1]);
  });

  test(`${c.id}: embeddings dimensions are sent as ${c.dimensionsField} and shorten the vectors`, async () => {
    const r = await adapter.embed!(create(EmbedRequestSchema, { model: "alias", input: ["x"], dimensions: 16 }), c.model, signal());
    assert.equal(r.data[0]!.vector.length, 16);
    assert.equal(fake.calls[0]!.body[c.dimensionsField], 16);
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
      fake.mode = mode;
      await assert.rejects(adapter.chat(chatRequest(), c.model, signal()), (err: unknown) => assertProviderError(err, kind, code, retryable, status));
      // In a stream the failure comes before the first chunk; garbage inside a stream cannot be retried.
      await assert.rejects(collect(adapter.stream(chatRequest(), c.model, signal())), (err: unknown) =>
        assertProviderError(err, kind, code, mode === "garbage" ? false : retryable, status),
      );
      if (mode !== "garbage")
        await assert.rejects(adapter.embed!(create(EmbedRequestSchema, { model: "alias", input: ["x"] }), c.model, signal()), (err: unknown) =>
          assertProviderError(err, kind, code, retryable, status),
        );
    });
  }

  test(`${c.id}: a 429 carries the provider's wait as retryAfterS`, async () => {
    fake.mode = "error_429";
    await assert.rejects(adapter.chat(chatRequest(), c.model, signal()), (err: unknown) => {
      assert.equal((err as ProviderError).details.retryAfterS, c.retryAfterS);
      return true;
    });
  });

  test(`${c.id}: a wrong key is upstream_auth, not the caller's fault`, async () => {
    const bad = c.adapter(options(fake.url, { apiKey: "wrong-key-0000" }));
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
    fake.mode = "cut_stream";
    const seen: ChatChunk[] = [];
    await assert.rejects(
      (async () => {
        for await (const ch of adapter.stream(chatRequest(), c.model, signal())) seen.push(ch);
      })(),
      (err: unknown) => assertProviderError(err, "upstream_error", "upstream_stream_cut", false),
    );
    assert.ok(seen.length >= 1, "the chunks before the cut were delivered");
    assert.equal(seen[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  });

  test(`${c.id}: an answer slower than the timeout is a retryable upstream_timeout`, async () => {
    const quick = c.adapter(options(fake.url, { timeoutMs: 200 }));
    fake.mode = "slow";
    try {
      await assert.rejects(quick.chat(chatRequest(), c.model, signal()), (err: unknown) => assertProviderError(err, "timeout", "upstream_timeout", true, 504));
    } finally {
      await quick.close();
    }
  });
}
