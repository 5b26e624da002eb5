import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { ChatRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { compilePolicy } from "@tessera/guardrails";
import { redactRequest } from "./redact.js";

const KEY = Buffer.from("k");
const base = { entities: {}, min_score: 0.5, responses: true, injection: { threshold: 0.7, action: "flag" as const, tool_results: true } };

test("redacts content, text parts, tool arguments and tool results; counts without values", async () => {
  const req = create(ChatRequestSchema, {
    model: "demo",
    messages: [
      { role: Role.SYSTEM, content: "Support desk of acme. Escalations: boss@acme.example" },
      { role: Role.USER, content: "I am bob@example.com, card 4111-1111-1111-1111" },
      { role: Role.USER, parts: [{ part: { case: "text", value: "cc alice@example.org" } }] },
      { role: Role.ASSISTANT, toolCalls: [{ id: "c", type: "function", function: { name: "send", arguments: '{"to":"bob@example.com"}' } }] },
      { role: Role.TOOL, toolCallId: "c", content: "sent to bob@example.com, call +44 20 7946 0958" },
    ],
  });
  const r = await redactRequest(req, compilePolicy("default", undefined, KEY));
  assert.deepEqual(r.counts, { email: 5, card: 1, phone: 1 });
  assert.equal(req.messages[0]!.content, "Support desk of acme. Escalations: <EMAIL_1>");
  assert.equal(req.messages[1]!.content, "I am <EMAIL_2>, card <CARD_1>");
  const p = req.messages[2]!.parts[0]!.part;
  assert.equal(p.case === "text" && p.value, "cc <EMAIL_3>");
  assert.equal(req.messages[3]!.toolCalls[0]!.function!.arguments, '{"to":"<EMAIL_2>"}');
  assert.equal(req.messages[4]!.content, "sent to <EMAIL_2>, call <PHONE_1>");
});

test("a policy that masks nothing leaves text alone", async () => {
  const req = create(ChatRequestSchema, { model: "demo", messages: [{ role: Role.USER, content: "bob@example.com" }] });
  const r = await redactRequest(req, compilePolicy("none", { ...base, mask: [] }, KEY));
  assert.deepEqual(r.counts, {});
  assert.equal(req.messages[0]!.content, "bob@example.com");
});

test("tokenised values are returned for the vault, with the caller's placeholders reserved", async () => {
  const req = create(ChatRequestSchema, { model: "demo", messages: [{ role: Role.USER, content: "<EMAIL_1> is fake, bob@example.com is real" }] });
  const r = await redactRequest(req, compilePolicy("t", { ...base, entities: { email: "tokenize" } }, KEY));
  assert.equal(req.messages[0]!.content, "<EMAIL_1> is fake, <EMAIL_2> is real");
  assert.deepEqual([...r.tokens], [["<EMAIL_2>", "bob@example.com"]]);
  assert.equal(r.lastIndex.get("EMAIL"), 2);
});
