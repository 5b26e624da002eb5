import { test } from "node:test";
import assert from "node:assert/strict";
import { toJson } from "@bufbuild/protobuf";
import { ChatRequestSchema } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { geminiSchemaToJsonSchema, parseGeminiRequest } from "./request.js";

/** The unified request as (proto) JSON, for compact comparisons. */
function unified(body: unknown, stream = false): Record<string, unknown> {
  return toJson(ChatRequestSchema, parseGeminiRequest(body, "m", stream).request) as Record<string, unknown>;
}

const cases: [string, unknown, Record<string, unknown>][] = [
  ["a plain user turn", { contents: [{ role: "user", parts: [{ text: "hi" }] }] }, { model: "m", messages: [{ role: "ROLE_USER", content: "hi" }] }],
  ["no role means user; text parts join", { contents: [{ parts: [{ text: "a" }, { text: "b" }] }] }, {
    model: "m",
    messages: [{ role: "ROLE_USER", parts: [{ text: "a" }, { text: "b" }] }],
  }],
  ["systemInstruction → system message; model → assistant", {
    systemInstruction: { parts: [{ text: "be brief" }] },
    contents: [{ role: "user", parts: [{ text: "q" }] }, { role: "model", parts: [{ text: "a" }] }, { role: "user", parts: [{ text: "q2" }] }],
  }, {
    model: "m",
    messages: [
      { role: "ROLE_SYSTEM", content: "be brief" },
      { role: "ROLE_USER", content: "q" },
      { role: "ROLE_ASSISTANT", content: "a" },
      { role: "ROLE_USER", content: "q2" },
    ],
  }],
  ["functionCall → tool_calls call_<n>; functionResponse → tool message by name", {
    contents: [
      { role: "user", parts: [{ text: "weather?" }] },
      { role: "model", parts: [{ functionCall: { name: "w", args: { city: "Paris" } } }, { functionCall: { name: "t", args: {} } }] },
      { role: "user", parts: [{ functionResponse: { name: "t", response: { time: "noon" } } }, { functionResponse: { name: "w", response: { temp: 20 } } }] },
      { role: "model", parts: [{ functionCall: { name: "w", args: { city: "Rome" } } }] },
      { role: "user", parts: [{ functionResponse: { name: "w", response: { temp: 25 } } }, { text: "thanks" }] },
    ],
  }, {
    model: "m",
    messages: [
      { role: "ROLE_USER", content: "weather?" },
      {
        role: "ROLE_ASSISTANT",
        toolCalls: [
          { id: "call_0", type: "function", function: { name: "w", arguments: '{"city":"Paris"}' } },
          { id: "call_1", type: "function", function: { name: "t", arguments: "{}" } },
        ],
      },
      { role: "ROLE_TOOL", toolCallId: "call_1", content: '{"time":"noon"}' },
      { role: "ROLE_TOOL", toolCallId: "call_0", content: '{"temp":20}' },
      { role: "ROLE_ASSISTANT", toolCalls: [{ id: "call_2", type: "function", function: { name: "w", arguments: '{"city":"Rome"}' } }] },
      { role: "ROLE_TOOL", toolCallId: "call_2", content: '{"temp":25}' },
      { role: "ROLE_USER", content: "thanks" },
    ],
  }],
  ["inlineData → data: URI; fileData → image_url", {
    contents: [{ parts: [{ text: "see" }, { inlineData: { mimeType: "image/png", data: "AAAA" } }, { fileData: { mimeType: "image/jpeg", fileUri: "https://x/y.jpg" } }] }],
  }, {
    model: "m",
    messages: [{ role: "ROLE_USER", parts: [{ text: "see" }, { imageUrl: { url: "data:image/png;base64,AAAA" } }, { imageUrl: { url: "https://x/y.jpg" } }] }],
  }],
  ["tools and toolConfig ANY with one name", {
    contents: [{ parts: [{ text: "q" }] }],
    tools: [{ functionDeclarations: [{ name: "w", description: "weather", parameters: { type: "OBJECT", properties: { city: { type: "STRING" } }, required: ["city"] } }] }],
    toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["w"] } },
  }, {
    model: "m",
    messages: [{ role: "ROLE_USER", content: "q" }],
    tools: [{ type: "function", function: { name: "w", description: "weather", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } }],
    toolChoice: { functionName: "w" },
  }],
  ["toolConfig NONE", { contents: [{ parts: [{ text: "q" }] }], toolConfig: { functionCallingConfig: { mode: "NONE" } } }, {
    model: "m",
    messages: [{ role: "ROLE_USER", content: "q" }],
    toolChoice: { mode: "none" },
  }],
  ["toolConfig ANY → required", { contents: [{ parts: [{ text: "q" }] }], toolConfig: { functionCallingConfig: { mode: "ANY" } } }, {
    model: "m",
    messages: [{ role: "ROLE_USER", content: "q" }],
    toolChoice: { mode: "required" },
  }],
  ["generationConfig", {
    contents: [{ parts: [{ text: "q" }] }],
    generationConfig: { temperature: 0.5, topP: 0.9, topK: 3, maxOutputTokens: 100, stopSequences: ["END"], candidateCount: 2, seed: 7, responseMimeType: "application/json" },
  }, {
    model: "m",
    messages: [{ role: "ROLE_USER", content: "q" }],
    temperature: 0.5,
    topP: 0.9,
    maxTokens: 100,
    stop: ["END"],
    n: 2,
    seed: "7",
    responseFormat: { type: "json_object" },
  }],
  ["responseSchema → json_schema (lower-cased types, nullable)", {
    contents: [{ parts: [{ text: "q" }] }],
    generationConfig: { responseMimeType: "application/json", responseSchema: { type: "OBJECT", properties: { a: { type: "INTEGER", nullable: true } } } },
  }, {
    model: "m",
    messages: [{ role: "ROLE_USER", content: "q" }],
    responseFormat: { type: "json_schema", schemaName: "response", schema: { type: "object", properties: { a: { type: ["integer", "null"] } } } },
  }],
  ["responseJsonSchema → json_schema as given", {
    contents: [{ parts: [{ text: "q" }] }],
    generationConfig: { responseMimeType: "application/json", responseJsonSchema: { type: "object", additionalProperties: false } },
  }, {
    model: "m",
    messages: [{ role: "ROLE_USER", content: "q" }],
    responseFormat: { type: "json_schema", schemaName: "response", schema: { type: "object", additionalProperties: false } },
  }],
  ["snake_case fields are accepted", {
    system_instruction: { parts: [{ text: "s" }] },
    contents: [{ parts: [{ inline_data: { mime_type: "image/gif", data: "R0" } }] }],
    generation_config: { max_output_tokens: 5 },
  }, {
    model: "m",
    messages: [{ role: "ROLE_SYSTEM", content: "s" }, { role: "ROLE_USER", parts: [{ imageUrl: { url: "data:image/gif;base64,R0" } }] }],
    maxTokens: 5,
  }],
];
for (const [name, body, want] of cases) test(`request: ${name}`, () => assert.deepEqual(unified(body), want));

