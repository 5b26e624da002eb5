import { test } from "node:test";
import assert from "node:assert/strict";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import { ChatChunkSchema, ChatResponseSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError, type ErrorKind } from "@tessera/runtime";
import { GeminiStreamEncoder, encodeGeminiSse, errorToGemini, finishReasonToGemini, responseToGemini, usageToGemini } from "./response.js";

const finishes: [string, string][] = [
  ["stop", "STOP"],
  ["tool_calls", "STOP"],
  ["length", "MAX_TOKENS"],
  ["content_filter", "SAFETY"],
  ["", "STOP"],
];
for (const [f, want] of finishes) test(`finish_reason ${JSON.stringify(f)} → ${want}`, () => assert.equal(finishReasonToGemini(f), want));

test("usage → usageMetadata (thoughts apart, cached reported)", () => {
  assert.deepEqual(usageToGemini(undefined), undefined);
  assert.deepEqual(
    usageToGemini(create(ChatResponseSchema, { usage: { promptTokens: 10, completionTokens: 7, totalTokens: 17, cachedTokens: 4, reasoningTokens: 2 } }).usage),
    { promptTokenCount: 10, candidatesTokenCount: 5, totalTokenCount: 17, cachedContentTokenCount: 4, thoughtsTokenCount: 2 },
  );
});

test("a text and tool-call answer becomes one candidate with text and functionCall parts", () => {
  const r = create(ChatResponseSchema, {
    id: "r1",
    model: "gpt-x",
    choices: [
      {
        index: 0,
        finishReason: "tool_calls",
        message: { role: Role.ASSISTANT, content: "let me see", toolCalls: [{ id: "c", type: "function", function: { name: "w", arguments: '{"city":"Paris"}' } }] },
      },
    ],
    usage: { promptTokens: 3, completionTokens: 2, totalTokens: 5 },
  });
  assert.deepEqual(responseToGemini(r), {
    candidates: [{ content: { role: "model", parts: [{ text: "let me see" }, { functionCall: { name: "w", args: { city: "Paris" } } }] }, finishReason: "STOP", index: 0 }],
    usageMetadata: { promptTokenCount: 3, candidatesTokenCount: 2, totalTokenCount: 5 },
    modelVersion: "gpt-x",
    responseId: "r1",
  });
});

const chunk = (init: MessageInitShape<typeof ChatChunkSchema>) => create(ChatChunkSchema, { id: "s1", model: "gpt-x", ...init });

test("stream: text passes through; tool calls are emitted whole at the end with finish and usage", () => {
  const enc = new GeminiStreamEncoder({ model: "req-model" });
  const out = [
    ...enc.push(chunk({ choices: [{ index: 0, delta: { role: Role.ASSISTANT, content: "" } }] })),
    ...enc.push(chunk({ choices: [{ index: 0, delta: { content: "Hel" } }] })),
    ...enc.push(chunk({ choices: [{ index: 0, delta: { content: "lo" } }] })),
    ...enc.push(chunk({ choices: [{ index: 0, delta: { toolCalls: [{ index: 0, id: "c1", name: "w", arguments: '{"ci' }] } }] })),
    ...enc.push(chunk({ choices: [{ index: 0, delta: { toolCalls: [{ index: 0, arguments: 'ty":"Paris"}' }] } }] })),
    ...enc.push(chunk({ choices: [{ index: 0, delta: {}, finishReason: "tool_calls" }] })),
    ...enc.push(chunk({ choices: [], usage: { promptTokens: 4, completionTokens: 3, totalTokens: 7 } })),
    ...enc.finish(),
  ];
  assert.deepEqual(out, [
    { candidates: [{ content: { role: "model", parts: [{ text: "Hel" }] }, index: 0 }], modelVersion: "gpt-x", responseId: "s1" },
    { candidates: [{ content: { role: "model", parts: [{ text: "lo" }] }, index: 0 }], modelVersion: "gpt-x", responseId: "s1" },
    {
      candidates: [{ content: { role: "model", parts: [{ functionCall: { name: "w", args: { city: "Paris" } } }] }, index: 0, finishReason: "STOP" }],
      modelVersion: "gpt-x",
      responseId: "s1",
      usageMetadata: { promptTokenCount: 4, candidatesTokenCount: 3, totalTokenCount: 7 },
    },
  ]);
  assert.deepEqual(enc.finish(), []);
});

test("stream: length finish → MAX_TOKENS on an empty last chunk", () => {
  const enc = new GeminiStreamEncoder();
  enc.push(chunk({ choices: [{ index: 0, delta: { content: "x" }, finishReason: "length" }] }));
  assert.equal(enc.finish()[0]!.candidates![0]!.finishReason, "MAX_TOKENS");
});

test("SSE encoding is one data: line per chunk", () => {
  assert.equal(encodeGeminiSse({ modelVersion: "m" }), 'data: {"modelVersion":"m"}\r\n\r\n');
});

const errors: [ErrorKind, number | undefined, number, string][] = [
  ["invalid_request", undefined, 400, "INVALID_ARGUMENT"],
  ["unauthenticated", undefined, 401, "UNAUTHENTICATED"],
  ["permission_denied", undefined, 403, "PERMISSION_DENIED"],
  ["not_found", undefined, 404, "NOT_FOUND"],
  ["rate_limited", undefined, 429, "RESOURCE_EXHAUSTED"],
  ["internal", undefined, 500, "INTERNAL"],
  ["unavailable", undefined, 503, "UNAVAILABLE"],
  ["upstream_error", undefined, 502, "UNAVAILABLE"],
  ["timeout", undefined, 504, "DEADLINE_EXCEEDED"],
  ["upstream_error", 400, 400, "INVALID_ARGUMENT"],
];
for (const [kind, status, code, want] of errors) {
  test(`error ${kind}${status ? ` (${status})` : ""} → ${code} ${want}`, () => {
    const e = new TesseraError(kind, "boom", status ? { status } : {});
    assert.deepEqual(errorToGemini(e), { error: { code, message: "boom", status: want } });
  });
}
