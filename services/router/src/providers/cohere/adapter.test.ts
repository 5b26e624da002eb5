import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, EmbedRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { withOneToolCallWhenAsked } from "../one-tool-call.js";
import { SCENARIO_TOOL_ARGS, SCENARIO_USAGE } from "../fake-scenario.js";
import { assemble, assertProviderError, chatErrorTable, collect, collectUntilFailure, type ErrorCase, rejectsWith, signal, useFakeAdapter } from "../adapter-test-kit.js";
import { cohereStatusError, createCohereAdapter } from "./adapter.js";
import { FAKE_COHERE_KEY, FAKE_COHERE_RETRY_AFTER_S, fakeCohereEmbedTokens, fakeCohereVector, startFakeCohere, type FakeCohere } from "./fake.js";

const MODEL = "command-a-03-2025";

const env = useFakeAdapter(() => startFakeCohere({ slowMs: 1_000 }), (fake) => createCohereAdapter({ id: "cohere-test", baseUrl: fake.url, apiKey: FAKE_COHERE_KEY, connections: 4, timeoutMs: 5_000 }));

type Init = MessageInitShape<typeof ChatRequestSchema>;
const req = (init: Init = {}) => create(ChatRequestSchema, { messages: [{ role: Role.SYSTEM, content: "Be brief." }, { role: Role.USER, content: "Hello" }], ...init });
const weather = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };
const time = { type: "function", function: { name: "get_time", parameters: { type: "object", properties: { city: { type: "string" } } } } };

test("chat: posts to /v2/chat with the bearer key and Cohere's body, returns the echo with the scenario's usage", async () => {
  const r = await env.adapter.chat(req({ maxTokens: 100 }), MODEL, signal());
  assert.equal(r.choices[0]!.message?.content, "Echo: Hello");
  assert.equal(r.choices[0]!.message?.role, Role.ASSISTANT);
  assert.equal(r.choices[0]!.finishReason, "stop");
  assert.match(r.id, /^00000000-0000-4000-8000-[0-9a-f]{12}$/);
  assert.equal(r.model, MODEL);
  assert.equal(r.usage?.promptTokens, SCENARIO_USAGE.prompt);
  assert.equal(r.usage?.completionTokens, SCENARIO_USAGE.completion);
  assert.equal(r.usage?.totalTokens, SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion);
  assert.equal(r.usage?.cachedTokens, SCENARIO_USAGE.cached);
  const call = env.fake.calls[0]!;
  assert.equal(call.path, "/v2/chat");
  assert.equal(call.headers["authorization"], `Bearer ${FAKE_COHERE_KEY}`);
  assert.match(String(call.headers["content-type"]), /application\/json/);
  assert.deepEqual(call.body, {
    model: MODEL,
    messages: [
      { role: "system", content: "Be brief." },
      { role: "user", content: "Hello" },
    ],
    stream: false,
    max_tokens: 100,
  });
});

test("stream: role first, echoed text word by word, finish stop, usage on the last chunk; the request asks for SSE", async () => {
  const chunks = await collect(env.adapter.stream(req(), MODEL, signal()));
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  assert.equal(assemble(chunks).text, "Echo: Hello");
  assert.deepEqual(
    chunks.filter((c) => c.choices[0]?.delta?.content).map((c) => c.choices[0]!.delta!.content),
    ["Echo: ", "Hello"],
  );
  assert.equal(assemble(chunks).finish, "stop");
  const last = chunks[chunks.length - 1]!;
  assert.equal(last.choices.length, 0);
  assert.deepEqual([last.usage?.promptTokens, last.usage?.completionTokens, last.usage?.cachedTokens], [SCENARIO_USAGE.prompt, SCENARIO_USAGE.completion, SCENARIO_USAGE.cached]);
  assert.equal(env.fake.calls[0]!.body["stream"], true);
  assert.match(String(env.fake.calls[0]!.headers["accept"]), /text\/event-stream/);
  assert.match(chunks[0]!.id, /^00000000-0000-4000-8000-[0-9a-f]{12}$/);
  for (const c of chunks) assert.equal(c.id, chunks[0]!.id, "every chunk carries the message-start id");
});

