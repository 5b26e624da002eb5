import { test } from "node:test";
import assert from "node:assert/strict";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { SCENARIO_USAGE } from "../fake-scenario.js";
import { assemble, assertProviderError, chatRequest, collect, signal, useFakeAdapter } from "../adapter-test-kit.js";
import { familyConformance } from "../openai/family-conformance.js";
import { createOpenAICompatibleAdapter } from "./adapter.js";
import { FAKE_COMPATIBLE_KEY, startFakeOpenAICompatible } from "./fake.js";

familyConformance({
  id: "vllm-test",
  start: () => startFakeOpenAICompatible({ requireKey: true, slowMs: 3_000 }),
  adapter: createOpenAICompatibleAdapter,
  apiKey: FAKE_COMPATIBLE_KEY,
  model: "meta-llama/Llama-3.1-8B-Instruct",
  chatPath: "/v1/chat/completions",
  embedPath: "/v1/embeddings",
  auth: ["authorization", `Bearer ${FAKE_COMPATIBLE_KEY}`],
  usage: { prompt: SCENARIO_USAGE.prompt, completion: SCENARIO_USAGE.completion, total: SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion, cached: 0, reasoning: 0 },
  callId: /^call_fake\d+_\d$/,
  dimensionsField: "dimensions",
  retryAfterS: 7,
});

const keyless = useFakeAdapter(startFakeOpenAICompatible, (fake) => createOpenAICompatibleAdapter({ id: "ollama-test", baseUrl: fake.url, apiKey: undefined, connections: 2, timeoutMs: 5_000 }));

test("openai_compatible: a server without a key gets no Authorization header and answers", async () => {
  const a = assemble(await collect(keyless.adapter.stream(chatRequest(), "llama3.1", signal())));
  assert.equal(a.text, "Echo: hello there");
  assert.equal(a.usage?.totalTokens, 30);
  assert.equal(keyless.fake.calls[0]!.headers["authorization"], undefined);
  assert.deepEqual(keyless.fake.calls[0]!.body["stream_options"], { include_usage: true }, "kept: metering needs the usage");
});

test("openai_compatible: user, n = 1 and message names are left out (Groq refuses names, Ollama ignores the rest)", async () => {
  await keyless.adapter.chat(
    chatRequest({ user: "end-user", n: 1, messages: [{ role: Role.USER, content: "hi", name: "ann" }] }),
    "llama3.1",
    signal(),
  );
  const body = keyless.fake.calls[0]!.body;
  assert.equal("user" in body, false);
  assert.equal("n" in body, false);
  assert.deepEqual(body["messages"], [{ role: "user", content: "hi" }]);
});

test("openai_compatible: n > 1 is refused before any I/O, naming n", async () => {
  await assert.rejects(keyless.adapter.chat(chatRequest({ n: 3 }), "llama3.1", signal()), (err: unknown) => {
    assert.ok(err instanceof TesseraError);
    assert.equal(err.kind, "invalid_request");
    assert.equal(err.details.param, "n");
    assert.match(err.message, /Invalid value for 'n': ollama-test accepts at most 1, but got 3/);
    return true;
  });
  assert.equal(keyless.fake.calls.length, 0);
});

test("openai_compatible: a parameter map from configuration replaces the default", async () => {
  const custom = createOpenAICompatibleAdapter({
    id: "custom",
    baseUrl: keyless.fake.url,
    apiKey: undefined,
    connections: 1,
    timeoutMs: 5_000,
    chatParams: { temperature: { max: 1, why: "this server's range is 0..1" } },
  });
  try {
    await custom.chat(chatRequest({ temperature: 1.7, user: "kept" }), "m", signal());
    assert.equal(keyless.fake.calls[0]!.body["temperature"], 1);
    assert.equal(keyless.fake.calls[0]!.body["user"], "kept");
  } finally {
    await custom.close();
  }
});

test("openai_compatible: vLLM's {\"error\":\"Unauthorized\"} is upstream_auth", async () => {
  keyless.fake.mode = "error_401";
  await assert.rejects(keyless.adapter.chat(chatRequest(), "m", signal()), (err: unknown) => assertProviderError(err, "upstream_error", "upstream_auth", false, 502));
});
