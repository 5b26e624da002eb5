import * as http from "node:http";
import { createHash } from "node:crypto";
import { listenLoopback, onBody, parseJsonBody } from "../fake-server.js";
import {
  SCENARIO_USAGE,
  scenarioAnswer,
  scenarioTextPieces,
  type FakeMode,
  type ProviderFake,
  type RecordedCall,
  type ScenarioInput,
} from "../fake-scenario.js";

/**
 * How the fake answers the next calls: the shared modes plus Google's 503 UNAVAILABLE and a
 * prompt blocked by the safety filters (promptFeedback.blockReason, no candidates).
 */
export type FakeGeminiMode = FakeMode | "error_503" | "blocked";

/** A recorded upstream request; `path` has the query, e.g. /v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse */
export type FakeGeminiCall = RecordedCall;

/** A running fake Gemini server. `url` is the base URL including /v1beta, as the adapter's baseUrl. */
export type FakeGemini = ProviderFake<FakeGeminiMode>;

/** The key the fake accepts; any other key gets Google's 400 API_KEY_INVALID. */
export const FAKE_GEMINI_KEY = "fake-gemini-key";

/** How long the "slow" mode waits before answering. */
export const FAKE_GEMINI_SLOW_MS = 2_000;

/** Vector length of the fake's embeddings when outputDimensionality is not given. */
export const FAKE_GEMINI_EMBED_DIMS = 8;

/**
 * {@link SCENARIO_USAGE} in Gemini's usageMetadata: promptTokenCount includes the cached
 * tokens (cachedContentTokenCount is a part of it), candidatesTokenCount excludes the
 * thoughts, which thoughtsTokenCount counts apart, and totalTokenCount is prompt + candidates
 * + thoughts.
 */
export const FAKE_GEMINI_USAGE = {
  promptTokenCount: SCENARIO_USAGE.prompt,
  candidatesTokenCount: SCENARIO_USAGE.completion - SCENARIO_USAGE.reasoning,
  totalTokenCount: SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion,
  cachedContentTokenCount: SCENARIO_USAGE.cached,
  thoughtsTokenCount: SCENARIO_USAGE.reasoning,
  promptTokensDetails: [{ modality: "TEXT", tokenCount: SCENARIO_USAGE.prompt }],
  cacheTokensDetails: [{ modality: "TEXT", tokenCount: SCENARIO_USAGE.cached }],
} as const;

/**
 * The fake's embedding of `text`: `dims` values in [-1, 1] drawn from SHA-256 of the text
 * (and the task type, as real task types change vectors), the same on every call.
 */
export function fakeGeminiEmbedding(text: string, dims: number = FAKE_GEMINI_EMBED_DIMS, taskType = ""): number[] {
  const out: number[] = [];
  for (let block = 0; out.length < dims; block++) {
    const h = createHash("sha256").update(`${taskType}\u0000${block}\u0000${text}`).digest();
    for (let i = 0; i + 1 < h.length && out.length < dims; i += 2) out.push(Math.round((h.readUInt16BE(i) / 65535) * 2_000_000 - 1_000_000) / 1_000_000);
  }
  return out;
}

interface Part {
  text?: string;
  functionCall?: unknown;
  functionResponse?: { name?: string; response?: Record<string, unknown> };
}

/**
 * The text of a functionResponse: Tessera (like most clients) wraps a plain-text tool result
 * as `{content: "<text>"}`; any other response object is its JSON.
 */
function functionResponseText(r: Part["functionResponse"]): string {
  const resp = r?.response ?? {};
  const keys = Object.keys(resp);
  if (keys.length === 1 && keys[0] === "content" && typeof resp["content"] === "string") return resp["content"];
  return JSON.stringify(resp);
}

/**
 * What the scenario needs from a GenerateContentRequest: the text of the last user turn that
 * has text, the last tool result (when the conversation ends with a functionResponse part),
 * and the declared functions. Gemini has no way to forbid parallel calls.
 */
export function geminiScenarioInput(body: Record<string, unknown>): ScenarioInput {
  const contents = (body["contents"] as { role?: string; parts?: Part[] }[] | undefined) ?? [];
  let lastUserText = "";
  for (let i = contents.length - 1; i >= 0; i--) {
    const c = contents[i]!;
    if ((c.role ?? "user") !== "user") continue;
    const text = (c.parts ?? []).map((p) => p.text ?? "").join("");
    if (text) {
      lastUserText = text;
      break;
    }
  }
  const last = contents[contents.length - 1];
  const lastPart = last && (last.role ?? "user") === "user" ? last.parts?.[last.parts.length - 1] : undefined;
  const tools = (body["tools"] as { functionDeclarations?: { name: string }[] }[] | undefined) ?? [];
  return {
    lastUserText,
    lastToolResult: lastPart?.functionResponse ? functionResponseText(lastPart.functionResponse) : undefined,
    toolNames: tools.flatMap((t) => (t.functionDeclarations ?? []).map((d) => d.name)),
    parallelToolCalls: true,
  };
}

