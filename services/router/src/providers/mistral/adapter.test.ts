import { test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { EmbedRequestSchema, Role, type ToolChoiceSchema } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { SCENARIO_USAGE } from "../fake-scenario.js";
import { assemble, chatRequest, collect, signal, TOOLS, useFakeAdapter } from "../adapter-test-kit.js";
import { familyConformance } from "../openai/family-conformance.js";
import { createMistralAdapter } from "./adapter.js";
import { FAKE_MISTRAL_KEY, startFakeMistral } from "./fake.js";

familyConformance({
  id: "mistral-test",
  start: () => startFakeMistral({ slowMs: 3_000 }),
  adapter: createMistralAdapter,
  apiKey: FAKE_MISTRAL_KEY,
  model: "mistral-small-latest",
  chatPath: "/v1/chat/completions",
  embedPath: "/v1/embeddings",
  auth: ["authorization", `Bearer ${FAKE_MISTRAL_KEY}`],
  usage: { prompt: SCENARIO_USAGE.prompt, completion: SCENARIO_USAGE.completion, total: SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion, cached: 0, reasoning: 0 },
  callId: /^[a-zA-Z0-9]{9}$/,
  dimensionsField: "output_dimension",
  retryAfterS: 7,
});

const env = useFakeAdapter(startFakeMistral, (fake) => createMistralAdapter({ id: "mistral-test", baseUrl: fake.url, apiKey: FAKE_MISTRAL_KEY, connections: 2, timeoutMs: 5_000 }));
type ToolChoiceInit = MessageInitShape<typeof ToolChoiceSchema>;

test("mistral: seed leaves as random_seed, user and stream_options stay home (Mistral refuses them)", async () => {
  await env.adapter.chat(chatRequest({ seed: 1337n, user: "end-user-1", maxTokens: 50 }), "mistral-small-latest", signal());
  const body = env.fake.calls[0]!.body;
  assert.equal(body["random_seed"], 1337);
  assert.equal(body["max_tokens"], 50);
  assert.equal("seed" in body, false);
  assert.equal("user" in body, false);
  const a = assemble(await collect(env.adapter.stream(chatRequest(), "mistral-small-latest", signal())));
  assert.equal("stream_options" in env.fake.calls[1]!.body, false);
  assert.deepEqual([a.usage?.promptTokens, a.usage?.completionTokens, a.usage?.totalTokens], [21, 9, 30], "usage still arrives, on the finishing chunk");
});

test("mistral: tool_choice required becomes any; auto and a named function pass", async () => {
  const cases: [ToolChoiceInit, unknown][] = [
    [{ choice: { case: "mode", value: "required" } }, "any"],
    [{ choice: { case: "mode", value: "auto" } }, "auto"],
    [{ choice: { case: "functionName", value: "get_weather" } }, { type: "function", function: { name: "get_weather" } }],
  ];
  for (const [i, [toolChoice, expected]] of cases.entries()) {
    await env.adapter.chat(chatRequest({ tools: [TOOLS[0]], toolChoice }), "mistral-small-latest", signal());
    assert.deepEqual(env.fake.calls[i]!.body["tool_choice"], expected);
  }
});

test("mistral: foreign tool call ids become 9 alphanumerics, the same on the call and on its result", async () => {
  const r = await env.adapter.chat(
    chatRequest({
      messages: [
        { role: Role.DEVELOPER, content: "be terse" },
        { role: Role.USER, content: "weather?", name: "ann" },
        { role: Role.ASSISTANT, toolCalls: [{ id: "call_9ctHOJqO3bYrpm2A6S7nHd5k", type: "function", function: { name: "get_weather", arguments: "{}" } }] },
        { role: Role.TOOL, toolCallId: "call_9ctHOJqO3bYrpm2A6S7nHd5k", content: "rain" },
      ],
    }),
    "mistral-small-latest",
    signal(),
  );
  assert.equal(r.choices[0]!.message?.content, "Tool said: rain");
  const sent = env.fake.calls[0]!.body["messages"] as { role: string; name?: string; tool_calls?: { id: string }[]; tool_call_id?: string }[];
  assert.deepEqual(sent.map((m) => m.role), ["system", "user", "assistant", "tool"]);
  assert.equal(sent[1]!.name, undefined);
  const id = sent[2]!.tool_calls![0]!.id;
  assert.match(id, /^[a-zA-Z0-9]{9}$/);
  assert.equal(sent[3]!.tool_call_id, id);
});

test("mistral: embeddings send output_dimension and no user", async () => {
  const r = await env.adapter.embed!(create(EmbedRequestSchema, { model: "alias", input: ["a", "b"], dimensions: 4, user: "u" }), "codestral-embed", signal());
  assert.deepEqual(r.data.map((e) => [e.index, e.vector.length]), [
    [0, 4],
    [1, 4],
  ]);
  assert.deepEqual(env.fake.calls[0]!.body, { model: "codestral-embed", input: ["a", "b"], output_dimension: 4 });
});
