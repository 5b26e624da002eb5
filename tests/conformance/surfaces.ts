import OpenAI from "openai";
import Anthropic from "@anthropic-ai/sdk";
import { ApiError, GoogleGenAI, Type, type Content, type FunctionDeclaration, type GenerateContentResponse } from "@google/genai";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { GatewayService } from "@tessera/gen/tessera/gateway/v1/gateway_pb";
import { ChatRequestSchema, Role, type ChatChunk, type ChatResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { Conversation, Mode, Scenario, UnifiedUsage } from "./scenarios.js";

/**
 * The input surfaces of the conformance matrix, each driven by its official client (the
 * `openai`, `@anthropic-ai/sdk` and `@google/genai` SDKs, a Connect gRPC client). A driver
 * writes a {@link Conversation} in its surface's format, and reads the answer back into an
 * {@link Answer} in the surface's own vocabulary (finish reasons, usage field names), noting
 * any structural problem it meets on the way (a tool-call delta without its id, a finish
 * reason sent twice, an event out of order …).
 */

export type SurfaceId = "openai" | "anthropic" | "gemini" | "grpc";

/** A successful answer as the caller saw it. */
export interface Answer {
  text: string;
  /** Tool calls in order; `args` is the JSON text (assembled from the deltas when streamed). */
  calls: { id: string; name: string; args: string }[];
  /** The finish reason in the surface's vocabulary. */
  finish: string;
  /** Usage in the surface's own field names (absent fields read as 0). */
  usage: Record<string, number>;
  /** Structural problems seen while reading the answer. */
  problems: string[];
  /** How many non-empty pieces the text arrived in (1 for a plain answer with text). */
  pieces: number;
}

/** A failed call as the caller saw it. */
export interface Failure {
  /** HTTP status, or the gRPC code name. */
  status: string;
  /** The error type in the surface's error body ("" where the format has none). */
  type: string;
  /** The class the client threw. */
  cls: string;
  /** Retry-After as the caller got it, where the client exposes it. */
  retryAfter?: string | undefined;
}

/** One surface. */
export interface SurfaceDriver {
  id: SurfaceId;
  label: string;
  /** Tool calls carry ids the caller must echo back (Gemini's format pairs results by name instead). */
  callIds: boolean;
  /** Scenarios this surface's format cannot express, and why. */
  cannot: Partial<Record<Scenario, string>>;
  /** Finish reasons for a text answer and for tool calls. */
  finish: { text: string; tools: string };
  /** Expected usage in the surface's fields. */
  usage(u: UnifiedUsage): Record<string, number>;
  /** Expected failures for the provider's 429 and 400 (retryAfter is checked separately). */
  errors: Record<"error_429" | "error_400", Omit<Failure, "retryAfter">>;
  /** Whether the caller can see Retry-After. */
  seesRetryAfter: boolean;
  chat(model: string, c: Conversation, mode: Mode): Promise<Answer>;
  /** Make a call that must fail, and describe the failure (throws if the call succeeded). */
  fail(model: string, c: Conversation, mode: Mode): Promise<Failure>;
}

const MAX_TOKENS = 256;

class Succeeded extends Error {
  constructor(surface: string) {
    super(`the call succeeded on the ${surface} surface, but the provider answered an error`);
  }
}

/** Tool-call deltas per index: the first must carry id and name; later ones may repeat them unchanged. */
class CallAssembler {
  private readonly calls = new Map<number, { id: string; name: string; args: string }>();
  constructor(
    private readonly problems: string[],
    private readonly needId: boolean,
  ) {}

  push(index: number, id: string | undefined, name: string | undefined, args: string | undefined): void {
    const cur = this.calls.get(index);
    if (!cur) {
      if (this.needId && !id) this.problems.push(`tool call ${index}: its first delta has no id`);
      if (!name) this.problems.push(`tool call ${index}: its first delta has no name`);
      this.calls.set(index, { id: id ?? "", name: name ?? "", args: args ?? "" });
      return;
    }
    if (id && id !== cur.id) this.problems.push(`tool call ${index}: id changed from ${cur.id} to ${id} between deltas`);
    if (name && name !== cur.name) this.problems.push(`tool call ${index}: name changed from ${cur.name} to ${name} between deltas`);
    cur.args += args ?? "";
  }

  done(): Answer["calls"] {
    const out = [...this.calls.entries()].sort(([a], [b]) => a - b);
    out.forEach(([index], i) => {
      if (index !== i) this.problems.push(`tool call indexes are not 0..n-1: ${out.map(([x]) => x).join(",")}`);
    });
    return out.map(([, c]) => c);
  }
}

function once(problems: string[], what: string, values: string[]): string {
  if (values.length !== 1) problems.push(`${what} sent ${values.length} times (${values.join(", ")})`);
  return values[values.length - 1] ?? "";
}

// ---------------------------------------------------------------------------------------------
// OpenAI: POST /v1/chat/completions with the openai SDK.

function openAIBody(model: string, c: Conversation): OpenAI.ChatCompletionCreateParamsNonStreaming {
  const messages: OpenAI.ChatCompletionMessageParam[] = [{ role: "user", content: c.userText }];
  if (c.history) {
    messages.push({
      role: "assistant",
      content: null,
      tool_calls: c.history.calls.map((k, i) => ({ id: `call_m${i + 1}`, type: "function" as const, function: { name: k.name, arguments: JSON.stringify(k.args) } })),
    });
    c.history.results.forEach((r, i) => messages.push({ role: "tool", tool_call_id: `call_m${i + 1}`, content: JSON.stringify(r) }));
  }
  const body: OpenAI.ChatCompletionCreateParamsNonStreaming = { model, messages, max_tokens: MAX_TOKENS };
  if (c.tools.length > 0) body.tools = c.tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.parameters } }));
  if (c.parallelOff) body.parallel_tool_calls = false;
  return body;
}

