import { Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import {
  AnthropicStreamEncoder,
  encodeAnthropicSse,
  errorToAnthropic,
  parseAnthropicRequest,
  responseToAnthropic,
} from "@tessera/anthropic-format";
import { TesseraError, withServerSpan, type Logger } from "@tessera/runtime";
import type { CallPipeline } from "../domain/call.js";
import { createChatEndpoint, sendFormatError, type ChatFormat } from "./chat-endpoint.js";
import type { Req, Res } from "./http.js";

/** Options of the Anthropic-compatible REST surface. */
export interface AnthropicSurfaceOptions {
  pipeline: CallPipeline;
  maxBodyBytes: number;
  log: Logger;
}

/** Anthropic's Messages format: JSON, or the message_start … message_stop event sequence. */
const ANTHROPIC: ChatFormat = {
  name: "Anthropic",
  surface: Surface.ANTHROPIC,
  parse: parseAnthropicRequest,
  response: responseToAnthropic,
  stream(request, requestId) {
    const encoder = new AnthropicStreamEncoder({ model: request.model });
    return {
      chunk: (c) => encoder.push(c).map(encodeAnthropicSse).join(""),
      end: () => encoder.finish().map(encodeAnthropicSse).join(""),
      // Anthropic reports an error after the stream started as an `event: error`.
      error: (e) => encodeAnthropicSse({ type: "error", error: errorToAnthropic(e, requestId).error }),
    };
  },
  error: (e, requestId) => errorToAnthropic(e, requestId),
};

/**
 * The Anthropic-compatible surface: POST /v1/messages (JSON or SSE stream), so the official
 * Anthropic SDKs work against Tessera whatever provider serves the model. Errors are
 * Anthropic error JSON with the matching status. Returns false when the path is not this
 * surface's.
 */
export function createAnthropicSurface(opts: AnthropicSurfaceOptions) {
  const messages = createChatEndpoint(ANTHROPIC, opts);
  return (req: Req, res: Res): boolean => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== "/v1/messages" && path !== "/messages") return false;
    if (req.method !== "POST") {
      sendFormatError(res, ANTHROPIC, opts.log, new TesseraError("invalid_request", `Method ${req.method} is not allowed on ${path}; use POST.`, { status: 405, code: "method_not_allowed" }));
      return true;
    }
    void withServerSpan("POST /v1/messages", req.headers, () => messages(req, res));
    return true;
  };
}
