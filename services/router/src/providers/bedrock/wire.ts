/**
 * Wire types of the Amazon Bedrock Runtime APIs this provider speaks, as the API reference
 * documents them (REST-JSON: blobs travel as base64 strings): Converse / ConverseStream and
 * InvokeModel for Amazon Titan Text Embeddings. Only the members Tessera reads or writes are
 * typed; responses are read defensively, as any field may be missing from a misbehaving
 * upstream.
 */

/** ImageBlock.format. */
export type ConverseImageFormat = "png" | "jpeg" | "gif" | "webp";

/** ContentBlock `text`. */
export interface ConverseTextBlock {
  text: string;
}

/** ContentBlock `image`: raw bytes, base64-encoded in JSON. */
export interface ConverseImageBlock {
  image: { format: ConverseImageFormat; source: { bytes: string } };
}

/** ContentBlock `toolUse`: a call the model made (assistant messages). */
export interface ConverseToolUseBlock {
  toolUse: { toolUseId: string; name: string; input: unknown };
}

/** ToolResultContentBlock (the members Tessera sends or reads). */
export type ConverseToolResultContent = { text: string } | { json: unknown };

/** ContentBlock `toolResult`: the answer to a call (user messages). */
export interface ConverseToolResultBlock {
  toolResult: { toolUseId: string; content: ConverseToolResultContent[]; status?: "success" | "error" };
}

/** ContentBlock `reasoningContent` (reasoning models' chain of thought). */
export interface ConverseReasoningBlock {
  reasoningContent: { reasoningText?: { text?: string; signature?: string }; redactedContent?: string };
}

/** One ContentBlock (a union: exactly one member is set). */
export type ConverseContentBlock = ConverseTextBlock | ConverseImageBlock | ConverseToolUseBlock | ConverseToolResultBlock | ConverseReasoningBlock;

/** Message. */
export interface ConverseMessage {
  role: "user" | "assistant";
  content: ConverseContentBlock[];
}

/** SystemContentBlock (text only here). */
export interface ConverseSystemBlock {
  text: string;
}

/** InferenceConfiguration: the parameters every model takes. */
export interface ConverseInferenceConfig {
  maxTokens?: number;
  temperature?: number;
  topP?: number;
  stopSequences?: string[];
}

/** Tool (a ToolSpecification; the JSON schema sits under inputSchema.json). */
export interface ConverseTool {
  toolSpec: { name: string; description?: string; inputSchema: { json: Record<string, unknown> } };
}

/**
 * ToolChoice, a union: `auto` (the default), `any` (at least one tool must be called) or
 * `tool` (this one). There is no "none": a model that must not call tools is offered none.
 */
export type ConverseToolChoice = { auto: Record<string, never> } | { any: Record<string, never> } | { tool: { name: string } };

/** ToolConfiguration. */
export interface ConverseToolConfig {
  tools: ConverseTool[];
  toolChoice?: ConverseToolChoice;
}

/** Body of POST /model/{modelId}/converse and /converse-stream (the model id is in the path). */
export interface ConverseRequest {
  messages: ConverseMessage[];
  system?: ConverseSystemBlock[];
  inferenceConfig?: ConverseInferenceConfig;
  toolConfig?: ConverseToolConfig;
}

/**
 * StopReason values documented for Converse and MessageStopEvent. Newer values may appear;
 * readers must accept any string.
 */
export type ConverseStopReason =
  | "end_turn"
  | "tool_use"
  | "max_tokens"
  | "stop_sequence"
  | "guardrail_intervened"
  | "content_filtered"
  | "malformed_model_output"
  | "malformed_tool_use"
  | "model_context_window_exceeded";

/**
 * TokenUsage. With prompt caching, inputTokens counts only the tokens neither read from nor
 * written to the cache; the prompt's total is inputTokens + cacheReadInputTokens +
 * cacheWriteInputTokens (the prompt-caching guide).
 */
export interface ConverseUsage {
  inputTokens?: number;
  outputTokens?: number;
  totalTokens?: number;
  cacheReadInputTokens?: number;
  cacheWriteInputTokens?: number;
}

/** Converse's 200 answer. Bedrock sends no response id and no model name. */
export interface ConverseResponse {
  output?: { message?: { role?: string; content?: ConverseContentBlock[] } };
  stopReason?: ConverseStopReason | string;
  usage?: ConverseUsage;
  metrics?: { latencyMs?: number };
}

/** The ConverseStreamOutput union members that are events (the `:event-type` header). */
export type ConverseStreamEventType = "messageStart" | "contentBlockStart" | "contentBlockDelta" | "contentBlockStop" | "messageStop" | "metadata";

/**
 * The ConverseStreamOutput union members that are exceptions (the `:exception-type`
 * header of a `:message-type: exception` frame), each a JSON `{ message }`.
 */
export const CONVERSE_STREAM_EXCEPTIONS = [
  "internalServerException",
  "modelStreamErrorException",
  "validationException",
  "throttlingException",
  "serviceUnavailableException",
] as const;

/** One of {@link CONVERSE_STREAM_EXCEPTIONS}. */
export type ConverseStreamExceptionType = (typeof CONVERSE_STREAM_EXCEPTIONS)[number];

/** MessageStartEvent. */
export interface MessageStartEvent {
  role?: string;
}

/** ContentBlockStartEvent: sent for tool-use blocks only; text blocks start with a delta. */
export interface ContentBlockStartEvent {
  contentBlockIndex?: number;
  start?: { toolUse?: { toolUseId?: string; name?: string } };
}

/** ContentBlockDeltaEvent: one of text, a fragment of the tool input JSON, or reasoning. */
export interface ContentBlockDeltaEvent {
  contentBlockIndex?: number;
  delta?: {
    text?: string;
    toolUse?: { input?: string };
    reasoningContent?: { text?: string; signature?: string; redactedContent?: string };
  };
}

/** ContentBlockStopEvent. */
export interface ContentBlockStopEvent {
  contentBlockIndex?: number;
}

/** MessageStopEvent. */
export interface MessageStopEvent {
  stopReason?: ConverseStopReason | string;
  additionalModelResponseFields?: unknown;
}

/** ConverseStreamMetadataEvent: the last event, after messageStop. */
export interface ConverseStreamMetadataEvent {
  usage?: ConverseUsage;
  metrics?: { latencyMs?: number };
}

/** Payload of an exception frame (modelStreamErrorException adds the model's own status). */
export interface ConverseStreamExceptionPayload {
  message?: string;
  originalStatusCode?: number;
  originalMessage?: string;
}

/**
 * Body of POST /model/amazon.titan-embed-text-v2:0/invoke. V2 takes dimensions 1024
 * (default), 512 or 256 and normalize (default true); Titan Embeddings G1 takes inputText only.
 */
export interface TitanEmbedRequest {
  inputText: string;
  dimensions?: number;
  normalize?: boolean;
}

/** Titan Text Embeddings' answer: one vector per call. */
export interface TitanEmbedResponse {
  embedding?: number[];
  inputTextTokenCount?: number;
  embeddingsByType?: { float?: number[] };
}

/** The JSON body of a Bedrock error answer (the type is in the x-amzn-ErrorType header). */
export interface BedrockErrorBody {
  message?: string;
  Message?: string;
}
