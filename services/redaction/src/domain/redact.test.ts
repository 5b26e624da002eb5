import { test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { ChatRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { EmailMasker } from "./email.js";
import { redactRequest } from "./redact.js";

const cases: [string, string][] = [
  ["mail me at jane.doe@example.com", "mail me at <EMAIL_1>"],
  ["a@b.co and A@B.CO are one person", "<EMAIL_1> and <EMAIL_1> are one person"],
  ["x+tag@sub.domain.org, y@z.io", "<EMAIL_1>, <EMAIL_2>"],
  ["no email here: @handle, user@localhost, 1@2", "no email here: @handle, user@localhost, 1@2"],
  ["<jane@example.com>", "<<EMAIL_1>>"],
];

for (const [input, want] of cases) {
  test(`masks emails: ${JSON.stringify(input)}`, () => {
    assert.equal(new EmailMasker().mask(input), want);
  });
}

test("redacts content, text parts and tool arguments, and counts without values", () => {
  const req = create(ChatRequestSchema, {
    model: "demo",
    messages: [
      { role: Role.USER, content: "I am bob@example.com" },
      { role: Role.USER, parts: [{ part: { case: "text", value: "cc alice@example.org" } }] },
      { role: Role.ASSISTANT, toolCalls: [{ id: "c", type: "function", function: { name: "send", arguments: '{"to":"bob@example.com"}' } }] },
    ],
  });
  const { counts } = redactRequest(req, { mask: ["email"] });
  assert.deepEqual(counts, { email: 3 });
  assert.equal(req.messages[0]!.content, "I am <EMAIL_1>");
  const p = req.messages[1]!.parts[0]!.part;
  assert.equal(p.case === "text" && p.value, "cc <EMAIL_2>");
  assert.equal(req.messages[2]!.toolCalls[0]!.function!.arguments, '{"to":"<EMAIL_1>"}');
});

test("a policy without email leaves text alone", () => {
  const req = create(ChatRequestSchema, { model: "demo", messages: [{ role: Role.USER, content: "bob@example.com" }] });
  assert.deepEqual(redactRequest(req, { mask: [] }).counts, {});
  assert.equal(req.messages[0]!.content, "bob@example.com");
});
