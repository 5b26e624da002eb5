import type { ChatChunk, ChatRequest, ChatResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { Role } from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { ProviderAdapter } from "./types.js";

/**
 * For a caller that disabled parallel tool calls, on a provider that has no such switch (Gemini, Bedrock, Cohere): keep the first
 * tool call of the answer and drop the rest. The answer stays consistent — the caller returns
 * one result for the one call it saw, and the model can ask for the others on the next turn.
 */
export function keepFirstToolCall(r: ChatResponse): ChatResponse {
  for (const c of r.choices) if (c.message && c.message.toolCalls.length > 1) c.message.toolCalls = c.message.toolCalls.slice(0, 1);
  return r;
}

/**
 * The streamed form of {@link keepFirstToolCall}: tool-call deltas of any call but the first
 * (index 0) are removed; a chunk left with nothing to say is dropped (undefined).
 */
export function keepFirstToolCallDelta(chunk: ChatChunk): ChatChunk | undefined {
  let emptied = false;
  for (const c of chunk.choices) {
    const d = c.delta;
    if (!d || d.toolCalls.length === 0) continue;
    const kept = d.toolCalls.filter((t) => t.index === 0);
    if (kept.length === d.toolCalls.length) continue;
    d.toolCalls = kept;
    // The provider's own bytes no longer match this chunk.
    chunk.rawOpenai = "";
    if (d.toolCalls.length === 0 && d.role === Role.UNSPECIFIED && d.content === "" && d.refusal === "" && c.finishReason === "") emptied = true;
  }
  return emptied && chunk.choices.length === 1 && !chunk.usage ? undefined : chunk;
}

/** The caller disabled parallel tool calls and offered tools. */
const oneCallOnly = (req: ChatRequest): boolean => req.parallelToolCalls === false && req.tools.length > 0;

async function* firstToolCallOnly(chunks: AsyncIterable<ChatChunk>): AsyncIterable<ChatChunk> {
  for await (const c of chunks) {
    const kept = keepFirstToolCallDelta(c);
    if (kept) yield kept;
  }
}

/**
 * Make `parallel_tool_calls: false` hold for every provider: when the caller set it, only the
 * first tool call of an answer is passed on, whole or streamed. Providers that honour the
 * switch themselves never send a second call, so for them this changes nothing.
 */
export function withOneToolCallWhenAsked(adapter: ProviderAdapter): ProviderAdapter {
  return {
    ...adapter,
    kind: adapter.kind,
    async chat(req, model, signal) {
      const r = await adapter.chat(req, model, signal);
      return oneCallOnly(req) ? keepFirstToolCall(r) : r;
    },
    stream(req, model, signal) {
      const chunks = adapter.stream(req, model, signal);
      return oneCallOnly(req) ? firstToolCallOnly(chunks) : chunks;
    },
  };
}
