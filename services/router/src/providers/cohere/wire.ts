/**
 * Wire types of Cohere's v2 API, as far as the adapter uses them: `POST {base}/v2/chat` (JSON,
 * or server-sent events when `stream` is true) and `POST {base}/v2/embed`, authenticated with
 * `Authorization: Bearer <key>`.
 *
 * Sources (see fixtures/SOURCES.md): the API reference docs.cohere.com/reference/chat,
 * /reference/chat-stream and /reference/embed (the OpenAPI schemas they publish), the streaming
 * guides docs.cohere.com/v2/docs/streaming and /v2/docs/tool-use-streaming, and
 * docs.cohere.com/reference/errors. Response fields are optional here unless the schema marks
 * them required: the adapter must cope with their absence.
 */

/** A text block of a message's content. */
export interface CohereTextContent {
  type: "text";
  text: string;
}

/** An image in a user message: a web URL or a base64 data: URI. */
export interface CohereImageContent {
  type: "image_url";
  image_url: { url: string; detail?: "auto" | "low" | "high" };
}

/** A reasoning block of a reasoning model's answer; not part of the answer. */
export interface CohereThinkingContent {
  type: "thinking";
  thinking: string;
}

/** A tool call, in an assistant message or an answer. `arguments` is JSON text. */
export interface CohereToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

/** The caller's turn: a string, or text and image blocks. */
export interface CohereUserMessage {
  role: "user";
  content: string | (CohereTextContent | CohereImageContent)[];
}

/** Instructions for the model. */
export interface CohereSystemMessage {
  role: "system";
  content: string | CohereTextContent[];
}

/**
 * A turn of the model. `tool_plan` is "a chain-of-thought style reflection and plan that the
 * model generates when working with Tools"; only `role` is required.
 */
export interface CohereAssistantMessage {
  role: "assistant";
  content?: string | CohereTextContent[];
  tool_plan?: string;
  tool_calls?: CohereToolCall[];
}

/** The output of a tool call: "formatted as a JSON object string, or a list of tool content blocks". */
export interface CohereToolMessage {
  role: "tool";
  tool_call_id: string;
  content: string | CohereTextContent[];
}

/** One message of `messages`, discriminated by role. */
export type CohereMessage = CohereUserMessage | CohereSystemMessage | CohereAssistantMessage | CohereToolMessage;

