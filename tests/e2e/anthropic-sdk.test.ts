import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import { TEST_KEYS } from "../helpers/config.js";
import { startTestGateway } from "../helpers/gateway.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

const weatherTool: Anthropic.Tool = {
  name: "get_weather",
  description: "Weather of a city",
  input_schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] },
};

describe("Anthropic surface, all-in-one, official @anthropic-ai/sdk", () => {
  let g: Gateway;
  let client: Anthropic;
  before(async () => {
    g = await startTestGateway();
    client = new Anthropic({ baseURL: g.url, apiKey: TEST_KEYS.acme, maxRetries: 0, timeout: 10_000 });
  });
  after(() => g.stop());

  describe("answers", () => {
    for (const model of ["gpt-fake", "claude-fake", "gemini-fake"]) {
      test(`${model}: a non-streamed message comes back as an Anthropic Message, email masked`, async () => {
        const { data, response } = await client.messages
          .create({ model, max_tokens: 256, system: "be brief", messages: [{ role: "user", content: "write to bob@corp.example.org" }] })
          .withResponse();
        assert.equal(data.type, "message");
        assert.equal(data.role, "assistant");
        assert.match(data.id, /^msg_/);
        assert.equal(data.content.length, 1);
        const block = data.content[0]!;
        assert.equal(block.type, "text");
        assert.equal(block.type === "text" && block.text, "Echo: write to <EMAIL_1>");
        assert.equal(data.stop_reason, "end_turn");
        assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0, JSON.stringify(data.usage));
        assert.match(response.headers.get("x-request-id")!, /^[0-9A-HJKMNP-TV-Z]{26}$/);
        assert.ok(response.headers.get("x-tessera-deployment"));
      });

      test(`${model}: a streamed message assembles via messages.stream, with text events`, async () => {
        const stream = client.messages.stream({ model, max_tokens: 256, messages: [{ role: "user", content: "one two three at jane@example.com" }] });
        let text = "";
        stream.on("text", (t) => (text += t));
        const final = await stream.finalMessage();
        assert.equal(text, "Echo: one two three at <EMAIL_1>");
        assert.equal(final.content.length, 1);
        assert.equal(final.content[0]!.type === "text" && final.content[0]!.text, "Echo: one two three at <EMAIL_1>");
        assert.equal(final.stop_reason, "end_turn");
        assert.match(final.id, /^msg_/);
        assert.ok(final.usage.output_tokens > 0, JSON.stringify(final.usage));
        assert.ok(final.usage.input_tokens > 0, JSON.stringify(final.usage));
      });

      test(`${model}: tool use round trip (non-streamed and streamed)`, async () => {
        const first = await client.messages.create({
          model,
          max_tokens: 256,
          tools: [weatherTool],
          tool_choice: { type: "auto" },
          messages: [{ role: "user", content: "weather in Paris?" }],
        });
        assert.equal(first.stop_reason, "tool_use");
        const use = first.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use");
        assert.ok(use, JSON.stringify(first.content));
        assert.equal(use.name, "get_weather");
        assert.deepEqual(use.input, { city: "Paris" });

        const streamed = await client.messages.stream({ model, max_tokens: 256, tools: [weatherTool], messages: [{ role: "user", content: "weather in Paris?" }] }).finalMessage();
        assert.equal(streamed.stop_reason, "tool_use");
        const suse = streamed.content.find((b): b is Anthropic.ToolUseBlock => b.type === "tool_use");
        assert.ok(suse, JSON.stringify(streamed.content));
        assert.equal(suse.name, "get_weather");
        assert.deepEqual(suse.input, { city: "Paris" });

        // Send the result back: the tool_use / tool_result pair translates for every provider.
        const second = await client.messages.create({
          model,
          max_tokens: 256,
          messages: [
            { role: "user", content: "weather in Paris?" },
            { role: "assistant", content: first.content },
            { role: "user", content: [{ type: "tool_result", tool_use_id: use.id, content: "sunny" }, { type: "text", text: "thanks" }] },
          ],
        });
        assert.equal(second.stop_reason, "end_turn");
        assert.equal(second.content[0]!.type === "text" && second.content[0]!.text, "Echo: thanks");
      });
    }

    test("the demo model streams too", async () => {
      const final = await client.messages.stream({ model: "demo", max_tokens: 64, messages: [{ role: "user", content: "stream me please" }] }).finalMessage();
      assert.equal(final.content[0]!.type === "text" && final.content[0]!.text, "stream me please");
    });

    test("each call is one stored event", async () => {
      const { response } = await client.messages.create({ model: "claude-fake", max_tokens: 16, messages: [{ role: "user", content: "count me" }] }).withResponse();
      const id = response.headers.get("x-request-id")!;
      await g.gw.events.flush();
      const row = await g.gw.store.findRequest(id);
      assert.ok(row, "event stored");
      assert.equal(row.modelRequested, "claude-fake");
      assert.equal(row.statusCode, 200);
    });
  });

  describe("errors, in Anthropic's error format", () => {
    test("a wrong key is a 401 AuthenticationError that does not echo the key", async () => {
      const bad = new Anthropic({ baseURL: g.url, apiKey: "sk-ant-wrong-key-123", maxRetries: 0 });
      await assert.rejects(bad.messages.create({ model: "demo", max_tokens: 16, messages: [{ role: "user", content: "x" }] }), (err: unknown) => {
        assert.ok(err instanceof Anthropic.AuthenticationError, String(err));
        assert.equal(err.status, 401);
        assert.equal((err.error as { error: { type: string } }).error.type, "authentication_error");
        assert.doesNotMatch(err.message, /sk-ant-wrong-key-123/);
        return true;
      });
    });

    test("an unknown model is a 404 NotFoundError", async () => {
      await assert.rejects(client.messages.create({ model: "no-such-model", max_tokens: 16, messages: [{ role: "user", content: "x" }] }), (err: unknown) => {
        assert.ok(err instanceof Anthropic.NotFoundError, String(err));
        assert.equal((err.error as { error: { type: string } }).error.type, "not_found_error");
        return true;
      });
    });

    test("an unknown model is a 404 when streaming too", async () => {
      await assert.rejects(client.messages.stream({ model: "no-such-model", max_tokens: 16, messages: [{ role: "user", content: "x" }] }).finalMessage(), Anthropic.NotFoundError);
    });

    test("missing max_tokens is a 400 BadRequestError naming max_tokens", async () => {
      await assert.rejects(
        client.messages.create({ model: "demo", messages: [{ role: "user", content: "x" }] } as unknown as Anthropic.MessageCreateParamsNonStreaming),
        (err: unknown) => {
          assert.ok(err instanceof Anthropic.BadRequestError, String(err));
          assert.equal((err.error as { error: { type: string } }).error.type, "invalid_request_error");
          assert.match(err.message, /max_tokens: Field required/);
          return true;
        },
      );
    });

    test("malformed JSON is a 400 in Anthropic's error format", async () => {
      const res = await fetch(`${g.url}/v1/messages`, {
        method: "POST",
        headers: { "x-api-key": TEST_KEYS.acme, "anthropic-version": "2023-06-01", "content-type": "application/json" },
        body: '{"model": "demo", "max_tokens": 1, ',
      });
      assert.equal(res.status, 400);
      const body = (await res.json()) as { type: string; error: { type: string; message: string } };
      assert.equal(body.type, "error");
      assert.equal(body.error.type, "invalid_request_error");
      assert.match(body.error.message, /could not parse the JSON body/);
    });

    test("an upstream error after the stream started arrives as an `event: error` SSE event", async () => {
      g.anthropic.mode = "stream_error";
      try {
        const res = await fetch(`${g.url}/v1/messages`, {
          method: "POST",
          headers: { "x-api-key": TEST_KEYS.acme, "content-type": "application/json" },
          body: JSON.stringify({ model: "claude-fake", max_tokens: 16, stream: true, messages: [{ role: "user", content: "hello there" }] }),
        });
        assert.equal(res.status, 200);
        const text = await res.text();
        assert.match(text, /^event: message_start\n/);
        assert.match(text, /event: error\ndata: \{"type":"error","error":\{"type":"(api_error|overloaded_error)"/);
        assert.doesNotMatch(text, /message_stop/);
        const stream = client.messages.stream({ model: "claude-fake", max_tokens: 16, messages: [{ role: "user", content: "hello there" }] });
        await assert.rejects(stream.finalMessage(), Anthropic.APIError);
      } finally {
        g.anthropic.mode = "ok";
      }
    });

    test("GET /v1/messages is a 405 in Anthropic's format", async () => {
      const res = await fetch(`${g.url}/v1/messages`, { headers: { "x-api-key": TEST_KEYS.acme } });
      assert.equal(res.status, 405);
      assert.equal(((await res.json()) as { type: string }).type, "error");
    });
  });
});
