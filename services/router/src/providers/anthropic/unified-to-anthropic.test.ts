import { test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { DEFAULT_MAX_TOKENS, requestToAnthropic } from "./unified-to-anthropic.js";

type Init = MessageInitShape<typeof ChatRequestSchema>;
const M = "claude-sonnet-4-5";
const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather in a given location",
    parameters: { type: "object", properties: { location: { type: "string" } }, required: ["location"] },
  },
};

interface OkCase {
  name: string;
  req: Init;
  stream?: boolean;
  /** Expected subset of the Anthropic body (checked key by key with deepEqual). */
  want: Record<string, unknown>;
  /** Keys that must be absent. */
  absent?: string[];
}

const ok: OkCase[] = [
  {
    name: "a plain user message gets the model, default max_tokens and string content",
    req: { messages: [{ role: Role.USER, content: "Hello" }] },
    want: { model: M, max_tokens: DEFAULT_MAX_TOKENS, messages: [{ role: "user", content: "Hello" }] },
    absent: ["system", "stream", "tools", "tool_choice", "metadata", "stop_sequences", "temperature"],
  },
  {
    name: "max_tokens, temperature, top_p and stream pass through",
    req: { messages: [{ role: Role.USER, content: "x" }], maxTokens: 256, temperature: 0.5, topP: 0.9 },
    stream: true,
    want: { max_tokens: 256, temperature: 0.5, top_p: 0.9, stream: true },
  },
  {
    name: "one system message becomes the system string",
    req: { messages: [{ role: Role.SYSTEM, content: "Be brief." }, { role: Role.USER, content: "Hi" }] },
    want: { system: "Be brief.", messages: [{ role: "user", content: "Hi" }] },
  },
  {
    name: "system and developer messages are hoisted in order into system text blocks",
    req: {
      messages: [
        { role: Role.SYSTEM, content: "Rule one." },
        { role: Role.USER, content: "Hi" },
        { role: Role.DEVELOPER, parts: [{ part: { case: "text", value: "Rule two." } }] },
      ],
    },
    want: {
      system: [
        { type: "text", text: "Rule one." },
        { type: "text", text: "Rule two." },
      ],
      messages: [{ role: "user", content: "Hi" }],
    },
  },
  {
    name: "a multi-turn conversation keeps user/assistant order",
    req: {
      messages: [
        { role: Role.USER, content: "Hello there." },
        { role: Role.ASSISTANT, content: "Hi, I'm Claude. How can I help you?" },
        { role: Role.USER, content: "Can you explain LLMs in plain English?" },
      ],
    },
    want: {
      messages: [
        { role: "user", content: "Hello there." },
        { role: "assistant", content: "Hi, I'm Claude. How can I help you?" },
        { role: "user", content: "Can you explain LLMs in plain English?" },
      ],
    },
  },
  {
    name: "tools become name/description/input_schema; a tool without parameters gets an empty object schema",
    req: { messages: [{ role: Role.USER, content: "x" }], tools: [weatherTool, { type: "function", function: { name: "now" } }] },
    want: {
      tools: [
        {
          name: "get_weather",
          description: "Get the current weather in a given location",
          input_schema: { type: "object", properties: { location: { type: "string" } }, required: ["location"] },
        },
        { name: "now", input_schema: { type: "object", properties: {} } },
      ],
    },
    absent: ["tool_choice"],
  },
  {
    name: "assistant tool_calls become tool_use blocks and consecutive tool messages one user message of tool_results",
    req: {
      messages: [
        { role: Role.USER, content: "Weather in SF and NYC?" },
        {
          role: Role.ASSISTANT,
          content: "Checking both.",
          toolCalls: [
            { id: "toolu_1", type: "function", function: { name: "get_weather", arguments: '{"location":"San Francisco, CA"}' } },
            { id: "toolu_2", type: "function", function: { name: "get_weather", arguments: '{"location":"New York, NY"}' } },
          ],
        },
        { role: Role.TOOL, toolCallId: "toolu_1", content: "15 degrees" },
        { role: Role.TOOL, toolCallId: "toolu_2", content: "20 degrees" },
        { role: Role.USER, content: "Thanks" },
      ],
      tools: [weatherTool],
    },
    want: {
      messages: [
        { role: "user", content: "Weather in SF and NYC?" },
        {
          role: "assistant",
          content: [
            { type: "text", text: "Checking both." },
            { type: "tool_use", id: "toolu_1", name: "get_weather", input: { location: "San Francisco, CA" } },
            { type: "tool_use", id: "toolu_2", name: "get_weather", input: { location: "New York, NY" } },
          ],
        },
        {
          role: "user",
          content: [
            { type: "tool_result", tool_use_id: "toolu_1", content: "15 degrees" },
            { type: "tool_result", tool_use_id: "toolu_2", content: "20 degrees" },
          ],
        },
        { role: "user", content: "Thanks" },
      ],
    },
  },
  {
    name: "an assistant message with only tool calls and empty arguments sends an empty input object",
    req: {
      messages: [
        { role: Role.USER, content: "time?" },
        { role: Role.ASSISTANT, toolCalls: [{ id: "toolu_9", type: "function", function: { name: "now", arguments: "" } }] },
        { role: Role.TOOL, toolCallId: "toolu_9", content: "" },
      ],
    },
    want: {
      messages: [
        { role: "user", content: "time?" },
        { role: "assistant", content: [{ type: "tool_use", id: "toolu_9", name: "now", input: {} }] },
        { role: "user", content: [{ type: "tool_result", tool_use_id: "toolu_9" }] },
      ],
    },
  },
  {
    name: "images: data: URIs become base64 sources with media_type, http(s) URLs url sources",
    req: {
      messages: [
        {
          role: Role.USER,
          parts: [
            { part: { case: "imageUrl", value: { url: "data:image/png;base64,iVBORw0KGgo=" } } },
            { part: { case: "imageUrl", value: { url: "https://example.com/cat.jpg", detail: "high" } } },
            { part: { case: "text", value: "What is in these images?" } },
          ],
        },
      ],
    },
    want: {
      messages: [
        {
          role: "user",
          content: [
            { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBORw0KGgo=" } },
            { type: "image", source: { type: "url", url: "https://example.com/cat.jpg" } },
            { type: "text", text: "What is in these images?" },
          ],
        },
      ],
    },
  },
  { name: "tool_choice auto → auto", req: { messages: [{ role: Role.USER, content: "x" }], tools: [weatherTool], toolChoice: { choice: { case: "mode", value: "auto" } } }, want: { tool_choice: { type: "auto" } } },
  { name: "tool_choice required → any", req: { messages: [{ role: Role.USER, content: "x" }], tools: [weatherTool], toolChoice: { choice: { case: "mode", value: "required" } } }, want: { tool_choice: { type: "any" } } },
  { name: "tool_choice none → none", req: { messages: [{ role: Role.USER, content: "x" }], tools: [weatherTool], toolChoice: { choice: { case: "mode", value: "none" } } }, want: { tool_choice: { type: "none" } } },
  {
    name: "tool_choice function → tool with name",
    req: { messages: [{ role: Role.USER, content: "x" }], tools: [weatherTool], toolChoice: { choice: { case: "functionName", value: "get_weather" } } },
    want: { tool_choice: { type: "tool", name: "get_weather" } },
  },
  {
    name: "parallel_tool_calls=false sets disable_parallel_tool_use on the chosen tool_choice",
    req: { messages: [{ role: Role.USER, content: "x" }], tools: [weatherTool], toolChoice: { choice: { case: "mode", value: "required" } }, parallelToolCalls: false },
    want: { tool_choice: { type: "any", disable_parallel_tool_use: true } },
  },
  {
    name: "parallel_tool_calls=false without tool_choice sends auto with disable_parallel_tool_use",
    req: { messages: [{ role: Role.USER, content: "x" }], tools: [weatherTool], parallelToolCalls: false },
    want: { tool_choice: { type: "auto", disable_parallel_tool_use: true } },
  },
  {
    name: "parallel_tool_calls=false with none leaves none alone (it takes no such flag)",
    req: { messages: [{ role: Role.USER, content: "x" }], tools: [weatherTool], toolChoice: { choice: { case: "mode", value: "none" } }, parallelToolCalls: false },
    want: { tool_choice: { type: "none" } },
  },
  {
    name: "tool_choice without tools is not sent",
    req: { messages: [{ role: Role.USER, content: "x" }], toolChoice: { choice: { case: "mode", value: "auto" } } },
    want: {},
    absent: ["tool_choice", "tools"],
  },
  {
    name: "stop → stop_sequences and user → metadata.user_id",
    req: { messages: [{ role: Role.USER, content: "x" }], stop: ["END", "\n\nHuman:"], user: "user-42" },
    want: { stop_sequences: ["END", "\n\nHuman:"], metadata: { user_id: "user-42" } },
  },
  {
    name: "response_format text is the default and is accepted; penalties and seed are not forwarded",
    req: { messages: [{ role: Role.USER, content: "x" }], responseFormat: { type: "text" }, presencePenalty: 1, frequencyPenalty: 1, seed: 7n },
    want: {},
    absent: ["response_format", "presence_penalty", "frequency_penalty", "seed"],
  },
];

for (const c of ok) {
  test(`request: ${c.name}`, () => {
    const body = requestToAnthropic(create(ChatRequestSchema, c.req), M, c.stream ?? false) as unknown as Record<string, unknown>;
    for (const [k, v] of Object.entries(c.want)) assert.deepEqual(body[k], v, `field ${k}`);
    for (const k of c.absent ?? []) assert.equal(k in body, false, `field ${k} must be absent`);
    // Every body is plain JSON: it survives a round trip unchanged.
    assert.deepEqual(JSON.parse(JSON.stringify(body)), body);
  });
}

interface BadCase {
  name: string;
  req: Init;
  param: string;
  message: RegExp;
}

const bad: BadCase[] = [
  {
    name: "tool call arguments that are not JSON name the message index",
    req: {
      messages: [
        { role: Role.USER, content: "x" },
        { role: Role.ASSISTANT, toolCalls: [{ id: "t1", type: "function", function: { name: "get_weather", arguments: '{"location": "SF"' } }] },
      ],
    },
    param: "messages[1].tool_calls[0].function.arguments",
    message: /messages\[1\]\.tool_calls\[0\].*not valid JSON/,
  },
  {
    name: "tool call arguments that are JSON but not an object are rejected",
    req: {
      messages: [
        { role: Role.USER, content: "x" },
        { role: Role.ASSISTANT, toolCalls: [{ id: "t1", type: "function", function: { name: "f", arguments: "[1,2]" } }] },
      ],
    },
    param: "messages[1].tool_calls[0].function.arguments",
    message: /not a JSON object/,
  },
  {
    name: "response_format json_schema is rejected with a clear message",
    req: { messages: [{ role: Role.USER, content: "x" }], responseFormat: { type: "json_schema", schemaName: "out", schema: { type: "object" } } },
    param: "response_format",
    message: /json_schema is not supported for Anthropic/,
  },
  {
    name: "response_format json_object is rejected too",
    req: { messages: [{ role: Role.USER, content: "x" }], responseFormat: { type: "json_object" } },
    param: "response_format",
    message: /json_object is not supported/,
  },
  {
    name: "n > 1 is rejected",
    req: { messages: [{ role: Role.USER, content: "x" }], n: 2 },
    param: "n",
    message: /one choice/,
  },
  {
    name: "an image media type Anthropic does not accept is rejected",
    req: { messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "data:image/bmp;base64,Qk0=" } } }] }] },
    param: "messages[0].content[0].image_url.url",
    message: /image\/bmp is not supported/,
  },
  {
    name: "an image URL that is neither http(s) nor data: is rejected",
    req: { messages: [{ role: Role.USER, parts: [{ part: { case: "imageUrl", value: { url: "ftp://x/y.png" } } }] }] },
    param: "messages[0].content[0].image_url.url",
    message: /http\(s\) URL or a data: URI/,
  },
  {
    name: "a tool message without tool_call_id is rejected",
    req: { messages: [{ role: Role.USER, content: "x" }, { role: Role.TOOL, content: "15" }] },
    param: "messages[1].tool_call_id",
    message: /without tool_call_id/,
  },
];

for (const c of bad) {
  test(`request rejected: ${c.name}`, () => {
    assert.throws(
      () => requestToAnthropic(create(ChatRequestSchema, c.req), M, false),
      (err: unknown) => {
        assert.ok(err instanceof TesseraError, "a TesseraError");
        assert.equal(err.kind, "invalid_request");
        assert.equal(err.status, 400);
        assert.equal(err.details.param, c.param);
        assert.match(err.message, c.message);
        return true;
      },
    );
  });
}