const SAFETY_RATINGS = [
  { category: "HARM_CATEGORY_SEXUALLY_EXPLICIT", probability: "NEGLIGIBLE" },
  { category: "HARM_CATEGORY_HATE_SPEECH", probability: "NEGLIGIBLE" },
  { category: "HARM_CATEGORY_HARASSMENT", probability: "NEGLIGIBLE" },
  { category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "NEGLIGIBLE" },
];

const ROUTE = /^\/v1beta\/models\/([^/:]+):(generateContent|streamGenerateContent|batchEmbedContents)(\?alt=sse)?$/;

/**
 * A local stand-in for generativelanguage.googleapis.com/v1beta, answering
 * `POST /v1beta/models/{model}:generateContent` with a GenerateContentResponse,
 * `:streamGenerateContent?alt=sse` with SSE events (`data: <GenerateContentResponse>` and
 * CRLF CRLF between events, as Google sends them), `:batchEmbedContents` with
 * `{embeddings:[{values}]}` ({@link fakeGeminiEmbedding}; Google reports no usage for it), and
 * Google's error JSON `{error:{code,message,status,details}}`. It needs `x-goog-api-key`
 * (missing → 403 PERMISSION_DENIED, wrong → 400 INVALID_ARGUMENT/API_KEY_INVALID).
 *
 * Chat answers follow the shared scenario (fake-scenario.ts): "Echo: <last user text>" (one
 * chunk per word when streamed; usageMetadata with prompt counts on every chunk, the full
 * {@link FAKE_GEMINI_USAGE} and finishReason STOP on the last); with tools, whole functionCall
 * parts without ids in one chunk (Gemini never splits a call), finishReason STOP; after a
 * functionResponse, "Tool said: <result>". It records every request. Loopback only.
 */
export async function startFakeGemini(opts: { record?: boolean } = {}): Promise<FakeGemini> {
  const record = opts.record ?? true;
  let seq = 0;
  const state: FakeGemini = { url: "", calls: [], mode: "ok", close: async () => {} };
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    onBody(req, (raw) => {
      const err = (code: number, status: string, message: string, details?: unknown[], headers: Record<string, string> = {}) => {
        res.writeHead(code, { "content-type": "application/json; charset=UTF-8", ...headers });
        res.end(JSON.stringify({ error: { code, message, status, ...(details ? { details } : {}) } }, null, 2));
      };
      const body = parseJsonBody(raw);
      if (body === undefined) return err(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.");
      if (record) state.calls.push({ path: req.url ?? "", headers: req.headers, body });
      const m = ROUTE.exec(req.url ?? "");
      if (req.method !== "POST" || !m) return err(404, "NOT_FOUND", `The requested URL ${req.url} was not found on this server.`);
      const key = req.headers["x-goog-api-key"];
      if (!key) return err(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.");
      if (key !== FAKE_GEMINI_KEY)
        return err(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", [
          { "@type": "type.googleapis.com/google.rpc.ErrorInfo", reason: "API_KEY_INVALID", domain: "googleapis.com", metadata: { service: "generativelanguage.googleapis.com" } },
        ]);
      const method = m[2]!;
      const stream = method === "streamGenerateContent";
      switch (state.mode) {
        case "error_429":
          return err(429, "RESOURCE_EXHAUSTED", "You exceeded your current quota, please check your plan and billing details.", [
            { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "7s" },
          ]);
        case "error_503":
          return err(503, "UNAVAILABLE", "The model is overloaded. Please try again later.");
        case "error_500":
          return err(500, "INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting");
        case "error_400":
          return err(400, "INVALID_ARGUMENT", "* GenerateContentRequest.generation_config.temperature: must be at most 2\n");
        case "error_401":
          return err(401, "UNAUTHENTICATED", "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.");
        case "garbage":
          res.writeHead(200, { "content-type": stream ? "text/event-stream" : "application/json" });
          res.end(stream ? "data: {not json\r\n\r\n" : "<html>502 Bad Gateway</html>");
          return;
      }
      const model = decodeURIComponent(m[1]!);
      const n = ++seq;
      const answer = () => {
        if (res.destroyed) return;
        if (method === "batchEmbedContents") embed(res, model, body, err);
        else generate(res, state.mode, model, `fakeResp${n}`, stream, body);
      };
      if (state.mode === "slow") setTimeout(answer, FAKE_GEMINI_SLOW_MS);
      else answer();
    });
  });
  const listening = await listenLoopback(server);
  state.url = `${listening.origin}/v1beta`;
  state.close = listening.close;
  return state;
}

