import { test } from "node:test";
import assert from "node:assert/strict";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { parseAnthropicRequest } from "./request.js";

const ok = { model: "claude", max_tokens: 100, messages: [{ role: "user", content: "hi" }] };

test("a minimal request parses into the unified shape", () => {
  const { request, stream } = parseAnthropicRequest(ok);
  assert.equal(stream, false);
  assert.equal(request.model, "claude");
  assert.equal(request.maxTokens, 100);
  assert.equal(request.messages.length, 1);
  assert.equal(request.messages[0]!.role, Role.USER);
  assert.equal(request.messages[0]!.content, "hi");
  assert.equal(request.includeUsage, false);
});

const badCases: [string, unknown, string, RegExp][] = [
  ["body not an object", [1], "", /expected a JSON object, but got array/],
  ["missing model", { max_tokens: 1, messages: ok.messages }, "model", /^model: Field required$/],
  ["model of wrong type", { ...ok, model: 3 }, "model", /model: Input should be a valid string, but got number/],
  ["empty model", { ...ok, model: "" }, "model", /at least 1 character/],
  ["missing max_tokens", { model: "m", messages: ok.messages }, "max_tokens", /^max_tokens: Field required$/],
  ["max_tokens null", { ...ok, max_tokens: null }, "max_tokens", /max_tokens: Field required/],
  ["max_tokens not an integer", { ...ok, max_tokens: 1.5 }, "max_tokens", /valid integer/],
  ["max_tokens zero", { ...ok, max_tokens: 0 }, "max_tokens", /between 1 and/],
  ["missing messages", { model: "m", max_tokens: 1 }, "messages", /messages: Field required/],
  ["messages not a list", { ...ok, messages: "hi" }, "messages", /valid list, but got string/],
  ["empty messages", { ...ok, messages: [] }, "messages", /at least 1 item/],
  ["system role in messages", { ...ok, messages: [{ role: "system", content: "x" }] }, "messages.0.role", /'user' or 'assistant', but got 'system'/],
  ["missing content", { ...ok, messages: [{ role: "user" }] }, "messages.0.content", /Field required/],
  ["content of wrong type", { ...ok, messages: [{ role: "user", content: 5 }] }, "messages.0.content", /valid list, but got number/],
  ["unknown block type", { ...ok, messages: [{ role: "user", content: [{ type: "video" }] }] }, "messages.0.content.0.type", /'video' does not match/],
  ["text block without text", { ...ok, messages: [{ role: "user", content: [{ type: "text" }] }] }, "messages.0.content.0.text", /Field required/],
  ["image with bad media type", { ...ok, messages: [{ role: "user", content: [{ type: "image", source: { type: "base64", media_type: "image/bmp", data: "AA" } }] }] }, "messages.0.content.0.source.media_type", /image\/bmp/],
  ["image url not http", { ...ok, messages: [{ role: "user", content: [{ type: "image", source: { type: "url", url: "file:///etc/passwd" } }] }] }, "messages.0.content.0.source.url", /http\(s\) URL/],
  ["tool_use in a user message", { ...ok, messages: [{ role: "user", content: [{ type: "tool_use", id: "t", name: "f", input: {} }] }] }, "messages.0.content.0.type", /only allowed in assistant/],
  ["tool_use without input", { ...ok, messages: [{ role: "assistant", content: [{ type: "tool_use", id: "t", name: "f" }] }] }, "messages.0.content.0.input", /Field required/],
  ["tool_result without tool_use_id", { ...ok, messages: [{ role: "user", content: [{ type: "tool_result", content: "x" }] }] }, "messages.0.content.0.tool_use_id", /Field required/],
  ["image in tool_result", { ...ok, messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "t", content: [{ type: "image", source: {} }] }] }] }, "messages.0.content.0.content.0.type", /Images inside tool_result/],
  ["system of wrong type", { ...ok, system: 4 }, "system", /valid list, but got number/],
  ["system block not text", { ...ok, system: [{ type: "image" }] }, "system.0.type", /'image' does not match/],
  ["temperature out of Anthropic's range", { ...ok, temperature: 1.5 }, "temperature", /between 0 and 1/],
  ["top_p of wrong type", { ...ok, top_p: "x" }, "top_p", /valid number/],
  ["top_k not an integer", { ...ok, top_k: 2.5 }, "top_k", /valid integer/],
  ["stop_sequences not a list", { ...ok, stop_sequences: "END" }, "stop_sequences", /valid list/],
  ["tool without input_schema", { ...ok, tools: [{ name: "f" }] }, "tools.0.input_schema", /Field required/],
  ["tool with bad name", { ...ok, tools: [{ name: "has space", input_schema: {} }] }, "tools.0.name", /should match pattern/],
  ["server tool", { ...ok, tools: [{ type: "web_search_20250305", name: "web_search" }] }, "tools.0.type", /not supported/],
  ["tool_choice of unknown type", { ...ok, tool_choice: { type: "maybe" } }, "tool_choice.type", /'maybe' does not match/],
  ["tool_choice tool without name", { ...ok, tool_choice: { type: "tool" } }, "tool_choice.name", /Field required/],
  ["unknown parameter", { ...ok, foo: 1 }, "foo", /foo: Extra inputs are not permitted/],
  ["unknown metadata key", { ...ok, metadata: { team: "x" } }, "metadata.team", /Extra inputs/],
  ["stream not a boolean", { ...ok, stream: "yes" }, "stream", /valid boolean/],
];

