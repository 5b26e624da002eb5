import type { IncomingHttpHeaders } from "node:http";
import { create } from "@bufbuild/protobuf";
import { EmbedRequestSchema, type EmbedRequest, type EmbedResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { AwsCredentials } from "@tessera/runtime";
import type { ProviderAdapter } from "../types.js";
import { ProviderError, upstreamStatusError } from "../errors.js";
import { createHttpAdapter, excerpt, garbage, retryAfterSeconds, type HttpAdapterOptions, type StreamTranslator } from "../http-adapter.js";
import { requestToConverse } from "./unified-to-bedrock.js";
import { BedrockStreamTranslator, isStreamException, responseFromConverse } from "./bedrock-to-unified.js";
import { converseStreamEvents } from "./event-stream.js";
import { createSigV4Signer } from "./sigv4.js";
import { mergeTitanEmbeddings, titanEmbedBody, titanEmbedResponse, validateTitanEmbed } from "./titan-embeddings.js";
import type { BedrockErrorBody, ConverseResponse } from "./wire.js";

/** Options for {@link createBedrockAdapter}. */
export interface BedrockAdapterOptions extends HttpAdapterOptions {
  /** The region of the endpoint, signed into every request (e.g. us-east-1). Required. */
  region: string | undefined;
  /** The SigV4 credentials. Required; `apiKey` is not used (Bedrock is called with SigV4). */
  credentials: AwsCredentials | undefined;
  /** Titan embeds one text per call: how many calls one batch keeps in flight (8 when unset). */
  embedConcurrency?: number;
}

/**
 * Error types (the x-amzn-ErrorType header) that mean the gateway's AWS credentials or their
 * signature are wrong, whatever the status AWS chose (some are 400s): the operator's to fix.
 */
const AUTH_ERROR_TYPES: ReadonlySet<string> = new Set([
  "AccessDeniedException",
  "UnrecognizedClientException",
  "InvalidSignatureException",
  "IncompleteSignature",
  "IncompleteSignatureException",
  "MissingAuthenticationToken",
  "MissingAuthenticationTokenException",
  "InvalidClientTokenId",
  "ExpiredTokenException",
  "RequestExpired",
  "SignatureDoesNotMatch",
  "NotAuthorized",
]);

/** The error type from x-amzn-ErrorType ("ValidationException:http://internal…" → "ValidationException"). */
function errorType(headers: IncomingHttpHeaders): string | undefined {
  const h = headers["x-amzn-errortype"];
  const v = Array.isArray(h) ? h[0] : h;
  return v ? v.split(":")[0]!.trim() || undefined : undefined;
}

/** The `message` (or `Message`) of a Bedrock error body, or a short flat excerpt. */
function errorMessage(text: string): string {
  try {
    const j = JSON.parse(text) as BedrockErrorBody;
    const m = j.message ?? j.Message;
    if (typeof m === "string") return m;
  } catch {
    /* not JSON */
  }
  return excerpt(text);
}

/**
 * A Bedrock HTTP error → ProviderError. On top of the shared status mapping (429 and 5xx
 * retryable, 400/404 the caller's, 401/403 the operator's credentials): credential and
 * signature errors are upstream_auth whatever their status (their messages, which can echo
 * the canonical request, are not kept); 400 ServiceQuotaExceededException is a retryable
 * rate limit; 424 ModelErrorException (the model failed on this request) is a retryable
 * upstream error; 408 ModelTimeoutException is a retryable timeout. Retry-After is kept when
 * present.
 */
export function bedrockStatusError(provider: string, status: number, text: string, headers: IncomingHttpHeaders): ProviderError {
  const type = errorType(headers);
  const message = errorMessage(text);
  const msg = type ? `${type}: ${message}` : message;
  const retryAfterS = retryAfterSeconds(headers["retry-after"]);
  if (type && AUTH_ERROR_TYPES.has(type)) return upstreamStatusError(provider, 403, msg);
  if (type === "ServiceQuotaExceededException")
    return new ProviderError("rate_limited", `${provider} returned ${status}: ${msg}`, true, retryAfterS === undefined ? { code: "upstream_quota_exceeded" } : { code: "upstream_quota_exceeded", retryAfterS });
  if (status === 424 || type === "ModelErrorException") return new ProviderError("upstream_error", `${provider} returned ${status}: ${msg}`, true, { code: "upstream_model_error" });
  return upstreamStatusError(provider, status, msg, retryAfterS);
}

/** ConverseStream events through one {@link BedrockStreamTranslator}; done after metadata. */
function converseStream(id: string, model: string): StreamTranslator {
  const tr = new BedrockStreamTranslator(id, model);
  return {
    get done() {
      return tr.done;
    },
    push(ev) {
      let json: unknown;
      try {
        json = JSON.parse(ev.data);
      } catch {
        // An exception's payload should be JSON too; if not, its text is the message.
        if (isStreamException(ev.event) || ev.event === "error") json = { message: excerpt(ev.data) };
        else throw garbage(id, `sent a ${ev.event} event that is not JSON`, false);
      }
      if (!json || typeof json !== "object" || Array.isArray(json)) throw garbage(id, `sent a ${ev.event} event that is not a JSON object`, false);
      return tr.push(ev.event, json as Record<string, unknown>);
    },
    end: () => tr.end(),
  };
}

/** Run `task` over 0..n-1 with at most `limit` in flight; the first failure aborts the rest. */
async function boundedAll<T>(n: number, limit: number, signal: AbortSignal, task: (i: number, signal: AbortSignal) => Promise<T>): Promise<T[]> {
  const results = new Array<T>(n);
  const stop = new AbortController();
  const both = AbortSignal.any([signal, stop.signal]);
  let next = 0;
  let failed = false;
  const worker = async () => {
    // Every task runs (and fails fast on an aborted signal) until one has failed, so the
    // results are whole when all workers return.
    while (next < n && !failed) {
      const i = next++;
      results[i] = await task(i, both);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, n) }, worker));
  } catch (err) {
    failed = true;
    stop.abort();
    throw err;
  }
  return results;
}

