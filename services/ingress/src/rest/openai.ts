import type * as http from "node:http";
import { Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import {
  chunkToOpenAI,
  errorToOpenAI,
  parseOpenAIChatRequest,
  responseToOpenAI,
} from "@tessera/openai-format";
import { TesseraError, toTesseraError, withServerSpan, type Logger } from "@tessera/runtime";
import type { CallPipeline } from "../domain/call.js";
import { clientGone, credentialOf, errorHeaders, readJson, sendJson, servedHeaders, writeStream, type Req, type Res } from "./http.js";

/** Options of the OpenAI-compatible REST surface. */
export interface OpenAISurfaceOptions {
  pipeline: CallPipeline;
  maxBodyBytes: number;
  log: Logger;
}

/**
 * The OpenAI-compatible surface: POST /v1/chat/completions (JSON or SSE stream) and
 * GET /v1/models. Errors are OpenAI error JSON with the matching status; an error after a
 * stream has started is sent as a final `data: {"error": …}` event, as OpenAI does.
 * Returns false when the path is not this surface's.
 */
export function createOpenAISurface(opts: OpenAISurfaceOptions) {
  const { pipeline, log } = opts;

  function sendError(res: Res, err: unknown, requestId?: string) {
    const e = toTesseraError(err);
    if (e.kind === "internal") log.error({ err }, "internal error on OpenAI surface");
    const headers = errorHeaders(e);
    if (requestId) headers["x-request-id"] = requestId;
    sendJson(res, e.status, errorToOpenAI(e), headers);
  }

  async function chatCompletions(req: Req, res: Res) {
    const signal = clientGone(res);
    let parsed;
    try {
      parsed = parseOpenAIChatRequest(await readJson(req, opts.maxBodyBytes));
    } catch (err) {
      if (toTesseraError(err).kind === "payload_too_large") (res as http.ServerResponse).shouldKeepAlive = false;
      return sendError(res, err);
    }
    const input = { credential: credentialOf(req.headers), request: parsed.request, surface: Surface.OPENAI, signal };
    if (!parsed.stream) {
      try {
        const r = await pipeline.chat(input);
        sendJson(res, 200, responseToOpenAI(r.response), servedHeaders(r.requestId, r.served));
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
    const includeUsage = parsed.request.includeUsage;
    try {
      for await (const c of started.chunks) {
        if (signal.aborted) break;
        if (c.usage && !includeUsage) {
          // Usage was asked upstream for metering only; the caller did not ask for it.
          c.usage = undefined;
          if (c.choices.length === 0) continue;
        }
        await writeStream(res, `data: ${JSON.stringify(chunkToOpenAI(c))}\n\n`);
      }
      res.end("data: [DONE]\n\n");
    } catch (err) {
      const e = toTesseraError(err);
      if (e.kind === "internal") log.error({ err }, "internal error mid-stream");
      res.end(`data: ${JSON.stringify(errorToOpenAI(e))}\n\n`);
    }
  }

  async function models(req: Req, res: Res) {
    try {
      const list = await pipeline.listModels(credentialOf(req.headers), clientGone(res));
      sendJson(res, 200, {
        object: "list",
        data: list.map((m) => ({ id: m.id, object: "model", created: 0, owned_by: m.ownedBy })),
      });
    } catch (err) {
      sendError(res, err);
    }
  }

  return (req: Req, res: Res): boolean => {
    const path = (req.url ?? "").split("?")[0];
    if (path === "/v1/chat/completions" || path === "/chat/completions") {
      if (req.method !== "POST") {
        sendError(res, new TesseraError("invalid_request", `Method ${req.method} is not allowed on ${path}; use POST.`, { status: 405, code: "method_not_allowed" }));
        return true;
      }
      void withServerSpan("POST /v1/chat/completions", req.headers, () => chatCompletions(req, res));
      return true;
    }
    if (path === "/v1/models" || path === "/models") {
      void withServerSpan("GET /v1/models", req.headers, () => models(req, res));
      return true;
    }
    return false;
  };
}
