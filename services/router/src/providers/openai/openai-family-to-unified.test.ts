import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { create } from "@bufbuild/protobuf";
import { EmbedRequestSchema, Role, type ChatChunk } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { parseSse } from "@tessera/openai-format";
import { FamilyStreamTranslator, familyEmbeddings, familyResponse } from "./openai-family-to-unified.js";
import { assemble, assertProviderError } from "../adapter-test-kit.js";

/** A fixture of any provider folder of the family. */
const fixture = (folder: string, name: string) => readFileSync(new URL(`../${folder}/fixtures/${name}`, import.meta.url), "utf8");
const json = (folder: string, name: string): unknown => JSON.parse(fixture(folder, name));

/** Run a recorded SSE body through one translator, as the HTTP adapter does. */
async function translate(body: string): Promise<ChatChunk[]> {
  async function* bytes() {
    yield new TextEncoder().encode(body);
  }
  const tr = new FamilyStreamTranslator("p");
  const out: ChatChunk[] = [];
  for await (const ev of parseSse(bytes())) {
    out.push(...tr.push(ev));
    if (tr.done) break;
  }
  out.push(...tr.end());
  return out;
}

const sse = (...events: object[]) => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join("") + "data: [DONE]\n\n";

interface StreamCase {
  folder: string;
  file: string;
  text: string;
  calls: [number, string, string, string][];
  finish: string;
  /** [prompt, completion, total] or undefined when the stream reports none. */
  usage: [number, number, number] | undefined;
  chunks: number;
  id: string;
  model: string;
}

const streamCases: StreamCase[] = [
  { folder: "openai", file: "stream-text.sse", text: "Hello", calls: [], finish: "stop", usage: undefined, chunks: 3, id: "chatcmpl-123", model: "gpt-4o-mini" },
  {
    folder: "openai",
    file: "stream-tool-call-usage.sse",
    text: "",
    calls: [[0, "call_9ctHOJqO3bYrpm2A6S7nHd5k", "get_current_weather", '{"location":"Boston, MA"}']],
    finish: "tool_calls",
    usage: [83, 17, 100],
    chunks: 10,
    id: "chatcmpl-9blTCqGy0TGLdK4sOYlGrNxbGGknW",
    model: "gpt-4-turbo-2024-04-09",
  },
  // The prompt-filter chunk and the finish-less annotation are dropped: role, 3 words, the filter's finish.
  { folder: "azure", file: "stream-content-filter-blocked.sse", text: "Hey Jude,", calls: [], finish: "content_filter", usage: undefined, chunks: 5, id: "chatcmpl-8JCbt5d4luUIhYCI7YH4dQK7hnHx2", model: "gpt-35-turbo" },
  { folder: "mistral", file: "stream-text.sse", text: "Hello, world! This is a test response.", calls: [], finish: "stop", usage: [13, 8, 21], chunks: 8, id: "5319bd0299614c679a0068a4f2c8ffd0", model: "mistral-small-latest" },
  {
    folder: "mistral",
    file: "stream-tool-call.sse",
    text: "",
    calls: [[0, "gSIMJiOkT", "weather", '{"location": "San Francisco"}']],
    finish: "tool_calls",
    usage: [124, 22, 146],
    chunks: 2,
    id: "b3999b8c93e04e11bcbff7bcab829667",
    model: "mistral-small-latest",
  },
  // Thinking chunks carry no text for the caller: role, the text chunk, the finish.
  { folder: "mistral", file: "stream-reasoning.sse", text: "2 + 2 = 4", calls: [], finish: "stop", usage: [10, 46, 56], chunks: 3, id: "a4e29c5b82f94d67b23e108a7c9df6e1", model: "magistral-medium-2507" },
  { folder: "openai-compatible", file: "stream-text-ollama.sse", text: "My name is Ben Dover. How can I help you today?", calls: [], finish: "stop", usage: undefined, chunks: 1, id: "chatcmpl-768", model: "qwen2.5-coder:7b-instruct-q8_0" },
  {
    folder: "openai-compatible",
    file: "stream-tool-call-ollama.sse",
    text: "",
    calls: [[0, "call_hk81qg8b", "run_command", '{"command":"ls -la"}']],
    finish: "tool_calls",
    usage: undefined,
    chunks: 2,
    id: "chatcmpl-838",
    model: "qwen2.5-coder:7b-instruct-q8_0",
  },
];

