import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, EmbedRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError, type ResolvedProvider } from "@tessera/runtime";
import type { ProviderAdapter } from "../types.js";
import { assemble, assertProviderError, chatErrorTable, collect, collectUntilFailure, type ErrorCase, rejectsWith, signal, useFakeAdapter } from "../adapter-test-kit.js";
import { SCENARIO_TOOL_ARGS, SCENARIO_USAGE } from "../fake-scenario.js";
import { createAdapter } from "../index.js";
import { bedrockStatusError, createBedrockAdapter } from "./adapter.js";
import { STRUCTURED_OUTPUT_TOOL } from "./unified-to-bedrock.js";
import {
  FAKE_AWS_CREDENTIALS,
  FAKE_AWS_REGION,
  FAKE_BEDROCK_RETRY_AFTER_S,
  FAKE_AWS_SESSION_CREDENTIALS,
  FAKE_BEDROCK_CHAT_MODEL,
  FAKE_TITAN_EMBED_MODEL,
  fakeTitanTokens,
  fakeTitanVector,
  startFakeBedrock,
  type FakeBedrock,
} from "./fake.js";

const MODEL = FAKE_BEDROCK_CHAT_MODEL;
const CONVERSE_PATH = "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse";

const bedrock = (over: Partial<Parameters<typeof createBedrockAdapter>[0]> = {}): ProviderAdapter =>
  createBedrockAdapter({ id: "bedrock-test", baseUrl: env.fake.url, apiKey: undefined, connections: 4, timeoutMs: 5_000, region: FAKE_AWS_REGION, credentials: FAKE_AWS_CREDENTIALS, ...over });

const env = useFakeAdapter(startFakeBedrock, () => bedrock(), (fake) => {
  fake.embedDelayMs = () => 0;
});

const req = (init: MessageInitShape<typeof ChatRequestSchema> = {}) =>
  create(ChatRequestSchema, { messages: [{ role: Role.SYSTEM, content: "Be brief." }, { role: Role.USER, content: "Hello" }], ...init });
const tool = (name: string) => ({ type: "function", function: { name, parameters: { type: "object", properties: { city: { type: "string" } } } } });
const withTools = (...names: string[]) => req({ tools: names.map(tool) });

test("chat: a SigV4-signed POST to /model/{id}/converse with the Converse body; the echo with usage comes back", async () => {
  const r = await env.adapter.chat(req({ maxTokens: 100, temperature: 0.3 }), MODEL, signal());
  assert.equal(r.choices[0]!.message?.content, "Echo: Hello");
  assert.equal(r.choices[0]!.message?.role, Role.ASSISTANT);
  assert.equal(r.choices[0]!.finishReason, "stop");
  assert.equal(r.model, MODEL);
  assert.match(r.id, /^bedrock-/);
  assert.equal(r.usage?.promptTokens, SCENARIO_USAGE.prompt);
  assert.equal(r.usage?.completionTokens, SCENARIO_USAGE.completion);
  assert.equal(r.usage?.totalTokens, SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion);
  assert.equal(r.usage?.cachedTokens, SCENARIO_USAGE.cached);
  const call = env.fake.calls[0]!;
  assert.equal(call.path, CONVERSE_PATH);
  assert.deepEqual(call.body, {
    messages: [{ role: "user", content: [{ text: "Hello" }] }],
    system: [{ text: "Be brief." }],
    inferenceConfig: { maxTokens: 100, temperature: 0.3 },
  });
  assert.match(String(call.headers["authorization"]), /^AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE\/\d{8}\/us-east-1\/bedrock\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/);
  assert.match(String(call.headers["x-amz-date"]), /^\d{8}T\d{6}Z$/);
  assert.match(String(call.headers["content-type"]), /application\/json/);
  assert.equal(call.headers["x-amz-security-token"], undefined);
  assert.equal(call.headers["x-api-key"], undefined);
});

test("chat with temporary credentials: the session token is sent, signed and accepted", async () => {
  const a = bedrock({ credentials: FAKE_AWS_SESSION_CREDENTIALS });
  try {
    const r = await a.chat(req(), MODEL, signal());
    assert.equal(r.choices[0]!.message?.content, "Echo: Hello");
    assert.equal(env.fake.calls[0]!.headers["x-amz-security-token"], FAKE_AWS_SESSION_CREDENTIALS.sessionToken);
    assert.match(String(env.fake.calls[0]!.headers["authorization"]), /SignedHeaders=[^,]*x-amz-security-token/);
  } finally {
    await a.close();
  }
});

