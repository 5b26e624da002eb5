import { create } from "@bufbuild/protobuf";
import {
  ChatResponseSchema,
  Role,
  UsageSchema,
  type ChatChunk,
  type ChatResponse,
  type Usage,
} from "@tessera/gen/tessera/chat/v1/chat_pb";
import { ProviderError } from "../errors.js";
import { StreamChunks } from "../stream-chunks.js";
import type { AnthropicMessageResponse, AnthropicStopReason, AnthropicStreamEvent, AnthropicToolUseBlock, AnthropicUsage } from "@tessera/anthropic-format";

/**
 * Anthropic stop_reason → unified finish_reason. pause_turn (a server tool paused a long
 * turn) has no OpenAI counterpart; it is reported as "stop" since the turn ended normally.
 */
export function finishReasonFromAnthropic(r: AnthropicStopReason | string | null | undefined): string {
  switch (r) {
    case "end_turn":
    case "stop_sequence":
    case "pause_turn":
      return "stop";
    case "max_tokens":
      return "length";
    case "tool_use":
      return "tool_calls";
    case "refusal":
      return "content_filter";
    default:
      return r ? "stop" : "";
  }
}

/**
 * Anthropic usage → unified usage. Anthropic's input_tokens excludes cached tokens, so the
 * prompt total adds cache reads and cache writes. output_tokens includes extended-thinking
 * tokens, which Anthropic does not count apart, so reasoning_tokens stays 0.
 */
export function usageFromAnthropic(u: AnthropicUsage | undefined): Usage | undefined {
  if (!u) return undefined;
  const cacheRead = u.cache_read_input_tokens ?? 0;
  const prompt = (u.input_tokens ?? 0) + cacheRead + (u.cache_creation_input_tokens ?? 0);
  const completion = u.output_tokens ?? 0;
  return create(UsageSchema, { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion, cachedTokens: cacheRead });
}

/**
 * Anthropic Message → unified response. Text blocks are concatenated into content; tool_use
 * blocks become tool calls with the input re-serialised as the arguments text. Thinking and
 * redacted_thinking blocks are dropped (not content; see usageFromAnthropic for tokens).
 * Anthropic sends no creation time, so `created` is the time of translation.
 */
export function responseFromAnthropic(r: AnthropicMessageResponse, nowS: number = Math.floor(Date.now() / 1000)): ChatResponse {
  let content = "";
  const toolCalls: { id: string; type: string; function: { name: string; arguments: string } }[] = [];
  for (const b of r.content ?? []) {
    if (b.type === "text") content += (b as { text?: string }).text ?? "";
    else if (b.type === "tool_use") {
      const t = b as AnthropicToolUseBlock;
      toolCalls.push({ id: t.id, type: "function", function: { name: t.name, arguments: JSON.stringify(t.input ?? {}) } });
    }
  }
  return create(ChatResponseSchema, {
    id: r.id ?? "",
    created: BigInt(nowS),
    model: r.model ?? "",
    usage: usageFromAnthropic(r.usage),
    choices: [{ index: 0, finishReason: finishReasonFromAnthropic(r.stop_reason), message: { role: Role.ASSISTANT, content, toolCalls } }],
  });
}

/** A mid-stream `error` event → ProviderError. The caller has already had chunks, so no retry. */
export function streamErrorFromAnthropic(provider: string, err: { type?: string; message?: string } | undefined): ProviderError {
  const type = err?.type ?? "unknown_error";
  const kind = type === "rate_limit_error" ? "rate_limited" : "upstream_error";
  return new ProviderError(kind, `${provider} stream error (${type}): ${err?.message ?? "unknown"}`, false, {
    code: type === "overloaded_error" ? "upstream_overloaded" : "upstream_stream_error",
  });
}

/**
 * Turns one Anthropic SSE stream into unified chunks. One per request: it remembers the
 * message id and model (sent once, in message_start), which content block is which tool
 * call, and the token counts, which arrive split between message_start (input) and
 * message_delta (cumulative output).
 *
 * Emits: a role chunk at message_start; content chunks for text; for each tool_use block a
 * tool-call delta with its id and name, then argument fragments, indexed by the call's own
 * position among tool calls (not the content block index, which counts text blocks too); a
 * finish chunk at message_delta; and at message_stop a last chunk with no choices carrying
 * usage, as OpenAI does with include_usage. thinking_delta and signature_delta are dropped.
 */
export class AnthropicStreamTranslator {
  private id = "";
  private model = "";
  private readonly created: bigint;
  private usage: AnthropicUsage = {};
  private readonly toolIndexByBlock = new Map<number, number>();
  private toolCount = 0;
  private readonly out = new StreamChunks(() => ({ id: this.id, created: this.created, model: this.model }));
  /** True once message_stop has been seen: the stream is complete. */
  done = false;

  constructor(
    private readonly provider: string,
    nowS: number = Math.floor(Date.now() / 1000),
  ) {
    this.created = BigInt(nowS);
  }

  /** Translate one event (its parsed data). Throws a ProviderError on an `error` event. */
  push(ev: AnthropicStreamEvent | { type: string }): ChatChunk[] {
    const e = ev as AnthropicStreamEvent;
    switch (e.type) {
      case "message_start": {
        this.id = e.message?.id ?? "";
        this.model = e.message?.model ?? "";
        if (e.message?.usage) this.usage = { ...e.message.usage };
        return this.out.role();
      }
      case "content_block_start": {
        const out = this.out.role();
        const b = e.content_block;
        if (b?.type === "tool_use") {
          const t = b as AnthropicToolUseBlock;
          const index = this.toolCount++;
          this.toolIndexByBlock.set(e.index, index);
          out.push(this.out.chunk({ toolCalls: [{ index, id: t.id, type: "function", name: t.name, arguments: "" }] }));
        } else if (b?.type === "text" && (b as { text?: string }).text) {
          out.push(this.out.chunk({ content: (b as { text: string }).text }));
        }
        return out;
      }
      case "content_block_delta": {
        const d = e.delta;
        if (d?.type === "text_delta") {
          const text = (d as { text?: string }).text ?? "";
          return text ? [...this.out.role(), this.out.chunk({ content: text })] : [];
        }
        if (d?.type === "input_json_delta") {
          const frag = (d as { partial_json?: string }).partial_json ?? "";
          const index = this.toolIndexByBlock.get(e.index);
          if (index === undefined)
            throw new ProviderError("upstream_error", `${this.provider} sent input_json_delta for block ${e.index}, which is not a tool_use block`, false, { code: "upstream_garbage" });
          return frag ? [this.out.chunk({ toolCalls: [{ index, arguments: frag }] })] : [];
        }
        // thinking_delta, signature_delta and future delta types are not content.
        return [];
      }
      case "message_delta": {
        if (e.usage) this.usage = { ...this.usage, ...definedOnly(e.usage) };
        const reason = e.delta?.stop_reason;
        return reason ? [...this.out.role(), this.out.chunk({}, finishReasonFromAnthropic(reason))] : [];
      }
      case "message_stop": {
        this.done = true;
        return [this.out.usage(usageFromAnthropic(this.usage))];
      }
      case "error":
        throw streamErrorFromAnthropic(this.provider, e.error);
      default:
        // ping, content_block_stop and event types added later.
        return [];
    }
  }
}

function definedOnly(u: AnthropicUsage): AnthropicUsage {
  const out: AnthropicUsage = {};
  for (const [k, v] of Object.entries(u)) if (v !== undefined && v !== null) (out as Record<string, unknown>)[k] = v;
  return out;
}
