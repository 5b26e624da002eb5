import type { IncomingHttpHeaders } from "node:http";
import { Pool, errors as undiciErrors } from "undici";
import type { ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { parseSse, type SseEvent } from "@tessera/openai-format";
import type { ProviderAdapter } from "./types.js";
import { ProviderError } from "./errors.js";

/** Connection options every HTTP provider takes (from `providers[]` in the configuration). */
export interface HttpAdapterOptions {
  /** Provider id from configuration, for error messages. */
  id: string;
  /** e.g. https://api.openai.com/v1 — the path prefix is kept. */
  baseUrl: string;
  /** The provider's API key; no auth header is sent when undefined (local servers, fakes). */
  apiKey: string | undefined;
  /** Keep-alive connections to the origin. */
  connections: number;
  /** Time allowed for the response headers, and between body chunks. */
  timeoutMs: number;
  /** Time allowed to open a connection (10 s when unset). */
  connectTimeoutMs?: number;
}

/** A request about to leave, as a signer sees it. */
export interface OutgoingRequest {
  method: "POST";
  /** Origin of the provider, e.g. https://bedrock-runtime.us-east-1.amazonaws.com */
  origin: string;
  /** Full path with query string. */
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** The state of one streamed call, turning provider events into unified chunks. */
export interface StreamTranslator {
  /** One server-sent event → chunks; throws a ProviderError for an error event or garbage. */
  push(ev: SseEvent): Iterable<ChatChunk>;
  /** True once the provider said the stream is over; the rest of the body is not read. */
  readonly done: boolean;
  /** The body ended: closing chunks, or a ProviderError (code upstream_stream_cut) if it was cut. */
  end(): Iterable<ChatChunk>;
}

/** What differs between HTTP JSON providers; everything else is {@link createHttpAdapter}'s. */
export interface HttpProviderSpec {
  kind: string;
  /** Auth and version headers sent on every call. */
  headers(apiKey: string | undefined): Record<string, string>;
  /** The request path below the base URL's path. */
  path(model: string, stream: boolean): string;
  /** Unified request → provider body. A TesseraError here reaches the caller before any I/O. */
  body(req: ChatRequest, model: string, stream: boolean): unknown;
  /** A status ≥ 400 → ProviderError, from the body text (truncated) and the headers. */
  statusError(provider: string, status: number, text: string, headers: IncomingHttpHeaders): ProviderError;
  /** A parsed response body → unified response; throw {@link garbage} for a shape it cannot read. */
  response(json: unknown, model: string): ChatResponse;
  /** A fresh translator for one streamed call. */
  streamTranslator(model: string): StreamTranslator;
  /**
   * Turn a stream body into events, for providers whose streams are not SSE (Bedrock's binary
   * event stream: event type → `event`, payload JSON → `data`). SSE when unset.
   */
  streamEvents?(body: AsyncIterable<Uint8Array>): AsyncIterable<SseEvent>;
  /** Extra headers computed per request from the final bytes (AWS SigV4). */
  sign?(req: OutgoingRequest): Promise<Record<string, string>>;
  /** Embeddings, for providers that have them. */
  embed?: EmbedSpec;
}

/** How a provider's embeddings endpoint is called. */
export interface EmbedSpec {
  path(model: string): string;
  /** Unified request → provider body; a TesseraError here reaches the caller before any I/O. */
  body(req: EmbedRequest, model: string): unknown;
  /** Parsed response → vectors in input order; throw {@link garbage} for a shape it cannot read. */
  response(json: unknown, model: string, req: EmbedRequest): EmbedResponse;
}

const MAX_ERROR_BODY = 64 * 1024;

/** Read at most `limit` characters of a body (the rest is drained and dropped). */
export async function readText(body: AsyncIterable<Uint8Array>, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    if (n < limit) parts.push(Buffer.from(c));
    n += c.length;
  }
  return Buffer.concat(parts).toString("utf8").slice(0, limit);
}

/** Seconds from a Retry-After header (delta-seconds or an HTTP date). */
export function retryAfterSeconds(h: string | string[] | undefined): number | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return undefined;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - Date.now()) / 1000)) : undefined;
}

/** A body that is not a recognisable error: whitespace folded, at most 200 characters. */
export function excerpt(text: string): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat || "(empty body)";
}

/** The provider answered something it should not have (retryable only before a stream starts). */
export function garbage(provider: string, what: string, retryable: boolean): ProviderError {
  return new ProviderError("upstream_error", `${provider} ${what}`, retryable, { code: "upstream_garbage" });
}

