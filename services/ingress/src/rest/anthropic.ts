import type * as http from "node:http";
import { Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import {
  AnthropicStreamEncoder,
  encodeAnthropicSse,
  errorToAnthropic,
  parseAnthropicRequest,
  responseToAnthropic,
  type AnthropicStreamEvent,
} from "@tessera/anthropic-format";
import { TesseraError, toTesseraError, withServerSpan, type Logger } from "@tessera/runtime";
import type { CallPipeline } from "../domain/call.js";
import { clientGone, credentialOf, errorHeaders, readJson, sendJson, servedHeaders, writeStream, type Req, type Res } from "./http.js";

/** Options of the Anthropic-compatible REST surface. */
export interface AnthropicSurfaceOptions {
  pipeline: CallPipeline;
  maxBodyBytes: number;
  log: Logger;
}

/**
 * The Anthropic-compatible surface: POST /v1/messages (JSON or SSE stream), so the official
 * Anthropic SDKs work against Tessera whatever provider serves the model. Errors are
 * Anthropic error JSON with the matching status; an error after the stream has started is
 * an `event: error` SSE event, as Anthropic sends. Returns false when the path is not this
 * surface's.
 */
export function createAnthropicSurface(opts: AnthropicSurfaceOptions) {
  const { pipeline, log } = opts;

  function sendError(res: Res, err: unknown, requestId?: string) {
    const e = toTesseraError(err);
    if (e.kind === "internal") log.error({ err }, "internal error on Anthropic surface");
    const headers = errorHeaders(e);
    if (requestId) headers["x-request-id"] = requestId;
    sendJson(res, e.status, errorToAnthropic(e, requestId), headers);
  }

  async function messages(req: Req, res: Res) {
    const signal = clientGone(res);
    let parsed;
    try {
      parsed = parseAnthropicRequest(await readJson(req, opts.maxBodyBytes));
    } catch (err) {
      if (toTesseraError(err).kind === "payload_too_large") (res as http.ServerResponse).shouldKeepAlive = false;
      return sendError(res, err);
    }
    const input = { credential: credentialOf(req.headers), request: parsed.request, surface: Surface.ANTHROPIC, signal };
    if (!parsed.stream) {
      try {
        const r = await pipeline.chat(input);
        sendJson(res, 200, responseToAnthropic(r.response), servedHeaders(r.requestId, r.served));
      } catch (err) {
        sendError(res, err);
      }
      return;
    }
    let started;
    try {
      started = await pipeline.chatStream(input);
    } catch (err) {
      return sendError(res, err);
    }
    (res as http.ServerResponse).writeHead(200, {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      ...servedHeaders(started.requestId, started.served),
    });
    const encoder = new AnthropicStreamEncoder({ model: parsed.request.model });
    const write = async (events: AnthropicStreamEvent[]) => {
      if (events.length === 0) return;
      await writeStream(res, events.map(encodeAnthropicSse).join(""));
    };
    try {
      for await (const c of started.chunks) {
        if (signal.aborted) break;
        await write(encoder.push(c));
      }
      if (signal.aborted) return;
      res.end(encoder.finish().map(encodeAnthropicSse).join(""));
    } catch (err) {
      const e = toTesseraError(err);
      if (e.kind === "internal") log.error({ err }, "internal error mid-stream");
      const body = errorToAnthropic(e, started.requestId);
      res.end(encodeAnthropicSse({ type: "error", error: body.error }));
    }
  }

  return (req: Req, res: Res): boolean => {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/v1/messages" || path === "/messages") {
      if (req.method !== "POST") {
        sendError(res, new TesseraError("invalid_request", `Method ${req.method} is not allowed on ${path}; use POST.`, { status: 405, code: "method_not_allowed" }));
        return true;
      }
      void withServerSpan("POST /v1/messages", req.headers, () => messages(req, res));
      return true;
    }
    return false;
  };
}
