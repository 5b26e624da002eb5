import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import { TEST_KEYS, TEST_ENV } from "../helpers/config.js";
import { startTestGateway } from "../helpers/gateway.js";
import { SCENARIO_USAGE } from "../../services/router/src/providers/fake-scenario.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

describe("OpenAI surface, all-in-one, official openai client", () => {
  let g: Gateway;
  let client: OpenAI;
  before(async () => {
    g = await startTestGateway();
    client = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: TEST_KEYS.acme, maxRetries: 0, timeout: 10_000 });
  });
  after(() => g.stop());

  test("demo model echoes the last user message as the upstream received it, email masked", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: "demo", messages: [{ role: "user", content: "Hello from jane@example.com" }] })
      .withResponse();
    assert.equal(data.object, "chat.completion");
    assert.equal(data.choices[0]!.message.content, "Hello from <EMAIL_1>");
    assert.equal(data.choices[0]!.finish_reason, "stop");
    assert.equal(data.usage!.completion_tokens, 3);
    assert.match(response.headers.get("x-request-id")!, /^[0-9A-HJKMNP-TV-Z]{26}$/);
    assert.equal(response.headers.get("x-tessera-deployment"), "demo/demo");
  });

  test("an OpenAI upstream gets the provider model, the gateway's provider key and the redacted prompt", async () => {
    g.fake.calls.length = 0;
    const res = await client.chat.completions.create({
      model: "gpt-fake",
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "write to bob@corp.example.org" },
      ],
      temperature: 0.2,
    });
    assert.equal(res.choices[0]!.message.content, "Echo: write to <EMAIL_1>");
    assert.equal(res.model, "gpt-4o-mini");
    assert.ok(res.usage!.total_tokens > 0);
    const call = g.fake.calls[0]!;
    assert.equal(call.body["model"], "gpt-4o-mini");
    assert.equal(call.body["temperature"], 0.2);
    assert.equal(call.headers["authorization"], `Bearer ${TEST_ENV["FAKE_OPENAI_KEY"]}`);
    assert.doesNotMatch(JSON.stringify(call.body), /bob@corp/);
    assert.doesNotMatch(JSON.stringify(call.headers), new RegExp(TEST_KEYS.acme));
  });

  test("streams content chunk by chunk, with usage only when asked", async () => {
    const stream = await client.chat.completions.create({
      model: "gpt-fake",
      messages: [{ role: "user", content: "one two three" }],
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let chunks = 0;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let finish: string | null = null;
    for await (const c of stream) {
      chunks++;
      text += c.choices[0]?.delta.content ?? "";
      finish = c.choices[0]?.finish_reason ?? finish;
      if (c.usage) usage = c.usage;
    }
    assert.equal(text, "Echo: one two three");
    assert.equal(finish, "stop");
    assert.ok(chunks >= 5, `expected several chunks, got ${chunks}`);
    assert.ok(usage && usage.completion_tokens === SCENARIO_USAGE.completion, "usage chunk present, with the upstream's counts");

    const plain = await client.chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: "x" }], stream: true });
    let sawUsage = false;
    for await (const c of plain) if (c.usage) sawUsage = true;
    assert.equal(sawUsage, false);
  });

  test("streamed tool calls assemble into the full call", async () => {
    const stream = client.chat.completions.stream({
      model: "gpt-fake",
      messages: [{ role: "user", content: "weather in Paris?" }],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
    });
    const final = await stream.finalChatCompletion();
    const tc = final.choices[0]!.message.tool_calls![0]!;
    assert.equal(tc.type, "function");
    assert.equal(tc.type === "function" && tc.function.name, "get_weather");
    assert.equal(tc.type === "function" && tc.function.arguments, '{"city":"Paris"}');
    assert.match(tc.id, /^call_fake/);
    assert.equal(final.choices[0]!.finish_reason, "tool_calls");
  });

  test("non-streamed tool calls come back with content null", async () => {
    const res = await client.chat.completions.create({
      model: "gpt-fake",
      messages: [{ role: "user", content: "weather?" }],
      tools: [{ type: "function", function: { name: "get_weather", parameters: { type: "object" } } }],
    });
    assert.equal(res.choices[0]!.message.content, null);
    assert.equal(res.choices[0]!.message.tool_calls!.length, 1);
  });

  test("an OpenAI upstream's chunks pass through unchanged (no re-serialisation)", async () => {
    const res = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_KEYS.acme}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-fake", stream: true, messages: [{ role: "user", content: "raw bytes" }] }),
    });
    const events = (await res.text()).split("\n\n").filter((e) => e.startsWith("data: ") && e !== "data: [DONE]");
    // The fake's own fields, which Tessera's encoder would not write, arrive as the fake wrote them.
    assert.match(events[0]!, /^data: \{"id":"chatcmpl-[^"]+","object":"chat.completion.chunk","created":\d+,"model":"gpt-4o-mini","system_fingerprint":"fp_fake","choices":\[\{"index":0,"delta":\{"role":"assistant","content":"","refusal":null\},"logprobs":null,"finish_reason":null\}\]\}$/);
    assert.equal(events.some((e) => e.includes('"usage"')), false, "usage was not asked for, so its chunk is left out");
  });

  test("the demo model streams too", async () => {
    const stream = await client.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "stream me please" }], stream: true });
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
    assert.equal(text, "stream me please");
  });

  test("falls back to the next deployment when the first is unreachable", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: "with-fallback", messages: [{ role: "user", content: "hi" }] })
      .withResponse();
    assert.equal(data.choices[0]!.message.content, "Echo: hi");
    assert.equal(response.headers.get("x-tessera-deployment"), "fake/gpt-4o-mini");
    await g.gw.events.flush();
    const row = await g.gw.store.findRequest(response.headers.get("x-request-id")!);
    assert.equal(row?.fallbacks, 1, "the event counts the deployment that failed first");
  });

  test("lists the models that have an enabled deployment", async () => {
    const ids = [];
    for await (const m of client.models.list()) ids.push(m.id);
    assert.deepEqual(ids.sort(), ["approved-only", "claude-fake", "demo", "embed-fake", "gemini-fake", "gpt-fake", "routed", "with-fallback"]);
  });

  test("each call becomes one stored event with principal, model, provider and tokens", async () => {
    const { response } = await client.chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: "count me at a@b.io" }] }).withResponse();
    const id = response.headers.get("x-request-id")!;
    await g.gw.events.flush();
    const row = await g.gw.store.findRequest(id);
    assert.ok(row, "event stored");
    assert.equal(row.tenantId, "acme");
    assert.equal(row.keyId, "acme-key");
    assert.equal(row.modelRequested, "gpt-fake");
    assert.equal(row.modelServed, "gpt-4o-mini");
    assert.equal(row.provider, "openai");
    assert.equal(row.deployment, "fake/gpt-4o-mini");
    assert.equal(row.statusCode, 200);
    assert.ok(row.promptTokens > 0 && row.completionTokens > 0);
  });

  test("nothing secret reaches the logs", () => {
    const all = g.logLines.join("");
    assert.doesNotMatch(all, new RegExp(TEST_KEYS.acme));
    assert.doesNotMatch(all, /sk-fake-upstream-secret/);
  });
});