function openAIUsage(u: OpenAI.CompletionUsage | null | undefined, problems: string[]): Record<string, number> {
  if (!u) problems.push("no usage");
  return {
    prompt_tokens: u?.prompt_tokens ?? 0,
    completion_tokens: u?.completion_tokens ?? 0,
    total_tokens: u?.total_tokens ?? 0,
    cached_tokens: u?.prompt_tokens_details?.cached_tokens ?? 0,
    reasoning_tokens: u?.completion_tokens_details?.reasoning_tokens ?? 0,
  };
}

function openAISurface(url: string, key: string): SurfaceDriver {
  const client = new OpenAI({ baseURL: `${url}/v1`, apiKey: key, maxRetries: 0, timeout: 10_000 });
  return {
    id: "openai",
    label: "OpenAI",
    callIds: true,
    cannot: {},
    finish: { text: "stop", tools: "tool_calls" },
    usage: (u) => ({ prompt_tokens: u.prompt, completion_tokens: u.completion, total_tokens: u.total, cached_tokens: u.cached, reasoning_tokens: u.reasoning }),
    errors: {
      error_429: { status: "429", type: "rate_limit_error", cls: "RateLimitError" },
      error_400: { status: "400", type: "invalid_request_error", cls: "BadRequestError" },
    },
    seesRetryAfter: true,
    async chat(model, c, mode) {
      const problems: string[] = [];
      const body = openAIBody(model, c);
      if (mode === "plain") {
        const r = await client.chat.completions.create(body);
        if (r.object !== "chat.completion") problems.push(`object is ${r.object}`);
        if (r.choices.length !== 1) problems.push(`${r.choices.length} choices`);
        const m = r.choices[0]?.message;
        if (m?.role !== "assistant") problems.push(`role is ${m?.role}`);
        return {
          text: m?.content ?? "",
          calls: (m?.tool_calls ?? []).map((tc) => (tc.type === "function" ? { id: tc.id, name: tc.function.name, args: tc.function.arguments } : { id: tc.id, name: `(${tc.type})`, args: "" })),
          finish: r.choices[0]?.finish_reason ?? "",
          usage: openAIUsage(r.usage, problems),
          problems,
          pieces: m?.content ? 1 : 0,
        };
      }
      const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
      const calls = new CallAssembler(problems, true);
      const finishes: string[] = [];
      let text = "";
      let pieces = 0;
      let usage: OpenAI.CompletionUsage | undefined;
      let n = 0;
      for await (const chunk of stream) {
        if (chunk.object !== "chat.completion.chunk") problems.push(`chunk object is ${chunk.object}`);
        if (chunk.usage) usage = chunk.usage;
        for (const ch of chunk.choices) {
          if (ch.index !== 0) problems.push(`a chunk for choice ${ch.index}`);
          if (n++ === 0 && ch.delta.role !== "assistant") problems.push("the first chunk has no assistant role");
          text += ch.delta.content ?? "";
          if (ch.delta.content) pieces++;
          for (const d of ch.delta.tool_calls ?? []) calls.push(d.index, d.id, d.function?.name, d.function?.arguments);
          if (ch.finish_reason) finishes.push(ch.finish_reason);
        }
      }
      return { text, calls: calls.done(), finish: once(problems, "finish_reason", finishes), usage: openAIUsage(usage, problems), problems, pieces };
    },
    async fail(model, c, mode) {
      try {
        const body = openAIBody(model, c);
        if (mode === "plain") await client.chat.completions.create(body);
        else for await (const _ of await client.chat.completions.create({ ...body, stream: true })) void _;
      } catch (err) {
        if (!(err instanceof OpenAI.APIError)) throw err;
        const e = err.error as { type?: string } | undefined;
        return { status: String(err.status), type: e?.type ?? "", cls: err.constructor.name, retryAfter: err.headers?.get("retry-after") ?? undefined };
      }
      throw new Succeeded("OpenAI");
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Anthropic: POST /v1/messages with @anthropic-ai/sdk.

function anthropicBody(model: string, c: Conversation): Anthropic.MessageCreateParamsNonStreaming {
  const messages: Anthropic.MessageParam[] = [{ role: "user", content: c.userText }];
  if (c.history) {
    messages.push({ role: "assistant", content: c.history.calls.map((k, i) => ({ type: "tool_use" as const, id: `toolu_m${i + 1}`, name: k.name, input: k.args })) });
    messages.push({ role: "user", content: c.history.results.map((r, i) => ({ type: "tool_result" as const, tool_use_id: `toolu_m${i + 1}`, content: JSON.stringify(r) })) });
  }
  const body: Anthropic.MessageCreateParamsNonStreaming = { model, max_tokens: MAX_TOKENS, messages };
  if (c.tools.length > 0) body.tools = c.tools.map((t) => ({ name: t.name, description: t.description, input_schema: t.parameters }));
  if (c.parallelOff) body.tool_choice = { type: "auto", disable_parallel_tool_use: true };
  return body;
}

function anthropicUsage(u: { input_tokens?: number | null; output_tokens?: number | null; cache_read_input_tokens?: number | null } | undefined): Record<string, number> {
  return { input_tokens: u?.input_tokens ?? 0, output_tokens: u?.output_tokens ?? 0, cache_read_input_tokens: u?.cache_read_input_tokens ?? 0 };
}

function anthropicSurface(url: string, key: string): SurfaceDriver {
  const client = new Anthropic({ baseURL: url, apiKey: key, maxRetries: 0, timeout: 10_000 });
  return {
    id: "anthropic",
    label: "Anthropic",
    callIds: true,
    cannot: {},
    finish: { text: "end_turn", tools: "tool_use" },
    // input_tokens excludes cache reads; output_tokens includes reasoning (no field of its own).
    usage: (u) => ({ input_tokens: u.prompt - u.cached, output_tokens: u.completion, cache_read_input_tokens: u.cached }),
    errors: {
      error_429: { status: "429", type: "rate_limit_error", cls: "RateLimitError" },
      error_400: { status: "400", type: "invalid_request_error", cls: "BadRequestError" },
    },
    seesRetryAfter: true,
    async chat(model, c, mode) {
      const problems: string[] = [];
      const body = anthropicBody(model, c);
      if (mode === "plain") {
        const r = await client.messages.create(body);
        if (r.type !== "message" || r.role !== "assistant") problems.push(`a ${r.type} from ${r.role}`);
        if (!/^msg_/.test(r.id)) problems.push(`message id ${r.id} does not start with msg_`);
        return {
          text: r.content.map((b) => (b.type === "text" ? b.text : "")).join(""),
          calls: r.content.flatMap((b) => (b.type === "tool_use" ? [{ id: b.id, name: b.name, args: JSON.stringify(b.input) }] : [])),
          finish: r.stop_reason ?? "",
          usage: anthropicUsage(r.usage),
          problems,
          pieces: r.content.filter((b) => b.type === "text" && b.text !== "").length,
        };
      }
      const stream = await client.messages.create({ ...body, stream: true });
      const blocks = new Map<number, { type: string; id: string; name: string; text: string; json: string; stopped: boolean }>();
      const types: string[] = [];
      const stops: string[] = [];
      let pieces = 0;
      let usage: Parameters<typeof anthropicUsage>[0] = {};
      for await (const ev of stream) {
        types.push(ev.type);
        switch (ev.type) {
          case "message_start":
            usage = { ...ev.message.usage };
            break;
          case "content_block_start": {
            if (blocks.has(ev.index)) problems.push(`block ${ev.index} started twice`);
            const open = [...blocks.values()].find((b) => !b.stopped);
            if (open) problems.push(`block ${ev.index} started before the previous one stopped`);
            const b = ev.content_block;
            if (b.type === "tool_use") {
              if (!b.id) problems.push(`tool_use block ${ev.index} has no id`);
              blocks.set(ev.index, { type: b.type, id: b.id, name: b.name, text: "", json: "", stopped: false });
            } else blocks.set(ev.index, { type: b.type, id: "", name: "", text: b.type === "text" ? b.text : "", json: "", stopped: false });
            break;
          }
          case "content_block_delta": {
            const b = blocks.get(ev.index);
            if (!b || b.stopped) {
              problems.push(`a delta for block ${ev.index}, which is not open`);
              break;
            }
            if (ev.delta.type === "text_delta") {
              if (b.type !== "text") problems.push(`text_delta for a ${b.type} block`);
              b.text += ev.delta.text;
              if (ev.delta.text) pieces++;
            } else if (ev.delta.type === "input_json_delta") {
              if (b.type !== "tool_use") problems.push(`input_json_delta for a ${b.type} block`);
              b.json += ev.delta.partial_json;
            }
            break;
          }
          case "content_block_stop": {
            const b = blocks.get(ev.index);
            if (!b) problems.push(`content_block_stop for block ${ev.index}, never started`);
            else b.stopped = true;
            break;
          }
          case "message_delta":
            if (ev.delta.stop_reason) stops.push(ev.delta.stop_reason);
            // As the SDK accumulates: output_tokens replaces, the other counters when present.
            usage = {
              ...usage,
              output_tokens: ev.usage.output_tokens,
              ...(ev.usage.input_tokens != null ? { input_tokens: ev.usage.input_tokens } : {}),
              ...(ev.usage.cache_read_input_tokens != null ? { cache_read_input_tokens: ev.usage.cache_read_input_tokens } : {}),
            };
            break;
        }
      }
      if (types[0] !== "message_start") problems.push(`the stream starts with ${types[0]}`);
      if (types[types.length - 1] !== "message_stop") problems.push(`the stream ends with ${types[types.length - 1]}`);
      const ordered = [...blocks.entries()].sort(([a], [b]) => a - b);
      ordered.forEach(([index, b], i) => {
        if (index !== i) problems.push(`block indexes are not 0..n-1`);
        if (!b.stopped) problems.push(`block ${index} never stopped`);
      });
      return {
        text: ordered.map(([, b]) => b.text).join(""),
        calls: ordered.filter(([, b]) => b.type === "tool_use").map(([, b]) => ({ id: b.id, name: b.name, args: b.json })),
        finish: once(problems, "stop_reason", stops),
        usage: anthropicUsage(usage),
        problems,
        pieces,
      };
    },
    async fail(model, c, mode) {
      try {
        const body = anthropicBody(model, c);
        if (mode === "plain") await client.messages.create(body);
        else for await (const _ of await client.messages.create({ ...body, stream: true })) void _;
      } catch (err) {
        if (!(err instanceof Anthropic.APIError)) throw err;
        const e = err.error as { type?: string; error?: { type?: string } } | undefined;
        if (e?.type !== "error") return { status: String(err.status), type: `(body type ${String(e?.type)})`, cls: err.constructor.name };
        return { status: String(err.status), type: e.error?.type ?? "", cls: err.constructor.name, retryAfter: err.headers?.get("retry-after") ?? undefined };
      }
      throw new Succeeded("Anthropic");
    },
  };
}

// ---------------------------------------------------------------------------------------------
// Gemini: generateContent / streamGenerateContent with @google/genai.

function geminiRequest(c: Conversation) {
  const contents: Content[] = [{ role: "user", parts: [{ text: c.userText }] }];
  if (c.history) {
    contents.push({ role: "model", parts: c.history.calls.map((k) => ({ functionCall: { name: k.name, args: k.args } })) });
    contents.push({ role: "user", parts: c.history.results.map((r, i) => ({ functionResponse: { name: c.history!.calls[i]!.name, response: r } })) });
  }
  const functionDeclarations: FunctionDeclaration[] = c.tools.map((t) => ({
    name: t.name,
    description: t.description,
    // Gemini's own Schema (upper-case types), which the surface turns into JSON Schema.
    parameters: { type: Type.OBJECT, properties: { city: { type: Type.STRING, description: t.parameters.properties.city.description } }, required: ["city"] },
  }));
  return { contents, config: { maxOutputTokens: MAX_TOKENS, ...(functionDeclarations.length > 0 ? { tools: [{ functionDeclarations }] } : {}) } };
}

function geminiUsage(r: GenerateContentResponse | undefined, problems: string[]): Record<string, number> {
  const u = r?.usageMetadata;
  if (!u) problems.push("no usageMetadata");
  return {
    promptTokenCount: u?.promptTokenCount ?? 0,
    candidatesTokenCount: u?.candidatesTokenCount ?? 0,
    totalTokenCount: u?.totalTokenCount ?? 0,
    cachedContentTokenCount: u?.cachedContentTokenCount ?? 0,
    thoughtsTokenCount: u?.thoughtsTokenCount ?? 0,
  };
}

function geminiSurface(url: string, key: string): SurfaceDriver {
  const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: url, timeout: 10_000, retryOptions: { attempts: 1 } } });
  return {
    id: "gemini",
    label: "Gemini",
    callIds: false,
    cannot: { parallel_off: "Gemini's request format has no setting that forbids parallel function calls (functionCallingConfig has modes only)" },
    finish: { text: "STOP", tools: "STOP" },
    // promptTokenCount includes cached tokens; candidatesTokenCount excludes thoughts.
    usage: (u) => ({
      promptTokenCount: u.prompt,
      candidatesTokenCount: u.completion - u.reasoning,
      totalTokenCount: u.total,
      cachedContentTokenCount: u.cached,
      thoughtsTokenCount: u.reasoning,
    }),
    errors: {
      error_429: { status: "429", type: "RESOURCE_EXHAUSTED", cls: "ApiError" },
      error_400: { status: "400", type: "INVALID_ARGUMENT", cls: "ApiError" },
    },
    seesRetryAfter: false,
    async chat(model, c, mode) {
      const problems: string[] = [];
      const responses: GenerateContentResponse[] = [];
      if (mode === "plain") responses.push(await ai.models.generateContent({ model, ...geminiRequest(c) }));
      else for await (const r of await ai.models.generateContentStream({ model, ...geminiRequest(c) })) responses.push(r);
      let text = "";
      let pieces = 0;
      const calls: Answer["calls"] = [];
      const finishes: string[] = [];
      responses.forEach((r, i) => {
        const cands = r.candidates ?? [];
        if (cands.length !== 1) problems.push(`chunk ${i}: ${cands.length} candidates`);
        const cand = cands[0];
        if (cand?.content && cand.content.role !== "model") problems.push(`chunk ${i}: role ${cand.content.role}`);
        for (const p of cand?.content?.parts ?? []) {
          if (typeof p.text === "string" && !p.thought) text += p.text;
          if (p.text && !p.thought) pieces++;
          if (p.functionCall) calls.push({ id: p.functionCall.id ?? "", name: p.functionCall.name ?? "", args: JSON.stringify(p.functionCall.args ?? {}) });
        }
        if (cand?.finishReason) {
          finishes.push(cand.finishReason);
          if (i !== responses.length - 1) problems.push(`chunk ${i} of ${responses.length} has a finishReason`);
        }
      });
      return { text, calls, finish: once(problems, "finishReason", finishes), usage: geminiUsage(responses[responses.length - 1], problems), problems, pieces };
    },
    async fail(model, c, mode) {
      try {
        if (mode === "plain") await ai.models.generateContent({ model, ...geminiRequest(c) });
        else for await (const _ of await ai.models.generateContentStream({ model, ...geminiRequest(c) })) void _;
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        let type = "";
        try {
          type = (JSON.parse(err.message) as { error?: { status?: string } }).error?.status ?? "";
        } catch {
          type = `(not Google's error JSON: ${err.message.slice(0, 80)})`;
        }
        return { status: String(err.status), type, cls: err.name };
      }
      throw new Succeeded("Gemini");
    },
  };
}

