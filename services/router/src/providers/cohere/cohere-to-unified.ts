import { create } from "@bufbuild/protobuf";
import {
  ChatResponseSchema,
  EmbedResponseSchema,
  Role,
  UsageSchema,
  type ChatChunk,
  type ChatResponse,
  type EmbedRequest,
  type EmbedResponse,
  type Usage,
} from "@tessera/gen/tessera/chat/v1/chat_pb";
import { ProviderError } from "../errors.js";
import { garbage } from "../http-adapter.js";
import { StreamChunks } from "../stream-chunks.js";
import type { CohereChatResponse, CohereEmbedResponse, CohereStreamEvent, CohereToolCall, CohereUsage } from "./wire.js";

/**
 * Cohere finish_reason → unified finish_reason: COMPLETE and STOP_SEQUENCE → "stop",
 * MAX_TOKENS → "length", TOOL_CALL → "tool_calls"; values added later → "stop", as OpenAI has
 * no closer value. ERROR and TIMEOUT are not finish reasons but failures: see
 * {@link generationFailure}.
 */
export function finishReasonFromCohere(r: string | undefined): string {
  switch (r) {
    case "MAX_TOKENS":
      return "length";
    case "TOOL_CALL":
      return "tool_calls";
    case undefined:
    case "":
      return "";
    default:
      return "stop";
  }
}

/**
 * A generation Cohere itself reports as failed (finish_reason ERROR: "failed due to an internal
 * error"; TIMEOUT: "exceeded the allowed time limit") → ProviderError, or undefined for any other
 * reason. Answering the caller with a half-made answer and an invented finish reason would pass
 * the failure off as success; an error lets the router retry a whole answer, which it may only
 * do before anything reached the caller (`retryable` is false mid-stream).
 */
export function generationFailure(provider: string, reason: string | undefined, message: string | undefined, retryable: boolean): ProviderError | undefined {
  const detail = message ? `: ${message}` : "";
  if (reason === "ERROR") return new ProviderError("upstream_error", `${provider} failed to generate the answer (finish_reason ERROR)${detail}`, retryable, { code: "upstream_generation_error" });
  if (reason === "TIMEOUT") return new ProviderError("timeout", `${provider} stopped generating at its time limit (finish_reason TIMEOUT)${detail}`, retryable, { code: "upstream_timeout" });
  return undefined;
}

/** A count from the wire (typed double) → a whole non-negative number. */
function count(n: number | undefined): number {
  return typeof n === "number" && Number.isFinite(n) && n > 0 ? Math.round(n) : 0;
}

/**
 * Cohere usage → unified usage. `tokens` are what the model read and wrote, which is what the
 * unified counts mean; `billed_units` (usually fewer: Cohere does not bill the prompt scaffolding
 * it adds) are used only when `tokens` is absent. `cached_tokens` is part of the input count, so
 * prompt tokens include it, as OpenAI counts them. Reasoning tokens are not reported apart.
 */
export function usageFromCohere(u: CohereUsage | undefined): Usage | undefined {
  if (!u || (!u.tokens && !u.billed_units)) return undefined;
  const prompt = count(u.tokens?.input_tokens ?? u.billed_units?.input_tokens);
  const completion = count(u.tokens?.output_tokens ?? u.billed_units?.output_tokens);
  return create(UsageSchema, { promptTokens: prompt, completionTokens: completion, totalTokens: prompt + completion, cachedTokens: count(u.cached_tokens) });
}

function toolCallsFromCohere(calls: CohereToolCall[] | undefined) {
  return (calls ?? []).map((c) => {
    const args = c.function?.arguments;
    const text = typeof args === "string" ? args : args === undefined || args === null ? "" : JSON.stringify(args);
    return { id: c.id ?? "", type: "function", function: { name: c.function?.name ?? "", arguments: text.trim() === "" ? "{}" : text } };
  });
}

/**
 * Cohere chat answer → unified response. Text blocks are joined into content; `thinking` blocks
 * and `tool_plan` are the model's reasoning, not its answer, and are dropped (their tokens are
 * in the usage). Citations have no unified field. Cohere names no model in its answer, so
 * `model` is the one the call asked for; `created` is the time of translation.
 * Throws for finish_reason ERROR or TIMEOUT (see {@link generationFailure}).
 */
export function responseFromCohere(r: CohereChatResponse, model: string, provider: string, nowS: number = Math.floor(Date.now() / 1000)): ChatResponse {
  const failed = generationFailure(provider, r.finish_reason, undefined, true);
  if (failed) throw failed;
  let content = "";
  for (const b of r.message?.content ?? []) if (b.type === "text") content += (b as { text?: string }).text ?? "";
  return create(ChatResponseSchema, {
    id: r.id ?? "",
    created: BigInt(nowS),
    model,
    usage: usageFromCohere(r.usage),
    choices: [{ index: 0, finishReason: finishReasonFromCohere(r.finish_reason), message: { role: Role.ASSISTANT, content, toolCalls: toolCallsFromCohere(r.message?.tool_calls) } }],
  });
}

