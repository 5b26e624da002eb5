import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { STRUCTURED_OUTPUT_TOOL, converseToolUseId, requestToConverse } from "./unified-to-bedrock.js";
import type { ConverseRequest } from "./wire.js";

type Init = MessageInitShape<typeof ChatRequestSchema>;
const read = (name: string) => JSON.parse(readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8")) as Record<string, unknown>;
const body = (init: Init): ConverseRequest => requestToConverse(create(ChatRequestSchema, init));
const user = (content: string) => ({ role: Role.USER, content });
const PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==";

const topSong = {
  type: "function",
  function: {
    name: "top_song",
    description: "Get the most popular song played on a radio station.",
    parameters: {
      type: "object",
      properties: {
        sign: { type: "string", description: "The call sign for the radio station for which you want the most popular song. Example calls signs are WZPZ and WKRP." },
      },
      required: ["sign"],
    },
  },
};
const weather = { type: "function", function: { name: "get_weather", parameters: { type: "object", properties: { city: { type: "string" } } } } };

test("request fixture (messages): system hoisted, user/assistant turns as text blocks, temperature in inferenceConfig", () => {
  const want = read("request-messages.json");
  const got = body({
    messages: [
      { role: Role.SYSTEM, content: "You are an app that creates play lists for a radio station that plays rock and pop music. Only return song names and the artist. " },
      user("Create a list of 3 pop songs."),
      { role: Role.ASSISTANT, content: 'Here is a list of 3 pop songs by artists from the United Kingdom:\n\n1. "As It Was" by Harry Styles\n2. "Easy On Me" by Adele\n3. "Unholy" by Sam Smith and Kim Petras' },
    ],
    temperature: 0.5,
  });
  assert.deepEqual(got, want);
});

test("request fixture (tool definition): the function becomes the documented toolSpec; no toolChoice for auto", () => {
  const want = read("request-tool-definition.json");
  const got = body({ messages: [user("What is the most popular song on WZPZ?")], tools: [topSong] });
  assert.deepEqual(got.messages, want["messages"]);
  assert.deepEqual(got.toolConfig, want["toolConfig"]);
  assert.equal(got.inferenceConfig, undefined);
  assert.equal(got.system, undefined);
});

test("request fixture (forced tool): tool_choice naming a function is the documented {tool:{name}}", () => {
  const want = read("request-tool-definition.json");
  const got = body({ messages: [user("x")], tools: [topSong], toolChoice: { choice: { case: "functionName", value: "top_song" } } });
  assert.deepEqual(got.toolConfig?.toolChoice, want["forcedToolChoice"]);
});

test("a tool result after the documented tool call becomes a user toolResult block with the same toolUseId", () => {
  const fixture = read("request-tool-result.json") as { content: { toolResult: { toolUseId: string } }[] };
  const got = body({
    messages: [
      user("What is the most popular song on WZPZ?"),
      { role: Role.ASSISTANT, toolCalls: [{ id: "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", type: "function", function: { name: "top_song", arguments: '{"sign": "WZPZ"}' } }] },
      { role: Role.TOOL, toolCallId: "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", content: '{"song": "Elemental Hotel", "artist": "8 Storey Hike"}' },
    ],
    tools: [topSong],
  });
  assert.deepEqual(got.messages[1], { role: "assistant", content: [{ toolUse: { toolUseId: "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q", name: "top_song", input: { sign: "WZPZ" } } }] });
  // The unified tool message is text, so the result is a text block (the fixture sends JSON).
  assert.deepEqual(got.messages[2], {
    role: "user",
    content: [{ toolResult: { toolUseId: fixture.content[0]!.toolResult.toolUseId, content: [{ text: '{"song": "Elemental Hotel", "artist": "8 Storey Hike"}' }] } }],
  });
});

interface OkCase {
  name: string;
  req: Init;
  /** Expected subset of the body (checked key by key with deepEqual). */
  want: Partial<Record<keyof ConverseRequest, unknown>>;
  absent?: (keyof ConverseRequest)[];
}

const ok: OkCase[] = [
  {
    name: "a plain user message is one text block; nothing else is sent",
    req: { messages: [user("Hello")] },
    want: { messages: [{ role: "user", content: [{ text: "Hello" }] }] },
    absent: ["system", "inferenceConfig", "toolConfig"],
  },
  {
    name: "max_tokens, temperature, top_p and stop go to inferenceConfig",
    req: { messages: [user("x")], maxTokens: 256, temperature: 0.2, topP: 0.9, stop: ["\n\nUser:", "END"] },
    want: { inferenceConfig: { maxTokens: 256, temperature: 0.2, topP: 0.9, stopSequences: ["\n\nUser:", "END"] } },
  },
  {
    name: "reasoning_effort, seed, penalties, user and metadata are not forwarded",
    req: { messages: [user("x")], reasoningEffort: "high", seed: 7n, presencePenalty: 0.5, frequencyPenalty: 0.5, user: "u1", metadata: { team: "a" } },
    want: { messages: [{ role: "user", content: [{ text: "x" }] }] },
    absent: ["inferenceConfig", "toolConfig", "system"],
  },
  {
    name: "system and developer messages, wherever they are, become system blocks in order",
    req: { messages: [{ role: Role.SYSTEM, content: "Rule one." }, user("Hi"), { role: Role.DEVELOPER, parts: [{ part: { case: "text", value: "Rule two." } }] }] },
    want: { system: [{ text: "Rule one." }, { text: "Rule two." }], messages: [{ role: "user", content: [{ text: "Hi" }] }] },
  },
  {
    name: "consecutive user messages merge into one turn",
    req: { messages: [user("One."), user("Two."), { role: Role.ASSISTANT, content: "Ok." }, { role: Role.ASSISTANT, content: "Really." }, user("Three.")] },
    want: {
      messages: [
        { role: "user", content: [{ text: "One." }, { text: "Two." }] },
        { role: "assistant", content: [{ text: "Ok." }, { text: "Really." }] },
        { role: "user", content: [{ text: "Three." }] },
      ],
    },
  },
  {
    name: "parallel tool results share one user message, and a following user text joins it after them",
    req: {
      messages: [
        user("Weather in Paris and Rome?"),
        {
          role: Role.ASSISTANT,
          content: "Checking.",
          toolCalls: [
            { id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } },
            { id: "call_2", type: "function", function: { name: "get_weather", arguments: '{"city":"Rome"}' } },
          ],
        },
        { role: Role.TOOL, toolCallId: "call_1", content: "Sunny" },
        { role: Role.TOOL, toolCallId: "call_2", content: "Rainy" },
        user("And tomorrow?"),
      ],
      tools: [weather],
    },
    want: {
      messages: [
        { role: "user", content: [{ text: "Weather in Paris and Rome?" }] },
        {
          role: "assistant",
          content: [
            { text: "Checking." },
            { toolUse: { toolUseId: "call_1", name: "get_weather", input: { city: "Paris" } } },
            { toolUse: { toolUseId: "call_2", name: "get_weather", input: { city: "Rome" } } },
          ],
        },
        {
          role: "user",
          content: [
            { toolResult: { toolUseId: "call_1", content: [{ text: "Sunny" }] } },
            { toolResult: { toolUseId: "call_2", content: [{ text: "Rainy" }] } },
            { text: "And tomorrow?" },
          ],
        },
      ],
    },
  },
  {
    name: "empty arguments are an empty input object; an empty tool result has no content blocks",
    req: {
      messages: [user("x"), { role: Role.ASSISTANT, toolCalls: [{ id: "call_9", type: "function", function: { name: "get_weather", arguments: "" } }] }, { role: Role.TOOL, toolCallId: "call_9", content: "" }],
      tools: [weather],
    },
    want: {
      messages: [
        { role: "user", content: [{ text: "x" }] },
        { role: "assistant", content: [{ toolUse: { toolUseId: "call_9", name: "get_weather", input: {} } }] },
        { role: "user", content: [{ toolResult: { toolUseId: "call_9", content: [] } }] },
      ],
    },
  },
  {
    name: "blank text parts and empty assistant turns are left out (Converse rejects blank text)",
    req: { messages: [{ role: Role.USER, parts: [{ part: { case: "text", value: "" } }, { part: { case: "text", value: "Hi" } }] }, { role: Role.ASSISTANT, content: "" }, user("again")] },
    want: { messages: [{ role: "user", content: [{ text: "Hi" }, { text: "again" }] }] },
  },
  {
    name: "an image data: URL becomes an image block with its format and the base64 bytes",
    req: {
      messages: [
        {
          role: Role.USER,
          parts: [
            { part: { case: "text", value: "What is this?" } },
            { part: { case: "imageUrl", value: { url: `data:image/png;base64,${PNG}` } } },
            { part: { case: "imageUrl", value: { url: "data:image/jpeg;base64,/9j/4AAQ" } } },
            { part: { case: "imageUrl", value: { url: "data:image/webp;base64,UklGRg==" } } },
            { part: { case: "imageUrl", value: { url: "data:image/gif;base64,R0lGODlh" } } },
          ],
        },
      ],
    },
    want: {
      messages: [
        {
          role: "user",
          content: [
            { text: "What is this?" },
            { image: { format: "png", source: { bytes: PNG } } },
            { image: { format: "jpeg", source: { bytes: "/9j/4AAQ" } } },
            { image: { format: "webp", source: { bytes: "UklGRg==" } } },
            { image: { format: "gif", source: { bytes: "R0lGODlh" } } },
          ],
        },
      ],
    },
  },
  {
    name: "tool_choice required → any",
    req: { messages: [user("x")], tools: [weather], toolChoice: { choice: { case: "mode", value: "required" } } },
    want: { toolConfig: { tools: [{ toolSpec: { name: "get_weather", inputSchema: { json: { type: "object", properties: { city: { type: "string" } } } } } }], toolChoice: { any: {} } } },
  },
  {
    name: "tool_choice none → no toolConfig (Converse has no none; a model offered no tools calls none)",
    req: { messages: [user("x")], tools: [weather], toolChoice: { choice: { case: "mode", value: "none" } } },
    want: { messages: [{ role: "user", content: [{ text: "x" }] }] },
    absent: ["toolConfig"],
  },
  {
    name: "a tool without parameters gets an empty object schema",
    req: { messages: [user("x")], tools: [{ type: "function", function: { name: "now" } }] },
    want: { toolConfig: { tools: [{ toolSpec: { name: "now", inputSchema: { json: { type: "object", properties: {} } } } }] } },
  },
  {
    name: "response_format json_schema → one forced tool whose input schema is the schema",
    req: {
      messages: [user("Weather?")],
      responseFormat: { type: "json_schema", schemaName: "weather", schema: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
    },
    want: {
      toolConfig: {
        tools: [
          {
            toolSpec: {
              name: STRUCTURED_OUTPUT_TOOL,
              description: 'Give your final answer by calling this tool exactly once with the JSON object described by the "weather" schema as its input.',
              inputSchema: { json: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } },
            },
          },
        ],
        toolChoice: { any: {} },
      },
    },
  },
  {
    name: "response_format json_object → the forced tool takes any object",
    req: { messages: [user("x")], responseFormat: { type: "json_object" } },
    want: {
      toolConfig: {
        tools: [{ toolSpec: { name: STRUCTURED_OUTPUT_TOOL, description: "Give your final answer by calling this tool exactly once with a JSON object as its input.", inputSchema: { json: { type: "object" } } } }],
        toolChoice: { any: {} },
      },
    },
  },
  {
    name: "response_format with the caller's tools (auto): both offered, a tool call forced",
    req: { messages: [user("x")], tools: [weather], responseFormat: { type: "json_object" } },
    want: {
      toolConfig: {
        tools: [
          { toolSpec: { name: "get_weather", inputSchema: { json: { type: "object", properties: { city: { type: "string" } } } } } },
          { toolSpec: { name: STRUCTURED_OUTPUT_TOOL, description: "Give your final answer by calling this tool exactly once with a JSON object as its input.", inputSchema: { json: { type: "object" } } } },
        ],
        toolChoice: { any: {} },
      },
    },
  },
  {
    name: "response_format text is the default and adds nothing",
    req: { messages: [user("x")], responseFormat: { type: "text" } },
    want: {},
    absent: ["toolConfig"],
  },
];

