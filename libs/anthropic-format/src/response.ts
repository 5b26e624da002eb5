import { randomUUID } from "node:crypto";
import type { ChatChunk, ChatResponse, Usage } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import type {
  AnthropicErrorBody,
  AnthropicErrorType,
  AnthropicMessageResponse,
  AnthropicResponseBlock,
  AnthropicStopReason,
  AnthropicStreamEvent,
  AnthropicUsage,
} from "./wire.js";

/** Unified finish_reason → Anthropic stop_reason ("" → null: not finished / unknown). */
export function stopReasonToAnthropic(finishReason: string): AnthropicStopReason | null {
  switch (finishReason) {
    case "":
      return null;
    case "length":
      return "max_tokens";
    case "tool_calls":
    case "function_call":
      return "tool_use";
    case "content_filter":
      return "refusal";
    default:
      // "stop" and anything a provider invents: the turn ended.
      return "end_turn";
  }
}

/**
 * Unified usage → Anthropic usage. Anthropic's input_tokens excludes cache reads (they are
 * counted apart), so input_tokens = prompt − cached. Cache writes are not known to the
 * unified schema and stay in input_tokens.
 */
export function usageToAnthropic(u: Usage | undefined): AnthropicUsage {
  if (!u) return { input_tokens: 0, output_tokens: 0 };
  return {
    input_tokens: Math.max(0, u.promptTokens - u.cachedTokens),
    output_tokens: u.completionTokens,
    cache_read_input_tokens: u.cachedTokens,
  };
}

/** Anthropic message ids start with `msg_`; other providers' ids get the prefix. */
export function messageId(upstreamId: string): string {
  if (upstreamId.startsWith("msg_")) return upstreamId;
  return `msg_${upstreamId || randomUUID().replaceAll("-", "")}`;
}