test("chat with one tool: a call of it with the scenario arguments; the tool plan is not content", async () => {
  const r = await env.adapter.chat(req({ tools: [weather] }), MODEL, signal());
  const c = r.choices[0]!;
  assert.equal(c.finishReason, "tool_calls");
  assert.equal(c.message?.content, "");
  assert.equal(c.message?.toolCalls.length, 1);
  const tc = c.message!.toolCalls[0]!;
  assert.match(tc.id, /^get_weather_[0-9a-z]{12}$/);
  assert.equal(tc.type, "function");
  assert.equal(tc.function?.name, "get_weather");
  assert.equal(tc.function?.arguments, SCENARIO_TOOL_ARGS[0]);
  assert.deepEqual(env.fake.calls[0]!.body["tools"], [weather]);
});

test("chat with two tools: two parallel calls with distinct ids, names and arguments", async () => {
  const r = await env.adapter.chat(req({ tools: [weather, time] }), MODEL, signal());
  const calls = r.choices[0]!.message!.toolCalls;
  assert.deepEqual(
    calls.map((t) => [t.function?.name, t.function?.arguments]),
    [
      ["get_weather", SCENARIO_TOOL_ARGS[0]],
      ["get_time", SCENARIO_TOOL_ARGS[1]],
    ],
  );
  assert.notEqual(calls[0]!.id, calls[1]!.id);
});

test("stream with two tools: tool-plan dropped, calls at index 0 and 1 assembled from fragments", async () => {
  const chunks = await collect(env.adapter.stream(req({ tools: [weather, time] }), MODEL, signal()));
  assert.equal(assemble(chunks).text, "");
  const calls = [...assemble(chunks).calls];
  assert.deepEqual(
    calls.map(([i, c]) => [i, c.name, c.arguments]),
    [
      [0, "get_weather", SCENARIO_TOOL_ARGS[0]],
      [1, "get_time", SCENARIO_TOOL_ARGS[1]],
    ],
  );
  assert.match(calls[0]![1].id, /^get_weather_/);
  assert.match(calls[1]![1].id, /^get_time_/);
  const argDeltas = chunks.flatMap((c) => c.choices[0]?.delta?.toolCalls ?? []).filter((d) => d.index === 0 && !d.id);
  assert.equal(argDeltas.length, 3, "three argument fragments for the first call");
  assert.equal(assemble(chunks).finish, "tool_calls");
});

test("parallel_tool_calls=false: only the first of the model's calls reaches the caller, whole and streamed", async () => {
  // Cohere cannot be told; the router's wrapper (applied by createAdapter to every provider) trims.
  const one = withOneToolCallWhenAsked(env.adapter);
  const r = await one.chat(req({ tools: [weather, time], parallelToolCalls: false }), MODEL, signal());
  assert.deepEqual(
    r.choices[0]!.message!.toolCalls.map((t) => t.function?.name),
    ["get_weather"],
  );
  assert.equal(r.choices[0]!.finishReason, "tool_calls");
  const chunks = await collect(one.stream(req({ tools: [weather, time], parallelToolCalls: false }), MODEL, signal()));
  assert.deepEqual(
    [...assemble(chunks).calls].map(([i, c]) => [i, c.name, c.arguments]),
    [[0, "get_weather", SCENARIO_TOOL_ARGS[0]]],
  );
  assert.equal(assemble(chunks).finish, "tool_calls");
  assert.equal(chunks[chunks.length - 1]!.usage?.promptTokens, SCENARIO_USAGE.prompt);
  assert.equal(env.fake.calls[0]!.body["parallel_tool_calls"], undefined, "nothing Cohere does not know is sent");
});

test("tool-result round trip: the call goes back as an assistant tool_calls turn, the result as a tool message, and the model answers it", async () => {
  const first = await env.adapter.chat(req({ tools: [weather] }), MODEL, signal());
  const call = first.choices[0]!.message!.toolCalls[0]!;
  const second = await env.adapter.chat(
    req({
      tools: [weather],
      messages: [
        { role: Role.USER, content: "Weather in Paris?" },
        { role: Role.ASSISTANT, toolCalls: [{ id: call.id, type: "function", function: { name: call.function!.name, arguments: call.function!.arguments } }] },
        { role: Role.TOOL, toolCallId: call.id, content: '{"temp_c": 21}' },
      ],
    }),
    MODEL,
    signal(),
  );
  assert.equal(second.choices[0]!.message?.content, 'Tool said: {"temp_c": 21}');
  assert.equal(second.choices[0]!.finishReason, "stop");
  assert.deepEqual(env.fake.calls[1]!.body["messages"], [
    { role: "user", content: "Weather in Paris?" },
    { role: "assistant", tool_calls: [{ id: call.id, type: "function", function: { name: "get_weather", arguments: SCENARIO_TOOL_ARGS[0] } }] },
    { role: "tool", tool_call_id: call.id, content: '{"temp_c": 21}' },
  ]);
});

