import { randomBytes } from "node:crypto";
import { create, type MessageInitShape } from "@bufbuild/protobuf";
import {
  ChatChunkSchema,
  ChatResponseSchema,
  ChunkChoiceSchema,
  Role,
  UsageSchema,
  type ChatChunk,
  type ChatResponse,
  type Usage,
} from "@tessera/gen/tessera/chat/v1/chat_pb";
import { ProviderError } from "../errors.js";
import type { GeminiCandidate, GeminiFinishReason, GeminiPart, GeminiResponse, GeminiUsageMetadata } from "@tessera/gemini-format";

/** Finish reasons that mean Google's filters stopped the answer. */
const FILTERED = new Set(["SAFETY", "RECITATION", "BLOCKLIST", "PROHIBITED_CONTENT", "SPII", "IMAGE_SAFETY", "LANGUAGE"]);

/**
 * Gemini finishReason → unified finish_reason. STOP is "tool_calls" when the candidate called a
 * function (Gemini has no separate reason for it); MAX_TOKENS → "length"; the filter reasons →
 * "content_filter"; everything else (OTHER, MALFORMED_FUNCTION_CALL, unknown future values) →
 * "stop", as OpenAI has no closer value.
 */
export function finishReasonFromGemini(r: GeminiFinishReason | undefined, hasToolCalls: boolean): string {
  if (r === "MAX_TOKENS") return "length";
  if (r && FILTERED.has(r)) return "content_filter";
  return hasToolCalls ? "tool_calls" : "stop";
}

/**
 * Gemini usageMetadata → unified usage. promptTokenCount already includes cached tokens;
 * tool-use prompt tokens count as prompt; thoughts are billed as output, so completion tokens
 * are candidates + thoughts (OpenAI counts reasoning inside completion_tokens too).
 */
export function usageFromGemini(u: GeminiUsageMetadata | undefined): Usage | undefined {
  if (!u) return undefined;
  const prompt = (u.promptTokenCount ?? 0) + (u.toolUsePromptTokenCount ?? 0);
  const completion = (u.candidatesTokenCount ?? 0) + (u.thoughtsTokenCount ?? 0);
  return create(UsageSchema, {
    promptTokens: prompt,
    completionTokens: completion,
    totalTokens: u.totalTokenCount ?? prompt + completion,
    cachedTokens: u.cachedContentTokenCount ?? 0,
    reasoningTokens: u.thoughtsTokenCount ?? 0,
  });
}

/**
 * A prefix for tool-call ids. Gemini (before the newest models, which send functionCall.id)
 * gives calls no id, yet OpenAI clients need one to answer each call. Ids are
 * `call_<response>_<n>`: n counts the calls of one candidate in order, and <response> is the
 * responseId when Google sends one (else random), so ids are the same whether the answer was
 * streamed or not, and never repeat across turns of a conversation, where a bare `call_0`
 * would. The request translator maps ids back to function names from the history, so Gemini
 * never needs to see them.
 */
export function toolCallIdPrefix(responseId: string | undefined): string {
  const clean = (responseId ?? "").replace(/[^A-Za-z0-9_-]/g, "").slice(0, 24);
  return `call_${clean || randomBytes(6).toString("hex")}_`;
}

function answerText(parts: GeminiPart[] | undefined): string {
  // Thought summaries (thought: true) are the model's reasoning, not its answer.
  return (parts ?? []).map((p) => (typeof p.text === "string" && !p.thought ? p.text : "")).join("");
}

function blockedMessage(reason: string): string {
  return `The provider blocked the prompt (${reason}).`;
}

/**
 * Gemini GenerateContentResponse → unified response. A prompt blocked by Google
 * (promptFeedback.blockReason, no candidates) becomes one choice with empty content,
 * finish_reason "content_filter" and a `refusal` naming the reason — the shape OpenAI uses for
 * filtered output — rather than an error, so callers handle both kinds of filtering one way
 * and the usage of the call is still metered.
 */
export function responseFromGemini(r: GeminiResponse, model: string): ChatResponse {
  const prefix = toolCallIdPrefix(r.responseId);
  const candidates = r.candidates ?? [];
  const choices =
    candidates.length === 0 && r.promptFeedback?.blockReason
      ? [{ index: 0, finishReason: "content_filter", message: { role: Role.ASSISTANT, refusal: blockedMessage(r.promptFeedback.blockReason) } }]
      : candidates.map((c: GeminiCandidate, i) => {
          const calls = (c.content?.parts ?? []).filter((p) => p.functionCall).map((p) => p.functionCall!);
          return {
            index: c.index ?? i,
            finishReason: finishReasonFromGemini(c.finishReason, calls.length > 0),
            message: {
              role: Role.ASSISTANT,
              content: answerText(c.content?.parts),
              toolCalls: calls.map((fc, n) => ({
                id: fc.id || `${prefix}${n}`,
                type: "function",
                function: { name: fc.name, arguments: JSON.stringify(fc.args ?? {}) },
              })),
            },
          };
        });
  return create(ChatResponseSchema, {
    id: r.responseId ?? `gemini-${randomBytes(8).toString("hex")}`,
    created: BigInt(Math.floor(Date.now() / 1000)),
    model: r.modelVersion ?? model,
    choices,
    usage: usageFromGemini(r.usageMetadata),
  });
}

