import assert from "node:assert/strict";
import { test } from "node:test";
import { create } from "@bufbuild/protobuf";
import { ChatRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { parseConfig } from "@tessera/runtime";
import { createAdapter } from "./index.js";
import { FAKE_COMPATIBLE_KEY, startFakeOpenAICompatible } from "./openai-compatible/fake.js";

test("an openai_compatible provider's configured params are laid over the built-in map", async () => {
  const fake = await startFakeOpenAICompatible();
  const cfg = parseConfig(
    `providers:
  - id: local
    kind: openai_compatible
    base_url: "${fake.url}"
    api_key_env: LOCAL_KEY
    params:
      seed: { rename: random_seed }
      temperature: { max: 1 }
      top_p: { drop: true }
      max_tokens: { default: 77 }
`,
    "test",
    { LOCAL_KEY: FAKE_COMPATIBLE_KEY },
  );
  const adapter = createAdapter(cfg.providers[0]!)!;
  try {
    const req = create(ChatRequestSchema, { model: "m", messages: [{ role: Role.USER, content: "hi" }], seed: 5n, temperature: 1.7, topP: 0.5, user: "u1" });
    await adapter.chat(req, "llama3", AbortSignal.timeout(5_000));
    const body = fake.calls.at(-1)!.body;
    assert.equal(body["random_seed"], 5);
    assert.equal("seed" in body, false);
    assert.equal(body["temperature"], 1, "clamped to the configured max");
    assert.equal("top_p" in body, false);
    assert.equal(body["max_tokens"], 77);
    assert.equal("user" in body, false, "the built-in rules still apply");
  } finally {
    await adapter.close();
    await fake.close();
  }
});

test("params are refused on other kinds", () => {
  assert.throws(() => parseConfig(`providers:\n  - { id: o, kind: openai, params: { seed: { drop: true } } }\n`, "test", {}), /providers\.0\.params: only for kind openai_compatible/);
});