/** A function offered to the model; `parameters` is a JSON Schema. */
export interface CohereTool {
  type: "function";
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

/** `response_format`: free text, or JSON (optionally constrained by a JSON Schema). */
export type CohereResponseFormat = { type: "text" } | { type: "json_object"; json_schema?: Record<string, unknown> };

/** The body of `POST /v2/chat` (the fields the adapter sends). */
export interface CohereChatRequest {
  model: string;
  messages: CohereMessage[];
  stream: boolean;
  tools?: CohereTool[];
  /** Tool calls must follow the tool definitions strictly (beta). */
  strict_tools?: boolean;
  /** Omitted: the model chooses. REQUIRED: at least one tool call. NONE: no tool call. */
  tool_choice?: "REQUIRED" | "NONE";
  response_format?: CohereResponseFormat;
  max_tokens?: number;
  stop_sequences?: string[];
  temperature?: number;
  seed?: number;
  frequency_penalty?: number;
  presence_penalty?: number;
  /** Top-p (nucleus) sampling. */
  p?: number;
}

/**
 * Why generation ended. ERROR: "the generation failed due to an internal error"; TIMEOUT: "the
 * generation was stopped because it exceeded the allowed time limit".
 */
export type CohereFinishReason = "COMPLETE" | "STOP_SEQUENCE" | "MAX_TOKENS" | "TOOL_CALL" | "ERROR" | "TIMEOUT";

/**
 * Token counts. `tokens` are what the model read and wrote (including the prompt scaffolding
 * Cohere adds); `billed_units` what is charged; `cached_tokens` "the number of prompt tokens
 * that hit the inference cache". The schema types the counts as doubles.
 */
export interface CohereUsage {
  billed_units?: { input_tokens?: number; output_tokens?: number; search_units?: number; classifications?: number };
  tokens?: { input_tokens?: number; output_tokens?: number };
  cached_tokens?: number;
}

/** The answer of a non-streamed `POST /v2/chat`. */
export interface CohereChatResponse {
  id: string;
  finish_reason: CohereFinishReason | string;
  message: {
    role: "assistant";
    content?: (CohereTextContent | CohereThinkingContent | { type: string })[];
    tool_plan?: string;
    tool_calls?: CohereToolCall[];
    citations?: unknown[];
  };
  usage?: CohereUsage;
}

/** `message-start`: the first event, with the answer's id. */
export interface CohereMessageStartEvent {
  type: "message-start";
  id?: string;
  delta?: { message?: { role?: "assistant" } };
}

/** `content-start`: a content block opens (text, or thinking for reasoning models). */
export interface CohereContentStartEvent {
  type: "content-start";
  index?: number;
  delta?: { message?: { content?: { type?: "text" | "thinking"; text?: string; thinking?: string } } };
}

/** `content-delta`: the next piece of a content block (`text`, or `thinking`). */
export interface CohereContentDeltaEvent {
  type: "content-delta";
  index?: number;
  delta?: { message?: { content?: { text?: string; thinking?: string } } };
}

/** `tool-plan-delta`: the next piece of the tool plan. */
export interface CohereToolPlanDeltaEvent {
  type: "tool-plan-delta";
  delta?: { message?: { tool_plan?: string } };
}

/** `tool-call-start`: a tool call opens with its id and name; `index` counts tool calls. */
export interface CohereToolCallStartEvent {
  type: "tool-call-start";
  index?: number;
  delta?: { message?: { tool_calls?: Partial<CohereToolCall> & { function?: { name?: string; arguments?: string } } } };
}

/** `tool-call-delta`: the next fragment of a tool call's arguments. */
export interface CohereToolCallDeltaEvent {
  type: "tool-call-delta";
  index?: number;
  delta?: { message?: { tool_calls?: { function?: { arguments?: string } } } };
}

/** `message-end`: the last event, with the finish reason, usage and, on failure, `error`. */
export interface CohereMessageEndEvent {
  type: "message-end";
  id?: string;
  delta?: { error?: string; finish_reason?: CohereFinishReason | string; usage?: CohereUsage };
}

/**
 * The events of a v2 chat stream (each SSE event's data; the `event:` line repeats `type`).
 * content-end, tool-call-end, citation-start and citation-end carry nothing the adapter uses.
 */
export type CohereStreamEvent =
  | CohereMessageStartEvent
  | CohereContentStartEvent
  | CohereContentDeltaEvent
  | CohereToolPlanDeltaEvent
  | CohereToolCallStartEvent
  | CohereToolCallDeltaEvent
  | CohereMessageEndEvent
  | { type: "content-end" | "tool-call-end" | "citation-start" | "citation-end"; index?: number };

/** What the embeddings are for; required by embed v3 and newer models. */
export type CohereEmbedInputType = "search_document" | "search_query" | "classification" | "clustering";

/** The body of `POST /v2/embed` (the fields the adapter sends). */
export interface CohereEmbedRequest {
  model: string;
  texts: string[];
  input_type: CohereEmbedInputType;
  embedding_types: ["float"];
  /** embed-v4 and newer: 256, 512, 1024 or 1536 (default 1536). */
  output_dimension?: number;
  /** What to do with inputs longer than the model's limit; END (the default) drops the end. */
  truncate: "NONE" | "START" | "END";
}

/** The answer of `POST /v2/embed`; one vector per text, in order, for each requested type. */
export interface CohereEmbedResponse {
  id: string;
  embeddings: { float?: number[][] };
  texts?: string[];
  meta?: { api_version?: { version?: string }; billed_units?: { input_tokens?: number }; cached_tokens?: number; warnings?: string[] };
  response_type?: string;
}

/** Cohere's error body for every non-2xx status. */
export interface CohereErrorBody {
  message?: string;
  id?: string;
}