type ErrorWriter = (code: number, status: string, message: string) => void;

/** batchEmbedContents: every request's model must be the one in the URL, as Google checks. */
function embed(res: http.ServerResponse, model: string, body: Record<string, unknown>, err: ErrorWriter): void {
  const requests = body["requests"];
  if (!Array.isArray(requests) || requests.length === 0) return err(400, "INVALID_ARGUMENT", "* BatchEmbedContentsRequest.requests: at least one request is required\n");
  const embeddings: { values: number[] }[] = [];
  for (const [i, r] of (requests as { model?: string; content?: { parts?: Part[] }; taskType?: string; outputDimensionality?: number }[]).entries()) {
    if (r.model !== `models/${model}`)
      return err(400, "INVALID_ARGUMENT", `* BatchEmbedContentsRequest.requests[${i}].model: model in the request does not match the model in the URL (models/${model})\n`);
    const text = (r.content?.parts ?? []).map((p) => p.text ?? "").join("");
    embeddings.push({ values: fakeGeminiEmbedding(text, r.outputDimensionality ?? FAKE_GEMINI_EMBED_DIMS, r.taskType ?? "") });
  }
  res.writeHead(200, { "content-type": "application/json; charset=UTF-8" });
  res.end(JSON.stringify({ embeddings }));
}

function generate(res: http.ServerResponse, mode: FakeGeminiMode, model: string, responseId: string, stream: boolean, body: Record<string, unknown>): void {
  if (mode === "blocked") {
    const blocked = {
      promptFeedback: { blockReason: "SAFETY", safetyRatings: SAFETY_RATINGS },
      usageMetadata: { promptTokenCount: FAKE_GEMINI_USAGE.promptTokenCount, totalTokenCount: FAKE_GEMINI_USAGE.promptTokenCount },
      modelVersion: model,
      responseId,
    };
    res.writeHead(200, { "content-type": stream ? "text/event-stream" : "application/json" });
    res.end(stream ? `data: ${JSON.stringify(blocked)}\r\n\r\n` : JSON.stringify(blocked));
    return;
  }
  const answer = scenarioAnswer(geminiScenarioInput(body));
  const callParts = (): Part[] => (answer.kind === "tools" ? answer.calls.map((c) => ({ functionCall: { name: c.name, args: JSON.parse(c.arguments) } })) : []);
  if (!stream) {
    const parts = answer.kind === "text" ? [{ text: answer.text }] : callParts();
    res.writeHead(200, { "content-type": "application/json; charset=UTF-8" });
    res.end(
      JSON.stringify({
        candidates: [{ content: { parts, role: "model" }, finishReason: "STOP", index: 0, safetyRatings: SAFETY_RATINGS }],
        usageMetadata: FAKE_GEMINI_USAGE,
        modelVersion: model,
        responseId,
      }),
    );
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const pieces: Part[][] = answer.kind === "text" ? scenarioTextPieces(answer.text).map((w) => [{ text: w }]) : [callParts()];
  // As Google streams: prompt counts on every chunk, the complete usage on the last one.
  const partial = { promptTokenCount: FAKE_GEMINI_USAGE.promptTokenCount, totalTokenCount: FAKE_GEMINI_USAGE.promptTokenCount, promptTokensDetails: FAKE_GEMINI_USAGE.promptTokensDetails };
  const events = pieces.map((p, i) => {
    const last = i === pieces.length - 1;
    const chunk = {
      candidates: [{ content: { parts: p, role: "model" }, ...(last ? { finishReason: "STOP" } : {}), index: 0 }],
      usageMetadata: last ? FAKE_GEMINI_USAGE : partial,
      modelVersion: model,
      responseId,
    };
    return `data: ${JSON.stringify(chunk)}\r\n\r\n`;
  });
  if (mode === "cut_stream") {
    // The first chunk (or two), then the connection drops mid-stream.
    res.write(events[0]!);
    if (events.length > 2) res.write(events[1]!);
    setTimeout(() => res.socket?.destroy(), 50);
    return;
  }
  res.end(events.join(""));
}