// ---------------------------------------------------------------------------------------------
// gRPC: GatewayService Chat / ChatStream over HTTP/2 (h2c).

function grpcRequest(model: string, c: Conversation): MessageInitShape<typeof ChatRequestSchema> {
  const messages: NonNullable<MessageInitShape<typeof ChatRequestSchema>["messages"]> = [{ role: Role.USER, content: c.userText }];
  if (c.history) {
    messages.push({ role: Role.ASSISTANT, toolCalls: c.history.calls.map((k, i) => ({ id: `call_m${i + 1}`, type: "function", function: { name: k.name, arguments: JSON.stringify(k.args) } })) });
    c.history.results.forEach((r, i) => messages.push({ role: Role.TOOL, toolCallId: `call_m${i + 1}`, content: JSON.stringify(r) }));
  }
  return {
    model,
    messages,
    maxTokens: MAX_TOKENS,
    tools: c.tools.map((t) => ({ type: "function", function: { name: t.name, description: t.description, parameters: t.parameters } })),
    ...(c.parallelOff ? { parallelToolCalls: false } : {}),
  };
}

function grpcUsage(u: ChatResponse["usage"] | undefined, problems: string[]): Record<string, number> {
  if (!u) problems.push("no usage");
  return { promptTokens: u?.promptTokens ?? 0, completionTokens: u?.completionTokens ?? 0, totalTokens: u?.totalTokens ?? 0, cachedTokens: u?.cachedTokens ?? 0, reasoningTokens: u?.reasoningTokens ?? 0 };
}

