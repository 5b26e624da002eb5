import {
  chunkFromOpenAI,
  requestToOpenAI,
  responseFromOpenAI,
  type OpenAIChatChunk,
  type OpenAIChatCompletion,
} from "@tessera/openai-format";
import type { ProviderAdapter } from "../types.js";
import { ProviderError, upstreamStatusError } from "../errors.js";
import { createHttpAdapter, eventJson, excerpt, garbage, retryAfterSeconds, type HttpAdapterOptions, type StreamTranslator } from "../http-adapter.js";

/** OpenAI's error message from `{"error": {"message"}}` (or a flat excerpt of anything else). */
function errorMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof j.error === "string") return j.error;
    if (j.error && typeof j.error.message === "string") return j.error.message;
    if (typeof j.message === "string") return j.message;
  } catch {
    /* not JSON */
  }
  return excerpt(text);
}

/** OpenAI streams end with `data: [DONE]`; every other event is a chat.completion.chunk. */
function openAIStream(id: string): StreamTranslator {
  let done = false;
  return {
    get done() {
      return done;
    },
    push(ev) {
      if (ev.data === "[DONE]") {
        done = true;
        return [];
      }
      const json = eventJson(id, ev.data) as unknown as OpenAIChatChunk & { error?: { message?: string } };
      if (json.error) throw new ProviderError("upstream_error", `${id} stream error: ${json.error.message ?? "unknown"}`, false, { code: "upstream_stream_error" });
      if (!Array.isArray(json.choices)) throw garbage(id, "sent a stream chunk without 'choices'", false);
      return [chunkFromOpenAI(json)];
    },
    end() {
      if (!done) throw new ProviderError("upstream_error", `${id} ended the stream before [DONE]`, false, { code: "upstream_stream_cut" });
      return [];
    },
  };
}

/** The OpenAI chat-completions adapter (also any OpenAI-compatible server). */
export function createOpenAIAdapter(opts: HttpAdapterOptions): ProviderAdapter {
  return createHttpAdapter(opts, {
    kind: "openai",
    headers: (apiKey): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
    path: () => "/chat/completions",
    body: (req, model, stream) => requestToOpenAI(req, model, stream),
    statusError: (id, status, text, headers) => upstreamStatusError(id, status, errorMessage(text), retryAfterSeconds(headers["retry-after"])),
    response(json) {
      const r = json as OpenAIChatCompletion;
      if (!Array.isArray(r.choices)) throw garbage(opts.id, "returned JSON without 'choices'", true);
      return responseFromOpenAI(r);
    },
    streamTranslator: () => openAIStream(opts.id),
  });
}
