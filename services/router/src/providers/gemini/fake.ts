import * as http from "node:http";
import { listenLoopback } from "../fake-server.js";

/** How the fake answers the next calls. */
export type FakeGeminiMode = "ok" | "error_429" | "error_503" | "error_400" | "garbage" | "cut_stream" | "blocked";

/** A recorded upstream request. */
export interface FakeGeminiCall {
  /** Path with query, e.g. /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse */
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A running fake Gemini server. */
export interface FakeGemini {
  /** Base URL including /v1beta, as the adapter's baseUrl. */
  url: string;
  calls: FakeGeminiCall[];
  mode: FakeGeminiMode;
  close(): Promise<void>;
}

/** The key the fake accepts; any other key gets Google's 400 API_KEY_INVALID. */
export const FAKE_GEMINI_KEY = "fake-gemini-key";

interface Part {
  text?: string;
  functionCall?: unknown;
}

function lastUserText(body: Record<string, unknown>): string {
  const contents = (body["contents"] as { role?: string; parts?: Part[] }[]) ?? [];
  for (let i = contents.length - 1; i >= 0; i--) {
    const c = contents[i]!;
    if ((c.role ?? "user") !== "user") continue;
    const text = (c.parts ?? []).map((p) => p.text ?? "").join("");
    if (text) return text;
  }
  return "";
}

const SAFETY_RATINGS = [
  { category: "HARM_CATEGORY_SEXUALLY_EXPLICIT", probability: "NEGLIGIBLE" },
  { category: "HARM_CATEGORY_HATE_SPEECH", probability: "NEGLIGIBLE" },
  { category: "HARM_CATEGORY_HARASSMENT", probability: "NEGLIGIBLE" },
  { category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "NEGLIGIBLE" },
];

/**
 * A local stand-in for generativelanguage.googleapis.com/v1beta, answering
 * `POST /v1beta/models/{model}:generateContent` with a GenerateContentResponse and
 * `:streamGenerateContent?alt=sse` with SSE events (`data: <GenerateContentResponse>` and
 * CRLF CRLF between events, as Google sends them: one chunk per word, each with cumulative
 * usageMetadata, finishReason STOP on the last), and Google's error JSON
 * `{error:{code,message,status,details}}`. It needs `x-goog-api-key` (missing → 403
 * PERMISSION_DENIED, wrong → 400 INVALID_ARGUMENT/API_KEY_INVALID). The answer is
 * "Echo: <last user text>"; with tools, a functionCall of the first declared function with
 * args {"city":"Paris"}. It records every request. Loopback only.
 */
export async function startFakeGemini(opts: { record?: boolean } = {}): Promise<FakeGemini> {
  const record = opts.record ?? true;
  let seq = 0;
  const state: FakeGemini = { url: "", calls: [], mode: "ok", close: async () => {} };
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const err = (code: number, status: string, message: string, details?: unknown[], headers: Record<string, string> = {}) => {
        res.writeHead(code, { "content-type": "application/json; charset=UTF-8", ...headers });
        res.end(JSON.stringify({ error: { code, message, status, ...(details ? { details } : {}) } }, null, 2));
      };
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(parts).toString("utf8"));
      } catch {
        return err(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.");
      }
      if (record) state.calls.push({ path: req.url ?? "", headers: req.headers, body });
      const m = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent)(\?alt=sse)?$/.exec(req.url ?? "");
      if (req.method !== "POST" || !m) return err(404, "NOT_FOUND", `The requested URL ${req.url} was not found on this server.`);
      const key = req.headers["x-goog-api-key"];
      if (!key) return err(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
      if (key !== FAKE_GEMINI_KEY)
        return err(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
          { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com", metadata: { service: "generativelanguage.googleapis.com" } },
        ]);
      const stream = m[2] === "streamGenerateContent";
      switch (state.mode) {
        case "error_429":
          return err(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.", [
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "7s" },
          ]);
        case "error_503":
          return err(503, "UNAVAILABLE", "The model is overloaded. Please try again later.");
        case "error_400":
          return err(400, "INVALID_ARGUMENT", "* GenerateContentRequest.generation_config.temperature: must be at most 2\n");
        case "garbage":
          res.writeHead(200, { "content-type": stream ? "text/event-stream" : "application/json" });
          res.end(stream ? "data: {not json\r\n\r\n" : "<html>502 Bad Gateway</html>");
          return;
      }
      const model = decodeURIComponent(m[1]!);
      const responseId = `fakeResp${++seq}`;
      const promptTokens = JSON.stringify(body["contents"]).length >> 2;
      const tools = body["tools"] as { functionDeclarations?: { name: string }[] }[] | undefined;
      const fnName = tools?.[0]?.functionDeclarations?.[0]?.name;
      const text = `Echo: ${lastUserText(body)}`;
      if (state.mode === "blocked") {
        const blocked = { promptFeedback: { blockReason: "SAFETY", safetyRatings: SAFETY_RATINGS }, usageMetadata: { promptTokenCount: promptTokens, totalTokenCount: promptTokens }, modelVersion: model, responseId };
        res.writeHead(200, { "content-type": stream ? "text/event-stream" : "application/json" });
        res.end(stream ? `data: ${JSON.stringify(blocked)}\r\n\r\n` : JSON.stringify(blocked));
        return;
      }
      const usage = (candidates: number) => ({ promptTokenCount: promptTokens, candidatesTokenCount: candidates, totalTokenCount: promptTokens + candidates, promptTokensDetails: [{ modality: "TEXT", tokenCount: promptTokens }] });
      if (!stream) {
        const part = fnName ? { functionCall: { name: fnName, args: { city: "Paris" } } } : { text };
        res.writeHead(200, { "content-type": "application/json; charset=UTF-8" });
        res.end(
          JSON.stringify({
            candidates: [{ content: { parts: [part], role: "model" }, finishReason: "STOP", index: 0, safetyRatings: SAFETY_RATINGS }],
            usageMetadata: usage(fnName ? 5 : text.split(/\s+/).length),
            modelVersion: model,
            responseId,
          }),
        );
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const pieces: Part[][] = fnName ? [[{ functionCall: { name: fnName, args: { city: "Paris" } } }]] : (text.match(/\S+\s*/g) ?? [""]).map((w) => [{ text: w }]);
      const events = pieces.map((p, i) => {
        const last = i === pieces.length - 1;
        const chunk = {
          candidates: [{ content: { parts: p, role: "model" }, ...(last ? { finishReason: "STOP" } : {}), index: 0 }],
          usageMetadata: usage(i + 1),
          modelVersion: model,
          responseId,
        };
        return `data: ${JSON.stringify(chunk)}\r\n\r\n`;
      });
      if (state.mode === "cut_stream") {
        // The first chunk (or two), then the connection drops mid-stream.
        res.write(events[0]!);
        if (events.length > 2) res.write(events[1]!);
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      res.end(events.join(""));
    });
  });
  const listening = await listenLoopback(server);
  state.url = `${listening.origin}/v1beta`;
  state.close = listening.close;
  return state;
}
