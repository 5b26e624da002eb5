import { test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { guessImageMimeType, requestToGemini, toGeminiSchema } from "./unified-to-gemini.js";

type Init = MessageInitShape<typeof ChatRequestSchema>;
const req = (init: Omit<Init, "model">) => create(ChatRequestSchema, { model: "gemini-test", ...init } as Init);
const user = (content: string) => ({ role: Role.USER, content });
const call = (id: string, name: string, args: string) => ({ id, type: "function", function: { name, arguments: args } });

const cases: [string, Omit<Init, "model">, Record<string, unknown>][] = [
  ["a single user message becomes one user turn", { messages: [user("hi")] }, { contents: [{ role: "user", parts: [{ text: "hi" }] }] }],
  [
    "system and developer messages become systemInstruction parts",
    { messages: [{ role: Role.SYSTEM, content: "Be terse." }, { role: Role.DEVELOPER, content: "Use French." }, user("hi")] },
    { systemInstruction: { parts: [{ text: "Be terse." }, { text: "Use French." }] }, contents: [{ role: "user", parts: [{ text: "hi" }] }] },
  ],
  [
    "assistant becomes role model",
    { messages: [user("a"), { role: Role.ASSISTANT, content: "b" }, user("c")] },
    { contents: [{ role: "user", parts: [{ text: "a" }] }, { role: "model", parts: [{ text: "b" }] }, { role: "user", parts: [{ text: "c" }] }] },
  ],
  [
    "consecutive user messages are merged into one turn",
    { messages: [user("a"), user("b")] },
    { contents: [{ role: "user", parts: [{ text: "a" }, { text: "b" }] }] },
  ],
  [
    "assistant tool calls become functionCall parts and tool results functionResponse parts",
    {
      messages: [
        user("weather?"),
        { role: Role.ASSISTANT, toolCalls: [call("c1", "get_weather", '{"city":"Paris"}'), call("c2", "get_time", "")] },
        { role: Role.TOOL, toolCallId: "c1", content: '{"temp":21}' },
        { role: Role.TOOL, toolCallId: "c2", content: "12:00" },
        user("thanks"),
      ],
    },
    {
      contents: [
        { role: "user", parts: [{ text: "weather?" }] },
        { role: "model", parts: [{ functionCall: { name: "get_weather", args: { city: "Paris" } } }, { functionCall: { name: "get_time", args: {} } }] },
        {
          role: "user",
          parts: [{ functionResponse: { name: "get_weather", response: { temp: 21 } } }, { functionResponse: { name: "get_time", response: { content: "12:00" } } }, { text: "thanks" }],
        },
      ],
    },
  ],
  [
    "a JSON array tool result is wrapped as content text",
    { messages: [user("x"), { role: Role.ASSISTANT, toolCalls: [call("c1", "f", "{}")] }, { role: Role.TOOL, toolCallId: "c1", content: "[1,2]" }] },
    {
      contents: [
        { role: "user", parts: [{ text: "x" }] },
        { role: "model", parts: [{ functionCall: { name: "f", args: {} } }] },
        { role: "user", parts: [{ functionResponse: { name: "f", response: { content: "[1,2]" } } }] },
      ],
    },
  ],
  [
    "images: data URI → inlineData, https → fileData with guessed mimeType",
    {
      messages: [
        {
          role: Role.USER,
          parts: [
            { part: { case: "text", value: "what is this?" } },
            { part: { case: "imageUrl", value: { url: "data:image/png;base64,iVBORw0KGgo=", detail: "" } } },
            { part: { case: "imageUrl", value: { url: "https://example.com/a/cat.webp?x=1", detail: "high" } } },
          ],
        },
      ],
    },
    {
      contents: [
        {
          role: "user",
          parts: [{ text: "what is this?" }, { inlineData: { mimeType: "image/png", data: "iVBORw0KGgo=" } }, { fileData: { mimeType: "image/webp", fileUri: "https://example.com/a/cat.webp?x=1" } }],
        },
      ],
    },
  ],
  [
    "tools become functionDeclarations with the schema mapped, tool_choice auto → AUTO",
    {
      messages: [user("hi")],
      tools: [
        {
          type: "function",
          function: {
            name: "get_weather",
            description: "Weather for a city",
            parameters: { $schema: "http://json-schema.org/draft-07/schema#", type: "object", properties: { city: { type: "string" } }, required: ["city"], additionalProperties: false },
          },
        },
        { type: "function", function: { name: "ping", description: "", parameters: { type: "object", properties: {} } } },
      ],
      toolChoice: { choice: { case: "mode", value: "auto" } },
    },
    {
      contents: [{ role: "user", parts: [{ text: "hi" }] }],
      tools: [
        {
          functionDeclarations: [
            { name: "get_weather", description: "Weather for a city", parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
            { name: "ping" },
          ],
        },
      ],
      toolConfig: { functionCallingConfig: { mode: "AUTO" } },
    },
  ],
  ["tool_choice required → ANY", { messages: [user("hi")], toolChoice: { choice: { case: "mode", value: "required" } } }, { contents: [{ role: "user", parts: [{ text: "hi" }] }], toolConfig: { functionCallingConfig: { mode: "ANY" } } }],
  ["tool_choice none → NONE", { messages: [user("hi")], toolChoice: { choice: { case: "mode", value: "none" } } }, { contents: [{ role: "user", parts: [{ text: "hi" }] }], toolConfig: { functionCallingConfig: { mode: "NONE" } } }],
  [
    "a forced function → ANY with allowedFunctionNames",
    { messages: [user("hi")], toolChoice: { choice: { case: "functionName", value: "get_weather" } } },
    { contents: [{ role: "user", parts: [{ text: "hi" }] }], toolConfig: { functionCallingConfig: { mode: "ANY", allowedFunctionNames: ["get_weather"] } } },
  ],
  [
    "sampling options map into generationConfig",
    { messages: [user("hi")], temperature: 0.5, topP: 0.9, maxTokens: 100, stop: ["END"], n: 2, seed: 42n, presencePenalty: 0.1, frequencyPenalty: 0.2 },
    {
      contents: [{ role: "user", parts: [{ text: "hi" }] }],
      generationConfig: { temperature: 0.5, topP: 0.9, maxOutputTokens: 100, stopSequences: ["END"], candidateCount: 2, seed: 42, presencePenalty: 0.1, frequencyPenalty: 0.2 },
    },
  ],
  [
    "response_format json_object → responseMimeType",
    { messages: [user("hi")], responseFormat: { type: "json_object" } },
    { contents: [{ role: "user", parts: [{ text: "hi" }] }], generationConfig: { responseMimeType: "application/json" } },
  ],
  [
    "response_format json_schema → responseMimeType + responseJsonSchema (JSON Schema kept, $schema dropped)",
    { messages: [user("hi")], responseFormat: { type: "json_schema", schemaName: "x", schema: { $schema: "x", type: "object", properties: { a: { type: "string" } }, additionalProperties: false }, strict: true } },
    {
      contents: [{ role: "user", parts: [{ text: "hi" }] }],
      generationConfig: { responseMimeType: "application/json", responseJsonSchema: { type: "object", properties: { a: { type: "string" } }, additionalProperties: false } },
    },
  ],
  ["response_format text adds nothing", { messages: [user("hi")], responseFormat: { type: "text" } }, { contents: [{ role: "user", parts: [{ text: "hi" }] }] }],
];

for (const [name, init, expected] of cases) {
  test(`request: ${name}`, () => {
    assert.deepEqual(JSON.parse(JSON.stringify(requestToGemini(req(init)))), expected);
  });
}

const badCases: [string, Omit<Init, "model">, string, RegExp][] = [
  [
    "tool call arguments that are not JSON",
    { messages: [user("x"), { role: Role.ASSISTANT, toolCalls: [call("c1", "f", "{oops")] }] },
    "messages[1].tool_calls[0].function.arguments",
    /messages\[1\]\.tool_calls\[0\]\.function\.arguments is not valid JSON/,
  ],
  ["tool call arguments that are not an object", { messages: [user("x"), { role: Role.ASSISTANT, toolCalls: [call("c1", "f", "[1]")] }] }, "messages[1].tool_calls[0].function.arguments", /must be a JSON object/],
  ["a tool message answering no known call", { messages: [user("x"), { role: Role.TOOL, toolCallId: "nope", content: "1" }] }, "messages[1].tool_call_id", /'nope' does not match/],
  [
    "an image URL that is neither data: nor http(s)",
    { messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "ftp://x/y.png", detail: "" } } }] }] },
    "messages[0].content[0].image_url.url",
    /data: URIs and http\(s\) URLs/,
  ],
  ["a data URI that is not base64", { messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "data:image/png,abc", detail: "" } } }] }] }, "messages[0].content[0].image_url.url", /Invalid image data URI/],
];

