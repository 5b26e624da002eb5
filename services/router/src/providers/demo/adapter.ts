import { create } from "@bufbuild/protobuf";
import {
  ChatChunkSchema,
  ChatResponseSchema,
  Role,
  type ChatRequest,
  type Message,
} from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { ProviderAdapter } from "../types.js";

function lastUserText(req: ChatRequest): string {
  for (let i = req.messages.length - 1; i >= 0; i--) {
    const m: Message = req.messages[i]!;
    if (m.role !== Role.USER) continue;
    if (m.parts.length === 0) return m.content;
    return m.parts.map((p) => (p.part.case === "text" ? p.part.value : "")).join("");
  }
  return "";
}

/** Whitespace-separated word count: the demo's stand-in for tokens. */
function countTokens(req: ChatRequest): number {
  let n = 0;
  for (const m of req.messages) {
    const text = m.parts.length ? m.parts.map((p) => (p.part.case === "text" ? p.part.value : "")).join(" ") : m.content;
    n += text.split(/\s+/).filter(Boolean).length;
  }
  return n;
}

/**
 * The built-in demo provider: answers with the last user message exactly as the upstream
 * received it (so redaction is visible), streaming it word by word. No network, so a fresh
 * install answers a curl offline.
 */
export function createDemoAdapter(): ProviderAdapter {
  let seq = 0;
  return {
    kind: "demo",
    async chat(req, model) {
      const text = lastUserText(req);
      const completion = text.split(/\s+/).filter(Boolean).length;
      const prompt = countTokens(req);
      return create(ChatResponseSchema, {
        id: `demo-${++seq}`,
        created: BigInt(Math.floor(Date.now() / 1000)),
        model,
        choices: [{ index: 0, finishReason: "stop", message: { role: Role.ASSISTANT, content: text } }],
        usage: { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion },
      });
    },
    async *stream(req, model, signal) {
      const id = `demo-${++seq}`;
      const created = BigInt(Math.floor(Date.now() / 1000));
      const text = lastUserText(req);
      const words = text.match(/\S+\s*|\s+/g) ?? [];
      const chunk = (content: string, role: Role, finishReason = "") =>
        create(ChatChunkSchema, { id, created, model, choices: [{ index: 0, delta: { role, content }, finishReason }] });
      yield chunk("", Role.ASSISTANT);
      for (const w of words) {
        if (signal.aborted) return;
        yield chunk(w, Role.UNSPECIFIED);
      }
      const prompt = countTokens(req);
      const completion = text.split(/\s+/).filter(Boolean).length;
      const last = chunk("", Role.UNSPECIFIED, "stop");
      last.usage = { $typeName: "tessera.chat.v1.Usage", promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion, cachedTokens: 0, reasoningTokens: 0 };
      yield last;
    },
    async close() {},
  };
}
