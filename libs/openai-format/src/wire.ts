/**
 * OpenAI chat-completions wire types, as documented in the API reference
 * (POST /v1/chat/completions request, chat.completion and chat.completion.chunk objects).
 * Only what Tessera reads or writes is typed; the rest passes as unknown.
 */

export type OpenAIRole = "system" | "developer" | "user" | "assistant" | "tool";

export type OpenAIContentPart =
  | { type: "text"; text: string }
  | { type: "image_url"; image_url: { url: string; detail?: "auto" | "low" | "high" } };

export interface OpenAIToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface OpenAIMessage {
  role: OpenAIRole;
  content?: string | OpenAIContentPart[] | null;
  name?: string;
  tool_calls?: OpenAIToolCall[];
  tool_call_id?: string;
  refusal?: string | null;
}

export interface OpenAITool {
  type: "function";
  function: { name: string; description?: string; parameters?: Record<string, unknown>; strict?: boolean | null };
}

export interface OpenAIChatRequest {
  model: string;
  messages: OpenAIMessage[];
  temperature?: number;
  top_p?: number;
  max_tokens?: number;
  max_completion_tokens?: number;
  stop?: string | string[];
  n?: number;
  presence_penalty?: number;
  frequency_penalty?: number;
  seed?: number;
  tools?: OpenAITool[];
  tool_choice?: "none" | "auto" | "required" | { type: "function"; function: { name: string } };
  parallel_tool_calls?: boolean;
  response_format?:
    | { type: "text" | "json_object" }
    | { type: "json_schema"; json_schema: { name: string; schema?: Record<string, unknown>; strict?: boolean | null } };
  user?: string;
  metadata?: Record<string, string>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  reasoning_effort?: string;
}

export interface OpenAIUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
  prompt_tokens_details?: { cached_tokens?: number };
  completion_tokens_details?: { reasoning_tokens?: number };
}

export interface OpenAIChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  system_fingerprint?: string | null;
  choices: {
    index: number;
    message: { role: "assistant"; content: string | null; tool_calls?: OpenAIToolCall[]; refusal?: string | null };
    finish_reason: string | null;
    logprobs: null;
  }[];
  usage?: OpenAIUsage;
}

export interface OpenAIToolCallDelta {
  index: number;
  id?: string;
  type?: "function";
  function?: { name?: string; arguments?: string };
}

export interface OpenAIChatChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  system_fingerprint?: string | null;
  choices: {
    index: number;
    delta: { role?: "assistant"; content?: string | null; tool_calls?: OpenAIToolCallDelta[]; refusal?: string | null };
    finish_reason: string | null;
    logprobs?: null;
  }[];
  usage?: OpenAIUsage | null;
}

/** The error body OpenAI answers with (and Tessera's OpenAI surface too). */
export interface OpenAIErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}