for (const [name, init, param, message] of badCases) {
  test(`request: rejects ${name} as invalid_request naming '${param}'`, () => {
    assert.throws(
      () => requestToGemini(req(init)),
      (err: unknown) => {
        assert.ok(err instanceof TesseraError);
        assert.equal(err.kind, "invalid_request");
        assert.equal(err.status, 400);
        assert.equal(err.details.param, param);
        assert.match(err.message, message);
        return true;
      },
    );
  });
}

const schemaCases: [string, unknown, unknown][] = [
  ["nullable type arrays", { type: ["string", "null"] }, { type: "string", nullable: true }],
  ["several types become anyOf", { type: ["string", "integer"] }, { anyOf: [{ type: "string" }, { type: "integer" }] }],
  ["const becomes a one-value enum", { type: "string", const: "x" }, { type: "string", enum: ["x"] }],
  ["non-string enum values become strings", { type: "integer", enum: [1, 2] }, { type: "integer", enum: ["1", "2"] }],
  ["oneOf becomes anyOf", { oneOf: [{ type: "string" }, { type: "number" }] }, { anyOf: [{ type: "string" }, { type: "number" }] }],
  ["anyOf with null collapses to a nullable schema", { description: "d", anyOf: [{ type: "string" }, { type: "null" }] }, { type: "string", description: "d", nullable: true }],
  [
    "local $refs are inlined and $defs dropped",
    { type: "object", properties: { p: { $ref: "#/$defs/Point" } }, $defs: { Point: { type: "object", properties: { x: { type: "number" } }, additionalProperties: false } } },
    { type: "object", properties: { p: { type: "object", properties: { x: { type: "number" } } } } },
  ],
  ["a cyclic $ref stops as an empty schema", { $defs: { N: { type: "object", properties: { next: { $ref: "#/$defs/N" } } } }, $ref: "#/$defs/N" }, {
    type: "object",
    properties: { next: { type: "object", properties: { next: { type: "object", properties: { next: { type: "object", properties: { next: { type: "object", properties: { next: { type: "object", properties: { next: { type: "object", properties: { next: { type: "object", properties: { next: {} } } } } } } } } } } } } } } },
  }],
  ["array items are mapped", { type: "array", items: { type: "string", format: "email", examples: ["a"] }, maxItems: 3 }, { type: "array", maxItems: 3, items: { type: "string", format: "email" } }],
];

for (const [name, input, expected] of schemaCases) {
  test(`schema: ${name}`, () => {
    assert.deepEqual(JSON.parse(JSON.stringify(toGeminiSchema(input))), expected);
  });
}

test("image mimeType is guessed from the extension, defaulting to jpeg", () => {
  assert.equal(guessImageMimeType("https://x/y.PNG"), "image/png");
  assert.equal(guessImageMimeType("https://x/y.jpg"), "image/jpeg");
  assert.equal(guessImageMimeType("https://x/y.gif#frag"), "image/gif");
  assert.equal(guessImageMimeType("https://x/image"), "image/jpeg");
});