interface CandidateState {
  started: boolean;
  toolCalls: number;
  finishReason: GeminiFinishReason | undefined;
}

/**
 * Turns the chunks of one streamGenerateContent call into unified chunks; one per request,
 * as it holds the stream's state. `push` each parsed SSE event, then `end` when the stream
 * closes. Each Gemini chunk is a complete GenerateContentResponse carrying only new parts:
 * text deltas pass through, and function calls arrive whole, so each becomes one complete
 * ToolCallDelta (index = running count of the candidate's calls, id, name, full arguments).
 * The finish reason is held back until `end`: older models repeat finishReason STOP on every
 * chunk, and usageMetadata (cumulative) may come on any chunk, so the final chunk carries the
 * last finish reason and usage seen. A stream that ends before any finishReason (or a prompt
 * block) was cut, and `end` throws `upstream_stream_cut`.
 */
export class GeminiStreamTranslator {
  private readonly candidates = new Map<number, CandidateState>();
  private id = "";
  private model: string;
  private prefix = "";
  private readonly created = BigInt(Math.floor(Date.now() / 1000));
  private usage: Usage | undefined;
  private blockReason: string | undefined;

  /** @param model the model asked for, reported until Google names its modelVersion. */
  constructor(
    private readonly provider: string,
    model: string,
  ) {
    this.model = model;
  }

  /** Unified usage as last reported, for metering. */
  get lastUsage(): Usage | undefined {
    return this.usage;
  }

  /** Translate one streamed chunk; returns zero or one unified chunk. */
  push(r: GeminiResponse): ChatChunk[] {
    if (!this.id) {
      this.id = r.responseId ?? `gemini-${randomBytes(8).toString("hex")}`;
      this.prefix = toolCallIdPrefix(r.responseId);
    }
    if (r.modelVersion) this.model = r.modelVersion;
    if (r.usageMetadata) this.usage = usageFromGemini(r.usageMetadata);
    const choices: MessageInitShape<typeof ChunkChoiceSchema>[] = [];
    if (r.promptFeedback?.blockReason && (r.candidates ?? []).length === 0) {
      this.blockReason = r.promptFeedback.blockReason;
      const st = this.state(0);
      if (!st.started) {
        st.started = true;
        choices.push({ index: 0, delta: { role: Role.ASSISTANT, refusal: blockedMessage(this.blockReason) } });
      }
    }
    (r.candidates ?? []).forEach((c, i) => {
      const index = c.index ?? i;
      const st = this.state(index);
      if (c.finishReason && c.finishReason !== "FINISH_REASON_UNSPECIFIED") st.finishReason = c.finishReason;
      const content = answerText(c.content?.parts);
      const toolCalls = (c.content?.parts ?? [])
        .filter((p) => p.functionCall)
        .map((p) => {
          const n = st.toolCalls++;
          return { index: n, id: p.functionCall!.id || `${this.prefix}${n}`, type: "function", name: p.functionCall!.name, arguments: JSON.stringify(p.functionCall!.args ?? {}) };
        });
      if (st.started && content === "" && toolCalls.length === 0) return;
      const role = st.started ? Role.UNSPECIFIED : Role.ASSISTANT;
      st.started = true;
      choices.push({ index, delta: { role, content, toolCalls } });
    });
    if (choices.length === 0) return [];
    return [create(ChatChunkSchema, { id: this.id, created: this.created, model: this.model, choices })];
  }

  /** The final chunk (finish reasons and usage), or `upstream_stream_cut` if none came. */
  end(): ChatChunk[] {
    const finished = [...this.candidates.values()].some((s) => s.finishReason !== undefined);
    if (!finished && this.blockReason === undefined)
      throw new ProviderError("upstream_error", `${this.provider} ended the stream before a finishReason`, false, { code: "upstream_stream_cut" });
    const choices = [...this.candidates.entries()]
      .sort(([a], [b]) => a - b)
      .map(([index, s]) => ({
        index,
        delta: {},
        finishReason: this.blockReason !== undefined && s.finishReason === undefined ? "content_filter" : finishReasonFromGemini(s.finishReason, s.toolCalls > 0),
      }));
    return [create(ChatChunkSchema, { id: this.id, created: this.created, model: this.model, choices, usage: this.usage })];
  }

  private state(index: number): CandidateState {
    let st = this.candidates.get(index);
    if (!st) {
      st = { started: false, toolCalls: 0, finishReason: undefined };
      this.candidates.set(index, st);
    }
    return st;
  }
}