test("json_schema: sent as response_format json_object with the schema", async () => {
  const schema = { type: "object", properties: { name: { type: "string" } }, required: ["name"] };
  await env.adapter.chat(req({ responseFormat: { type: "json_schema", schemaName: "person", schema } }), MODEL, signal());
  assert.deepEqual(env.fake.calls[0]!.body["response_format"], { type: "json_object", json_schema: schema });
});

test("images: a user message with text and images is sent as content blocks and the text is what the model sees", async () => {
  const r = await env.adapter.chat(
    req({
      messages: [
        {
          role: Role.USER,
          parts: [
            { part: { case: "text", value: "Describe this image" } },
            { part: { case: "imageUrl", value: { url: "https://cohere.com/favicon-32x32.png", detail: "low" } } },
            { part: { case: "imageUrl", value: { url: "data:image/png;base64,iVBORw0KGgo=" } } },
          ],
        },
      ],
    }),
    MODEL,
    signal(),
  );
  assert.equal(r.choices[0]!.message?.content, "Echo: Describe this image");
  assert.deepEqual(env.fake.calls[0]!.body["messages"], [
    {
      role: "user",
      content: [
        { type: "text", text: "Describe this image" },
        { type: "image_url", image_url: { url: "https://cohere.com/favicon-32x32.png", detail: "low" } },
        { type: "image_url", image_url: { url: "data:image/png;base64,iVBORw0KGgo=" } },
      ],
    },
  ]);
});

test("embeddings: POST /v2/embed; vectors in input order with the requested dimensions; usage from billed input tokens", async () => {
  const input = ["the first text", "second", "a third, longer text here"];
  const r = await env.adapter.embed!(create(EmbedRequestSchema, { input, dimensions: 256, inputType: "search_query" }), "embed-v4.0", signal());
  assert.equal(r.model, "embed-v4.0");
  assert.equal(r.data.length, 3);
  r.data.forEach((d, i) => {
    assert.equal(d.index, i);
    assert.equal(d.vector.length, 256);
    assert.deepEqual(d.vector, fakeCohereVector(input[i]!, 256), `vector ${i} is the one for "${input[i]}"`);
  });
  assert.notDeepEqual(r.data[0]!.vector, r.data[1]!.vector);
  assert.equal(r.usage?.promptTokens, fakeCohereEmbedTokens(input));
  assert.equal(r.usage?.promptTokens, 9);
  assert.equal(r.usage?.totalTokens, 9);
  const call = env.fake.calls[0]!;
  assert.equal(call.path, "/v2/embed");
  assert.equal(call.headers["authorization"], `Bearer ${FAKE_COHERE_KEY}`);
  assert.deepEqual(call.body, { model: "embed-v4.0", texts: input, input_type: "search_query", embedding_types: ["float"], truncate: "END", output_dimension: 256 });
});

test("embeddings: no input_type → search_document; no dimensions → the model's default size", async () => {
  const r = await env.adapter.embed!(create(EmbedRequestSchema, { input: ["hello"] }), "embed-v4.0", signal());
  assert.equal(r.data[0]!.vector.length, 1536);
  assert.equal(env.fake.calls[0]!.body["input_type"], "search_document");
  assert.equal(env.fake.calls[0]!.body["output_dimension"], undefined);
});

