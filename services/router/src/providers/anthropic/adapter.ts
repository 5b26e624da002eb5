import { Pool, errors as undiciErrors } from "undici";
import { parseSse } from "@tessera/openai-format";
import type { ChatRequest } from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { ProviderAdapter } from "../types.js";
import { ProviderError, upstreamStatusError } from "../errors.js";
import { requestToAnthropic } from "./unified-to-anthropic.js";
import { AnthropicStreamTranslator, responseFromAnthropic } from "./anthropic-to-unified.js";
import { ANTHROPIC_VERSION, type AnthropicMessageResponse, type AnthropicStreamEvent } from "./wire.js";

/** Options for {@link createAnthropicAdapter}. */
export interface AnthropicAdapterOptions {
  /** Provider id from configuration, for error messages. */
  id: string;
  /** e.g. https://api.anthropic.com/v1 — the path prefix is kept; calls go to `<base>/messages`. */
  baseUrl: string;
  /** Sent as `x-api-key`; omitted when undefined (a local fake or a proxy that adds it). */
  apiKey: string | undefined;
  /** Keep-alive connections to the origin. */
  connections: number;
  /** Total time for one upstream call. */
  timeoutMs: number;
}

const MAX_ERROR_BODY = 64 * 1024;

async function readText(body: AsyncIterable<Uint8Array>, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body) {
    if (n < limit) parts.push(Buffer.from(c));
    n += c.length;
  }
  return Buffer.concat(parts).toString("utf8").slice(0, limit);
}

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
  const flat = text.replace(/\s+/g, " ").trim();
  return { message: flat.length > 200 ? `${flat.slice(0, 200)}…` : flat || "(empty body)" };
}

function retryAfter(h: string | string[] | undefined): number | undefined {
  const v = Array.isArray(h) ? h[0] : h;
  if (!v) return undefined;
  const n = Number(v);
  if (Number.isFinite(n) && n >= 0) return Math.ceil(n);
  const at = Date.parse(v);
  return Number.isFinite(at) ? Math.max(0, Math.ceil((at - Date.now()) / 1000)) : undefined;
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

/**
 * The Anthropic Messages API adapter. One undici Pool per adapter keeps connections to the
 * origin alive across calls; one {@link AnthropicStreamTranslator} per streamed call holds
 * that call's state.
 */
export function createAnthropicAdapter(opts: AnthropicAdapterOptions): ProviderAdapter {
  const url = new URL(opts.baseUrl);
  const basePath = url.pathname.replace(/\/+$/, "");
  const pool = new Pool(url.origin, {
    connections: opts.connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connect: { timeout: 10_000 },
  });
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json", "anthropic-version": ANTHROPIC_VERSION };
  if (opts.apiKey) headers["x-api-key"] = opts.apiKey;
  const path = `${basePath}/messages`;

  async function send(req: ChatRequest, model: string, stream: boolean, signal: AbortSignal) {
    // Translation errors (invalid_request) are the caller's and surface before any I/O.
    const body = JSON.stringify(requestToAnthropic(req, model, stream));
    try {
      const res = await pool.request({
        path,
        method: "POST",
        headers: stream ? { ...headers, accept: "text/event-stream" } : headers,
        body,
        signal,
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      });
      if (res.statusCode >= 400) {
        const text = await readText(res.body, MAX_ERROR_BODY);
        throw anthropicStatusError(opts.id, res.statusCode, text, retryAfter(res.headers["retry-after"]));
      }
      return res;
    } catch (err) {
      throw transportError(opts.id, err, signal);
    }
  }

  return {
    kind: "anthropic",
    async chat(req, model, signal) {
      const res = await send(req, model, false, signal);
      let text: string;
      try {
        text = await res.body.text();
      } catch (err) {
        throw transportError(opts.id, err, signal);
      }
      let json: AnthropicMessageResponse & { error?: { type?: string; message?: string } };
      try {
        json = JSON.parse(text);
      } catch {
        throw new ProviderError("upstream_error", `${opts.id} returned a body that is not JSON: ${parseError(text).message}`, true, { code: "upstream_garbage" });
      }
      if (json && typeof json === "object" && (json as { type?: unknown }).type === "error") throw anthropicStatusError(opts.id, 500, text);
      if (!json || typeof json !== "object" || !Array.isArray(json.content))
        throw new ProviderError("upstream_error", `${opts.id} returned JSON without 'content'`, true, { code: "upstream_garbage" });
      return responseFromAnthropic(json);
    },
    async *stream(req, model, signal) {
      const res = await send(req, model, true, signal);
      const tr = new AnthropicStreamTranslator(opts.id);
      try {
        for await (const ev of parseSse(res.body)) {
          let json: AnthropicStreamEvent;
          try {
            json = JSON.parse(ev.data);
          } catch {
            throw new ProviderError("upstream_error", `${opts.id} sent a stream event that is not JSON`, false, { code: "upstream_garbage" });
          }
          if (!json || typeof json !== "object" || typeof json.type !== "string")
            throw new ProviderError("upstream_error", `${opts.id} sent a stream event without 'type'`, false, { code: "upstream_garbage" });
          yield* tr.push(json);
          if (tr.done) break;
        }
      } catch (err) {
        if (err instanceof ProviderError || signal.aborted) throw transportError(opts.id, err, signal);
        const code = (err as NodeJS.ErrnoException).code ?? "";
        throw new ProviderError("upstream_error", `${opts.id} broke the stream mid-way${code ? ` (${code})` : ""}`, false, { code: "upstream_stream_cut" });
      } finally {
        if (!tr.done) res.body.destroy();
      }
      if (!tr.done)
        throw new ProviderError("upstream_error", `${opts.id} ended the stream before message_stop`, false, { code: "upstream_stream_cut" });
    },
    close: () => pool.close(),
  };
}

function transportError(id: string, err: unknown, signal: AbortSignal): ProviderError {
  if (err instanceof ProviderError) return err;
  if (signal.aborted) return new ProviderError("timeout", `call to ${id} was cancelled`, false, { code: "cancelled" });
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.BodyTimeoutError || err instanceof undiciErrors.ConnectTimeoutError)
    return new ProviderError("timeout", `${id} did not answer in time`, true, { code: "upstream_timeout" });
  const code = (err as NodeJS.ErrnoException).code ?? "";
  return new ProviderError("upstream_error", `cannot reach ${id}${code ? ` (${code})` : ""}`, true, { code: "upstream_unreachable" });
}