test("stream: event-stream frames assemble to role, the echo, finish stop and usage last; the request goes to converse-stream", async () => {
  const chunks = await collect(env.adapter.stream(req(), MODEL, signal()));
  assert.equal(chunks[0]!.choices[0]!.delta?.role, Role.ASSISTANT);
  const a = assemble(chunks);
  assert.equal(a.content, "Echo: Hello");
  assert.equal(a.finish, "stop");
  assert.equal(a.last.choices.length, 0);
  assert.equal(a.last.usage?.promptTokens, SCENARIO_USAGE.prompt);
  assert.equal(a.last.usage?.completionTokens, SCENARIO_USAGE.completion);
  assert.equal(a.last.usage?.cachedTokens, SCENARIO_USAGE.cached);
  assert.ok(chunks.length >= 5, "one chunk per text piece");
  assert.equal(env.fake.calls[0]!.path, "/model/anthropic.claude-3-haiku-20240307-v1%3A0/converse-stream");
  assert.equal(env.fake.calls[0]!.headers["accept"], "application/vnd.amazon.eventstream");
});

test("chat with one tool: a toolUse comes back as a tool call with the scenario's arguments", async () => {
  const r = await env.adapter.chat(withTools("get_weather"), MODEL, signal());
  const c = r.choices[0]!;
  assert.equal(c.finishReason, "tool_calls");
  assert.equal(c.message?.toolCalls.length, 1);
  assert.match(c.message!.toolCalls[0]!.id, /^tooluse_fake/);
  assert.equal(c.message!.toolCalls[0]!.function?.name, "get_weather");
  assert.deepEqual(JSON.parse(c.message!.toolCalls[0]!.function!.arguments), JSON.parse(SCENARIO_TOOL_ARGS[0]));
  assert.deepEqual(env.fake.calls[0]!.body["toolConfig"], { tools: [{ toolSpec: { name: "get_weather", inputSchema: { json: { type: "object", properties: { city: { type: "string" } } } } } }] });
});

test("parallel tools, whole and streamed: two calls with distinct ids, indexes 0 and 1, arguments in order", async () => {
  const r = await env.adapter.chat(withTools("get_weather", "get_time"), MODEL, signal());
  const calls = r.choices[0]!.message!.toolCalls;
  assert.deepEqual(
    calls.map((c) => [c.function?.name, c.function?.arguments]),
    [
      ["get_weather", SCENARIO_TOOL_ARGS[0]],
      ["get_time", SCENARIO_TOOL_ARGS[1]],
    ],
  );
  assert.notEqual(calls[0]!.id, calls[1]!.id);
  const a = assemble(await collect(env.adapter.stream(withTools("get_weather", "get_time"), MODEL, signal())));
  assert.equal(a.finish, "tool_calls");
  assert.deepEqual([...a.calls.keys()], [0, 1]);
  assert.equal(a.calls.get(0)!.name, "get_weather");
  assert.equal(a.calls.get(0)!.arguments, SCENARIO_TOOL_ARGS[0]);
  assert.equal(a.calls.get(1)!.name, "get_time");
  assert.equal(a.calls.get(1)!.arguments, SCENARIO_TOOL_ARGS[1]);
  assert.match(a.calls.get(0)!.id, /^tooluse_fake/);
  assert.notEqual(a.calls.get(0)!.id, a.calls.get(1)!.id);
});

test("tool results round trip: the calls Bedrock made go back with their results in one user turn, the answer uses them", async () => {
  const first = await env.adapter.chat(withTools("get_weather", "get_time"), MODEL, signal());
  const calls = first.choices[0]!.message!.toolCalls;
  const second = await env.adapter.chat(
    req({
      tools: [tool("get_weather"), tool("get_time")],
      messages: [
        { role: Role.USER, content: "Weather and time in Paris?" },
        { role: Role.ASSISTANT, toolCalls: calls },
        { role: Role.TOOL, toolCallId: calls[0]!.id, content: "Sunny" },
        { role: Role.TOOL, toolCallId: calls[1]!.id, content: "Noon" },
      ],
    }),
    MODEL,
    signal(),
  );
  assert.equal(second.choices[0]!.message?.content, "Tool said: Noon");
  assert.equal(second.choices[0]!.finishReason, "stop");
  const sent = env.fake.calls[1]!.body["messages"] as { role: string; content: Record<string, unknown>[] }[];
  assert.deepEqual(
    sent.map((m) => [m.role, m.content.map((b) => Object.keys(b)[0])]),
    [
      ["user", ["text"]],
      ["assistant", ["toolUse", "toolUse"]],
      ["user", ["toolResult", "toolResult"]],
    ],
  );
  assert.deepEqual(sent[2]!.content[0], { toolResult: { toolUseId: calls[0]!.id, content: [{ text: "Sunny" }] } });
});