function grpcSurface(url: string, key: string): SurfaceDriver {
  const client = createClient(GatewayService, createGrpcTransport({ baseUrl: url }));
  const opts = { headers: { authorization: `Bearer ${key}` }, timeoutMs: 10_000 };
  return {
    id: "grpc",
    label: "gRPC",
    callIds: true,
    cannot: {},
    finish: { text: "stop", tools: "tool_calls" },
    usage: (u) => ({ promptTokens: u.prompt, completionTokens: u.completion, totalTokens: u.total, cachedTokens: u.cached, reasoningTokens: u.reasoning }),
    errors: {
      error_429: { status: Code[Code.ResourceExhausted], type: "", cls: "ConnectError" },
      error_400: { status: Code[Code.InvalidArgument], type: "", cls: "ConnectError" },
    },
    seesRetryAfter: true,
    async chat(model, c, mode) {
      const problems: string[] = [];
      if (mode === "plain") {
        const res = await client.chat({ request: grpcRequest(model, c) }, opts);
        const r = res.response;
        if (!res.requestId) problems.push("no request_id");
        if ((r?.choices.length ?? 0) !== 1) problems.push(`${r?.choices.length ?? 0} choices`);
        const m = r?.choices[0]?.message;
        if (m?.role !== Role.ASSISTANT) problems.push(`role ${m?.role}`);
        return {
          text: m?.content ?? "",
          calls: (m?.toolCalls ?? []).map((tc) => ({ id: tc.id, name: tc.function?.name ?? "", args: tc.function?.arguments ?? "" })),
          finish: r?.choices[0]?.finishReason ?? "",
          usage: grpcUsage(r?.usage, problems),
          problems,
          pieces: m?.content ? 1 : 0,
        };
      }
      const calls = new CallAssembler(problems, true);
      const finishes: string[] = [];
      let text = "";
      let pieces = 0;
      let usage: ChatChunk["usage"];
      let n = 0;
      for await (const m of client.chatStream({ request: grpcRequest(model, c) }, opts)) {
        const chunk = m.chunk;
        if (!chunk) {
          problems.push("a message without a chunk");
          continue;
        }
        if (chunk.usage) usage = chunk.usage;
        for (const ch of chunk.choices) {
          if (ch.index !== 0) problems.push(`a chunk for choice ${ch.index}`);
          if (n++ === 0 && ch.delta?.role !== Role.ASSISTANT) problems.push("the first chunk has no assistant role");
          text += ch.delta?.content ?? "";
          if (ch.delta?.content) pieces++;
          for (const d of ch.delta?.toolCalls ?? []) calls.push(d.index, d.id || undefined, d.name || undefined, d.arguments);
          if (ch.finishReason) finishes.push(ch.finishReason);
        }
      }
      return { text, calls: calls.done(), finish: once(problems, "finish_reason", finishes), usage: grpcUsage(usage, problems), problems, pieces };
    },
    async fail(model, c, mode) {
      try {
        if (mode === "plain") await client.chat({ request: grpcRequest(model, c) }, opts);
        else for await (const _ of client.chatStream({ request: grpcRequest(model, c) }, opts)) void _;
      } catch (err) {
        const e = ConnectError.from(err);
        return { status: Code[e.code], type: "", cls: "ConnectError", retryAfter: e.metadata.get("retry-after") ?? undefined };
      }
      throw new Succeeded("gRPC");
    },
  };
}

/** Every surface, in report order, against a gateway at `url` with API key `key`. */
export function createSurfaces(url: string, key: string): SurfaceDriver[] {
  return [openAISurface(url, key), anthropicSurface(url, key), geminiSurface(url, key), grpcSurface(url, key)];
}
