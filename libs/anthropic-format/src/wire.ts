/**
 * Anthropic Messages API wire types (POST /v1/messages, `anthropic-version: 2023-06-01`).
 * Only the fields the gateway reads or writes are typed; Anthropic may add fields and event
 * types at any time (its versioning policy says so), so readers must ignore the unknown.
 *
 * Sources (see services/router/src/providers/anthropic/fixtures/SOURCES.md): the Messages API reference
 * (https://docs.anthropic.com/en/api/messages), the streaming guide
 * (https://docs.anthropic.com/en/docs/build-with-claude/streaming), the errors page
 * (https://docs.anthropic.com/en/api/errors), the tool-use guides and the vision guide.
 */

/** The API version the adapter speaks; sent as the `anthropic-version` header. */
export const ANTHROPIC_VERSION = "2023-06-01";

/** A text content block (request and response). */
export interface AnthropicTextBlock {
  type: "text";
  text: string;
}

/** Where an image comes from: inline base64 bytes or a URL Anthropic fetches. */
export type AnthropicImageSource =
  | { type: "base64"; media_type: AnthropicImageMediaType; data: string }
  | { type: "url"; url: string };

/** The image media types the Messages API accepts. */
export type AnthropicImageMediaType = "image/jpeg" | "image/png" | "image/gif" | "image/webp";

/** An image content block (user messages only). */
export interface AnthropicImageBlock {
  type: "image";
  source: AnthropicImageSource;
}

/** A tool call made by the model; `input` is always a JSON object. */
export interface AnthropicToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: Record<string, unknown>;
}

/** The answer to a tool call, sent back in a user message. */
export interface AnthropicToolResultBlock {
  type: "tool_result";
  tool_use_id: string;
  content?: string | (AnthropicTextBlock | AnthropicImageBlock)[];
  is_error?: boolean;
}

/** Extended-thinking output; the signature lets Anthropic verify the block when sent back. */
export interface AnthropicThinkingBlock {
  type: "thinking";
  thinking: string;
  signature?: string;
}

/** Thinking Anthropic's safety systems encrypted; opaque to us. */
export interface AnthropicRedactedThinkingBlock {
  type: "redacted_thinking";
  data: string;
}

/** A block the caller may send. */
export type AnthropicRequestBlock = AnthropicTextBlock | AnthropicImageBlock | AnthropicToolUseBlock | AnthropicToolResultBlock;

/** A block the model may return (unknown types, e.g. server tools, are possible and ignored). */
export type AnthropicResponseBlock =
  | AnthropicTextBlock
  | AnthropicToolUseBlock
  | AnthropicThinkingBlock
  | AnthropicRedactedThinkingBlock
  | { type: string; [k: string]: unknown };

/** One conversation turn. There is no system role: system text goes in the top-level field. */
export interface AnthropicMessage {
  role: "user" | "assistant";
  content: string | AnthropicRequestBlock[];
}

/** A client tool definition. */
export interface AnthropicTool {
  name: string;
  description?: string;
  /** JSON Schema of the input object; required by the API. */
  input_schema: Record<string, unknown>;
}

/** How the model must pick tools. `disable_parallel_tool_use` is not allowed with "none". */
export type AnthropicToolChoice =
  | { type: "auto"; disable_parallel_tool_use?: boolean }
  | { type: "any"; disable_parallel_tool_use?: boolean }
  | { type: "tool"; name: string; disable_parallel_tool_use?: boolean }
  | { type: "none" };

/** Extended thinking configuration. */
export type AnthropicThinkingConfig = { type: "enabled"; budget_tokens: number } | { type: "disabled" };

/** The request body of POST /v1/messages. */
export interface AnthropicRequest {
  model: string;
  /** Required by Anthropic (unlike OpenAI). */
  max_tokens: number;
  messages: AnthropicMessage[];
  system?: string | AnthropicTextBlock[];
  tools?: AnthropicTool[];
  tool_choice?: AnthropicToolChoice;
  temperature?: number;
  top_p?: number;
  top_k?: number;
  stop_sequences?: string[];
  stream?: boolean;
  metadata?: { user_id?: string };
  thinking?: AnthropicThinkingConfig;
}

/** Why the model stopped. `pause_turn` and `refusal` were added after the first release. */
export type AnthropicStopReason = "end_turn" | "max_tokens" | "stop_sequence" | "tool_use" | "pause_turn" | "refusal";

/**
 * Token counts. Total input is input_tokens + cache_creation_input_tokens +
 * cache_read_input_tokens (Messages API reference, `usage`).
 */
export interface AnthropicUsage {
  input_tokens?: number;
  output_tokens?: number;
  cache_creation_input_tokens?: number | null;
  cache_read_input_tokens?: number | null;
}

/** The response body of a non-streamed call (a Message object). */
export interface AnthropicMessageResponse {
  id: string;
  type: "message";
  role: "assistant";
  content: AnthropicResponseBlock[];
  model: string;
  stop_reason: AnthropicStopReason | null;
  stop_sequence?: string | null;
  usage?: AnthropicUsage;
}

/** The error body: `{"type":"error","error":{"type","message"},"request_id"}`. */
export interface AnthropicErrorBody {
  type: "error";
  error: { type: AnthropicErrorType | string; message: string };
  request_id?: string;
}

/** Error types by HTTP status: 400, 401, 402, 403, 404, 413, 429, 500, 529. */
export type AnthropicErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "billing_error"
  | "permission_error"
  | "not_found_error"
  | "request_too_large"
  | "rate_limit_error"
  | "api_error"
  | "overloaded_error";

/** A delta inside content_block_delta. */
export type AnthropicBlockDelta =
  | { type: "text_delta"; text: string }
  | { type: "input_json_delta"; partial_json: string }
  | { type: "thinking_delta"; thinking: string }
  | { type: "signature_delta"; signature: string }
  | { type: string; [k: string]: unknown };

/**
 * One server-sent event's data. Each SSE event has `event: <name>` and data whose `type`
 * equals the name. Order: message_start, per block (content_block_start, deltas,
 * content_block_stop), message_delta, message_stop; ping anywhere; error possibly mid-stream.
 */
export type AnthropicStreamEvent =
  | { type: "message_start"; message: Partial<AnthropicMessageResponse> & { usage?: AnthropicUsage } }
  | { type: "content_block_start"; index: number; content_block: AnthropicResponseBlock }
  | { type: "content_block_delta"; index: number; delta: AnthropicBlockDelta }
  | { type: "content_block_stop"; index: number }
  | { type: "message_delta"; delta: { stop_reason?: AnthropicStopReason | null; stop_sequence?: string | null }; usage?: AnthropicUsage }
  | { type: "message_stop" }
  | { type: "ping" }
  | { type: "error"; error: { type: string; message: string } };