for (const c of streamCases) {
  test(`recorded stream ${c.folder}/${c.file} translates to text ${JSON.stringify(c.text)}, ${c.calls.length} call(s), finish ${c.finish}`, async () => {
    const chunks = await translate(fixture(c.folder, c.file));
    const a = assemble(chunks);
    assert.equal(chunks.length, c.chunks);
    assert.equal(a.text, c.text);
    assert.deepEqual(a.callList, c.calls);
    assert.equal(a.finish, c.finish);
    assert.deepEqual(a.usage ? [a.usage.promptTokens, a.usage.completionTokens, a.usage.totalTokens] : undefined, c.usage);
    assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
    for (const ch of chunks) {
      assert.equal(ch.id, c.id);
      assert.equal(ch.model, c.model);
    }
    for (const t of chunks.flatMap((ch) => ch.choices.flatMap((x) => x.delta?.toolCalls ?? []))) if (t.id) assert.equal(t.type, "function");
  });
}

test("two Mistral calls in one chunk without index get indexes 0 and 1; a later id continues at 2", async () => {
  const base = { id: "m1", object: "chat.completion.chunk", created: 1, model: "mistral-large-latest" };
  const chunks = await translate(
    sse(
      { ...base, choices: [{ index: 0, delta: { role: "assistant", content: "" }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { tool_calls: [{ id: "aaaaaaaaa", function: { name: "f", arguments: "{}" } }, { id: "bbbbbbbbb", function: { name: "g", arguments: { x: 1 } } }] }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { tool_calls: [{ id: "ccccccccc", function: { name: "h", arguments: "{" } }] }, finish_reason: null }] },
      { ...base, choices: [{ index: 0, delta: { tool_calls: [{ function: { arguments: "}" } }] }, finish_reason: "tool_calls" }] },
    ),
  );
  assert.deepEqual(assemble(chunks).callList, [
    [0, "aaaaaaaaa", "f", "{}"],
    [1, "bbbbbbbbb", "g", '{"x":1}'],
    [2, "ccccccccc", "h", "{}"],
  ]);
});

test("Mistral's model_length finish reason reads as length", async () => {
  const chunks = await translate(sse({ id: "x", object: "chat.completion.chunk", created: 1, model: "m", choices: [{ index: 0, delta: { content: "a" }, finish_reason: "model_length" }] }));
  assert.equal(assemble(chunks).finish, "length");
});

const streamFailures: [string, string, string][] = [
  ["an error event", 'data: {"error":{"message":"Overloaded","type":"server_error"}}\n\n', "upstream_stream_error"],
  ["an event that is not JSON", "data: {not json\n\n", "upstream_garbage"],
  ["a chunk without choices", 'data: {"id":"x"}\n\n', "upstream_garbage"],
  ["a body that ends before [DONE]", 'data: {"id":"x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}\n\n', "upstream_stream_cut"],
];
for (const [name, body, code] of streamFailures) {
  test(`a stream with ${name} fails with ${code}, not retryable`, async () => {
    await assert.rejects(translate(body), (err: unknown) => assertProviderError(err, "upstream_error", code, false));
  });
}

test("recorded OpenAI tool-call completion: content empty, one call, usage", () => {
  const r = familyResponse("p", json("openai", "chat-completion-tool-call.json"), "gpt-4o-mini");
  const c = r.choices[0]!;
  assert.equal(r.id, "chatcmpl-abc123");
  assert.equal(r.created, 1699896916n);
  assert.equal(c.finishReason, "tool_calls");
  assert.equal(c.message?.content, "");
  assert.deepEqual(c.message?.toolCalls.map((t) => [t.id, t.type, t.function?.name, t.function?.arguments]), [["call_abc123", "function", "get_current_weather", '{\n"location": "Boston, MA"\n}']]);
  assert.deepEqual([r.usage?.promptTokens, r.usage?.completionTokens, r.usage?.totalTokens, r.usage?.reasoningTokens], [82, 17, 99, 0]);
});