const ERRORS: ErrorCase<FakeCohere["mode"]>[] = [
  { mode: "error_429", kind: "rate_limited", retryable: true, code: "upstream_rate_limited", status: 429, retryAfterS: FAKE_COHERE_RETRY_AFTER_S, message: /429: You are past the per minute request limit/ },
  { mode: "error_500", kind: "upstream_error", retryable: true, code: "upstream_error", status: 502, message: /500: internal server error/ },
  { mode: "error_400", kind: "invalid_request", retryable: false, code: "upstream_invalid_request", status: 400, message: /temperature must be between 0 and 1\.0 inclusive/ },
  { mode: "error_401", kind: "upstream_error", retryable: false, code: "upstream_auth", status: 502, message: /credentials/ },
  { mode: "error_402", kind: "upstream_error", retryable: true, code: "upstream_payment_required", status: 502, message: /402: Please add or update your payment method/ },
  { mode: "error_498", kind: "invalid_request", retryable: false, code: "upstream_content_blocked", status: 400, message: /498: blocked input/ },
  { mode: "error_499", kind: "upstream_error", retryable: true, code: "cancelled", status: 502, message: /499: request cancelled/ },
  { mode: "garbage", kind: "upstream_error", retryable: true, code: "upstream_garbage", status: 502 },
  { mode: "stream_error", kind: "upstream_error", retryable: true, code: "upstream_generation_error", status: 502, message: /finish_reason ERROR/ },
];

chatErrorTable(env, ERRORS, (a) => a.chat(req(), MODEL, signal()));

test("a key the fake does not know → Cohere's 401 → upstream_auth, not retryable", async () => {
  const wrong = createCohereAdapter({ id: "cohere-bad-key", baseUrl: env.fake.url, apiKey: "not-the-key", connections: 1, timeoutMs: 5_000 });
  try {
    await rejectsWith(wrong.chat(req(), MODEL, signal()), (err) => {
      assert.equal(err.details.code, "upstream_auth");
      assert.equal(err.retryable, false);
    });
    assert.equal(env.fake.calls[0]!.headers["authorization"], "Bearer not-the-key");
  } finally {
    await wrong.close();
  }
});

test("stream error_429 before any event → rate_limited with Retry-After", async () => {
  env.fake.mode = "error_429";
  await rejectsWith(collect(env.adapter.stream(req(), MODEL, signal())), (err) => {
    assert.equal(err.kind, "rate_limited");
    assert.equal(err.details.retryAfterS, FAKE_COHERE_RETRY_AFTER_S);
  });
});

test("stream garbage event → upstream_garbage, not retryable", async () => {
  env.fake.mode = "garbage";
  await rejectsWith(collect(env.adapter.stream(req(), MODEL, signal())), (err) => {
    assert.equal(err.details.code, "upstream_garbage");
    assert.equal(err.retryable, false);
  });
});

test("stream cut mid-way → upstream_stream_cut after the chunks already sent", async () => {
  env.fake.mode = "cut_stream";
  const got = await collectUntilFailure(env.adapter.stream(req(), MODEL, signal()), (err) => {
    assertProviderError(err, "upstream_error", "upstream_stream_cut", false);
  });
  assert.equal(got[0]?.choices[0]?.delta?.role, Role.ASSISTANT, "the role chunk was delivered before the cut");
  assert.equal(got.some((c) => c.choices[0]?.finishReason), false, "no finish reason was invented");
});

test("stream ending with finish_reason ERROR → upstream_generation_error after the text already sent, not retryable", async () => {
  env.fake.mode = "stream_error";
  const got = await collectUntilFailure(env.adapter.stream(req(), MODEL, signal()), (err) => {
    assert.equal(err.details.code, "upstream_generation_error");
    assert.equal(err.retryable, false);
    assert.match(err.message, /internal server error/);
  });
  assert.equal(assemble(got).text, "Echo: ");
});

test("slow answer past the adapter's timeout → retryable upstream_timeout", async () => {
  env.fake.mode = "slow";
  const impatient = createCohereAdapter({ id: "cohere-impatient", baseUrl: env.fake.url, apiKey: FAKE_COHERE_KEY, connections: 1, timeoutMs: 200 });
  try {
    await rejectsWith(impatient.chat(req(), MODEL, signal()), (err) => {
      assertProviderError(err, "timeout", "upstream_timeout", true);
    });
  } finally {
    await impatient.close();
  }
});

test("slow answer within the timeout still arrives whole", async () => {
  env.fake.mode = "slow";
  const r = await env.adapter.chat(req(), MODEL, signal());
  assert.equal(r.choices[0]!.message?.content, "Echo: Hello");
});