/**
 * Turns one Cohere v2 chat stream into unified chunks. One per request: it remembers the
 * answer's id (sent once, in message-start), which Cohere tool-call index is which unified tool
 * call, and whether each call has had argument text.
 *
 * Emits: a role chunk at message-start; content chunks for text deltas; for each tool call a
 * delta with its id, type and name at tool-call-start, then argument fragments at the call's own
 * position among tool calls; "{}" at tool-call-end for a call that had no argument text (Cohere
 * streams none for a call without arguments, where its JSON answer says "{}"); at message-end a
 * finish chunk and then a last chunk with no choices carrying usage, as OpenAI does with
 * include_usage. tool-plan-delta and thinking deltas are reasoning, not answer, and are dropped;
 * citation and *-end events carry nothing to translate. The event's data `type` is what counts,
 * not the SSE `event:` name.
 */
export class CohereStreamTranslator {
  private id = "";
  private readonly created: bigint;
  private readonly out = new StreamChunks(() => ({ id: this.id, created: this.created, model: this.model }));
  private readonly toolIndex = new Map<number, number>();
  private readonly hasArgs: boolean[] = [];
  /** True once message-end has been seen: the stream is complete. */
  done = false;

  constructor(
    private readonly provider: string,
    private readonly model: string,
    nowS: number = Math.floor(Date.now() / 1000),
  ) {
    this.created = BigInt(nowS);
  }

  private callIndex(cohereIndex: number | undefined, event: string): number {
    const index = this.toolIndex.get(cohereIndex ?? 0);
    if (index === undefined) throw garbage(this.provider, `sent ${event} for tool call ${String(cohereIndex)}, which was never started`, false);
    return index;
  }

  private toolCallStart(e: Extract<CohereStreamEvent, { type: "tool-call-start" }>): ChatChunk[] {
    const call = e.delta?.message?.tool_calls;
    const index = this.hasArgs.length;
    this.toolIndex.set(e.index ?? 0, index);
    const args = call?.function?.arguments ?? "";
    this.hasArgs.push(args !== "");
    return [...this.out.role(), this.out.chunk({ toolCalls: [{ index, id: call?.id ?? "", type: "function", name: call?.function?.name ?? "", arguments: args }] })];
  }

  private toolCallDelta(e: Extract<CohereStreamEvent, { type: "tool-call-delta" }>): ChatChunk[] {
    const index = this.callIndex(e.index, "tool-call-delta");
    const frag = e.delta?.message?.tool_calls?.function?.arguments ?? "";
    if (frag === "") return [];
    this.hasArgs[index] = true;
    return [this.out.chunk({ toolCalls: [{ index, arguments: frag }] })];
  }

  private toolCallEnd(cohereIndex: number | undefined): ChatChunk[] {
    const index = this.callIndex(cohereIndex, "tool-call-end");
    if (this.hasArgs[index]) return [];
    this.hasArgs[index] = true;
    return [this.out.chunk({ toolCalls: [{ index, arguments: "{}" }] })];
  }

  private messageEnd(e: Extract<CohereStreamEvent, { type: "message-end" }>): ChatChunk[] {
    const reason = e.delta?.finish_reason;
    // Chunks have already gone to the caller: no retry.
    const failed = generationFailure(this.provider, reason, e.delta?.error, false);
    if (failed) throw failed;
    this.done = true;
    const out = this.out.role();
    const finish = finishReasonFromCohere(reason);
    if (finish) out.push(this.out.chunk({}, finish));
    out.push(this.out.usage(usageFromCohere(e.delta?.usage)));
    return out;
  }

  /** Translate one event (its parsed data). Throws a ProviderError for a failed generation. */
  push(ev: CohereStreamEvent | { type: string }): ChatChunk[] {
    const e = ev as CohereStreamEvent;
    switch (e.type) {
      case "message-start":
        this.id = e.id ?? "";
        return this.out.role();
      case "content-start": {
        const text = e.delta?.message?.content?.text ?? "";
        return e.delta?.message?.content?.type !== "thinking" && text !== "" ? [...this.out.role(), this.out.chunk({ content: text })] : [];
      }
      case "content-delta": {
        const text = e.delta?.message?.content?.text ?? "";
        return text !== "" ? [...this.out.role(), this.out.chunk({ content: text })] : [];
      }
      case "tool-call-start":
        return this.toolCallStart(e);
      case "tool-call-delta":
        return this.toolCallDelta(e);
      case "tool-call-end":
        return this.toolCallEnd(e.index);
      case "message-end":
        return this.messageEnd(e);
      default:
        // tool-plan-delta, content-end, citation-start, citation-end and event types added later.
        return [];
    }
  }
}

/**
 * Cohere embed answer → unified embeddings: `embeddings.float` in input order (one vector per
 * text, or the answer is garbage), usage from `meta.billed_units.input_tokens` (the only count
 * Cohere gives for embeddings). Cohere names no model in its answer; `model` is the one asked for.
 */
export function embedResponseFromCohere(r: CohereEmbedResponse, model: string, req: EmbedRequest, provider: string): EmbedResponse {
  const vectors = r.embeddings?.float;
  if (!Array.isArray(vectors)) throw garbage(provider, "returned embeddings without 'float' vectors", true);
  if (vectors.length !== req.input.length) throw garbage(provider, `returned ${vectors.length} embeddings for ${req.input.length} inputs`, true);
  if (!vectors.every((v) => Array.isArray(v) && v.every((x) => typeof x === "number"))) throw garbage(provider, "returned an embedding that is not a list of numbers", true);
  const prompt = count(r.meta?.billed_units?.input_tokens);
  return create(EmbedResponseSchema, {
    model,
    data: vectors.map((vector, index) => ({ index, vector })),
    usage: { promptTokens: prompt, totalTokens: prompt },
  });
}

