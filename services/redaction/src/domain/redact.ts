import { Role, type ChatRequest } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { Redactor, type CompiledPolicy, type TextSource } from "@tessera/guardrails";

/** What redacting one request found and did. */
export interface RedactionResult {
  /** Entities found per type, and "injection" when a text scored past the threshold (never values). */
  counts: Record<string, number>;
  /** Placeholder → original of tokenised values (empty when none). */
  tokens: ReadonlyMap<string, string>;
  lastIndex: ReadonlyMap<string, number>;
  injectionScore: number;
}

const SOURCES: Partial<Record<Role, TextSource>> = {
  [Role.SYSTEM]: "system",
  [Role.DEVELOPER]: "system",
  [Role.USER]: "user",
  [Role.ASSISTANT]: "assistant",
  [Role.TOOL]: "tool",
};

/**
 * Apply a policy, in place, to every text of the request the model will see: message content
 * and text parts (tool results as indirect input), and tool-call arguments. Caller-written
 * placeholders are reserved first, so none of them can ever be restored to a value. Throws
 * the policy's block as a 400 naming the place and the rule.
 */
export async function redactRequest(req: ChatRequest, policy: CompiledPolicy): Promise<RedactionResult> {
  const r = new Redactor(policy);
  for (const m of req.messages) {
    r.reserve(m.content);
    for (const p of m.parts) if (p.part.case === "text") r.reserve(p.part.value);
    for (const tc of m.toolCalls) if (tc.function) r.reserve(tc.function.arguments);
  }
  for (const [i, m] of req.messages.entries()) {
    const source = SOURCES[m.role] ?? "user";
    const at = `messages[${i}]`;
    m.content = await r.text(m.content, { param: `${at}.content`, source });
    for (const [j, p] of m.parts.entries()) if (p.part.case === "text") p.part.value = await r.text(p.part.value, { param: `${at}.content[${j}].text`, source });
    for (const [j, tc] of m.toolCalls.entries())
      if (tc.function) tc.function.arguments = await r.text(tc.function.arguments, { param: `${at}.tool_calls[${j}].function.arguments`, source: "assistant" });
  }
  return { counts: r.counts, tokens: r.tokens, lastIndex: r.lastIndex, injectionScore: r.maxInjection };
}
