import { Pool, errors as undiciErrors } from "undici";
import {
  chunkFromOpenAI,
  parseSse,
  requestToOpenAI,
  responseFromOpenAI,
  type OpenAIChatChunk,
  type OpenAIChatCompletion,
} from "@tessera/openai-format";
import type { ChatRequest } from "@tessera/gen/tessera/chat/v1/chat_pb";
import type { ProviderAdapter } from "../types.js";
import { ProviderError, upstreamStatusError } from "../errors.js";

/** Options for {@link createOpenAIAdapter}. */
export interface OpenAIAdapterOptions {
  /** Provider id from configuration, for error messages. */
  id: string;
  /** e.g. https://api.openai.com/v1 — the path prefix is kept. */
  baseUrl: string;
  /** Sent as `Authorization: Bearer`; omitted when undefined (local vLLM/Ollama). */
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

function errorMessage(text: string): string {
  try {
    const j = JSON.parse(text) as { error?: { message?: unknown } | string; message?: unknown };
    if (typeof j.error === "string") return j.error;
    if (j.error && typeof j.error.message === "string") return j.error.message;
    if (typeof j.message === "string") return j.message;
  } catch {
    /* not JSON */
  }
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > 200 ? `${flat.slice(0, 200)}…` : flat || "(empty body)";
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
 * The OpenAI chat-completions adapter (also any OpenAI-compatible server). One undici Pool
 * per adapter keeps connections to the origin alive across calls; bodies stream through.
 */
export function createOpenAIAdapter(opts: OpenAIAdapterOptions): ProviderAdapter {
  const url = new URL(opts.baseUrl);
  const basePath = url.pathname.replace(/\/+$/, "");
  const pool = new Pool(url.origin, {
    connections: opts.connections,
    pipelining: 1,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 600_000,
    connect: { timeout: 10_000 },
  });
  const headers: Record<string, string> = { "content-type": "application/json", accept: "application/json" };
  if (opts.apiKey) headers["authorization"] = `Bearer ${opts.apiKey}`;
  const path = `${basePath}/chat/completions`;

  async function send(req: ChatRequest, model: string, stream: boolean, signal: AbortSignal) {
    const body = JSON.stringify(requestToOpenAI(req, model, stream));
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
        throw upstreamStatusError(opts.id, res.statusCode, errorMessage(text), retryAfter(res.headers["retry-after"]));
      }
      return res;
    } catch (err) {
      throw transportError(opts.id, err, signal);
    }
  }

  return {
    kind: "openai",
    async chat(req, model, signal) {
      const res = await send(req, model, false, signal);
      let text: string;
      try {
        text = await res.body.text();
      } catch (err) {
        throw transportError(opts.id, err, signal);
      }
      let json: OpenAIChatCompletion;
      try {
        json = JSON.parse(text) as OpenAIChatCompletion;
      } catch {
        throw new ProviderError("upstream_error", `${opts.id} returned a body that is not JSON: ${errorMessage(text)}`, true, { code: "upstream_garbage" });
      }
      if (!json || typeof json !== "object" || !Array.isArray(json.choices))
        throw new ProviderError("upstream_error", `${opts.id} returned JSON without 'choices'`, true, { code: "upstream_garbage" });
      return responseFromOpenAI(json);
    },
    async *stream(req, model, signal) {
      const res = await send(req, model, true, signal);
      let finished = false;
      try {
        for await (const ev of parseSse(res.body)) {
          if (ev.data === "[DONE]") {
            finished = true;
            break;
          }
          let json: OpenAIChatChunk & { error?: { message?: string } };
          try {
            json = JSON.parse(ev.data);
          } catch {
            throw new ProviderError("upstream_error", `${opts.id} sent a stream event that is not JSON`, false, { code: "upstream_garbage" });
          }
          if (json.error) throw new ProviderError("upstream_error", `${opts.id} stream error: ${json.error.message ?? "unknown"}`, false, { code: "upstream_stream_error" });
          if (!Array.isArray(json.choices))
            throw new ProviderError("upstream_error", `${opts.id} sent a stream chunk without 'choices'`, false, { code: "upstream_garbage" });
          yield chunkFromOpenAI(json);
        }
      } catch (err) {
        if (err instanceof ProviderError || signal.aborted) throw transportError(opts.id, err, signal);
        const code = (err as NodeJS.ErrnoException).code ?? "";
        throw new ProviderError("upstream_error", `${opts.id} broke the stream mid-way${code ? ` (${code})` : ""}`, false, { code: "upstream_stream_cut" });
      } finally {
        if (!finished) res.body.destroy();
      }
      if (!finished)
        throw new ProviderError("upstream_error", `${opts.id} ended the stream before [DONE]`, false, { code: "upstream_stream_cut" });
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