for (const c of ok)
  test(`request: ${c.name}`, () => {
    const got = body(c.req) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(got[k], v, k);
    for (const k of c.absent ?? []) assert.equal(got[k], undefined, `${k} must be absent`);
  });

interface BadCase {
  name: string;
  req: Init;
  param: string;
  message: RegExp;
}

const bad: BadCase[] = [
  {
    name: "an http(s) image URL (Converse does not fetch URLs)",
    req: { messages: [{ role: Role.USER, parts: [{ part: { case: "text", value: "x" } }, { part: { case: "imageUrl", value: { url: "https://example.com/cat.png" } } }] }] },
    param: "messages[0].content[1].image_url.url",
    message: /does not fetch image URLs; send the image inline as a data: URL/,
  },
  {
    name: "an image media type Converse does not take",
    req: { messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "data:image/bmp;base64,Qk0=" } } }] }] },
    param: "messages[0].content[0].image_url.url",
    message: /image\/bmp is not supported/,
  },
  {
    name: "a data: URL that is not base64",
    req: { messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "data:image/png,rawbytes" } } }] }] },
    param: "messages[0].content[0].image_url.url",
    message: /base64-encoded/,
  },
  {
    name: "an image in a system message",
    req: { messages: [{ role: Role.SYSTEM, parts: [{ part: { case: "imageUrl", value: { url: `data:image/png;base64,${PNG}` } } }] }, user("x")] },
    param: "messages[0].content[0]",
    message: /only allowed in user messages/,
  },
  {
    name: "tool call arguments that are not JSON",
    req: { messages: [user("x"), { role: Role.ASSISTANT, toolCalls: [{ id: "c", type: "function", function: { name: "f", arguments: "{oops" } }] }], tools: [weather] },
    param: "messages[1].tool_calls[0].function.arguments",
    message: /not valid JSON/,
  },
  {
    name: "tool call arguments that are a JSON array",
    req: { messages: [user("x"), { role: Role.ASSISTANT, toolCalls: [{ id: "c", type: "function", function: { name: "f", arguments: "[1]" } }] }], tools: [weather] },
    param: "messages[1].tool_calls[0].function.arguments",
    message: /not a JSON object/,
  },
  {
    name: "a tool message without tool_call_id",
    req: { messages: [user("x"), { role: Role.TOOL, content: "r" }] },
    param: "messages[1].tool_call_id",
    message: /without tool_call_id/,
  },
  {
    name: "tool_choice none while the history holds tool calls",
    req: {
      messages: [user("x"), { role: Role.ASSISTANT, toolCalls: [{ id: "c", type: "function", function: { name: "get_weather", arguments: "{}" } }] }, { role: Role.TOOL, toolCallId: "c", content: "r" }],
      tools: [weather],
      toolChoice: { choice: { case: "mode", value: "none" } },
    },
    param: "tool_choice",
    message: /tool_choice none cannot be expressed on Bedrock Converse/,
  },
  {
    name: "tool calls in the history without tools",
    req: { messages: [user("x"), { role: Role.ASSISTANT, toolCalls: [{ id: "c", type: "function", function: { name: "get_weather", arguments: "{}" } }] }, { role: Role.TOOL, toolCallId: "c", content: "r" }] },
    param: "tools",
    message: /requires the tools to be offered/,
  },
  {
    name: "response_format json with tool_choice required",
    req: { messages: [user("x")], tools: [weather], toolChoice: { choice: { case: "mode", value: "required" } }, responseFormat: { type: "json_object" } },
    param: "response_format",
    message: /cannot be combined with tool_choice required/,
  },
  {
    name: "a tool named like the structured-output tool",
    req: { messages: [user("x")], tools: [{ type: "function", function: { name: STRUCTURED_OUTPUT_TOOL } }] },
    param: "tools[0].function.name",
    message: /reserved/,
  },
  {
    name: "a tool without a name",
    req: { messages: [user("x")], tools: [{ type: "function", function: { name: "" } }] },
    param: "tools[0].function.name",
    message: /no function name/,
  },
  { name: "n > 1", req: { messages: [user("x")], n: 2 }, param: "n", message: /one choice per call/ },
  {
    name: "an unknown tool_choice mode",
    req: { messages: [user("x")], tools: [weather], toolChoice: { choice: { case: "mode", value: "sometimes" } } },
    param: "tool_choice",
    message: /not one of none, auto, required/,
  },
];

