import type { ProviderAdapter } from "../types.js";
import { ProviderError, upstreamStatusError } from "../errors.js";
import { requestToAnthropic } from "./unified-to-anthropic.js";
import { AnthropicStreamTranslator, responseFromAnthropic } from "./anthropic-to-unified.js";
import { createHttpAdapter, eventJson, excerpt, garbage, retryAfterSeconds, type HttpAdapterOptions, type StreamTranslator } from "../http-adapter.js";
import { ANTHROPIC_VERSION, type AnthropicMessageResponse, type AnthropicStreamEvent } from "@tessera/anthropic-format";

/** Options for {@link createAnthropicAdapter}: the shared HTTP provider options. */
export type AnthropicAdapterOptions = HttpAdapterOptions;

/** Anthropic's `{"type":"error","error":{"type","message"}}`, or a short flat excerpt. */
function parseError(text: string): { type?: string; message: string } {
  try {
    const j = JSON.parse(text) as { error?: { type?: unknown; message?: unknown } | string; message?: unknown };
    if (typeof j.error === "string") return { message: j.error };
    if (j.error && typeof j.error.message === "string") return { type: typeof j.error.type === "string" ? j.error.type : undefined, message: j.error.message };
    if (typeof j.message === "string") return { message: j.message };
  } catch {
    /* not JSON */
  }
  return { message: excerpt(text) };
}

/**
 * An upstream HTTP error → ProviderError. Beyond the shared mapping: 529 overloaded_error is
 * retryable and keeps Retry-After (the shared 5xx mapping drops it), and 413
 * request_too_large is a payload_too_large the caller must fix.
 */
export function anthropicStatusError(provider: string, status: number, text: string, retryAfterS?: number): ProviderError {
  const { type, message } = parseError(text);
  const msg = type ? `${type}: ${message}` : message;
  if (status === 529 || type === "overloaded_error") {
    const details = retryAfterS === undefined ? { code: "upstream_overloaded" } : { code: "upstream_overloaded", retryAfterS };
    return new ProviderError("upstream_error", `${provider} returned ${status}: ${msg}`, true, details);
  }
  if (status === 413) return new ProviderError("payload_too_large", `${provider} returned 413: ${msg}`, false, { code: "upstream_request_too_large" });
  return upstreamStatusError(provider, status, msg, retryAfterS);
}

/** Anthropic's SSE events through one {@link AnthropicStreamTranslator}; done at message_stop. */
function anthropicStream(id: string): StreamTranslator {
  const tr = new AnthropicStreamTranslator(id);
  return {
    get done() {
      return tr.done;
    },
    push(ev) {
      const json = eventJson(id, ev.data);
      if (typeof json["type"] !== "string") throw garbage(id, "sent a stream event without 'type'", false);
      return tr.push(json as unknown as AnthropicStreamEvent);
    },
    end() {
      if (!tr.done) throw new ProviderError("upstream_error", `${id} ended the stream before message_stop`, false, { code: "upstream_stream_cut" });
      return [];
    },
  };
}

/**
 * The Anthropic Messages API adapter: POST <base>/messages with `x-api-key` and
 * `anthropic-version`; one {@link AnthropicStreamTranslator} per streamed call.
 */
export function createAnthropicAdapter(opts: AnthropicAdapterOptions): ProviderAdapter {
  return createHttpAdapter(opts, {
    kind: "anthropic",
    headers: (apiKey) => ({ "anthropic-version": ANTHROPIC_VERSION, ...(apiKey ? { "x-api-key": apiKey } : {}) }),
    path: () => "/messages",
    body: (req, model, stream) => requestToAnthropic(req, model, stream),
    statusError: (id, status, text, headers) => anthropicStatusError(id, status, text, retryAfterSeconds(headers["retry-after"])),
    response(json) {
      const r = json as Omit<AnthropicMessageResponse, "type"> & { type?: unknown };
      if (r.type === "error") throw anthropicStatusError(opts.id, 500, JSON.stringify(r));
      if (!Array.isArray(r.content)) throw garbage(opts.id, "returned JSON without 'content'", true);
      return responseFromAnthropic(r as AnthropicMessageResponse);
    },
    streamTranslator: () => anthropicStream(opts.id),
  });
}