/** Parse one stream event's data as a JSON object, or fail as garbage. */
export function eventJson(provider: string, data: string): Record<string, unknown> {
  let json: unknown;
  try {
    json = JSON.parse(data);
  } catch {
    throw garbage(provider, "sent a stream event that is not JSON", false);
  }
  if (!json || typeof json !== "object" || Array.isArray(json)) throw garbage(provider, "sent a stream event that is not an object", false);
  return json as Record<string, unknown>;
}

function transportError(id: string, err: unknown, signal: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  if (signal.aborted) return new ProviderError("timeout", `call to ${id} was cancelled`, false, { code: "cancelled" });
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError)
    return new ProviderError("timeout", `${id} did not answer in time`, true, { code: "upstream_timeout" });
  const code = (err as NodeJS.ErrnoException).code ?? "";
  return new ProviderError("upstream_error", `cannot reach ${id}${code ? ` (${code})` : ""}`, true, { code: "upstream_unreachable" });
}

/**
 * An adapter for a provider that speaks JSON over HTTP with SSE streams: one undici Pool per
 * adapter keeps connections to the origin alive across calls, bodies stream through, and the
 * failure modes (unreachable, timeouts, error statuses, garbage bodies, streams cut before
 * the provider's end) are handled once, here.
 */
export function createHttpAdapter(opts: HttpAdapterOptions, spec: HttpProviderSpec): ProviderAdapter {
  const url = new URL(opts.baseUrl);
  const basePath = url.pathname.replace(/\/+$/, "");
  const pool = new Pool(url.origin, {
    connections: opts.connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connect: { timeout: opts.connectTimeoutMs ?? 10_000 },
  });
  const headers = { "content-type": "application/json", accept: "application/json", ...spec.headers(opts.apiKey) };
  const streamHeaders = { ...headers, accept: spec.streamEvents ? "application/vnd.amazon.eventstream" : "text/event-stream" };
  const embed = spec.embed;

  async function post(path: string, payload: unknown, stream: boolean, signal: AbortSignal) {
    const body = JSON.stringify(payload);
    try {
      let h = stream ? streamHeaders : headers;
      if (spec.sign) h = { ...h, ...(await spec.sign({ method: "POST", origin: url.origin, path, headers: h, body })) };
      const res = await pool.request({
        path,
        method: "POST",
        headers: h,
        body,
        signal,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      });
      if (res.statusCode >= 400) throw spec.statusError(opts.id, res.statusCode, await readText(res.body, MAX_ERROR_BODY), res.headers);
      return res;
    } catch (err) {
      throw transportError(opts.id, err, signal);
    }
  }

  /** POST and parse a JSON object answer (garbage → retryable error). */
  async function postJson(path: string, payload: unknown, signal: AbortSignal): Promise<object> {
    const res = await post(path, payload, false, signal);
    let text: string;
    try {
      text = await res.body.text();
    } catch (err) {
      throw transportError(opts.id, err, signal);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw garbage(opts.id, `returned a body that is not JSON: ${excerpt(text)}`, true);
    }
    if (!json || typeof json !== "object") throw garbage(opts.id, "returned JSON that is not an object", true);
    return json;
  }

  return {
    kind: spec.kind,
    async chat(req, model, signal) {
      return spec.response(await postJson(basePath + spec.path(model, false), spec.body(req, model, false), signal), model);
    },
    async *stream(req, model, signal) {
      const res = await post(basePath + spec.path(model, true), spec.body(req, model, true), true, signal);
      const tr = spec.streamTranslator(model);
      let ended = false;
      try {
        for await (const ev of spec.streamEvents ? spec.streamEvents(res.body) : parseSse(res.body)) {
          yield* tr.push(ev);
          if (tr.done) break;
        }
        ended = true;
      } catch (err) {
        if (err instanceof ProviderError || signal.aborted) throw transportError(opts.id, err, signal);
        const code = (err as NodeJS.ErrnoException).code ?? "";
        throw new ProviderError("upstream_error", `${opts.id} broke the stream mid-way${code ? ` (${code})` : ""}`, false, { code: "upstream_stream_cut" });
      } finally {
        if (!ended) res.body.destroy();
      }
      yield* tr.end();
    },
    ...(embed && {
      async embed(req: EmbedRequest, model: string, signal: AbortSignal) {
        return embed.response(await postJson(basePath + embed.path(model), embed.body(req, model), signal), model, req);
      },
    }),
    close: () => pool.close(),
  };
}
