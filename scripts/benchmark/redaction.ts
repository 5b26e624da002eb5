import { create } from "@bufbuild/protobuf";
import { ChatRequestSchema, Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { compilePolicy, ResponseRedactor } from "@tessera/guardrails";
import { redactRequest } from "../../services/redaction/src/domain/redact.js";

/** A prompt of about 4 KB: prose, a log excerpt, code, and a handful of entities. */
const PARAGRAPH =
  "Hi team, the customer wrote in again about the failed payment on their order from last week. " +
  "They asked us to update the billing contact to maria.lopez@example.com and to call them back on +44 20 7946 0958 " +
  "once the refund is through. Their card ending 1111 was charged twice (4111 1111 1111 1111). The account IBAN is " +
  "DE89 3704 0044 0532 0130 00. Please summarise the ticket and draft a polite answer. ";
const LOG = "2026-12-01T10:22:13Z INFO request_id=01JD2Z worker=7 latency_ms=42 status=200 path=/v1/orders/9912\n".repeat(6);
const CODE = "function total(items) {\n  return items.reduce((sum, i) => sum + i.price * i.qty, 0);\n}\n".repeat(5);
const PROMPT = (PARAGRAPH + LOG + CODE + PARAGRAPH).repeat(2).slice(0, 4096);

export interface RedactionFigures {
  promptBytes: number;
  /** Request side, texts never seen before: every message scanned and redacted under the default policy. */
  requestUsPerKb: number;
  /** Request side, a history resent on a later turn (scans remembered by digest). */
  requestRepeatUsPerKb: number;
  /** Answer side, streamed in ~24-character chunks. */
  answerUsPerKb: number;
  /** Characters a stream held back at any moment, at most (the hold-back buffer). */
  maxHeldChars: number;
}

/** Time the default policy on the request side and the answer side, in-process (warm). */
export async function measureRedaction(iterations: number): Promise<RedactionFigures> {
  const policy = compilePolicy("default", undefined, Buffer.from("bench"));
  const kb = Buffer.byteLength(PROMPT) / 1024;
  // Each cold call's text differs (a counter in front), so nothing is remembered between them.
  let n = 0;
  const once = (fresh: boolean) =>
    redactRequest(
      create(ChatRequestSchema, { model: "m", messages: [{ role: Role.SYSTEM, content: "Be helpful." }, { role: Role.USER, content: fresh ? `#${n++} ${PROMPT}` : PROMPT }] }),
      policy,
    );
  for (let i = 0; i < 50; i++) await once(true);
  let t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await once(true);
  const requestNs = Number(process.hrtime.bigint() - t);
  await once(false);
  t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) await once(false);
  const repeatNs = Number(process.hrtime.bigint() - t);
  let maxHeld = 0;
  t = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const c = new ResponseRedactor(policy, new Map()).stream();
    for (let at = 0; at < PROMPT.length; at += 24) {
      c.push(PROMPT.slice(at, at + 24));
      maxHeld = Math.max(maxHeld, c.holding);
    }
    c.end();
  }
  const answerNs = Number(process.hrtime.bigint() - t);
  return {
    promptBytes: Buffer.byteLength(PROMPT),
    requestUsPerKb: requestNs / 1000 / iterations / kb,
    requestRepeatUsPerKb: repeatNs / 1000 / iterations / kb, answerUsPerKb: answerNs / 1000 / iterations / kb, maxHeldChars: maxHeld };
}