/**
 * The Amazon Bedrock adapter: Converse (POST /model/{modelId}/converse) and ConverseStream
 * (/converse-stream, a binary application/vnd.amazon.eventstream body) signed with AWS SigV4,
 * and embeddings with Amazon Titan Text Embeddings through InvokeModel
 * (/model/{modelId}/invoke), one call per input text with bounded concurrency, merged in
 * input order. The model id is URI-encoded into the path (a ':' is sent as %3A).
 *
 * Throws at start-up (an Error naming the field) without a region or credentials.
 */
export function createBedrockAdapter(opts: BedrockAdapterOptions): ProviderAdapter {
  if (!opts.region) throw new Error(`providers[${opts.id}].region: required for kind bedrock (e.g. us-east-1)`);
  if (!opts.credentials?.accessKeyId || !opts.credentials.secretAccessKey)
    throw new Error(`providers[${opts.id}]: AWS credentials are required for kind bedrock (aws_access_key_id_env / aws_secret_access_key_env, or AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)`);
  const embedConcurrency = opts.embedConcurrency ?? 8;
  if (!Number.isInteger(embedConcurrency) || embedConcurrency < 1) throw new Error(`providers[${opts.id}].embedConcurrency: must be a positive integer`);
  const modelPath = (model: string) => `/model/${encodeURIComponent(model)}`;

  const base = createHttpAdapter(opts, {
    kind: "bedrock",
    headers: () => ({}),
    path: (model, stream) => `${modelPath(model)}/${stream ? "converse-stream" : "converse"}`,
    body: (req) => requestToConverse(req),
    statusError: bedrockStatusError,
    response(json, model) {
      const r = json as ConverseResponse;
      if (!Array.isArray(r.output?.message?.content)) throw garbage(opts.id, "returned JSON without 'output.message.content'", true);
      return responseFromConverse(r, model);
    },
    streamTranslator: (model) => converseStream(opts.id, model),
    streamEvents: (body) => converseStreamEvents(body, opts.id),
    sign: createSigV4Signer({ id: opts.id, credentials: opts.credentials, region: opts.region }),
    embed: {
      path: (model) => `${modelPath(model)}/invoke`,
      body: (req, model) => titanEmbedBody(req.input[0] ?? "", req, model),
      response: (json, model) => titanEmbedResponse(json, model, opts.id),
    },
  });
  const embedOne = base.embed!;

  return {
    kind: base.kind,
    chat: (req, model, signal) => base.chat(req, model, signal),
    stream: (req, model, signal) => base.stream(req, model, signal),
    async embed(req: EmbedRequest, model: string, signal: AbortSignal): Promise<EmbedResponse> {
      validateTitanEmbed(req, model);
      const parts = await boundedAll(req.input.length, embedConcurrency, signal, (i, s) =>
        embedOne(create(EmbedRequestSchema, { model: req.model, input: [req.input[i]!], dimensions: req.dimensions, user: req.user, inputType: req.inputType }), model, s),
      );
      return mergeTitanEmbeddings(parts, model);
    },
    close: () => base.close(),
  };
}
