import { test } from "node:test";
import assert from "node:assert/strict";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { parseOpenAIChatRequest } from "./request.js";
import { requestToOpenAI } from "./convert.js";

const ok = { model: "demo", messages: [{ role: "user", content: "hi" }] };

test("a minimal request parses into the unified shape", () => {
  const { request, stream } = parseOpenAIChatRequest(ok);
  assert.equal(stream, false);
  assert.equal(request.model, "demo");
  assert.equal(request.messages.length, 1);
  assert.equal(request.messages[0]!.role, Role.USER);
  assert.equal(request.messages[0]!.content, "hi");
});

const badCases: [string, unknown, string, RegExp][] = [
  ["body not an object", [1, 2], "", /expected a JSON object, but got array/],
  ["missing model", { messages: ok.messages }, "model", /Missing required parameter: 'model'/],
  ["model of wrong type", { ...ok, model: 42 }, "model", /expected a string, but got number/],
  ["missing messages", { model: "demo" }, "messages", /Missing required parameter: 'messages'/],
  ["messages not an array", { model: "demo", messages: "hi" }, "messages", /expected an array, but got string/],
  ["empty messages", { model: "demo", messages: [] }, "messages", /empty array/],
  ["unknown role", { model: "demo", messages: [{ role: "wizard", content: "x" }] }, "messages[0].role", /'wizard' is not one of/],
  ["content of wrong type", { model: "demo", messages: [{ role: "user", content: 5 }] }, "messages[0].content", /expected a string or an array/],
  ["temperature out of range", { ...ok, temperature: 3 }, "temperature", /out of range/],
  ["temperature of wrong type", { ...ok, temperature: "hot" }, "temperature", /expected a number, but got string/],
  ["max_tokens not an integer", { ...ok, max_tokens: 1.5 }, "max_tokens", /expected an integer/],
  ["stream not a boolean", { ...ok, stream: "yes" }, "stream", /expected a boolean/],
  ["unknown parameter", { ...ok, foo: 1 }, "foo", /Unrecognized request argument supplied: foo/],
  ["tool of wrong type", { ...ok, tools: [{ type: "retrieval" }] }, "tools[0].type", /only 'function' tools/],
  ["tool parameters not an object", { ...ok, tools: [{ type: "function", function: { name: "f", parameters: "x" } }] }, "tools[0].function.parameters", /JSON Schema object/],
  ["bad tool name", { ...ok, tools: [{ type: "function", function: { name: "has space" } }] }, "tools[0].function.name", /1-64 characters/],
  ["tool message without tool_call_id", { model: "demo", messages: [{ role: "tool", content: "x" }] }, "messages[0].tool_call_id", /expected a string, but got undefined/],
  ["image data URI with a broken payload", { model: "demo", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:image/png;base64,@@@" } }] }] }, "messages[0].content[0].image_url.url", /not valid base64/],
  ["image data URI of a non-image type", { model: "demo", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "data:text/html;base64,PGI+" } }] }] }, "messages[0].content[0].image_url.url", /data:image\/png/],
  ["image http URL without a host", { model: "demo", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "https://" } }] }] }, "messages[0].content[0].image_url.url", /not a valid http/],
  ["image url not http or data", { model: "demo", messages: [{ role: "user", content: [{ type: "image_url", image_url: { url: "file:///etc/passwd" } }] }] }, "messages[0].content[0].image_url.url", /Invalid image URL/],
  ["stream_options without stream", { ...ok, stream_options: { include_usage: true } }, "stream_options", /only allowed when 'stream'/],
];

for (const [name, body, param, message] of badCases) {
  test(`rejects ${name} with a 400 naming '${param}'`, () => {
    assert.throws(
      () => parseOpenAIChatRequest(body),
      (err: unknown) => {
        assert.ok(err instanceof TesseraError);
        assert.equal(err.status, 400);
        assert.equal(err.details.param ?? "", param);
        assert.match(err.message, message);
        return true;
      },
    );
  });
}

test("tools, tool calls and tool results survive a round trip to the OpenAI wire format", () => {
  const body = {
    model: "gpt",
    messages: [
      { role: "system", content: "be brief" },
      { role: "user", content: [{ type: "text", text: "weather?" }, { type: "image_url", image_url: { url: "https://x/y.png", detail: "low" } }] },
      { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "get_weather", arguments: '{"city":"Paris"}' } }] },
      { role: "tool", tool_call_id: "call_1", content: "sunny" },
    ],
    tools: [{ type: "function", function: { name: "get_weather", description: "d", parameters: { type: "object", properties: { city: { type: "string" } } } } }],
    tool_choice: { type: "function", function: { name: "get_weather" } },
    response_format: { type: "json_schema", json_schema: { name: "w", schema: { type: "object" }, strict: true } },
    temperature: 0.5,
    stop: "END",
    seed: 7,
  };
  const { request } = parseOpenAIChatRequest(body);
  const wire = requestToOpenAI(request, "gpt-4o", false);
  assert.deepEqual(wire.messages, body.messages);
  assert.deepEqual(wire.tools, body.tools);
  assert.deepEqual(wire.tool_choice, body.tool_choice);
  assert.deepEqual(wire.response_format, body.response_format);
  assert.equal(wire.model, "gpt-4o");
  assert.equal(wire.temperature, 0.5);
  assert.deepEqual(wire.stop, ["END"]);
  assert.equal(wire.seed, 7);
  assert.equal(wire.stream, undefined);
  assert.deepEqual(requestToOpenAI(request, "m", true).stream_options, { include_usage: true });
});
