import { create } from "@bufbuild/protobuf";
import {
  ChatChunkSchema,
  ChatResponseSchema,
  Role,
  UsageSchema,
  type ChatChunk,
  type ChatRequest,
  type ChatResponse,
  type Message,
  type Usage,
} from "@tessera/gen/tessera/chat/v1/chat_pb";
import type {
  OpenAIChatChunk,
  OpenAIChatCompletion,
  OpenAIChatRequest,
  OpenAIContentPart,
  OpenAIMessage,
  OpenAIRole,
  OpenAIUsage,
} from "./wire.js";

const ROLE_NAMES: Record<Role, OpenAIRole> = {
  [Role.UNSPECIFIED]: "user",
  [Role.SYSTEM]: "system",
  [Role.DEVELOPER]: "developer",
  [Role.USER]: "user",
  [Role.ASSISTANT]: "assistant",
  [Role.TOOL]: "tool",
};

function messageToOpenAI(m: Message): OpenAIMessage {
  const out: OpenAIMessage = { role: ROLE_NAMES[m.role] };
  if (m.parts.length > 0) {
    out.content = m.parts.map((p): OpenAIContentPart => {
      if (p.part.case === "imageUrl") {
        const image_url: { url: string; detail?: "auto" | "low" | "high" } = { url: p.part.value.url };
        if (p.part.value.detail) image_url.detail = p.part.value.detail as "auto" | "low" | "high";
        return { type: "image_url", image_url };
      }
      return { type: "text", text: p.part.case === "text" ? p.part.value : "" };
    });
  } else if (m.role === Role.ASSISTANT && m.toolCalls.length > 0 && m.content === "") {
    out.content = null;
  } else {
    out.content = m.content;
  }
  if (m.name) out.name = m.name;
  if (m.toolCalls.length > 0)
    out.tool_calls = m.toolCalls.map((tc) => ({
      id: tc.id,
      type: "function",
      function: { name: tc.function?.name ?? "", arguments: tc.function?.arguments ?? "" },
    }));
  if (m.toolCallId) out.tool_call_id = m.toolCallId;
  return out;
}

/** Unified request → OpenAI request body, for a provider that speaks OpenAI's API. */
export function requestToOpenAI(req: ChatRequest, model: string, stream: boolean): OpenAIChatRequest {
  const out: OpenAIChatRequest = { model, messages: req.messages.map(messageToOpenAI) };
  if (req.temperature !== undefined) out.temperature = req.temperature;
  if (req.topP !== undefined) out.top_p = req.topP;
  if (req.maxTokens !== undefined) out.max_tokens = req.maxTokens;
  if (req.stop.length > 0) out.stop = req.stop;
  if (req.n !== undefined) out.n = req.n;
  if (req.presencePenalty !== undefined) out.presence_penalty = req.presencePenalty;
  if (req.frequencyPenalty !== undefined) out.frequency_penalty = req.frequencyPenalty;
  if (req.seed !== undefined) out.seed = Number(req.seed);
  if (req.tools.length > 0)
    out.tools = req.tools.map((t) => {
      const fn: OpenAIChatRequest["tools"] extends (infer T)[] | undefined ? T extends { function: infer F } ? F : never : never = {
        name: t.function?.name ?? "",
      };
      if (t.function?.description) fn.description = t.function.description;
      if (t.function?.parameters) fn.parameters = t.function.parameters;
      if (t.function?.strict !== undefined) fn.strict = t.function.strict;
      return { type: "function" as const, function: fn };
    });
  const tc = req.toolChoice?.choice;
  if (tc?.case === "mode") out.tool_choice = tc.value as "none" | "auto" | "required";
  else if (tc?.case === "functionName") out.tool_choice = { type: "function", function: { name: tc.value } };
  if (req.parallelToolCalls !== undefined) out.parallel_tool_calls = req.parallelToolCalls;
  const rf = req.responseFormat;
  if (rf?.type === "json_schema") {
    const js: { name: string; schema?: Record<string, unknown>; strict?: boolean } = { name: rf.schemaName };
    if (rf.schema) js.schema = rf.schema;
    if (rf.strict !== undefined) js.strict = rf.strict;
    out.response_format = { type: "json_schema", json_schema: js };
  } else if (rf?.type === "text" || rf?.type === "json_object") out.response_format = { type: rf.type };
  if (req.user) out.user = req.user;
  if (req.reasoningEffort) out.reasoning_effort = req.reasoningEffort;
  if (stream) {
    out.stream = true;
    // Always ask for usage: metering needs it even when the caller did not.
    out.stream_options = { include_usage: true };
  }
  return out;
}

/** OpenAI usage → unified usage. */
export function usageFromOpenAI(u: OpenAIUsage | null | undefined): Usage | undefined {
  if (!u) return undefined;
  return create(UsageSchema, {
    promptTokens: u.prompt_tokens ?? 0,
    completionTokens: u.completion_tokens ?? 0,
    totalTokens: u.total_tokens ?? (u.prompt_tokens ?? 0) + (u.completion_tokens ?? 0),
    cachedTokens: u.prompt_tokens_details?.cached_tokens ?? 0,
    reasoningTokens: u.completion_tokens_details?.reasoning_tokens ?? 0,
  });
}