test("structured output: response_format json_schema is a forced tool; its input comes back as the JSON text, finish stop", async () => {
  const schema = { type: "object", properties: { city: { type: "string" } }, required: ["city"] };
  const r = await env.adapter.chat(req({ responseFormat: { type: "json_schema", schemaName: "place", schema } }), MODEL, signal());
  assert.deepEqual(JSON.parse(r.choices[0]!.message!.content), { city: "Paris" });
  assert.equal(r.choices[0]!.message?.toolCalls.length, 0);
  assert.equal(r.choices[0]!.finishReason, "stop");
  const tc = env.fake.calls[0]!.body["toolConfig"] as { tools: { toolSpec: { name: string; inputSchema: unknown } }[]; toolChoice: unknown };
  assert.equal(tc.tools[0]!.toolSpec.name, STRUCTURED_OUTPUT_TOOL);
  assert.deepEqual(tc.tools[0]!.toolSpec.inputSchema, { json: schema });
  assert.deepEqual(tc.toolChoice, { any: {} });
  const a = assemble(await collect(env.adapter.stream(req({ responseFormat: { type: "json_object" } }), MODEL, signal())));
  assert.deepEqual(JSON.parse(a.content), { city: "Paris" });
  assert.equal(a.calls.size, 0);
  assert.equal(a.finish, "stop");
});

test("an image data: URL is sent as image bytes with its format", async () => {
  const png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";
  const r = await env.adapter.chat(
    req({ messages: [{ role: Role.USER, parts: [{ part: { case: "text", value: "What is this?" } }, { part: { case: "imageUrl", value: { url: `data:image/png;base64,${png}` } } }] }] }),
    MODEL,
    signal(),
  );
  assert.equal(r.choices[0]!.message?.content, "Echo: What is this?");
  assert.deepEqual(env.fake.calls[0]!.body["messages"], [{ role: "user", content: [{ text: "What is this?" }, { image: { format: "png", source: { bytes: png } } }] }]);
});

test("an http(s) image URL is rejected before any call, naming the field", async () => {
  await assert.rejects(
    env.adapter.chat(req({ messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "https://example.com/cat.png" } } }] }] }), MODEL, signal()),
    (err: unknown) => {
      assert.ok(err instanceof TesseraError);
      assert.equal(err.kind, "invalid_request");
      assert.equal(err.details.param, "messages[0].content[0].image_url.url");
      assert.match(err.message, /does not fetch image URLs/);
      return true;
    },
  );
  assert.equal(env.fake.calls.length, 0);
});

test("embeddings: one signed InvokeModel call per input, merged in input order even when answers finish out of order", async () => {
  const input = ["first text", "the second one", "third", "fourth input here", "fifth"];
  env.fake.embedDelayMs = (text) => (input.length - input.indexOf(text)) * 30; // the last input answers first
  const a = bedrock({ embedConcurrency: 5 });
  try {
    const r = await a.embed!(create(EmbedRequestSchema, { model: "emb", input, dimensions: 256 }), FAKE_TITAN_EMBED_MODEL, signal());
    assert.equal(r.model, FAKE_TITAN_EMBED_MODEL);
    assert.deepEqual(
      r.data.map((d) => d.index),
      [0, 1, 2, 3, 4],
    );
    r.data.forEach((d, i) => assert.deepEqual(d.vector, fakeTitanVector(input[i]!, 256), `vector ${i}`));
    const tokens = input.reduce((s, t) => s + fakeTitanTokens(t), 0);
    assert.equal(r.usage?.promptTokens, tokens);
    assert.equal(r.usage?.totalTokens, tokens);
    assert.equal(env.fake.calls.length, 5);
    for (const c of env.fake.calls) {
      assert.equal(c.path, "/model/amazon.titan-embed-text-v2%3A0/invoke");
      assert.match(String(c.headers["authorization"]), /^AWS4-HMAC-SHA256 /);
    }
    assert.deepEqual(
      env.fake.calls.map((c) => c.body).sort((x, y) => String(x["inputText"]).localeCompare(String(y["inputText"]))),
      [...input].sort().map((t) => ({ inputText: t, normalize: true, dimensions: 256 })),
    );
    // The vectors Titan V2 returns with normalize: true have unit length.
    assert.ok(Math.abs(Math.hypot(...r.data[0]!.vector) - 1) < 1e-9);
  } finally {
    await a.close();
  }
});