for (const [name, body, param, message] of badCases) {
  test(`rejects ${name} with a 400 naming '${param}'`, () => {
    assert.throws(
      () => parseAnthropicRequest(body),
      (err: unknown) => {
        assert.ok(err instanceof TesseraError);
        assert.equal(err.status, 400);
        assert.equal(err.kind, "invalid_request");
        assert.equal(err.details.param ?? "", param);
        assert.match(err.message, message);
        return true;
      },
    );
  });
}

test("system, images, tool use, tool results and every option translate", () => {
  const { request, stream } = parseAnthropicRequest({
    model: "m",
    max_tokens: 512,
    system: [{ type: "text", text: "be brief", cache_control: { type: "ephemeral" } }, { type: "text", text: "be kind" }],
    messages: [
      {
        role: "user",
        content: [
          { type: "text", text: "what is here?" },
          { type: "image", source: { type: "base64", media_type: "image/png", data: "iVBOR" } },
          { type: "image", source: { type: "url", url: "https://x/y.jpg" } },
        ],
      },
      { role: "assistant", content: [{ type: "thinking", thinking: "hmm", signature: "s" }, { type: "text", text: "Let me check." }, { type: "tool_use", id: "toolu_1", name: "get_weather", input: { city: "Paris" } }] },
      {
        role: "user",
        content: [
          { type: "tool_result", tool_use_id: "toolu_1", content: [{ type: "text", text: "sunny" }, { type: "text", text: "20C" }] },
          { type: "tool_result", tool_use_id: "toolu_2", content: "rain", is_error: true },
          { type: "text", text: "and tomorrow?" },
        ],
      },
    ],
    tools: [{ name: "get_weather", description: "weather", input_schema: { type: "object", properties: { city: { type: "string" } } } }],
    tool_choice: { type: "tool", name: "get_weather", disable_parallel_tool_use: true },
    stop_sequences: ["END"],
    temperature: 0.3,
    top_p: 0.9,
    top_k: 40,
    metadata: { user_id: "u-1" },
    stream: true,
  });
  assert.equal(stream, true);
  assert.equal(request.includeUsage, true);
  const [sys, user, asst, tool1, tool2, user2] = request.messages;
  assert.equal(request.messages.length, 6);
  assert.equal(sys!.role, Role.SYSTEM);
  assert.equal(sys!.content, "be brief\nbe kind");
  assert.equal(user!.role, Role.USER);
  assert.deepEqual(
    user!.parts.map((p) => (p.part.case === "text" ? p.part.value : p.part.case === "imageUrl" ? p.part.value.url : "")),
    ["what is here?", "data:image/png;base64,iVBOR", "https://x/y.jpg"],
  );
  assert.equal(asst!.role, Role.ASSISTANT);
  assert.equal(asst!.content, "Let me check.");
  assert.equal(asst!.toolCalls.length, 1);
  assert.equal(asst!.toolCalls[0]!.id, "toolu_1");
  assert.equal(asst!.toolCalls[0]!.function?.name, "get_weather");
  assert.equal(asst!.toolCalls[0]!.function?.arguments, '{"city":"Paris"}');
  assert.equal(tool1!.role, Role.TOOL);
  assert.equal(tool1!.toolCallId, "toolu_1");
  assert.equal(tool1!.content, "sunny\n20C");
  assert.equal(tool2!.toolCallId, "toolu_2");
  assert.equal(tool2!.content, "rain");
  assert.equal(user2!.role, Role.USER);
  assert.equal(user2!.content, "and tomorrow?");
  assert.equal(request.tools.length, 1);
  assert.equal(request.tools[0]!.type, "function");
  assert.equal(request.tools[0]!.function?.name, "get_weather");
  assert.equal(request.tools[0]!.function?.description, "weather");
  assert.deepEqual(request.tools[0]!.function?.parameters, { type: "object", properties: { city: { type: "string" } } });
  assert.deepEqual(request.toolChoice?.choice, { case: "functionName", value: "get_weather" });
  assert.equal(request.parallelToolCalls, false);
  assert.deepEqual(request.stop, ["END"]);
  assert.equal(request.temperature, 0.3);
  assert.equal(request.topP, 0.9);
  assert.equal(request.user, "u-1");
  assert.equal(request.maxTokens, 512);
});

const choices: [unknown, unknown][] = [
  [{ type: "auto" }, { case: "mode", value: "auto" }],
  [{ type: "any" }, { case: "mode", value: "required" }],
  [{ type: "none" }, { case: "mode", value: "none" }],
  [{ type: "tool", name: "f" }, { case: "functionName", value: "f" }],
];
for (const [tc, want] of choices) {
  test(`tool_choice ${JSON.stringify(tc)} maps to ${JSON.stringify(want)}`, () => {
    const { request } = parseAnthropicRequest({ ...ok, tools: [{ name: "f", input_schema: { type: "object" } }], tool_choice: tc });
    assert.deepEqual(request.toolChoice?.choice, want);
    assert.equal(request.parallelToolCalls, undefined);
  });
}

test("ignored Anthropic-only parameters are accepted and dropped", () => {
  const { request } = parseAnthropicRequest({ ...ok, thinking: { type: "enabled", budget_tokens: 1024 }, service_tier: "auto", top_k: 5 });
  assert.equal(request.model, "claude");
});

test("a user turn of only tool results is only tool messages", () => {
  const { request } = parseAnthropicRequest({ ...ok, messages: [{ role: "user", content: [{ type: "tool_result", tool_use_id: "t1" }] }] });
  assert.equal(request.messages.length, 1);
  assert.equal(request.messages[0]!.role, Role.TOOL);
  assert.equal(request.messages[0]!.content, "");
});
