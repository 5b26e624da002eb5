import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { GatewayService } from "@tessera/gen/tessera/gateway/v1/gateway_pb";
import { sha256Hex } from "@tessera/runtime";
import { TEST_KEYS } from "../helpers/config.js";
import { startTestGateway } from "../helpers/gateway.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

const PROMPT_KEY = "tk-test-prompt-only-0123456789";

const PROMPTS = `
prompts:
  - name: summarize
    versions:
      - { version: 1, model: gpt-fake, variables: [audience, text], messages: [{ role: system, content: "Summarise for {{audience}}." }, { role: user, content: "{{text}}" }] }
      - { version: 2, model: gpt-fake, variables: [text], messages: [{ role: user, content: "v2: {{text}}" }] }
    labels: { production: 1, staging: 2 }
  - name: extract
    versions:
      - version: 1
        model: gpt-fake
        variables: [payload]
        output_schema: { type: object, required: [city], properties: { city: { type: string } }, additionalProperties: false }
        messages: [{ role: user, content: "Reverse: {{ payload }}" }]
    labels: { production: 1 }
  - name: other
    versions: [{ version: 1, model: demo, messages: [{ role: user, content: "hello" }] }]
    labels: { production: 1 }
`;

/**
 * Prompt APIs through the front door: POST /v1/prompts/{name}/invoke and gRPC InvokePrompt
 * render the prompt's version with the variables, then call its model with the same keys,
 * limits, redaction and metering as any call; a key given prompt APIs may call nothing else.
 */
describe("prompt APIs, all-in-one", () => {
  let g: Gateway;
  before(async () => {
    g = await startTestGateway({ keys: `  - { id: prompt-key, tenant: acme, prompts: [summarize], key_sha256: ${sha256Hex(PROMPT_KEY)} }`, extra: PROMPTS });
  });
  after(() => g.stop());

  const invoke = (name: string, body: unknown, key: string = TEST_KEYS.acme) =>
    fetch(`${g.url}/v1/prompts/${name}/invoke`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
  const upstream = () => (g.fake.calls.at(-1)!.body as { messages: { role: string; content: string }[] }).messages;

  test("the production version is rendered, redacted and answered in OpenAI's format", async () => {
    const res = await invoke("summarize", { variables: { audience: "execs", text: "mail jane@corp.example" } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-tessera-prompt-version"), "1");
    const body = (await res.json()) as { object: string; choices: { message: { content: string } }[] };
    assert.equal(body.object, "chat.completion");
    assert.equal(body.choices[0]!.message.content, "Echo: mail <EMAIL_1>");
    assert.deepEqual(upstream(), [
      { role: "system", content: "Summarise for execs." },
      { role: "user", content: "mail <EMAIL_1>" },
    ]);
  });

  test("by label and by version, streamed", async () => {
    const staged = await invoke("summarize", { label: "staging", variables: { text: "hi" } });
    assert.equal(staged.headers.get("x-tessera-prompt-version"), "2");
    assert.equal(upstream()[0]!.content, "v2: hi");
    const res = await invoke("summarize", { version: 1, stream: true, variables: { audience: "all", text: "stream me" } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /text\/event-stream/);
    let text = "";
    for (const e of (await res.text()).split("\n\n"))
      if (e.startsWith("data: {")) text += (JSON.parse(e.slice(6)) as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? "";
    assert.equal(text, "Echo: stream me");
  });

  test("bad calls: missing variable, unknown prompt or label, bad body — each a clear error naming what is wrong", async () => {
    const missing = await invoke("summarize", { variables: { audience: "x" } });
    assert.equal(missing.status, 400);
    assert.equal(((await missing.json()) as { error: { param: string } }).error.param, "variables.text");
    const unknown = await invoke("nope", { variables: {} });
    assert.equal(unknown.status, 404);
    assert.equal(((await unknown.json()) as { error: { code: string } }).error.code, "prompt_not_found");
    const label = await invoke("summarize", { label: "canary", variables: {} });
    assert.equal(label.status, 404);
    const bad = await invoke("summarize", { variables: "text" });
    assert.equal(bad.status, 400);
    const field = await invoke("summarize", { varables: {} });
    assert.equal(((await field.json()) as { error: { message: string } }).error.message, "Unknown field 'varables'; a prompt call takes label, version, variables, stream, stream_options, max_tokens.");
  });

  test("an output schema is asked of the provider and the answer checked against it, streamed or not", async () => {
    const reversed = (t: string) => [...t].reverse().join("");
    const ok = await invoke("extract", { variables: { payload: reversed('{"city":"Paris"}') } });
    assert.equal(ok.status, 200);
    assert.equal(((await ok.json()) as { choices: { message: { content: string } }[] }).choices[0]!.message.content, '{"city":"Paris"}');
    const sent = g.fake.calls.at(-1)!.body as { response_format: { type: string; json_schema: { schema: unknown } } };
    assert.equal(sent.response_format.type, "json_schema");
    const bad = await invoke("extract", { variables: { payload: reversed('{"town":"Paris"}') } });
    assert.equal(bad.status, 502);
    const err = (await bad.json()) as { error: { code: string; message: string } };
    assert.equal(err.error.code, "output_schema_mismatch");
    assert.match(err.error.message, /prompt 'extract' version 1 .*must have required property 'city'/);
    const stream = await invoke("extract", { stream: true, variables: { payload: reversed("not json") } });
    const events = (await stream.text()).split("\n\n").filter((e) => e.startsWith("data: {"));
    assert.match(events.at(-1)!, /output_schema_mismatch/, "the stream ends with an error event");
  });

  test("a key given a prompt API may invoke it and nothing else", async () => {
    const ok = await invoke("summarize", { variables: { audience: "a", text: "b" } }, PROMPT_KEY);
    assert.equal(ok.status, 200);
    const other = await invoke("other", {}, PROMPT_KEY);
    assert.equal(other.status, 403);
    assert.equal(((await other.json()) as { error: { code: string } }).error.code, "prompt_not_allowed");
    const chat = await fetch(`${g.url}/v1/chat/completions`, {
      method: "POST",
      headers: { authorization: `Bearer ${PROMPT_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ model: "gpt-fake", messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(chat.status, 403);
    assert.equal(((await chat.json()) as { error: { code: string } }).error.code, "prompt_key_only");
  });

  test("gRPC InvokePrompt and InvokePromptStream", async () => {
    const client = createClient(GatewayService, createConnectTransport({ baseUrl: g.url, httpVersion: "1.1" }));
    const headers = { authorization: `Bearer ${TEST_KEYS.acme}` };
    const r = await client.invokePrompt({ call: { name: "summarize", variables: { audience: "ops", text: "hello" } } }, { headers });
    assert.equal(r.promptVersion, 1);
    assert.equal(r.response!.choices[0]!.message!.content, "Echo: hello");
    let text = "";
    for await (const m of client.invokePromptStream({ call: { name: "summarize", label: "staging", variables: { text: "x" } } }, { headers })) text += m.chunk?.choices[0]?.delta?.content ?? "";
    assert.equal(text, "Echo: v2: x");
  });
});
