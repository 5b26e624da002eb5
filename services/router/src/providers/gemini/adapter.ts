import { create } from "@bufbuild/protobuf";
import { EmbedResponseSchema, type EmbedRequest, type EmbedResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import type { ProviderAdapter } from "../types.js";
import { ProviderError, upstreamStatusError } from "../errors.js";
import { createHttpAdapter, eventJson, excerpt, garbage, retryAfterSeconds, type EmbedSpec, type HttpAdapterOptions, type StreamTranslator } from "../http-adapter.js";
import { requestToGemini } from "./unified-to-gemini.js";
import { GeminiStreamTranslator, responseFromGemini } from "./gemini-to-unified.js";
import type { GeminiErrorBody, GeminiResponse } from "@tessera/gemini-format";

/** Options for {@link createGeminiAdapter}: the shared HTTP provider options. */
export type GeminiAdapterOptions = HttpAdapterOptions;

/** What a Google error body says, with the canonical status and details when present. */
export interface GoogleError {
  message: string;
  status: string;
  reasons: string[];
  retryDelayS: number | undefined;
}

/** Parse Google's `{error:{code,message,status,details}}` (or anything else, flattened). */
export function parseGoogleError(text: string): GoogleError {
  try {
    let j = JSON.parse(text) as GeminiErrorBody | GeminiErrorBody[];
    // Streaming endpoints without alt=sse wrap the error in an array.
    if (Array.isArray(j)) j = j[0] ?? {};
    if (j.error && typeof j.error === "object") {
      const details = Array.isArray(j.error.details) ? j.error.details : [];
      const delay = details.map((d) => d.retryDelay).find((d): d is string => typeof d === "string");
      const secs = delay ? Number(/^([\d.]+)s$/.exec(delay)?.[1]) : NaN;
      return {
        message: typeof j.error.message === "string" ? j.error.message : "(no message)",
        status: typeof j.error.status === "string" ? j.error.status : "",
        reasons: details.map((d) => d.reason).filter((r): r is string => typeof r === "string"),
        retryDelayS: Number.isFinite(secs) ? Math.ceil(secs) : undefined,
      };
    }
  } catch {
    /* not JSON */
  }
  return { message: excerpt(text), status: "", reasons: [], retryDelayS: undefined };
}

/**
 * Map a Google error response to a ProviderError. On top of the shared status mapping:
 * Google answers a wrong API key with 400 INVALID_ARGUMENT + reason API_KEY_INVALID, which is
 * the operator's credential problem, so it is treated as 401 (upstream_auth); 400
 * FAILED_PRECONDITION (free tier not available in the region, billing off) is also the
 * operator's, and another deployment may not share it, so it is a retryable upstream_error.
 * 429 RESOURCE_EXHAUSTED takes its wait from RetryInfo.retryDelay or Retry-After.
 */
export function geminiStatusError(provider: string, status: number, text: string, retryAfterHeader?: string | string[]): ProviderError {
  const e = parseGoogleError(text);
  const message = e.status ? `${e.status}: ${e.message}` : e.message;
  if (status === 400 && e.reasons.includes("API_KEY_INVALID")) return upstreamStatusError(provider, 401, message);
  if (status === 400 && e.status === "FAILED_PRECONDITION")
    return new ProviderError("upstream_error", `${provider} returned ${status}: ${message}`, true, { code: "upstream_failed_precondition" });
  return upstreamStatusError(provider, status, message, retryAfterSeconds(retryAfterHeader) ?? e.retryDelayS);
}

/** Gemini's SSE events (each a whole GenerateContentResponse) through one {@link GeminiStreamTranslator}. */
function geminiStream(id: string, model: string): StreamTranslator {
  const tr = new GeminiStreamTranslator(id, model);
  return {
    done: false,
    push(ev) {
      const json = eventJson(id, ev.data) as unknown as GeminiResponse & GeminiErrorBody;
      if (json.error) {
        const e = parseGoogleError(ev.data);
        throw new ProviderError("upstream_error", `${id} stream error: ${e.status ? `${e.status}: ` : ""}${e.message}`, false, { code: "upstream_stream_error" });
      }
      return tr.push(json);
    },
    end: () => tr.end(),
  };
}

/** The model as it goes in a URL path or a `models/…` resource name (a models/ prefix is not doubled). */
function modelId(model: string): string {
  return model.replace(/^models\//, "");
}

/** EmbedRequest.input_type → Gemini's TaskType. */
const TASK_TYPES: Record<string, string> = {
  search_document: "RETRIEVAL_DOCUMENT",
  search_query: "RETRIEVAL_QUERY",
  classification: "CLASSIFICATION",
  clustering: "CLUSTERING",
};

/** One EmbedContentRequest of a batchEmbedContents body. */
export interface GeminiEmbedContentRequest {
  /** `models/{model}`: must be the model of the URL. */
  model: string;
  content: { parts: { text: string }[] };
  taskType?: string;
  outputDimensionality?: number;
}

/** The BatchEmbedContentsResponse: one ContentEmbedding per request, in request order. */
interface GeminiBatchEmbedResponse {
  embeddings?: { values?: unknown }[];
  /** Not in the documented response; read if Google sends it. */
  usageMetadata?: { promptTokenCount?: number; totalTokenCount?: number };
}

/**
 * Unified embedding request → batchEmbedContents body: one EmbedContentRequest per input, in
 * order, each naming the model; input_type → taskType, dimensions → outputDimensionality.
 * `user` has no Gemini field and is not sent.
 */
export function embedRequestToGemini(req: EmbedRequest, model: string): { requests: GeminiEmbedContentRequest[] } {
  if (req.input.length === 0) throw new TesseraError("invalid_request", "input must hold at least one text to embed", { param: "input", code: "invalid_value" });
  let taskType: string | undefined;
  if (req.inputType) {
    taskType = TASK_TYPES[req.inputType];
    if (!taskType)
      throw new TesseraError("invalid_request", `input_type '${req.inputType}' is not one of ${Object.keys(TASK_TYPES).join(", ")}`, { param: "input_type", code: "invalid_value" });
  }
  const name = `models/${modelId(model)}`;
  return {
    requests: req.input.map((text) => {
      const r: GeminiEmbedContentRequest = { model: name, content: { parts: [{ text }] } };
      if (taskType) r.taskType = taskType;
      if (req.dimensions > 0) r.outputDimensionality = req.dimensions;
      return r;
    }),
  };
}

/**
 * batchEmbedContents answer → unified embeddings. The documented response has no usage, so
 * usage is 0 unless a usageMetadata comes along; the model is the one asked for (Google does
 * not name it in the answer).
 */
export function embedResponseFromGemini(provider: string, json: unknown, model: string, req: EmbedRequest): EmbedResponse {
  const r = json as GeminiBatchEmbedResponse;
  if (!Array.isArray(r.embeddings)) throw garbage(provider, "returned JSON without 'embeddings'", true);
  if (r.embeddings.length !== req.input.length) throw garbage(provider, `returned ${r.embeddings.length} embeddings for ${req.input.length} inputs`, true);
  const data = r.embeddings.map((e, index) => {
    const values = e?.values;
    if (!Array.isArray(values) || !values.every((v) => typeof v === "number")) throw garbage(provider, `returned embedding ${index} without numeric 'values'`, true);
    return { index, vector: values as number[] };
  });
  const prompt = r.usageMetadata?.promptTokenCount ?? 0;
  return create(EmbedResponseSchema, { model: modelId(model), data, usage: { promptTokens: prompt, totalTokens: r.usageMetadata?.totalTokenCount ?? prompt } });
}

/**
 * The Google Gemini API adapter (generativelanguage v1beta generateContent and
 * streamGenerateContent?alt=sse, `x-goog-api-key`); one {@link GeminiStreamTranslator} per
 * streamed call. Gemini has no end-of-stream event: the stream is complete when the body
 * ends after a finishReason. Embeddings go through batchEmbedContents, one request per input.
 */
export function createGeminiAdapter(opts: GeminiAdapterOptions): ProviderAdapter {
  return createHttpAdapter(opts, {
    kind: "gemini",
    headers: (apiKey): Record<string, string> => (apiKey ? { "x-goog-api-key": apiKey } : {}),
    path(model, stream) {
      const name = encodeURIComponent(modelId(model));
      return stream ? `/models/${name}:streamGenerateContent?alt=sse` : `/models/${name}:generateContent`;
    },
    body: (req) => requestToGemini(req),
    statusError: (id, status, text, headers) => geminiStatusError(id, status, text, headers["retry-after"]),
    response(json, model) {
      const r = json as GeminiResponse;
      if (!Array.isArray(r.candidates) && !r.promptFeedback?.blockReason) throw garbage(opts.id, "returned JSON without 'candidates'", true);
      return responseFromGemini(r, model);
    },
    streamTranslator: (model) => geminiStream(opts.id, model),
    embed: geminiEmbed(opts.id),
  });
}

/** Embeddings through POST /models/{model}:batchEmbedContents. */
function geminiEmbed(id: string): EmbedSpec {
  return {
    path: (model) => `/models/${encodeURIComponent(modelId(model))}:batchEmbedContents`,
    body: (req, model) => embedRequestToGemini(req, model),
    response: (json, model, req) => embedResponseFromGemini(id, json, model, req),
  };
}
