import type * as http from "node:http";
import type { ChatChunk, ChatRequest, ChatResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { toTesseraError, type Logger, type TesseraError } from "@tessera/runtime";
import type { CallPipeline, PromptCall } from "../domain/call.js";
import { clientGone, credentialOf, errorHeaders, readJson, routingHeaders, sendJson, servedHeaders, sourceOf, writeStream, type Req, type Res } from "./http.js";

/** How one stream is written in a surface's SSE dialect. */
export interface StreamWriter {
  /** The SSE text for one chunk (may be empty to skip it). */
  chunk(c: ChatChunk): string;
  /** The closing SSE text after the last chunk. */
  end(): string;
  /** The SSE text for an error after the stream started. */
  error(e: TesseraError): string;
  /** The stream's content type; text/event-stream unless set. */
  contentType?: string;
}

/** What differs between chat surfaces (OpenAI, Anthropic …): the wire format, nothing else. */
export interface ChatFormat {
  /** For logs. */
  name: string;
  surface: Surface;
  /**
   * Validate a JSON body into the unified request; throws TesseraErrors naming the field.
   * `req` is there for surfaces that take part of the request from the URL (Gemini: the
   * model and the stream flag).
   */
  parse(body: unknown, req: Req): { request: ChatRequest; stream: boolean; prompt?: PromptCall };
  /** The caller's credential; `Authorization: Bearer` or `x-api-key` unless set. */
  credential?(req: Req): string;
  response(r: ChatResponse): unknown;
  /** A writer for one stream of `request`. */
  stream(request: ChatRequest, requestId: string, req: Req): StreamWriter;
  /** The error body, in the surface's own format. */
  error(e: TesseraError, requestId?: string): unknown;
}

/** Send a TesseraError (or anything thrown) in the surface's format. */
export function sendFormatError(res: Res, format: Pick<ChatFormat, "error" | "name">, log: Logger, err: unknown, requestId?: string): void {
  const e = toTesseraError(err);
  if (e.kind === "internal") log.error({ err }, `internal error on the ${format.name} surface`);
  const headers = errorHeaders(e);
  if (requestId) headers["x-request-id"] = requestId;
  sendJson(res, e.status, format.error(e, requestId), headers);
}

/**
 * One chat endpoint in a surface's format: read and validate the body (413 past the limit,
 * 400 for bad JSON or fields), run the call, answer JSON or SSE. A stream's status and
 * headers are sent only once the first chunk is there, so a failed route is a plain error
 * answer; an error after that is an error event in the stream. The client's disconnect
 * cancels the upstream call.
 */
export function createChatEndpoint(format: ChatFormat, opts: { pipeline: Pick<CallPipeline, "chat" | "chatStream">; maxBodyBytes: number; log: Logger }) {
  const { pipeline, log } = opts;
  const fail = (res: Res, err: unknown, requestId?: string) => sendFormatError(res, format, log, err, requestId);

  return async (req: Req, res: Res): Promise<void> => {
    const signal = clientGone(res);
    let parsed;
    try {
      parsed = format.parse(await readJson(req, opts.maxBodyBytes), req);
    } catch (err) {
      if (toTesseraError(err).kind === "payload_too_large") (res as http.ServerResponse).shouldKeepAlive = false;
      return fail(res, err);
    }
    const input = { credential: format.credential ? format.credential(req) : credentialOf(req.headers), request: parsed.request, surface: format.surface, signal, headers: routingHeaders(Object.entries(req.headers)), sourceIp: sourceOf(req), ...(parsed.prompt ? { prompt: parsed.prompt } : {}) };
    if (!parsed.stream) {
      try {
        const r = await pipeline.chat(input);
        sendJson(res, 200, format.response(r.response), servedHeaders(r));
      } catch (err) {
        fail(res, err);
      }
      return;
    }
    let started;
    try {
      started = await pipeline.chatStream(input);
    } catch (err) {
      return fail(res, err);
    }
    const writer = format.stream(parsed.request, started.requestId, req);
    (res as http.ServerResponse).writeHead(200, {
      "content-type": writer.contentType ?? "text/event-stream",
      "cache-control": "no-cache",
      ...servedHeaders(started),
    });
    try {
      for await (const c of started.chunks) {
        if (signal.aborted) return;
        const text = writer.chunk(c);
        if (text) await writeStream(res, text);
      }
      if (!signal.aborted) res.end(writer.end());
    } catch (err) {
      const e = toTesseraError(err);
      if (e.kind === "internal") log.error({ err }, `internal error mid-stream on the ${format.name} surface`);
      res.end(writer.error(e));
    }
  };
}