test("embed errors use the same mapping: 429 with Retry-After, garbage", async () => {
  env.fake.mode = "error_429";
  await rejectsWith(env.adapter.embed!(create(EmbedRequestSchema, { input: ["x"] }), "embed-v4.0", signal()), (err) => {
    assert.equal(err.kind, "rate_limited");
    assert.equal(err.details.retryAfterS, FAKE_COHERE_RETRY_AFTER_S);
  });
  env.fake.mode = "garbage";
  await rejectsWith(env.adapter.embed!(create(EmbedRequestSchema, { input: ["x"] }), "embed-v4.0", signal()), (err) => {
    assert.equal(err.details.code, "upstream_garbage");
  });
});

test("a request that cannot be translated fails with invalid_request before any upstream call", async () => {
  await assert.rejects(env.adapter.chat(req({ n: 3 }), MODEL, signal()), (err: unknown) => {
    assert.ok(err instanceof TesseraError);
    assert.equal(err.kind, "invalid_request");
    assert.equal(err.details.param, "n");
    return true;
  });
  await assert.rejects(env.adapter.embed!(create(EmbedRequestSchema, { input: ["x"], inputType: "poems" }), "m", signal()), (err: unknown) => err instanceof TesseraError && err.kind === "invalid_request");
  assert.equal(env.fake.calls.length, 0);
});

const fixture = (name: string) => readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8");

const FIXTURE_ERRORS: { file: string; status: number; retryAfterS?: number; kind: string; code: string; retryable: boolean; message: RegExp }[] = [
  { file: "error-400-invalid-request.json", status: 400, kind: "invalid_request", code: "upstream_invalid_request", retryable: false, message: /^cohere returned 400: invalid request: temperature must be between 0 and 1\.0 inclusive\.$/ },
  { file: "error-401-invalid-api-token.json", status: 401, kind: "upstream_error", code: "upstream_auth", retryable: false, message: /rejected the gateway's credentials \(401\)/ },
  { file: "error-429-rate-limit.json", status: 429, retryAfterS: 30, kind: "rate_limited", code: "upstream_rate_limited", retryable: true, message: /^cohere returned 429: You are past the per minute request limit, please wait and try again later\.$/ },
  { file: "error-500-internal.json", status: 500, kind: "upstream_error", code: "upstream_error", retryable: true, message: /^cohere returned 500: internal server error, this has been reported to our developers\. id b8361921-90ee-4ce3-aa18-f2bdda5a6a8b$/ },
];

for (const e of FIXTURE_ERRORS)
  test(`status mapping of the recorded ${e.file}: ${e.kind} (${e.code}) with Cohere's message`, () => {
    const err = cohereStatusError("cohere", e.status, fixture(e.file), e.retryAfterS);
    assert.equal(err.kind, e.kind);
    assert.equal(err.details.code, e.code);
    assert.equal(err.retryable, e.retryable);
    assert.equal(err.details.retryAfterS, e.retryAfterS);
    assert.match(err.message, e.message);
  });

test("status mapping of Cohere's other documented statuses: 404, 422, 503, and a body that is not JSON", () => {
  const notFound = cohereStatusError("cohere", 404, JSON.stringify({ message: "model 'xyz' not found, make sure the correct model ID was used and that you have access to the model." }));
  assert.equal(notFound.kind, "invalid_request");
  assert.equal(notFound.status, 404);
  assert.match(notFound.message, /model 'xyz' not found/);
  const unprocessable = cohereStatusError("cohere", 422, JSON.stringify({ message: "invalid request: messages must not be empty", id: "abc" }));
  assert.equal(unprocessable.kind, "invalid_request");
  assert.equal(unprocessable.retryable, false);
  const unavailable = cohereStatusError("cohere", 503, "<html>Service Unavailable</html>");
  assert.equal(unavailable.retryable, true);
  assert.match(unavailable.message, /503: <html>Service Unavailable<\/html>/);
});

test("an unreachable origin → retryable upstream_unreachable", async () => {
  const dead = createCohereAdapter({ id: "dead", baseUrl: "http://127.0.0.1:1", apiKey: "k", connections: 1, timeoutMs: 2_000 });
  try {
    await rejectsWith(dead.chat(req(), MODEL, signal()), (err) => {
      assert.equal(err.details.code, "upstream_unreachable");
      assert.equal(err.retryable, true);
    });
  } finally {
    await dead.close();
  }
});