test("embeddings keep at most embedConcurrency calls in flight", async () => {
  let inFlight = 0;
  let peak = 0;
  env.fake.embedDelayMs = () => {
    peak = Math.max(peak, ++inFlight);
    setTimeout(() => inFlight--, 40);
    return 40;
  };
  const a = bedrock({ embedConcurrency: 2 });
  try {
    const r = await a.embed!(create(EmbedRequestSchema, { input: ["a", "b", "c", "d", "e"] }), FAKE_TITAN_EMBED_MODEL, signal());
    assert.equal(r.data.length, 5);
    assert.equal(peak, 2);
  } finally {
    await a.close();
  }
});

test("embeddings with a model that is not a Titan embedder, or dimensions Titan V2 does not take, fail before any call", async () => {
  const cases: [string, number, string][] = [
    [MODEL, 0, "model"],
    [FAKE_TITAN_EMBED_MODEL, 300, "dimensions"],
    ["amazon.titan-embed-text-v1", 256, "dimensions"],
  ];
  for (const [model, dimensions, param] of cases)
    await assert.rejects(env.adapter.embed!(create(EmbedRequestSchema, { input: ["x"], dimensions }), model, signal()), (err: unknown) => {
      assert.ok(err instanceof TesseraError);
      assert.equal(err.kind, "invalid_request");
      assert.equal(err.details.param, param);
      return true;
    });
  assert.equal(env.fake.calls.length, 0);
});

test("an embedding batch fails with the first call's error", async () => {
  env.fake.mode = "error_500";
  await rejectsWith(env.adapter.embed!(create(EmbedRequestSchema, { input: ["a", "b", "c"] }), FAKE_TITAN_EMBED_MODEL, signal()), (err) => {
    assert.equal(err.kind, "upstream_error");
    assert.equal(err.retryable, true);
    assert.match(err.message, /InternalServerException/);
  });
});

