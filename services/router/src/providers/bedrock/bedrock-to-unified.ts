import { randomBytes } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { ChatResponseSchema, Role, UsageSchema, type ChatChunk, type ChatResponse, type Usage } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { ProviderError } from "../errors.js";
import { garbage } from "../http-adapter.js";
import { StreamChunks } from "../stream-chunks.js";
import { STRUCTURED_OUTPUT_TOOL } from "./unified-to-bedrock.js";
import {
  CONVERSE_STREAM_EXCEPTIONS,
  type ContentBlockDeltaEvent,
  type ContentBlockStartEvent,
  type ConverseResponse,
  type ConverseStopReason,
  type ConverseStreamExceptionPayload,
  type ConverseStreamMetadataEvent,
  type ConverseUsage,
  type MessageStopEvent,
} from "./wire.js";

/**
 * Converse stopReason → unified finish_reason. end_turn and stop_sequence → "stop"; tool_use →
 * "tool_calls"; max_tokens and model_context_window_exceeded → "length"; guardrail_intervened
 * and content_filtered → "content_filter". malformed_model_output, malformed_tool_use and
 * values added later have no OpenAI counterpart and end the turn: "stop".
 */
export function finishReasonFromBedrock(r: ConverseStopReason | string | undefined): string {
  switch (r) {
    case "tool_use":
      return "tool_calls";
    case "max_tokens":
    case "model_context_window_exceeded":
      return "length";
    case "guardrail_intervened":
    case "content_filtered":
      return "content_filter";
    default:
      return r ? "stop" : "";
  }
}

/**
 * Converse TokenUsage → unified usage, counted as OpenAI does: inputTokens excludes the
 * tokens read from or written to the prompt cache, so the prompt total adds both, and the
 * cache reads are the cached tokens. Converse does not report reasoning tokens apart (they are
 * inside outputTokens), so reasoning_tokens stays 0.
 */
export function usageFromBedrock(u: ConverseUsage | undefined): Usage | undefined {
  if (!u) return undefined;
  const cacheRead = u.cacheReadInputTokens ?? 0;
  const prompt = (u.inputTokens ?? 0) + cacheRead + (u.cacheWriteInputTokens ?? 0);
  const completion = u.outputTokens ?? 0;
  return create(UsageSchema, { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion, cachedTokens: cacheRead });
}

/** An id for an answer: Converse sends none. */
export function bedrockResponseId(): string {
  return `bedrock-${randomBytes(12).toString("hex")}`;
}

/**
 * Converse response → unified response. Text blocks are concatenated into content; toolUse
 * blocks become tool calls with the input re-serialised as the arguments text, except a call
 * of the structured-output tool (see unified-to-bedrock), whose input is the JSON answer: it
 * becomes the content, and the turn's finish reason "stop" unless real tool calls were made
 * too. reasoningContent blocks are dropped (not part of the answer). Converse names neither
 * the response nor the model, so the id is generated and the model is the one called.
 */
export function responseFromConverse(r: ConverseResponse, model: string, nowS: number = Math.floor(Date.now() / 1000)): ChatResponse {
  let content = "";
  let structured = false;
  const toolCalls: { id: string; type: string; function: { name: string; arguments: string } }[] = [];
  for (const b of r.output?.message?.content ?? []) {
    if ("text" in b && typeof b.text === "string") content += b.text;
    else if ("toolUse" in b && b.toolUse) {
      const input = JSON.stringify(b.toolUse.input ?? {});
      if (b.toolUse.name === STRUCTURED_OUTPUT_TOOL) {
        content += input;
        structured = true;
      } else toolCalls.push({ id: b.toolUse.toolUseId, type: "function", function: { name: b.toolUse.name, arguments: input } });
    }
  }
  const finishReason = structured && toolCalls.length === 0 && r.stopReason === "tool_use" ? "stop" : finishReasonFromBedrock(r.stopReason);
  return create(ChatResponseSchema, {
    id: bedrockResponseId(),
    created: BigInt(nowS),
    model,
    usage: usageFromBedrock(r.usage),
    choices: [{ index: 0, finishReason, message: { role: Role.ASSISTANT, content, toolCalls } }],
  });
}

/** True for the ConverseStreamOutput members that are exceptions (and unknown *Exception types). */
export function isStreamException(eventType: string): boolean {
  return (CONVERSE_STREAM_EXCEPTIONS as readonly string[]).includes(eventType) || /Exception$/.test(eventType);
}

/**
 * An exception frame in a stream → ProviderError. The caller may already have had chunks,
 * so nothing is retried (as for Anthropic's mid-stream `error` events); throttling keeps the
 * rate_limited kind so the caller sees a 429.
 */
export function streamErrorFromBedrock(provider: string, type: string, payload: ConverseStreamExceptionPayload): ProviderError {
  let message = payload.message ?? "unknown";
  if (payload.originalStatusCode !== undefined) message += ` (model status ${payload.originalStatusCode}${payload.originalMessage ? `: ${payload.originalMessage}` : ""})`;
  const kind = type === "throttlingException" ? "rate_limited" : "upstream_error";
  const code = type === "serviceUnavailableException" ? "upstream_overloaded" : "upstream_stream_error";
  return new ProviderError(kind, `${provider} stream error (${type}): ${message}`, false, { code });
}

