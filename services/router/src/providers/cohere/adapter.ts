import type { ProviderAdapter } from "../types.js";
import { ProviderError, upstreamStatusError } from "../errors.js";
import { createHttpAdapter, eventJson, excerpt, garbage, retryAfterSeconds, type HttpAdapterOptions, type StreamTranslator } from "../http-adapter.js";
import { embedToCohere, requestToCohere } from "./unified-to-cohere.js";
import { CohereStreamTranslator, embedResponseFromCohere, responseFromCohere } from "./cohere-to-unified.js";
import type { CohereChatResponse, CohereEmbedResponse, CohereErrorBody, CohereStreamEvent } from "./wire.js";

/** Options for {@link createCohereAdapter}: the shared HTTP provider options (base URL e.g. https://api.cohere.com). */
export type CohereAdapterOptions = HttpAdapterOptions;

/** Chat path below the base URL. */
export const COHERE_CHAT_PATH = "/v2/chat";
/** Embeddings path below the base URL. */
export const COHERE_EMBED_PATH = "/v2/embed";

/** Cohere's error message from `{"message": …}`, or a short flat excerpt of another body. */
export function parseCohereError(text: string): string {
  try {
    const j = JSON.parse(text) as CohereErrorBody | null;
    if (j && typeof j.message === "string" && j.message !== "") return j.message;
  } catch {
    /* not JSON */
  }
  return excerpt(text);
}

/**
 * An upstream HTTP error → ProviderError, with Cohere's message. On top of the shared mapping
 * (429 rate_limited with Retry-After, 5xx retryable, 400/404/422 invalid request, 401/403 the
 * gateway's key):
 * - 402 (billing limit reached, payment method missing) is the operator's account, not the
 *   caller's request; another deployment may have a different account, so it is retryable.
 * - 498 is documented by Cohere's OpenAPI as "a request or response contains a deny-listed
 *   token" and by its errors page history as "blocked due to potential violations of the Usage
 *   Guidelines; adjust the prompt": the caller's content, not credentials, so not retryable.
 * - 499 is Cohere's "request cancelled"; its errors page says to try again, so it is retryable.
 */
export function cohereStatusError(provider: string, status: number, text: string, retryAfterS?: number): ProviderError {
  const message = parseCohereError(text);
  const msg = `${provider} returned ${status}: ${message}`;
  if (status === 402) return new ProviderError("upstream_error", msg, true, { code: "upstream_payment_required" });
  if (status === 498) return new ProviderError("invalid_request", msg, false, { status: 400, code: "upstream_content_blocked" });
  if (status === 499) return new ProviderError("upstream_error", msg, true, { code: "cancelled" });
  return upstreamStatusError(provider, status, message, retryAfterS);
}

/** Cohere's SSE events through one {@link CohereStreamTranslator}; done at message-end. */
function cohereStream(id: string, model: string): StreamTranslator {
  const tr = new CohereStreamTranslator(id, model);
  return {
    get done() {
      return tr.done;
    },
    push(ev) {
      // Cohere documents no terminator after message-end; tolerate an OpenAI-style one.
      if (ev.data === "[DONE]") return [];
      const json = eventJson(id, ev.data);
      if (typeof json["type"] !== "string") throw garbage(id, "sent a stream event without 'type'", false);
      return tr.push(json as unknown as CohereStreamEvent);
    },
    end() {
      if (!tr.done) throw new ProviderError("upstream_error", `${id} ended the stream before message-end`, false, { code: "upstream_stream_cut" });
      return [];
    },
  };
}

/**
 * The Cohere v2 API adapter: `POST <base>/v2/chat` (JSON, or SSE with `stream: true`) and
 * `POST <base>/v2/embed`, with `Authorization: Bearer <key>`; one {@link CohereStreamTranslator}
 * per streamed call. Cohere has no parallel_tool_calls switch: the router passes on only the
 * first call when the caller disabled them (see one-tool-call.ts).
 */
export function createCohereAdapter(opts: CohereAdapterOptions): ProviderAdapter {
  return createHttpAdapter(opts, {
    kind: "cohere",
    headers: (apiKey): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    path: () => COHERE_CHAT_PATH,
    body: (req, model, stream) => requestToCohere(req, model, stream),
    statusError: (id, status, text, headers) => cohereStatusError(id, status, text, retryAfterSeconds(headers["retry-after"])),
    response(json, model) {
      const r = json as Partial<CohereChatResponse>;
      if (!r.message || typeof r.message !== "object") throw garbage(opts.id, "returned JSON without 'message'", true);
      return responseFromCohere(r as CohereChatResponse, model, opts.id);
    },
    streamTranslator: (model) => cohereStream(opts.id, model),
    embed: {
      path: () => COHERE_EMBED_PATH,
      body: (req, model) => embedToCohere(req, model),
      response: (json, model, req) => embedResponseFromCohere(json as CohereEmbedResponse, model, req, opts.id),
    },
  });
}