/** Unified usage → OpenAI usage. */
export function usageToOpenAI(u: Usage): OpenAIUsage {
  return {
    prompt_tokens: u.promptTokens,
    completion_tokens: u.completionTokens,
    total_tokens: u.totalTokens,
    prompt_tokens_details: { cached_tokens: u.cachedTokens },
    completion_tokens_details: { reasoning_tokens: u.reasoningTokens },
  };
}

/** OpenAI chat.completion → unified response. */
export function responseFromOpenAI(r: OpenAIChatCompletion): ChatResponse {
  return create(ChatResponseSchema, {
    id: r.id ?? "",
    created: BigInt(Math.trunc(r.created ?? 0)),
    model: r.model ?? "",
    systemFingerprint: r.system_fingerprint ?? "",
    usage: usageFromOpenAI(r.usage),
    choices: (r.choices ?? []).map((c) => ({
      index: c.index ?? 0,
      finishReason: c.finish_reason ?? "",
      message: {
        role: Role.ASSISTANT,
        content: c.message?.content ?? "",
        refusal: c.message?.refusal ?? "",
        toolCalls: (c.message?.tool_calls ?? []).map((tc) => ({
          id: tc.id,
          type: tc.type ?? "function",
          function: { name: tc.function?.name ?? "", arguments: tc.function?.arguments ?? "" },
        })),
      },
    })),
  });
}

/** Unified response → OpenAI chat.completion. */
export function responseToOpenAI(r: ChatResponse): OpenAIChatCompletion {
  const out: OpenAIChatCompletion = {
    id: r.id,
    object: "chat.completion",
    created: Number(r.created),
    model: r.model,
    choices: r.choices.map((c) => {
      const m = c.message;
      const message: OpenAIChatCompletion["choices"][number]["message"] = {
        role: "assistant",
        content: m && (m.content !== "" || m.toolCalls.length === 0) ? m.content : null,
        refusal: m?.refusal ? m.refusal : null,
      };
      if (m && m.toolCalls.length > 0)
        message.tool_calls = m.toolCalls.map((tc) => ({
          id: tc.id,
          type: "function",
          function: { name: tc.function?.name ?? "", arguments: tc.function?.arguments ?? "" },
        }));
      return { index: c.index, message, finish_reason: c.finishReason || null, logprobs: null };
    }),
  };
  if (r.systemFingerprint) out.system_fingerprint = r.systemFingerprint;
  if (r.usage) out.usage = usageToOpenAI(r.usage);
  return out;
}

/** OpenAI chat.completion.chunk → unified chunk. */
export function chunkFromOpenAI(c: OpenAIChatChunk): ChatChunk {
  return create(ChatChunkSchema, {
    id: c.id ?? "",
    created: BigInt(Math.trunc(c.created ?? 0)),
    model: c.model ?? "",
    usage: usageFromOpenAI(c.usage),
    choices: (c.choices ?? []).map((ch) => ({
      index: ch.index ?? 0,
      finishReason: ch.finish_reason ?? "",
      delta: {
        role: ch.delta?.role === "assistant" ? Role.ASSISTANT : Role.UNSPECIFIED,
        content: ch.delta?.content ?? "",
        refusal: ch.delta?.refusal ?? "",
        toolCalls: (ch.delta?.tool_calls ?? []).map((t) => ({
          index: t.index ?? 0,
          id: t.id ?? "",
          type: t.type ?? "",
          name: t.function?.name ?? "",
          arguments: t.function?.arguments ?? "",
        })),
      },
    })),
  });
}

/**
 * Unified chunk → OpenAI chat.completion.chunk. Only fields present in the delta are written,
 * as OpenAI does (role on the first chunk, content when there is some, tool call fields when
 * they arrive).
 */
export function chunkToOpenAI(c: ChatChunk): OpenAIChatChunk {
  const out: OpenAIChatChunk = {
    id: c.id,
    object: "chat.completion.chunk",
    created: Number(c.created),
    model: c.model,
    choices: c.choices.map((ch) => {
      const d = ch.delta;
      const delta: OpenAIChatChunk["choices"][number]["delta"] = {};
      if (d?.role === Role.ASSISTANT) delta.role = "assistant";
      if (d && (d.content !== "" || (d.role === Role.ASSISTANT && d.toolCalls.length === 0))) delta.content = d.content;
      if (d?.refusal) delta.refusal = d.refusal;
      if (d && d.toolCalls.length > 0)
        delta.tool_calls = d.toolCalls.map((t) => {
          const td: NonNullable<typeof delta.tool_calls>[number] = { index: t.index };
          if (t.id) td.id = t.id;
          if (t.type) td.type = "function";
          const fn: { name?: string; arguments?: string } = {};
          if (t.name) fn.name = t.name;
          if (t.arguments || t.id) fn.arguments = t.arguments;
          td.function = fn;
          return td;
        });
      return { index: ch.index, delta, finish_reason: ch.finishReason || null, logprobs: null };
    }),
  };
  if (c.usage) out.usage = usageToOpenAI(c.usage);
  return out;
}
