import { test } from "node:test";
import assert from "node:assert/strict";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { SCENARIO_USAGE } from "../fake-scenario.js";
import { createOpenAIAdapter } from "./adapter.js";
import { FAKE_OPENAI_KEY, startFakeOpenAI, type FakeOpenAI } from "./fake.js";
import { chatRequest } from "../adapter-test-kit.js";
import { familyConformance } from "./family-conformance.js";

familyConformance({
  id: "openai-test",
  start: () => startFakeOpenAI({ slowMs: 3_000 }),
  adapter: createOpenAIAdapter,
  apiKey: FAKE_OPENAI_KEY,
  model: "gpt-4o-mini",
  chatPath: "/v1/chat/completions",
  embedPath: "/v1/embeddings",
  auth: ["authorization", `Bearer ${FAKE_OPENAI_KEY}`],
  usage: { prompt: SCENARIO_USAGE.prompt, completion: SCENARIO_USAGE.completion, total: SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion, cached: SCENARIO_USAGE.cached, reasoning: SCENARIO_USAGE.reasoning },
  callId: /^call_fake\d+_\d$/,
  dimensionsField: "dimensions",
  retryAfterS: 7,
});

async function withOpenAI<T>(fn: (fake: FakeOpenAI, adapter: ReturnType<typeof createOpenAIAdapter>) => Promise<T>): Promise<T> {
  const fake = await startFakeOpenAI();
  const adapter = createOpenAIAdapter({ id: "openai-test", baseUrl: fake.url, apiKey: FAKE_OPENAI_KEY, connections: 2, timeoutMs: 5_000 });
  try {
    return await fn(fake, adapter);
  } finally {
    await adapter.close();
    await fake.close();
  }
}

test("openai: max_tokens leaves as max_completion_tokens, which o-series models require", async () => {
  await withOpenAI(async (fake, adapter) => {
    const r = await adapter.chat(chatRequest({ maxTokens: 128, seed: 7n, user: "u-1", stop: ["END"] }), "o3-mini", AbortSignal.timeout(5_000));
    assert.equal(r.choices[0]!.message?.content, "Echo: hello there");
    const body = fake.calls[0]!.body;
    assert.equal(body["max_completion_tokens"], 128);
    assert.equal("max_tokens" in body, false);
    assert.equal(body["seed"], 7);
    assert.equal(body["user"], "u-1");
    assert.deepEqual(body["stop"], ["END"]);
    assert.equal(body["model"], "o3-mini");
  });
});

test("openai: a stream asks for usage (stream_options.include_usage) even when the caller did not", async () => {
  await withOpenAI(async (fake, adapter) => {
    for await (const _ of adapter.stream(chatRequest({ includeUsage: false }), "gpt-4o-mini", AbortSignal.timeout(5_000))) {
      /* drain */
    }
    assert.deepEqual(fake.calls[0]!.body["stream_options"], { include_usage: true });
  });
});

test("openai: the developer role and tool_choice pass unchanged", async () => {
  await withOpenAI(async (fake, adapter) => {
    await adapter.chat(
      chatRequest({
        messages: [
          { role: Role.DEVELOPER, content: "answer in French" },
          { role: Role.USER, content: "hi" },
        ],
        tools: [{ type: "function", function: { name: "get_weather" } }],
        toolChoice: { choice: { case: "mode", value: "required" } },
      }),
      "gpt-4o",
      AbortSignal.timeout(5_000),
    );
    const body = fake.calls[0]!.body;
    assert.equal((body["messages"] as { role: string }[])[0]!.role, "developer");
    assert.equal(body["tool_choice"], "required");
  });
});