/** Tool input is a JSON object for Anthropic; arguments that are not one become {}. */
function toolInput(args: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(args);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Unified response → Anthropic Message. The first choice is the answer (Anthropic has one);
 * its text becomes a text block (a refusal's text when there is no content), each tool call a
 * tool_use block keeping the upstream call id (the caller sends it back as tool_use_id).
 */
export function responseToAnthropic(r: ChatResponse): AnthropicMessageResponse {
  const c = r.choices[0];
  const m = c?.message;
  const content: AnthropicResponseBlock[] = [];
  const text = m ? m.content || m.refusal : "";
  if (text) content.push({ type: "text", text });
  for (const tc of m?.toolCalls ?? [])
    content.push({ type: "tool_use", id: tc.id, name: tc.function?.name ?? "", input: toolInput(tc.function?.arguments ?? "") });
  return {
    id: messageId(r.id),
    type: "message",
    role: "assistant",
    model: r.model,
    content,
    stop_reason: stopReasonToAnthropic(c?.finishReason ?? "") ?? "end_turn",
    stop_sequence: null,
    usage: usageToAnthropic(r.usage),
  };
}

/** One SSE event as Anthropic writes it: `event: <type>` then the JSON data. */
export function encodeAnthropicSse(ev: AnthropicStreamEvent): string {
  return `event: ${ev.type}\ndata: ${JSON.stringify(ev)}\n\n`;
}

type OpenBlock = { kind: "text"; index: number } | { kind: "tool"; index: number; toolIndex: number };

/**
 * Turns the unified chunks of one streamed call into Anthropic's SSE event sequence. One per
 * request. Emits message_start on the first chunk (usage.input_tokens from the constructor
 * when known, else 0); a text block (content_block_start, text_delta…, content_block_stop)
 * for each run of text; a tool_use block per tool call (start with id, name and input {},
 * then input_json_delta fragments of the arguments); and, from `finish()`, message_delta
 * with stop_reason and usage (input and output tokens are only known at the end) then
 * message_stop.
 *
 * Blocks are sequential in Anthropic's format, so a new block closes the open one; argument
 * fragments for a tool call whose block was already closed (interleaved parallel calls,
 * which no current upstream sends) are an upstream_error.
 */
export class AnthropicStreamEncoder {
  private started = false;
  private ended = false;
  private id = "";
  private model: string;
  private open: OpenBlock | undefined;
  private nextIndex = 0;
  /** Unified tool-call index → its block; closed blocks stay to detect late fragments. */
  private readonly tools = new Map<number, number>();
  private finishReason = "";
  private usage: Usage | undefined;

  constructor(private readonly opts: { model?: string; inputTokens?: number } = {}) {
    this.model = opts.model ?? "";
  }

  private start(c: ChatChunk | undefined, out: AnthropicStreamEvent[]): void {
    if (this.started) return;
    this.started = true;
    this.id = messageId(c?.id ?? "");
    if (c?.model) this.model = c.model;
    out.push({
      type: "message_start",
      message: {
        id: this.id,
        type: "message",
        role: "assistant",
        model: this.model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { input_tokens: this.opts.inputTokens ?? 0, output_tokens: 0 },
      },
    });
  }

  private close(out: AnthropicStreamEvent[]): void {
    if (!this.open) return;
    out.push({ type: "content_block_stop", index: this.open.index });
    this.open = undefined;
  }

  /** Events for one unified chunk. */
  push(c: ChatChunk): AnthropicStreamEvent[] {
    const out: AnthropicStreamEvent[] = [];
    if (this.ended) return out;
    this.start(c, out);
    if (c.usage) this.usage = c.usage;
    const ch = c.choices.find((x) => x.index === 0) ?? c.choices[0];
    if (!ch) return out;
    const d = ch.delta;
    const text = d ? d.content || d.refusal : "";
    if (text) {
      if (this.open?.kind !== "text") {
        this.close(out);
        this.open = { kind: "text", index: this.nextIndex++ };
        out.push({ type: "content_block_start", index: this.open.index, content_block: { type: "text", text: "" } });
      }
      out.push({ type: "content_block_delta", index: this.open.index, delta: { type: "text_delta", text } });
    }
    for (const t of d?.toolCalls ?? []) {
      let index = this.tools.get(t.index);
      if (index === undefined) {
        this.close(out);
        index = this.nextIndex++;
        this.tools.set(t.index, index);
        this.open = { kind: "tool", index, toolIndex: t.index };
        out.push({
          type: "content_block_start",
          index,
          content_block: { type: "tool_use", id: t.id || `toolu_${randomUUID().replaceAll("-", "")}`, name: t.name, input: {} },
        });
      } else if (this.open?.kind !== "tool" || this.open.index !== index) {
        if (t.arguments)
          throw new TesseraError("upstream_error", `The upstream interleaved the arguments of parallel tool calls (call ${t.index}), which the Anthropic stream format cannot carry.`, {
            code: "upstream_interleaved_tool_calls",
          });
        continue;
      }
      if (t.arguments) out.push({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: t.arguments } });
    }
    if (ch.finishReason) {
      this.finishReason = ch.finishReason;
      this.close(out);
    }
    return out;
  }

  /** The closing events: message_delta (stop_reason, usage) and message_stop. */
  finish(): AnthropicStreamEvent[] {
    const out: AnthropicStreamEvent[] = [];
    if (this.ended) return out;
    this.start(undefined, out);
    this.close(out);
    this.ended = true;
    const usage: AnthropicUsage = { output_tokens: this.usage?.completionTokens ?? 0 };
    if (this.usage) {
      const u = usageToAnthropic(this.usage);
      usage.input_tokens = u.input_tokens;
      usage.cache_read_input_tokens = u.cache_read_input_tokens;
    }
    out.push({ type: "message_delta", delta: { stop_reason: stopReasonToAnthropic(this.finishReason) ?? "end_turn", stop_sequence: null }, usage });
    out.push({ type: "message_stop" });
    return out;
  }
}

/** Anthropic's error type for a Tessera error, by kind (and the upstream's own code). */
export function anthropicErrorType(err: TesseraError): AnthropicErrorType {
  switch (err.kind) {
    case "invalid_request":
    case "conflict":
      return "invalid_request_error";
    case "unauthenticated":
      return "authentication_error";
    case "permission_denied":
      return "permission_error";
    case "not_found":
      return "not_found_error";
    case "payload_too_large":
      return "request_too_large";
    case "rate_limited":
      return "rate_limit_error";
    case "payment_required":
      return "billing_error";
    case "upstream_error":
    case "unavailable":
      return err.details.code === "upstream_overloaded" ? "overloaded_error" : "api_error";
    default:
      return "api_error";
  }
}

/**
 * Render a TesseraError as Anthropic's error JSON. The HTTP status stays Tessera's
 * (`err.status`: 502 for upstream errors, 503 unavailable, 504 timeout), which the SDK maps
 * to InternalServerError like Anthropic's own 500/529.
 */
export function errorToAnthropic(err: TesseraError, requestId?: string): AnthropicErrorBody {
  const body: AnthropicErrorBody = { type: "error", error: { type: anthropicErrorType(err), message: err.message } };
  if (requestId) body.request_id = requestId;
  return body;
}
