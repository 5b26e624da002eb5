import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ApiError, FunctionCallingConfigMode, GoogleGenAI, Type, type FunctionDeclaration } from "@google/genai";
import { TEST_KEYS } from "../helpers/config.js";
import { startTestGateway } from "../helpers/gateway.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

const weather: FunctionDeclaration = {
  name: "get_weather",
  description: "Weather of a city",
  parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING } }, required: ["city"] },
};

describe("Gemini surface, all-in-one, official @google/genai", () => {
  let g: Gateway;
  let ai: GoogleGenAI;
  before(async () => {
    g = await startTestGateway();
    ai = new GoogleGenAI({ apiKey: TEST_KEYS.acme, httpOptions: { baseUrl: g.url, timeout: 10_000, retryOptions: { attempts: 1 } } });
  });
  after(() => g.stop());

  for (const model of ["gpt-fake", "claude-fake", "gemini-fake"]) {
    test(`${model}: generateContent answers a GenerateContentResponse, email masked`, async () => {
      const r = await ai.models.generateContent({
        model,
        contents: "write to bob@corp.example.org",
        config: { systemInstruction: "be brief", temperature: 0.2, maxOutputTokens: 256 },
      });
      assert.equal(r.text, "Echo: write to <EMAIL_1>");
      assert.equal(r.candidates?.[0]?.finishReason, "STOP");
      assert.equal(r.candidates?.[0]?.content?.role, "model");
      assert.ok((r.usageMetadata?.promptTokenCount ?? 0) > 0 && (r.usageMetadata?.candidatesTokenCount ?? 0) > 0, JSON.stringify(r.usageMetadata));
      assert.ok(r.modelVersion);
      assert.match(r.sdkHttpResponse?.headers?.["x-request-id"] ?? "", /^[0-9A-HJKMNP-TV-Z]{26}$/);
    });

    test(`${model}: generateContentStream streams text, usage on the last chunk`, async () => {
      const stream = await ai.models.generateContentStream({ model, contents: "one two three at jane@example.com" });
      let text = "";
      let n = 0;
      let last;
      for await (const c of stream) {
        n++;
        text += c.text ?? "";
        last = c;
      }
      assert.equal(text, "Echo: one two three at <EMAIL_1>");
      assert.ok(n >= 2, `chunks: ${n}`);
      assert.equal(last?.candidates?.[0]?.finishReason, "STOP");
      assert.ok((last?.usageMetadata?.candidatesTokenCount ?? 0) > 0, JSON.stringify(last?.usageMetadata));
    });

    test(`${model}: function calling (non-streamed, streamed, and the answer sent back)`, async () => {
      const config = { tools: [{ functionDeclarations: [weather] }], toolConfig: { functionCallingConfig: { mode: FunctionCallingConfigMode.AUTO } } };
      const r = await ai.models.generateContent({ model, contents: "weather in Paris?", config });
      assert.deepEqual(
        r.functionCalls?.map((f) => ({ name: f.name, args: f.args })),
        [{ name: "get_weather", args: { city: "Paris" } }],
      );
      assert.equal(r.candidates?.[0]?.finishReason, "STOP");

      const calls = [];
      for await (const c of await ai.models.generateContentStream({ model, contents: "weather in Paris?", config })) calls.push(...(c.functionCalls ?? []));
      assert.deepEqual(
        calls.map((f) => ({ name: f.name, args: f.args })),
        [{ name: "get_weather", args: { city: "Paris" } }],
      );

      const second = await ai.models.generateContent({
        model,
        config,
        contents: [
          { role: "user", parts: [{ text: "weather in Paris?" }] },
          { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }] },
          { role: "user", parts: [{ functionResponse: { name: "get_weather", response: { temp: 21 } } }, { text: "and now?" }] },
        ],
      });
      assert.ok(second.candidates?.[0]?.content, JSON.stringify(second));
    });
  }

  test("a bad key is 401 UNAUTHENTICATED (the SDK throws)", async () => {
    const bad = new GoogleGenAI({ apiKey: "not-a-key", httpOptions: { baseUrl: g.url, retryOptions: { attempts: 1 } } });
    await assert.rejects(bad.models.generateContent({ model: "gpt-fake", contents: "hi" }), (e: unknown) => {
      assert.ok(e instanceof ApiError, String(e));
      assert.equal(e.status, 401);
      assert.match(e.message, /UNAUTHENTICATED/);
      return true;
    });
  });

  test("an unknown model is 404 NOT_FOUND", async () => {
    await assert.rejects(ai.models.generateContent({ model: "no-such-model", contents: "hi" }), (e: unknown) => {
      assert.ok(e instanceof ApiError, String(e));
      assert.equal(e.status, 404);
      assert.match(e.message, /NOT_FOUND/);
      return true;
    });
  });

  test("malformed JSON is 400 in Google's error format", async () => {
    const res = await fetch(`${g.url}/v1beta/models/gpt-fake:generateContent`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-goog-api-key": TEST_KEYS.acme },
      body: "{not json",
    });
    assert.equal(res.status, 400);
    const body = (await res.json()) as { error: { code: number; message: string; status: string } };
    assert.equal(body.error.code, 400);
    assert.equal(body.error.status, "INVALID_ARGUMENT");
    assert.match(body.error.message, /JSON/);
  });

  test("the key also works as ?key=, and streamGenerateContent without alt=sse is a JSON array", async () => {
    const res = await fetch(`${g.url}/v1beta/models/claude-fake:streamGenerateContent?key=${encodeURIComponent(TEST_KEYS.acme)}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ contents: [{ role: "user", parts: [{ text: "hello there" }] }] }),
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /application\/json/);
    const chunks = (await res.json()) as { candidates?: { content?: { parts?: { text?: string }[] }; finishReason?: string }[] }[];
    assert.ok(Array.isArray(chunks) && chunks.length >= 2);
    assert.equal(chunks.map((c) => c.candidates?.[0]?.content?.parts?.map((p) => p.text ?? "").join("") ?? "").join(""), "Echo: hello there");
    assert.equal(chunks.at(-1)?.candidates?.[0]?.finishReason, "STOP");
  });

  test("an unknown /v1beta method is a Google-style 404 that does not echo the key", async () => {
    const res = await fetch(`${g.url}/v1beta/models/gpt-fake:countTokens?key=secret-xyz`, { method: "POST", body: "{}" });
    assert.equal(res.status, 404);
    const text = await res.text();
    assert.doesNotMatch(text, /secret-xyz/);
    assert.equal((JSON.parse(text) as { error: { status: string } }).error.status, "NOT_FOUND");
  });
});
