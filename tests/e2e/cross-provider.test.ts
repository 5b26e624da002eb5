import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { TEST_ENV, TEST_KEYS } from "../helpers/config.js";
import { startTestGateway } from "../helpers/gateway.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

/** The providers whose wire formats differ from the OpenAI surface's, and their fakes' error modes. */
const PROVIDERS = [
  { name: "Anthropic", model: "claude-fake", fake: (g: Gateway) => g.anthropic, errors: [["error_429", 429], ["error_529", 502], ["error_400", 400]] },
  { name: "Gemini", model: "gemini-fake", fake: (g: Gateway) => g.gemini, errors: [["error_429", 429], ["error_503", 502], ["error_400", 400]] },
] as const;

describe("OpenAI surface served by other providers' APIs", () => {
  let g: Gateway;
  let client: OpenAI;
  before(async () => {
    g = await startTestGateway();
    client = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: TEST_KEYS.acme, maxRetries: 0, timeout: 10_000 });
  });
  after(() => g.stop());

  test("Anthropic: a chat completion is translated to /v1/messages and back", async () => {
    g.anthropic.calls.length = 0;
    const { data, response } = await client.chat.completions
      .create({
        model: "claude-fake",
        messages: [
          { role: "system", content: "be brief" },
          { role: "user", content: "hello from ann@example.com" },
        ],
        max_tokens: 100,
      })
      .withResponse();
    assert.equal(data.choices[0]!.message.content, "Echo: hello from <EMAIL_1>");
    assert.equal(data.choices[0]!.finish_reason, "stop");
    assert.ok(data.usage!.prompt_tokens > 0 && data.usage!.completion_tokens > 0);
    assert.equal(response.headers.get("x-tessera-deployment"), "fake-anthropic/claude-3-5-haiku-latest");
    const call = g.anthropic.calls[0]!;
    assert.equal(call.path, "/v1/messages");
    assert.equal(call.headers["x-api-key"], TEST_ENV["FAKE_ANTHROPIC_KEY"]);
    assert.equal(call.headers["anthropic-version"], "2023-06-01");
    assert.equal(call.body["system"], "be brief");
    assert.equal(call.body["model"], "claude-3-5-haiku-latest");
    assert.equal(call.body["max_tokens"], 100);
  });

  test("Anthropic: an answer in JSON mode is refused clearly rather than ignored", async () => {
    await assert.rejects(
      client.chat.completions.create({ model: "claude-fake", messages: [{ role: "user", content: "x" }], response_format: { type: "json_object" } }),
      (err: unknown) => err instanceof OpenAI.BadRequestError && /response_format/.test(err.message),
    );
  });

  test("Gemini: a chat completion is translated to generateContent and back", async () => {
    g.gemini.calls.length = 0;
    const res = await client.chat.completions.create({
      model: "gemini-fake",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi from bo@example.com" },
      ],
      temperature: 0.3,
    });
    assert.equal(res.choices[0]!.message.content, "Echo: hi from <EMAIL_1>");
    assert.equal(res.choices[0]!.finish_reason, "stop");
    assert.ok(res.usage!.total_tokens > 0);
    const call = g.gemini.calls[0]!;
    assert.match(call.path, /\/models\/gemini-2\.0-flash:generateContent$/);
    assert.equal(call.headers["x-goog-api-key"], TEST_ENV["FAKE_GEMINI_KEY"]);
    assert.deepEqual(call.body["systemInstruction"], { parts: [{ text: "be brief" }] });
  });

  for (const p of PROVIDERS) {
    test(`${p.name}: a stream arrives as OpenAI chunks, with usage when asked`, async () => {
      const stream = await client.chat.completions.create({
        model: p.model,
        messages: [{ role: "user", content: "one two" }],
        stream: true,
        stream_options: { include_usage: true },
      });
      let text = "";
      let finish: string | null = null;
      let usage: OpenAI.CompletionUsage | null | undefined;
      for await (const c of stream) {
        text += c.choices[0]?.delta.content ?? "";
        finish = c.choices[0]?.finish_reason ?? finish;
        if (c.usage) usage = c.usage;
      }
      assert.equal(text, "Echo: one two");
      assert.equal(finish, "stop");
      assert.ok(usage && usage.completion_tokens > 0);
    });

    test(`${p.name}: streamed tool calls become OpenAI tool calls assembled from deltas`, async () => {
      const final = await client.chat.completions
        .stream({
          model: p.model,
          messages: [{ role: "user", content: "weather?" }],
          tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
        })
        .finalChatCompletion();
      const tc = final.choices[0]!.message.tool_calls![0]!;
      assert.equal(tc.type === "function" && tc.function.name, "get_weather");
      assert.deepEqual(JSON.parse(tc.type === "function" ? tc.function.arguments : "{}"), { city: "Paris" });
      assert.equal(final.choices[0]!.finish_reason, "tool_calls");
    });

    test(`${p.name}: its errors come back in OpenAI's format with the right status`, async () => {
      const fake = p.fake(g);
      for (const [mode, status] of p.errors) {
        fake.mode = mode;
        try {
          await assert.rejects(client.chat.completions.create({ model: p.model, messages: [{ role: "user", content: "x" }] }), (err: unknown) => {
            assert.ok(err instanceof OpenAI.APIError);
            assert.equal(err.status, status, mode);
            return true;
          });
        } finally {
          fake.mode = "ok";
        }
      }
    });
  }
});