for (const c of bad)
  test(`request rejected: ${c.name} → invalid_request naming ${c.param}`, () => {
    assert.throws(
      () => body(c.req),
      (err: unknown) => {
        assert.ok(err instanceof TesseraError, String(err));
        assert.equal(err.kind, "invalid_request");
        assert.equal(err.details.param, c.param);
        assert.match(err.message, c.message);
        return true;
      },
    );
  });

test("tool-call ids: Bedrock and OpenAI ids pass unchanged; others map to a stable valid id", () => {
  assert.equal(converseToolUseId("tooluse_kZJMlvQmRJ6eAyJE5GIl7Q"), "tooluse_kZJMlvQmRJ6eAyJE5GIl7Q");
  assert.equal(converseToolUseId("call_abc-123"), "call_abc-123");
  for (const odd of ["fc_67.abc", "call:1", "x".repeat(65), "ключ"]) {
    const id = converseToolUseId(odd);
    assert.match(id, /^tooluse_[0-9a-f]{40}$/);
    assert.equal(converseToolUseId(odd), id, "deterministic");
  }
  assert.notEqual(converseToolUseId("fc_67.abc"), converseToolUseId("fc_67:abc"));
  const got = body({
    messages: [user("x"), { role: Role.ASSISTANT, toolCalls: [{ id: "fc_1.a", type: "function", function: { name: "get_weather", arguments: "{}" } }] }, { role: Role.TOOL, toolCallId: "fc_1.a", content: "r" }],
    tools: [weather],
  });
  const use = (got.messages[1]!.content[0] as { toolUse: { toolUseId: string } }).toolUse.toolUseId;
  const result = (got.messages[2]!.content[0] as { toolResult: { toolUseId: string } }).toolResult.toolUseId;
  assert.equal(use, result, "the call and its result still match");
});