/** What a content block is, by contentBlockIndex. */
type Block = { kind: "tool"; index: number } | { kind: "json" };

/**
 * Turns one ConverseStream into unified chunks. One per request: it remembers which content
 * block is which tool call, whether the structured-output tool is being written, and the
 * stop reason and usage, which arrive in separate events after the content.
 *
 * Emits: a role chunk first (at messageStart, or the first content if that is missing);
 * content chunks for text deltas (text blocks have no start event); for each toolUse block a
 * tool-call delta with its id and name at contentBlockStart, then its input fragments as
 * argument deltas, indexed by the call's position among tool calls (not the content block
 * index, which counts text blocks too); the structured-output tool's input fragments as
 * content; a finish chunk at messageStop; and at metadata (the last event) a chunk with no
 * choices carrying usage. Reasoning deltas are dropped. The stream is complete once
 * messageStop and metadata were both seen.
 */
export class BedrockStreamTranslator {
  readonly id = bedrockResponseId();
  private readonly created: bigint;
  private readonly blocks = new Map<number, Block>();
  private toolCount = 0;
  private structured = false;
  private readonly out = new StreamChunks(() => ({ id: this.id, created: this.created, model: this.model }));
  private stopped = false;
  private usage: ConverseUsage | undefined;
  private metadataSeen = false;
  /** True once messageStop and metadata have been seen: the stream is complete. */
  done = false;

  constructor(
    private readonly provider: string,
    private readonly model: string,
    nowS: number = Math.floor(Date.now() / 1000),
  ) {
    this.created = BigInt(nowS);
  }

  private usageChunk(): ChatChunk[] {
    this.done = true;
    return [this.out.usage(usageFromBedrock(this.usage))];
  }

  /**
   * Translate one event: its type (the `:event-type`, or the `:exception-type` of an
   * exception frame) and its parsed payload. Throws a ProviderError for an exception.
   */
  push(type: string, payload: Record<string, unknown>): ChatChunk[] {
    switch (type) {
      case "messageStart":
        return this.out.role();
      case "contentBlockStart":
        return this.blockStart(payload as ContentBlockStartEvent);
      case "contentBlockDelta":
        return this.blockDelta(payload as ContentBlockDeltaEvent);
      case "messageStop": {
        const reason = (payload as MessageStopEvent).stopReason;
        this.stopped = true;
        const finish = this.structured && this.toolCount === 0 && reason === "tool_use" ? "stop" : finishReasonFromBedrock(reason);
        const out = [...this.out.role(), this.out.chunk({}, finish || "stop")];
        if (this.metadataSeen) out.push(...this.usageChunk());
        return out;
      }
      case "metadata":
        this.usage = (payload as ConverseStreamMetadataEvent).usage;
        this.metadataSeen = true;
        return this.stopped ? this.usageChunk() : [];
      default:
        if (isStreamException(type) || type === "error") throw streamErrorFromBedrock(this.provider, type, payload as ConverseStreamExceptionPayload);
        // contentBlockStop and event types added later.
        return [];
    }
  }

  private blockStart(e: ContentBlockStartEvent): ChatChunk[] {
    const out = this.out.role();
    const t = e.start?.toolUse;
    if (!t) return out;
    const blockIndex = e.contentBlockIndex ?? 0;
    if (t.name === STRUCTURED_OUTPUT_TOOL) {
      this.blocks.set(blockIndex, { kind: "json" });
      this.structured = true;
      return out;
    }
    if (!t.toolUseId || !t.name) throw garbage(this.provider, "sent a toolUse block start without toolUseId or name", false);
    const index = this.toolCount++;
    this.blocks.set(blockIndex, { kind: "tool", index });
    out.push(this.out.chunk({ toolCalls: [{ index, id: t.toolUseId, type: "function", name: t.name, arguments: "" }] }));
    return out;
  }

  private blockDelta(e: ContentBlockDeltaEvent): ChatChunk[] {
    const d = e.delta;
    if (typeof d?.text === "string") return d.text ? [...this.out.role(), this.out.chunk({ content: d.text })] : this.out.role();
    if (d?.toolUse) {
      const frag = d.toolUse.input ?? "";
      const block = this.blocks.get(e.contentBlockIndex ?? 0);
      if (!block) throw garbage(this.provider, `sent tool input for content block ${e.contentBlockIndex ?? 0}, which did not start as a toolUse block`, false);
      if (!frag) return [];
      return [block.kind === "json" ? this.out.chunk({ content: frag }) : this.out.chunk({ toolCalls: [{ index: block.index, arguments: frag }] })];
    }
    // reasoningContent deltas and delta kinds added later are not part of the answer.
    return [];
  }

  /** The body ended: nothing more, or a ProviderError (upstream_stream_cut) before messageStop. */
  end(): ChatChunk[] {
    if (!this.stopped) throw new ProviderError("upstream_error", `${this.provider} ended the stream before messageStop`, false, { code: "upstream_stream_cut" });
    return [];
  }
}
