import { Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { GeminiStreamEncoder, encodeGeminiSse, errorToGemini, parseGeminiRequest, responseToGemini } from "@tessera/gemini-format";
import { TesseraError, withServerSpan, type Logger } from "@tessera/runtime";
import type { CallPipeline } from "../domain/call.js";
import { createChatEndpoint, sendFormatError, type ChatFormat } from "./chat-endpoint.js";
import { credentialOf, type Req } from "./http.js";
import type { Res } from "./http.js";

/** Options of the Gemini-compatible REST surface. */
export interface GeminiSurfaceOptions {
  pipeline: CallPipeline;
  maxBodyBytes: number;
  log: Logger;
}

/** `/v1beta/models/{model}:{method}` (also `/v1/…`); the model may be URL-encoded. */
const ROUTE = /^\/v1(?:beta)?\/models\/([^/:]+):([A-Za-z]+)$/;

interface Target {
  model: string;
  method: string;
  query: URLSearchParams;
}

function target(req: Req): Target | undefined {
  const url = req.url ?? "";
  const q = url.indexOf("?");
  const path = q < 0 ? url : url.slice(0, q);
  const m = ROUTE.exec(path);
  if (!m) return undefined;
  let model = m[1]!;
  try {
    model = decodeURIComponent(model);
  } catch {
    /* keep as is */
  }
  return { model, method: m[2]!, query: new URLSearchParams(q < 0 ? "" : url.slice(q + 1)) };
}

/** Google streams SSE with `?alt=sse`; without it, a JSON array of response chunks. */
function wantsSse(req: Req): boolean {
  return target(req)?.query.get("alt") === "sse";
}

/**
 * Gemini's generateContent format: JSON, or (streamGenerateContent) one GenerateContentResponse
 * per `data:` event with alt=sse, else a JSON array of them. The model and the stream flag come
 * from the URL; the key from `x-goog-api-key` or `?key=` (then the usual Authorization/x-api-key).
 */
const GEMINI: ChatFormat = {
  name: "Gemini",
  surface: Surface.GEMINI,
  parse(body, req) {
    const t = target(req);
    return parseGeminiRequest(body, t?.model ?? "", t?.method === "streamGenerateContent");
  },
  credential(req) {
    const h = req.headers["x-goog-api-key"];
    const header = (Array.isArray(h) ? h[0] : h)?.trim();
    if (header) return header;
    const key = target(req)?.query.get("key")?.trim();
    if (key) return key;
    return credentialOf(req.headers);
  },
  response: responseToGemini,
  stream(request, _requestId, req) {
    const encoder = new GeminiStreamEncoder({ model: request.model });
    if (wantsSse(req))
      return {
        chunk: (c) => encoder.push(c).map(encodeGeminiSse).join(""),
        end: () => encoder.finish().map(encodeGeminiSse).join(""),
        error: (e) => encodeGeminiSse(errorToGemini(e)),
      };
    // The JSON-array form: `[` before the first chunk, `,` between, `]` at the end.
    let started = false;
    const item = (json: string) => {
      const sep = started ? ",\r\n" : "[";
      started = true;
      return sep + json;
    };
    return {
      contentType: "application/json",
      chunk: (c) => encoder.push(c).map((r) => item(JSON.stringify(r))).join(""),
      end: () => encoder.finish().map((r) => item(JSON.stringify(r))).join("") + (started ? "]" : "[]"),
      error: (e) => item(JSON.stringify(errorToGemini(e))) + "]",
    };
  },
  error: (e) => errorToGemini(e),
};

/**
 * The Gemini-compatible surface: POST /v1beta/models/{model}:generateContent and
 * :streamGenerateContent (alt=sse, or a JSON array), so Google's SDKs work against Tessera
 * whatever provider serves the model. Errors are Google error JSON ({error:{code,message,
 * status}}). Any other /v1beta path is a Google-style 404. Returns false when the path is not
 * this surface's.
 */
export function createGeminiSurface(opts: GeminiSurfaceOptions) {
  const generate = createChatEndpoint(GEMINI, opts);
  return (req: Req, res: Res): boolean => {
    const url = req.url ?? "";
    if (!url.startsWith("/v1beta/") && !ROUTE.test(url.split("?")[0]!)) return false;
    const t = target(req);
    if (!t || (t.method !== "generateContent" && t.method !== "streamGenerateContent")) {
      // Never echo the URL: it may hold ?key=.
      const path = url.split("?")[0]!;
      sendFormatError(res, GEMINI, opts.log, new TesseraError("not_found", `Method not found: ${req.method} ${path}. Tessera serves models/{model}:generateContent and :streamGenerateContent.`, { code: "unknown_url" }));
      return true;
    }
    if (req.method !== "POST") {
      sendFormatError(res, GEMINI, opts.log, new TesseraError("invalid_request", `Method ${req.method} is not allowed on models/{model}:${t.method}; use POST.`, { status: 405, code: "method_not_allowed" }));
      return true;
    }
    void withServerSpan(`POST /v1beta/models/{model}:${t.method}`, req.headers, () => generate(req, res));
    return true;
  };
}
