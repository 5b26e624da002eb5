/**
 * Wire types of the Google Gemini API (generativelanguage v1beta), as far as the adapter uses
 * them: `POST {base}/models/{model}:generateContent` and
 * `POST {base}/models/{model}:streamGenerateContent?alt=sse`, authenticated with the
 * `x-goog-api-key` header. JSON field names are the REST (camelCase) spelling.
 *
 * Sources (see fixtures/SOURCES.md): ai.google.dev/api/generate-content (GenerateContentRequest,
 * GenerateContentResponse, Candidate, FinishReason, UsageMetadata, PromptFeedback),
 * ai.google.dev/api/caching#Content (Content, Part), ai.google.dev/api/caching#Tool
 * (FunctionDeclaration, Schema, FunctionCallingConfig), ai.google.dev/gemini-api/docs/troubleshooting
 * (error statuses). Every field is optional on responses: Google omits zero values.
 */

/** One part of a turn. Exactly one data field is set. */
export interface GeminiPart {
  text?: string;
  /** A thought summary of a thinking model; not part of the answer. */
  thought?: boolean;
  /** Opaque signature of a thinking model's reasoning, echoed back on later turns. */
  thoughtSignature?: string;
  inlineData?: { mimeType: string; data: string };
  fileData?: { mimeType?: string; fileUri: string };
  functionCall?: GeminiFunctionCall;
  functionResponse?: { id?: string; name: string; response: Record<string, unknown> };
}

/** A call the model asks for. `args` is a JSON object; `id` is set by newer models only. */
export interface GeminiFunctionCall {
  id?: string;
  name: string;
  args?: Record<string, unknown>;
}

/** "user" for the caller's turns (function results included), "model" for the model's. */
export type GeminiRole = "user" | "model";

/** A turn of the conversation. */
export interface GeminiContent {
  role?: GeminiRole;
  parts: GeminiPart[];
}

/**
 * The OpenAPI 3.0 subset Gemini accepts for function parameters and `responseSchema`
 * (ai.google.dev/api/caching#Schema). Counts are int64, hence strings on the wire.
 */
export interface GeminiSchema {
  type?: string;
  format?: string;
  title?: string;
  description?: string;
  nullable?: boolean;
  enum?: string[];
  items?: GeminiSchema;
  minItems?: string | number;
  maxItems?: string | number;
  properties?: Record<string, GeminiSchema>;
  required?: string[];
  propertyOrdering?: string[];
  minProperties?: string | number;
  maxProperties?: string | number;
  minLength?: string | number;
  maxLength?: string | number;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  anyOf?: GeminiSchema[];
  default?: unknown;
  example?: unknown;
}

/** A function the model may call. */
export interface GeminiFunctionDeclaration {
  name: string;
  description?: string;
  parameters?: GeminiSchema;
}

/** A tool; only function declarations are produced by the gateway. */
export interface GeminiTool {
  functionDeclarations: GeminiFunctionDeclaration[];
}

/** AUTO: model decides; ANY: must call a function; NONE: must not. */
export type GeminiFunctionCallingMode = "AUTO" | "ANY" | "NONE" | "VALIDATED";

/** How the model may use the declared functions. */
export interface GeminiToolConfig {
  functionCallingConfig: { mode: GeminiFunctionCallingMode; allowedFunctionNames?: string[] };
}

/** Sampling and output options. */
export interface GeminiGenerationConfig {
  temperature?: number;
  topP?: number;
  topK?: number;
  maxOutputTokens?: number;
  stopSequences?: string[];
  candidateCount?: number;
  seed?: number;
  presencePenalty?: number;
  frequencyPenalty?: number;
  responseMimeType?: string;
  /** OpenAPI-subset schema; mutually exclusive with responseJsonSchema. */
  responseSchema?: GeminiSchema;
  /** Plain JSON Schema ($ref, $defs, additionalProperties … allowed); needs responseMimeType. */
  responseJsonSchema?: Record<string, unknown>;
}

/** A safety threshold per harm category. */
export interface GeminiSafetySetting {
  category: string;
  threshold: string;
}

/** Body of generateContent / streamGenerateContent. The model is in the URL. */
export interface GeminiRequest {
  contents: GeminiContent[];
  systemInstruction?: { parts: GeminiPart[] };
  tools?: GeminiTool[];
  toolConfig?: GeminiToolConfig;
  generationConfig?: GeminiGenerationConfig;
  safetySettings?: GeminiSafetySetting[];
}

/**
 * Why a candidate stopped. Empty/absent while a stream is still generating (older models set
 * STOP on every streamed chunk, so the last value seen is the one that counts).
 */
export type GeminiFinishReason =
  | "FINISH_REASON_UNSPECIFIED"
  | "STOP"
  | "MAX_TOKENS"
  | "SAFETY"
  | "RECITATION"
  | "LANGUAGE"
  | "OTHER"
  | "BLOCKLIST"
  | "PROHIBITED_CONTENT"
  | "SPII"
  | "MALFORMED_FUNCTION_CALL"
  | "IMAGE_SAFETY"
  | "UNEXPECTED_TOOL_CALL"
  | (string & {});

/** A safety rating of a candidate or the prompt. */
export interface GeminiSafetyRating {
  category: string;
  probability: string;
  blocked?: boolean;
}

/** One generated answer. */
export interface GeminiCandidate {
  content?: GeminiContent;
  finishReason?: GeminiFinishReason;
  index?: number;
  safetyRatings?: GeminiSafetyRating[];
  finishMessage?: string;
}

/** Token counts. promptTokenCount includes cachedContentTokenCount; candidates exclude thoughts. */
export interface GeminiUsageMetadata {
  promptTokenCount?: number;
  candidatesTokenCount?: number;
  totalTokenCount?: number;
  cachedContentTokenCount?: number;
  thoughtsTokenCount?: number;
  toolUsePromptTokenCount?: number;
}

/** A whole answer, or one chunk of a streamed one (each SSE `data:` holds one). */
export interface GeminiResponse {
  candidates?: GeminiCandidate[];
  /** Set (with no candidates) when the prompt itself was blocked. */
  promptFeedback?: { blockReason?: string; safetyRatings?: GeminiSafetyRating[] };
  usageMetadata?: GeminiUsageMetadata;
  modelVersion?: string;
  responseId?: string;
}

/** Google's error body (google.rpc.Status as JSON). */
export interface GeminiErrorBody {
  error?: {
    code?: number;
    message?: string;
    /** Canonical code: INVALID_ARGUMENT, RESOURCE_EXHAUSTED, UNAVAILABLE, PERMISSION_DENIED … */
    status?: string;
    details?: { "@type"?: string; reason?: string; retryDelay?: string; [k: string]: unknown }[];
  };
}
