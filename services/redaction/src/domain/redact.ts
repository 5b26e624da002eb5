import { TesseraError } from "@tessera/runtime";
import type { ChatRequest } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { EmailMasker } from "./email.js";

/** A redaction policy: which entity types to mask. */
export interface Policy {
  mask: readonly string[];
}

/** The result of redacting one request: counts per entity type, never the values. */
export interface RedactionResult {
  counts: Record<string, number>;
}

/**
 * Mask, in place, every text of the request the model will see: message content and text
 * parts, and tool-call arguments. Returns what was found.
 */
export function redactRequest(req: ChatRequest, policy: Policy): RedactionResult {
  const counts: Record<string, number> = {};
  if (!policy.mask.includes("email")) return { counts };
  const email = new EmailMasker();
  for (const m of req.messages) {
    m.content = email.mask(m.content);
    for (const p of m.parts) if (p.part.case === "text") p.part.value = email.mask(p.part.value);
    for (const tc of m.toolCalls) if (tc.function) tc.function.arguments = email.mask(tc.function.arguments);
  }
  if (email.count > 0) counts["email"] = email.count;
  return { counts };
}

/** Policies by name; "default" always exists (masks email). */
export function createPolicies(configured: Record<string, Policy>): (name: string) => Policy {
  const all = new Map<string, Policy>(Object.entries(configured));
  if (!all.has("default")) all.set("default", { mask: ["email"] });
  return (name) => {
    const p = all.get(name || "default");
    if (!p) throw new TesseraError("invalid_request", `Unknown redaction policy '${name}'.`, { code: "unknown_policy" });
    return p;
  };
}
