/**
 * Answers of the OpenAI family → unified response and chunks. The lib's OpenAI translation
 * does the work; this file first evens out what the members do differently (all recorded in
 * the fixtures of each provider folder):
 *  - Mistral sends `content` as an array of chunks on reasoning models (text and thinking),
 *    tool calls without `index` or `type`, whole in one chunk, and `model_length` as a
 *    finish reason;
 *  - Azure opens a stream with a chunk that has no choices and empty id/model (prompt filter
 *    results) and sends annotation chunks (content filter results, no delta, id "") — the
 *    last of which may carry finish_reason `content_filter`;
 *  - some servers send tool arguments as an object instead of JSON text.
 */
import {
  chunkFromOpenAI,
  embedResponseFromOpenAI,
  responseFromOpenAI,
  type OpenAIChatChunk,
  type OpenAIChatCompletion,
  type OpenAIToolCall,
  type OpenAIToolCallDelta,
  type SseEvent,
} from "@tessera/openai-format";
import type { ChatChunk, ChatResponse, EmbedRequest, EmbedResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { isObject } from "@tessera/runtime";
import { ProviderError } from "../errors.js";
import { eventJson, garbage, type StreamTranslator } from "../http-adapter.js";

type Json = Record<string, unknown>;

/** Finish reasons of the family that OpenAI names differently. */
const FINISH_REASONS: Readonly<Record<string, string>> = {
  /** Mistral: the model's context length was reached. */
  model_length: "length",
};

function finishReason(v: unknown): string | null {
  if (typeof v !== "string" || v === "") return null;
  return FINISH_REASONS[v] ?? v;
}

/** Message content as text: strings pass, chunk arrays keep their text parts (thinking dropped). */
function contentText(c: unknown): string | null {
  if (typeof c === "string") return c;
  if (!Array.isArray(c)) return null;
  return c
    .filter(isObject)
    .filter((p) => p["type"] === "text" && typeof p["text"] === "string")
    .map((p) => p["text"] as string)
    .join("");
}

function argumentsText(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (isObject(v)) return JSON.stringify(v);
  return undefined;
}

function str(v: unknown): string {
  return typeof v === "string" ? v : "";
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

function toolCall(tc: Json): OpenAIToolCall {
  const fn = isObject(tc["function"]) ? tc["function"] : {};
  return { id: str(tc["id"]), type: "function", function: { name: str(fn["name"]), arguments: argumentsText(fn["arguments"]) ?? "" } };
}

/** A family `chat.completion` body (already known to have `choices`) in OpenAI's exact shape. */
export function normaliseCompletion(json: Json, model: string): OpenAIChatCompletion {
  const choices = (json["choices"] as unknown[]).filter(isObject).map((c, i) => {
    const m = isObject(c["message"]) ? c["message"] : {};
    const calls = Array.isArray(m["tool_calls"]) ? m["tool_calls"].filter(isObject).map(toolCall) : [];
    const message: OpenAIChatCompletion["choices"][number]["message"] = { role: "assistant", content: contentText(m["content"]) };
    if (typeof m["refusal"] === "string") message.refusal = m["refusal"];
    if (calls.length > 0) message.tool_calls = calls;
    return { index: typeof c["index"] === "number" ? c["index"] : i, message, finish_reason: finishReason(c["finish_reason"]), logprobs: null };
  });
  const out: OpenAIChatCompletion = { id: str(json["id"]), object: "chat.completion", created: num(json["created"]), model: str(json["model"]) || model, choices };
  if (typeof json["system_fingerprint"] === "string") out.system_fingerprint = json["system_fingerprint"];
  if (isObject(json["usage"])) out.usage = json["usage"] as unknown as OpenAIChatCompletion["usage"];
  return out;
}

/** A family `chat.completion` body → unified response; garbage when it has no choices. */
export function familyResponse(provider: string, json: unknown, model: string): ChatResponse {
  if (!isObject(json) || !Array.isArray(json["choices"])) throw garbage(provider, "returned JSON without 'choices'", true);
  return responseFromOpenAI(normaliseCompletion(json, model));
}

/**
 * A family embeddings body → unified answer, vectors in input order, named after the
 * deployment's model when the provider named none (Azure's documented example); garbage
 * (retryable) when it is not one vector per input.
 */
export function familyEmbeddings(provider: string, json: unknown, model: string, req: EmbedRequest): EmbedResponse {
  let r: EmbedResponse;
  try {
    r = embedResponseFromOpenAI(json, req.input.length);
  } catch (err) {
    if (err instanceof TypeError) throw garbage(provider, `returned embeddings that cannot be read: ${err.message}`, true);
    throw err;
  }
  if (!r.model) r.model = model;
  return r;
}

/** Tool-call positions of one choice, for members that send calls without `index`. */
interface ToolIndexState {
  next: number;
  last: number;
}

type ChunkChoice = OpenAIChatChunk["choices"][number];

/**
 * One streamed call of an OpenAI-family provider: `data: [DONE]` ends it, an `error` event
 * fails it, every other event is a chat.completion.chunk, evened out (see the file comment)
 * before the lib translates it. Chunks that carry nothing (Azure's filter annotations) are
 * skipped.
 */
export class FamilyStreamTranslator implements StreamTranslator {
  #done = false;
  #id = "";
  #created = 0;
  #model = "";
  readonly #tools = new Map<number, ToolIndexState>();

  /**
   * @param passRaw keep each event's JSON text on its chunk (`rawOpenai`) so the OpenAI surface
   * can send it on unchanged: only for members whose chunks are OpenAI's own.
   */
  constructor(
    readonly provider: string,
    readonly passRaw = false,
  ) {}

  get done(): boolean {
    return this.#done;
  }

  push(ev: SseEvent): Iterable<ChatChunk> {
    if (ev.data === "[DONE]") {
      this.#done = true;
      return [];
    }
    const json = eventJson(this.provider, ev.data);
    if (json["error"] !== undefined && json["error"] !== null) {
      const e = json["error"];
      const message = isObject(e) ? str(e["message"]) : str(e);
      throw new ProviderError("upstream_error", `${this.provider} stream error: ${message || "unknown"}`, false, { code: "upstream_stream_error" });
    }
    if (!Array.isArray(json["choices"])) throw garbage(this.provider, "sent a stream chunk without 'choices'", false);
    const chunk = this.#normalise(json, json["choices"]);
    if (!chunk) return [];
    const c = chunkFromOpenAI(chunk);
    if (this.passRaw) c.rawOpenai = ev.data;
    return [c];
  }

  end(): Iterable<ChatChunk> {
    if (!this.#done) throw new ProviderError("upstream_error", `${this.provider} ended the stream before [DONE]`, false, { code: "upstream_stream_cut" });
    return [];
  }

  /** Remember id/created/model from real chunks and lend them to the anonymous ones. */
  #identity(json: Json): { id: string; created: number; model: string } {
    if (str(json["id"])) this.#id = str(json["id"]);
    if (num(json["created"])) this.#created = num(json["created"]);
    if (str(json["model"])) this.#model = str(json["model"]);
    return { id: this.#id, created: this.#created, model: this.#model };
  }

  #normalise(json: Json, rawChoices: unknown[]): OpenAIChatChunk | undefined {
    const identity = this.#identity(json);
    const choices = rawChoices.filter(isObject).map((c, i) => this.#choice(c, i)).filter((c): c is ChunkChoice => c !== undefined);
    const usage = isObject(json["usage"]) ? (json["usage"] as unknown as OpenAIChatChunk["usage"]) : undefined;
    if (choices.length === 0 && !usage) return undefined;
    const out: OpenAIChatChunk = { ...identity, object: "chat.completion.chunk", choices };
    if (typeof json["system_fingerprint"] === "string") out.system_fingerprint = json["system_fingerprint"];
    if (usage) out.usage = usage;
    return out;
  }

  /** One choice's delta, evened out; undefined when it carries nothing. */
  #choice(c: Json, position: number): ChunkChoice | undefined {
    const index = typeof c["index"] === "number" ? c["index"] : position;
    const d = isObject(c["delta"]) ? c["delta"] : {};
    const delta: ChunkChoice["delta"] = {};
    if (d["role"] === "assistant") delta.role = "assistant";
    const content = contentText(d["content"]);
    if (content !== null && (content !== "" || delta.role)) delta.content = content;
    if (typeof d["refusal"] === "string" && d["refusal"]) delta.refusal = d["refusal"];
    if (Array.isArray(d["tool_calls"]) && d["tool_calls"].length > 0) delta.tool_calls = this.#toolDeltas(index, d["tool_calls"]);
    const finish = finishReason(c["finish_reason"]);
    const empty = delta.role === undefined && delta.content === undefined && !delta.refusal && !delta.tool_calls && finish === null;
    return empty ? undefined : { index, delta, finish_reason: finish, logprobs: null };
  }

  /** Tool call deltas with an `index` each: given, or the next position for a new id. */
  #toolDeltas(choice: number, calls: unknown[]): OpenAIToolCallDelta[] {
    const st = this.#tools.get(choice) ?? { next: 0, last: 0 };
    const out = calls.filter(isObject).map((tc) => {
      const id = str(tc["id"]);
      const index = typeof tc["index"] === "number" ? tc["index"] : id ? st.next : st.last;
      st.last = index;
      st.next = Math.max(st.next, index + 1);
      const fn = isObject(tc["function"]) ? tc["function"] : {};
      const delta: OpenAIToolCallDelta = { index, function: {} };
      if (id) {
        delta.id = id;
        delta.type = "function";
      }
      if (str(fn["name"])) delta.function!.name = str(fn["name"]);
      const args = argumentsText(fn["arguments"]);
      if (args !== undefined) delta.function!.arguments = args;
      return delta;
    });
    this.#tools.set(choice, st);
    return out;
  }
}
