import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { EmbedRequestSchema } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { SCENARIO_USAGE } from "../fake-scenario.js";
import { ProviderError } from "../errors.js";
import { assemble, assertProviderError, chatRequest, collect, signal, useFakeAdapter } from "../adapter-test-kit.js";
import { familyConformance } from "../openai/family-conformance.js";
import { createAzureAdapter } from "./adapter.js";
import { FAKE_AZURE_API_VERSION, FAKE_AZURE_KEY, startFakeAzureOpenAI } from "./fake.js";

const DEPLOYMENT = "gpt4o-prod";
const Q = `api-version=${FAKE_AZURE_API_VERSION}`;

familyConformance({
  id: "azure-test",
  start: () => startFakeAzureOpenAI({ slowMs: 3_000 }),
  adapter: (o) => createAzureAdapter({ ...o, apiVersion: FAKE_AZURE_API_VERSION }),
  apiKey: FAKE_AZURE_KEY,
  model: DEPLOYMENT,
  chatPath: `/openai/deployments/${DEPLOYMENT}/chat/completions?${Q}`,
  embedPath: `/openai/deployments/${DEPLOYMENT}/embeddings?${Q}`,
  auth: ["api-key", FAKE_AZURE_KEY],
  usage: { prompt: SCENARIO_USAGE.prompt, completion: SCENARIO_USAGE.completion, total: SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion, cached: SCENARIO_USAGE.cached, reasoning: SCENARIO_USAGE.reasoning },
  callId: /^call_fake\d+_\d$/,
  dimensionsField: "dimensions",
  retryAfterS: 7,
});

const env = useFakeAdapter(startFakeAzureOpenAI, (fake) => createAzureAdapter({ id: "azure-test", baseUrl: fake.url, apiKey: FAKE_AZURE_KEY, apiVersion: FAKE_AZURE_API_VERSION, connections: 2, timeoutMs: 5_000 }));

test("azure: the key goes in api-key (no Authorization), the deployment in the path, no model in the body", async () => {
  await env.adapter.chat(chatRequest(), DEPLOYMENT, signal());
  const call = env.fake.calls[0]!;
  assert.equal(call.headers["api-key"], FAKE_AZURE_KEY);
  assert.equal(call.headers["authorization"], undefined);
  assert.equal("model" in call.body, false);
  await env.adapter.embed!(create(EmbedRequestSchema, { model: "a", input: ["x"], user: "u" }), DEPLOYMENT, signal());
  assert.equal("model" in env.fake.calls[1]!.body, false);
  assert.equal(env.fake.calls[1]!.body["user"], "u");
});

test("azure: a stream keeps stream_options on 2024-10-21, skips the prompt-filter chunk, and reports usage", async () => {
  const chunks = await collect(env.adapter.stream(chatRequest(), DEPLOYMENT, signal()));
  assert.deepEqual(env.fake.calls[0]!.body["stream_options"], { include_usage: true });
  assert.match(chunks[0]!.id, /^chatcmpl-fake\d+$/, "the id-less prompt filter chunk is not passed on");
  assert.equal(assemble(chunks).usage?.totalTokens, 30);
});

test("azure: an older api-version gets no stream_options (it would be refused)", async () => {
  const old = createAzureAdapter({ id: "azure-old", baseUrl: env.fake.url, apiKey: FAKE_AZURE_KEY, apiVersion: "2024-06-01", connections: 1, timeoutMs: 5_000 });
  try {
    const a = assemble(await collect(old.stream(chatRequest(), DEPLOYMENT, signal())));
    assert.equal(a.text, "Echo: hello there");
    assert.equal(env.fake.calls[0]!.path, `/openai/deployments/${DEPLOYMENT}/chat/completions?api-version=2024-06-01`);
    assert.equal("stream_options" in env.fake.calls[0]!.body, false);
    assert.equal(a.usage, undefined);
  } finally {
    await old.close();
  }
});

test("azure: a base_url ending in /openai is not doubled", async () => {
  const slash = createAzureAdapter({ id: "azure-slash", baseUrl: `${env.fake.url}/openai/`, apiKey: FAKE_AZURE_KEY, apiVersion: FAKE_AZURE_API_VERSION, connections: 1, timeoutMs: 5_000 });
  try {
    await slash.chat(chatRequest(), DEPLOYMENT, signal());
    assert.equal(env.fake.calls[0]!.path, `/openai/deployments/${DEPLOYMENT}/chat/completions?${Q}`);
  } finally {
    await slash.close();
  }
});

test("azure: a prompt refused by the content filter is a clear invalid_request with code content_filter, not retried", async () => {
  env.fake.mode = "content_filter";
  for (const call of [() => env.adapter.chat(chatRequest(), DEPLOYMENT, signal()), () => collect(env.adapter.stream(chatRequest(), DEPLOYMENT, signal()))]) {
    await assert.rejects(call(), (err: unknown) => {
      assertProviderError(err, "invalid_request", "content_filter", false, 400);
      assert.match((err as ProviderError).message, /^azure-test's content filter refused the prompt \(hate\): The response was filtered due to the prompt triggering/);
      return true;
    });
  }
});

test("azure: a completion stopped by the filter ends with finish_reason content_filter (chat and stream)", async () => {
  env.fake.mode = "content_filter_output";
  const r = await env.adapter.chat(chatRequest(), DEPLOYMENT, signal());
  assert.equal(r.choices[0]!.finishReason, "content_filter");
  assert.equal(r.choices[0]!.message?.content, "");
  const chunks = await collect(env.adapter.stream(chatRequest(), DEPLOYMENT, signal()));
  const a = assemble(chunks);
  assert.equal(a.text, "Echo: hello ");
  assert.equal(a.finish, "content_filter");
  const last = chunks[chunks.length - 1]!;
  assert.match(last.id, /^chatcmpl-fake\d+$/, "the id-less annotation borrows the stream's id");
  assert.equal(last.model, DEPLOYMENT);
});

test("azure: a 429 honours retry-after-ms (7000 ms → 7 s) and keeps Azure's message", async () => {
  env.fake.mode = "error_429";
  await assert.rejects(env.adapter.chat(chatRequest(), DEPLOYMENT, signal()), (err: unknown) => {
    assertProviderError(err, "rate_limited", "upstream_rate_limited", true, 429);
    assert.equal((err as ProviderError).details.retryAfterS, 7);
    assert.match((err as Error).message, /ChatCompletions_Create Operation under Azure OpenAI API version 2024-10-21 have exceeded token rate limit/);
    return true;
  });
});

test("azure: a missing api-version is refused at construction, naming the field", () => {
  assert.throws(() => createAzureAdapter({ id: "az", baseUrl: "https://r.openai.azure.com", apiKey: "k", apiVersion: "", connections: 1, timeoutMs: 1000 }), /provider az: api_version is required for kind azure/);
});
