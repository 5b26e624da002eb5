import type { ChatChunk, ChatResponse, Usage } from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { TesseraError } from "@tessera/runtime";
import type { GeminiCandidate, GeminiErrorBody, GeminiFinishReason, GeminiPart, GeminiResponse, GeminiUsageMetadata } from "./wire.js";

/** Unified finish_reason → Gemini finishReason (tool calls end with STOP, as Gemini's do). */
export function finishReasonToGemini(finishReason: string): GeminiFinishReason {
  switch (finishReason) {
    case "length":
      return "MAX_TOKENS";
    case "content_filter":
      return "SAFETY";
    default:
      return "STOP";
  }
}

/**
 * Unified usage → usageMetadata. promptTokenCount includes cached tokens (as unified
 * prompt tokens do); candidatesTokenCount excludes thoughts, which are reported apart.
 */
export function usageToGemini(u: Usage | undefined): GeminiUsageMetadata | undefined {
  if (!u) return undefined;
  const out: GeminiUsageMetadata = {
    promptTokenCount: u.promptTokens,
    candidatesTokenCount: Math.max(0, u.completionTokens - u.reasoningTokens),
    totalTokenCount: u.totalTokens || u.promptTokens + u.completionTokens,
  };
  if (u.cachedTokens) out.cachedContentTokenCount = u.cachedTokens;
  if (u.reasoningTokens) out.thoughtsTokenCount = u.reasoningTokens;
  return out;
}

/** Tool arguments as a JSON object; arguments that are not one become {}. */
function parseArgs(args: string): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(args);
    return typeof v === "object" && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/**
 * Unified response → GenerateContentResponse: one candidate per choice, its text (or refusal)
 * as a text part then each tool call as a functionCall part with parsed args.
 */
export function responseToGemini(r: ChatResponse): GeminiResponse {
  const candidates: GeminiCandidate[] = r.choices.map((c) => {
    const m = c.message;
    const parts: GeminiPart[] = [];
    const text = m ? m.content || m.refusal : "";
    if (text) parts.push({ text });
    for (const tc of m?.toolCalls ?? []) parts.push({ functionCall: { name: tc.function?.name ?? "", args: parseArgs(tc.function?.arguments ?? "") } });
    return { content: { role: "model", parts }, finishReason: finishReasonToGemini(c.finishReason), index: c.index };
  });
  const out: GeminiResponse = { candidates };
  const usage = usageToGemini(r.usage);
  if (usage) out.usageMetadata = usage;
  out.modelVersion = r.model;
  if (r.id) out.responseId = r.id;
  return out;
}

interface PendingCall {
  name: string;
  args: string;
}

/**
 * Turns the unified chunks of one streamed call into GenerateContentResponse chunks. Text
 * deltas are passed on as they come; tool-call deltas are accumulated and emitted as whole
 * functionCall parts once the choice finishes (Gemini never streams partial calls); the last
 * chunk carries finishReason and usageMetadata. One per request; only choice 0 is streamed.
 */
export class GeminiStreamEncoder {
  private readonly calls = new Map<number, PendingCall>();
  private finishReason = "";
  private usage: Usage | undefined;
  private model: string;
  private id = "";
  private ended = false;

  constructor(opts: { model?: string } = {}) {
    this.model = opts.model ?? "";
  }

  private base(parts: GeminiPart[], finish?: GeminiFinishReason): GeminiResponse {
    const cand: GeminiCandidate = { content: { role: "model", parts }, index: 0 };
    if (finish) cand.finishReason = finish;
    const out: GeminiResponse = { candidates: [cand] };
    if (this.model) out.modelVersion = this.model;
    if (this.id) out.responseId = this.id;
    return out;
  }

  /** Chunks for one unified chunk (none, or one with text). */
  push(c: ChatChunk): GeminiResponse[] {
    if (this.ended) return [];
    if (c.model) this.model = c.model;
    if (c.id) this.id = c.id;
    if (c.usage) this.usage = c.usage;
    const ch = c.choices.find((x) => x.index === 0);
    if (!ch) return [];
    const d = ch.delta;
    for (const t of d?.toolCalls ?? []) {
      const call = this.calls.get(t.index) ?? { name: "", args: "" };
      if (t.name) call.name = t.name;
      call.args += t.arguments;
      this.calls.set(t.index, call);
    }
    if (ch.finishReason) this.finishReason = ch.finishReason;
    const text = d ? d.content || d.refusal : "";
    return text ? [this.base([{ text }])] : [];
  }

  /** The last chunk: completed function calls, finishReason and usageMetadata. */
  finish(): GeminiResponse[] {
    if (this.ended) return [];
    this.ended = true;
    const parts: GeminiPart[] = [...this.calls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, call]) => ({ functionCall: { name: call.name, args: parseArgs(call.args) } }));
    const out = this.base(parts, finishReasonToGemini(this.finishReason));
    const usage = usageToGemini(this.usage);
    if (usage) out.usageMetadata = usage;
    return [out];
  }
}

/** One SSE event as Google writes it (alt=sse): `data: <json>` and a blank line. */
export function encodeGeminiSse(r: GeminiResponse | GeminiErrorBody): string {
  return `data: ${JSON.stringify(r)}\r\n\r\n`;
}

/** Google's canonical status string for an HTTP status. */
export function geminiStatus(httpStatus: number): string {
  switch (httpStatus) {
    case 400:
    case 413:
      return "INVALID_ARGUMENT";
    case 401:
      return "UNAUTHENTICATED";
    case 403:
      return "PERMISSION_DENIED";
    case 404:
      return "NOT_FOUND";
    case 409:
      return "ALREADY_EXISTS";
    case 405:
      return "INVALID_ARGUMENT";
    case 402:
    case 429:
      return "RESOURCE_EXHAUSTED";
    case 502:
    case 503:
      return "UNAVAILABLE";
    case 504:
      return "DEADLINE_EXCEEDED";
    default:
      return httpStatus >= 400 && httpStatus < 500 ? "FAILED_PRECONDITION" : "INTERNAL";
  }
}

/** A TesseraError as Google's error JSON: {error: {code, message, status}} (code = HTTP status). */
export function errorToGemini(err: TesseraError): GeminiErrorBody {
  return { error: { code: err.status, message: err.message, status: geminiStatus(err.status) } };
}