describe("OpenAI surface errors, in OpenAI's error format", () => {
  let g: Gateway;
  let client: OpenAI;
  before(async () => {
    g = await startTestGateway({ maxBodyBytes: 4096 });
    client = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: TEST_KEYS.acme, maxRetries: 0, timeout: 10_000 });
  });
  after(() => g.stop());

  async function raw(body: string, headers: Record<string, string> = {}) {
    const res = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${TEST_KEYS.acme}`, "content-type": "application/json", ...headers },
      body,
    });
    return { status: res.status, body: (await res.json()) as { error: { message: string; type: string; param: string | null; code: string | null } }, headers: res.headers };
  }

  test("a wrong key is a 401 AuthenticationError that does not echo the key", async () => {
    const bad = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: "sk-wrong-key-123", maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "x" }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.AuthenticationError);
      assert.equal(err.status, 401);
      assert.equal(err.code, "invalid_api_key");
      assert.doesNotMatch(err.message, /sk-wrong-key-123/);
      return true;
    });
  });

  test("no key at all is a 401", async () => {
    const r = await fetch(`${g.url}/v1/chat/completions`, { method: "POST", body: JSON.stringify({ model: "demo", messages: [{ role: "user", content: "x" }] }) });
    assert.equal(r.status, 401);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, "missing_api_key");
  });

  test("a model outside the key's allow-list is a 403", async () => {
    const beta = new OpenAI({ baseURL: `${g.url}/v1`, apiKey: TEST_KEYS.beta, maxRetries: 0 });
    await assert.rejects(beta.chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: "x" }] }), OpenAI.PermissionDeniedError);
  });

  test("an unknown model is a 404 model_not_found", async () => {
    await assert.rejects(client.chat.completions.create({ model: "no-such-model", messages: [{ role: "user", content: "x" }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.NotFoundError);
      assert.equal(err.code, "model_not_found");
      assert.equal(err.param, "model");
      return true;
    });
  });

  test("a model whose provider is switched off is a 503", async () => {
    await assert.rejects(client.chat.completions.create({ model: "switched-off", messages: [{ role: "user", content: "x" }] }), (err: unknown) => {
      assert.ok(err instanceof OpenAI.APIError);
      assert.equal(err.status, 503);
      return true;
    });
  });

  test("malformed JSON is a 400 invalid_json", async () => {
    const r = await raw('{"model": "demo", "messages": [');
    assert.equal(r.status, 400);
    assert.equal(r.body.error.type, "invalid_request_error");
    assert.equal(r.body.error.code, "invalid_json");
  });

  test("wrong types and missing fields are 400s naming the parameter", async () => {
    let r = await raw(JSON.stringify({ model: "demo" }));
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, "messages");
    r = await raw(JSON.stringify({ messages: [{ role: "user", content: "x" }] }));
    assert.equal(r.body.error.param, "model");
    r = await raw(JSON.stringify({ model: "demo", messages: [{ role: "user", content: "x" }], temperature: "hot" }));
    assert.equal(r.status, 400);
    assert.equal(r.body.error.param, "temperature");
  });

  test("a body over the limit is a 413 and the gateway keeps serving", async () => {
    const r = await raw(JSON.stringify({ model: "demo", messages: [{ role: "user", content: "x".repeat(10_000) }] }));
    assert.equal(r.status, 413);
    assert.equal(r.body.error.code, "body_too_large");
    const ok = await client.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "still here" }] });
    assert.equal(ok.choices[0]!.message.content, "still here");
  });

  test("upstream 429 passes through as 429 with Retry-After", async () => {
    g.fake.mode = "error_429";
    try {
      const r = await raw(JSON.stringify({ model: "gpt-fake", messages: [{ role: "user", content: "x" }] }));
      assert.equal(r.status, 429);
      assert.equal(r.headers.get("retry-after"), "7");
      assert.equal(r.body.error.type, "rate_limit_error");
    } finally {
      g.fake.mode = "ok";
    }
  });

  test("upstream 500 and upstream garbage are 502s", async () => {
    for (const mode of ["error_500", "garbage"] as const) {
      g.fake.mode = mode;
      try {
        const r = await raw(JSON.stringify({ model: "gpt-fake", messages: [{ role: "user", content: "x" }] }));
        assert.equal(r.status, 502, mode);
        assert.equal(r.body.error.type, "api_error");
      } finally {
        g.fake.mode = "ok";
      }
    }
  });

  test("an upstream 400 is the caller's 400 with the provider's message", async () => {
    g.fake.mode = "error_400";
    try {
      const r = await raw(JSON.stringify({ model: "gpt-fake", messages: [{ role: "user", content: "x" }] }));
      assert.equal(r.status, 400);
      assert.match(r.body.error.message, /temperature/);
    } finally {
      g.fake.mode = "ok";
    }
  });

  test("a stream the upstream cuts ends with an error event, not a hang", async () => {
    g.fake.mode = "cut_stream";
    try {
      const stream = await client.chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: "a b c d" }], stream: true });
      await assert.rejects(
        (async () => {
          for await (const _ of stream) {
            /* drain */
          }
        })(),
        (err: unknown) => {
          assert.ok(err instanceof OpenAI.APIError);
          assert.match(err.message, /broke the stream mid-way/);
          return true;
        },
      );
    } finally {
      g.fake.mode = "ok";
    }
  });

  test("an unknown URL is a 404 in OpenAI's format", async () => {
    const r = await fetch(`${g.url}/v1/nope`, { headers: { authorization: `Bearer ${TEST_KEYS.acme}` } });
    assert.equal(r.status, 404);
    assert.equal(((await r.json()) as { error: { code: string } }).error.code, "unknown_url");
  });
});