const ERRORS: ErrorCase<FakeBedrock["mode"]>[] = [
  { mode: "error_429", kind: "rate_limited", retryable: true, code: "upstream_rate_limited", status: 429, retryAfterS: FAKE_BEDROCK_RETRY_AFTER_S, message: /429: ThrottlingException: Too many requests/ },
  { mode: "error_500", kind: "upstream_error", retryable: true, code: "upstream_error", status: 502, message: /500: InternalServerException: An internal server error occurred/ },
  { mode: "error_400", kind: "invalid_request", retryable: false, code: "upstream_invalid_request", status: 400, message: /400: ValidationException: 1 validation error detected/ },
  { mode: "error_401", kind: "upstream_error", retryable: false, code: "upstream_auth", status: 502, message: /rejected the gateway's credentials \(403\)/ },
  { mode: "garbage", kind: "upstream_error", retryable: true, code: "upstream_garbage", status: 502, message: /not JSON/ },
];

chatErrorTable(env, ERRORS, (a) => a.chat(req(), MODEL, signal()));

test("a signature made with the wrong secret is refused by the fake: upstream_auth, and no key in the message", async () => {
  const a = bedrock({ credentials: { accessKeyId: FAKE_AWS_CREDENTIALS.accessKeyId, secretAccessKey: "wrong-secret-value" } });
  try {
    await rejectsWith(a.chat(req(), MODEL, signal()), (err) => {
      assert.equal(err.details.code, "upstream_auth");
      assert.equal(err.retryable, false);
      assert.doesNotMatch(err.message, /wrong-secret-value|AKIDEXAMPLE/);
    });
    await rejectsWith(collect(a.stream(req(), MODEL, signal())), (err) => assert.equal(err.details.code, "upstream_auth"));
  } finally {
    await a.close();
  }
});

test("stream error_429 before any event → retryable rate_limited with Retry-After", async () => {
  env.fake.mode = "error_429";
  await rejectsWith(collect(env.adapter.stream(req(), MODEL, signal())), (err) => {
    assert.equal(err.kind, "rate_limited");
    assert.equal(err.retryable, true);
    assert.equal(err.details.retryAfterS, FAKE_BEDROCK_RETRY_AFTER_S);
  });
});

test("stream garbage body → upstream_garbage", async () => {
  env.fake.mode = "garbage";
  await rejectsWith(collect(env.adapter.stream(req(), MODEL, signal())), (err) => {
    assert.equal(err.details.code, "upstream_garbage");
    assert.match(err.message, /not an event stream/);
  });
});

test("stream cut mid-way → upstream_stream_cut after the chunks already sent", async () => {
  env.fake.mode = "cut_stream";
  const got = await collectUntilFailure(env.adapter.stream(req(), MODEL, signal()), (err) => {
    assertProviderError(err, "upstream_error", "upstream_stream_cut", false);
  });
  assert.equal(got[0]?.choices[0]?.delta?.role, Role.ASSISTANT, "the role chunk was delivered before the cut");
  assert.equal(assemble(got).content, "Echo: ");
});

test("an exception event mid-stream → the text so far, then a non-retryable rate_limited error", async () => {
  env.fake.mode = "stream_exception";
  const got = await collectUntilFailure(env.adapter.stream(req(), MODEL, signal()), (err) => {
    assertProviderError(err, "rate_limited", "upstream_stream_error", false);
    assert.equal(err.message, "bedrock-test stream error (throttlingException): Too many tokens, please wait before trying again.");
  });
  assert.equal(assemble(got).content, "Echo: ");
});

test("a slow answer past the timeout → retryable upstream_timeout", async () => {
  env.fake.mode = "slow";
  env.fake.slowMs = 1_000;
  const a = bedrock({ timeoutMs: 200 });
  try {
    await rejectsWith(a.chat(req(), MODEL, signal()), (err) => {
      assertProviderError(err, "timeout", "upstream_timeout", true);
    });
  } finally {
    await a.close();
  }
});

test("documented error types map to the router's kinds", () => {
  const rows = JSON.parse(readFileSync(new URL("./fixtures/errors.json", import.meta.url), "utf8")) as { status: number; errorType: string; message: string }[];
  const want: Record<string, [string, boolean, string]> = {
    ValidationException: ["invalid_request", false, "upstream_invalid_request"],
    AccessDeniedException: ["upstream_error", false, "upstream_auth"],
    ResourceNotFoundException: ["invalid_request", false, "upstream_invalid_request"],
    ModelTimeoutException: ["timeout", true, "upstream_timeout"],
    ModelErrorException: ["upstream_error", true, "upstream_model_error"],
    ModelNotReadyException: ["rate_limited", true, "upstream_rate_limited"],
    ThrottlingException: ["rate_limited", true, "upstream_rate_limited"],
    InternalServerException: ["upstream_error", true, "upstream_error"],
    ServiceUnavailableException: ["upstream_error", true, "upstream_error"],
    ServiceQuotaExceededException: ["rate_limited", true, "upstream_quota_exceeded"],
  };
  for (const row of rows) {
    const err = bedrockStatusError("p", row.status, JSON.stringify({ message: row.message }), { "x-amzn-errortype": `${row.errorType}:http://internal.amazon.com/coral/com.amazon.bedrock/` });
    assert.deepEqual([err.kind, err.retryable, err.details.code], want[row.errorType], row.errorType);
    if (err.details.code !== "upstream_auth") assert.equal(err.message, `p returned ${row.status}: ${row.errorType}: ${row.message}`);
  }
  assert.equal(bedrockStatusError("p", 404, JSON.stringify({ message: "nope" }), {}).status, 404);
  // Signature errors are the operator's even when AWS answers 400, and their text is not kept.
  const sig = bedrockStatusError("p", 400, JSON.stringify({ message: "The Canonical String for this request should have been 'POST …x-amz-security-token:SECRET…'" }), { "x-amzn-errortype": "IncompleteSignatureException" });
  assert.equal(sig.details.code, "upstream_auth");
  assert.doesNotMatch(sig.message, /SECRET/);
  // A body that is not JSON keeps a short excerpt; "Message" (capitalised) is read too.
  assert.match(bedrockStatusError("p", 502, "<html>Bad Gateway</html>", {}).message, /502: <html>Bad Gateway<\/html>/);
  assert.match(bedrockStatusError("p", 500, '{"Message":"capital"}', {}).message, /500: capital/);
});

test("createAdapter builds the bedrock adapter from a resolved provider, which talks to the fake", async () => {
  const p = {
    id: "bedrock-cfg",
    kind: "bedrock",
    base_url: env.fake.url,
    region: FAKE_AWS_REGION,
    connections: 2,
    timeout_ms: 5_000,
    connect_timeout_ms: 1_000,
    apiKey: undefined,
    aws: { ...FAKE_AWS_CREDENTIALS },
  } as ResolvedProvider;
  const a = createAdapter(p)!;
  try {
    assert.equal(a.kind, "bedrock");
    assert.equal((await a.chat(req(), MODEL, signal())).choices[0]!.message?.content, "Echo: Hello");
    assert.equal(typeof a.embed, "function");
  } finally {
    await a.close();
  }
  assert.equal(createAdapter({ ...p, aws: undefined }), undefined, "switched off without credentials");
  assert.throws(() => createBedrockAdapter({ id: "x", baseUrl: env.fake.url, apiKey: undefined, connections: 1, timeoutMs: 1, region: undefined, credentials: FAKE_AWS_CREDENTIALS }), /region: required/);
});