test("recorded Azure completion (no model, no object) is named after the deployment", () => {
  const r = familyResponse("p", json("azure", "chat-completion.json"), "my-deployment");
  assert.equal(r.model, "my-deployment");
  assert.equal(r.id, "chatcmpl-7R1nGnsXO8n4oi9UPz2f3UHdgAYMn");
  assert.match(r.choices[0]!.message!.content, /^Ahoy matey! So ye be wantin' to care for a fine squawkin' parrot/);
  assert.equal(r.choices[0]!.finishReason, "stop");
  assert.deepEqual([r.usage?.promptTokens, r.usage?.completionTokens, r.usage?.totalTokens], [33, 557, 590]);
});

test("recorded Mistral tool-call completion (no type, no content) reads as a function call", () => {
  const r = familyResponse("p", json("mistral", "chat-tool-call.json"), "m");
  const c = r.choices[0]!;
  assert.equal(c.finishReason, "tool_calls");
  assert.equal(c.message?.content, "");
  assert.deepEqual(c.message?.toolCalls.map((t) => [t.id, t.type, t.function?.name, t.function?.arguments]), [["gSIMJiOkT", "function", "weather", '{"location": "San Francisco"}']]);
  assert.deepEqual([r.usage?.promptTokens, r.usage?.completionTokens, r.usage?.totalTokens], [124, 22, 146]);
});

test("recorded Mistral reasoning completion keeps the text chunk, not the thinking", () => {
  const r = familyResponse("p", json("mistral", "chat-reasoning.json"), "m");
  assert.equal(r.choices[0]!.message?.content, "2 + 2 = 4");
  assert.equal(r.model, "magistral-medium-2507");
});

test("a completion without choices is retryable garbage", () => {
  assert.throws(() => familyResponse("p", { id: "x" }, "m"), (err: unknown) => assertProviderError(err, "upstream_error", "upstream_garbage", true));
});

const embedCases: [string, string, string, number, number, number][] = [
  // folder, file, model expected, vectors, first vector length, prompt tokens
  ["openai", "embeddings.json", "text-embedding-ada-002", 1, 3, 8],
  ["azure", "embeddings.json", "my-deployment", 1, 8, 4],
  ["mistral", "embeddings.json", "mistral-embed", 2, 5, 16],
];
for (const [folder, file, model, n, len, prompt] of embedCases) {
  test(`recorded embeddings ${folder}/${file}: ${n} vector(s) of ${len}, ${prompt} prompt tokens, model ${model}`, () => {
    const input = Array.from({ length: n }, (_, i) => `t${i}`);
    const r = familyEmbeddings("p", json(folder, file), "my-deployment", create(EmbedRequestSchema, { model: "alias", input }));
    assert.equal(r.model, model);
    assert.equal(r.data.length, n);
    assert.deepEqual(r.data.map((e) => e.index), input.map((_, i) => i));
    assert.equal(r.data[0]!.vector.length, len);
    assert.equal(r.usage?.promptTokens, prompt);
  });
}

test("recorded Mistral embeddings keep each vector's values", () => {
  const r = familyEmbeddings("p", json("mistral", "embeddings.json"), "m", create(EmbedRequestSchema, { model: "a", input: ["a", "b"] }));
  assert.deepEqual(r.data[1]!.vector, [-0.0535888671875, 0.019500732421875, 0.057464599609375, 0.0029582977294921875, 0.0467529296875]);
});

test("embeddings that do not match the inputs are retryable garbage", () => {
  assert.throws(
    () => familyEmbeddings("p", json("mistral", "embeddings.json"), "m", create(EmbedRequestSchema, { model: "a", input: ["one", "two", "three"] })),
    (err: unknown) => assertProviderError(err, "upstream_error", "upstream_garbage", true) && /2 vectors for 3 inputs/.test((err as Error).message),
  );
});