test("stream: the flag comes from the caller and asks for usage", () => {
  const p = parseGeminiRequest({ contents: [{ parts: [{ text: "q" }] }] }, "m", true);
  assert.equal(p.stream, true);
  assert.equal(p.request.includeUsage, true);
  assert.equal(parseGeminiRequest({ contents: [{ parts: [{ text: "q" }] }] }, "m", false).stream, false);
});

const invalid: [string, unknown, RegExp][] = [
  ["not an object", [], /Expected an object/],
  ["no contents", {}, /contents is not specified/],
  ["empty contents", { contents: [] }, /must not be empty/],
  ["unknown field", { contents: [{ parts: [{ text: "q" }] }], bogus: 1 }, /Unknown name "bogus"/],
  ["bad role", { contents: [{ role: "system", parts: [{ text: "q" }] }] }, /valid role/],
  ["unanswered functionResponse", { contents: [{ parts: [{ functionResponse: { name: "w", response: {} } }] }] }, /no earlier functionCall named 'w'/],
  ["bad temperature", { contents: [{ parts: [{ text: "q" }] }], generationConfig: { temperature: "hot" } }, /generation_config.temperature/],
  ["bad mode", { contents: [{ parts: [{ text: "q" }] }], toolConfig: { functionCallingConfig: { mode: "MAYBE" } } }, /AUTO, ANY, NONE/],
  ["unsupported tool", { contents: [{ parts: [{ text: "q" }] }], tools: [{ googleSearch: {} }] }, /googleSearch is not supported/],
];
for (const [name, body, re] of invalid) {
  test(`request invalid: ${name}`, () => {
    assert.throws(() => parseGeminiRequest(body, "m", false), (e: unknown) => e instanceof TesseraError && e.kind === "invalid_request" && re.test(e.message));
  });
}

test("geminiSchemaToJsonSchema converts nested schemas and int64 strings", () => {
  assert.deepEqual(geminiSchemaToJsonSchema({ type: "ARRAY", items: { type: "STRING", enum: ["a"] }, minItems: "1", propertyOrdering: ["x"] }), {
    type: "array",
    items: { type: "string", enum: ["a"] },
    minItems: 1,
  });
});
