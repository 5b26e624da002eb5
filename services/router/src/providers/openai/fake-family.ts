/**
 * One fake server for the OpenAI family, speaking each member's dialect: OpenAI, Azure
 * OpenAI, Mistral, and a generic OpenAI-compatible server (vLLM-like). All answer what
 * {@link scenarioAnswer} says, in the member's documented wire format (see the fixtures
 * in each provider folder); the dialects differ in paths, auth, error bodies, what a stream
 * looks like and what the server refuses. Tests and benchmarks only; loopback only.
 */
import * as http from "node:http";
import { createHash } from "node:crypto";
import { setTimeout as delay } from "node:timers/promises";
import { listenLoopback, onBody } from "../fake-server.js";
import { scenarioAnswer, type FakeMode, type ProviderFake, type RecordedCall, type ScenarioInput } from "../fake-scenario.js";
import { AZURE_CONTENT_FILTER_BODY, DIALECTS, isObj, openAIError, type Dialect, type FamilyFlavour, type Json, type Reply, type Routed, type Turn } from "./fake-dialects.js";

export type { FamilyFlavour } from "./fake-dialects.js";

/**
 * Modes of the family fakes: the shared ones, plus Azure's content filter — `content_filter`
 * refuses the prompt (HTTP 400), `content_filter_output` filters the completion (HTTP 200,
 * finish_reason content_filter; in a stream after two words).
 */
export type FamilyFakeMode = FakeMode | "content_filter" | "content_filter_output";

/** Options of {@link startFakeFamily}. */
export interface FamilyFakeOptions {
  flavour: FamilyFlavour;
  /** Keep every request in `calls` (default true). */
  record?: boolean;
  /** Keys the fake accepts; "any" answers every request, with or without a key. */
  apiKeys: readonly string[] | "any";
  /** How long mode "slow" waits before answering (default 1000 ms). */
  slowMs?: number;
}

/** Text of an OpenAI message content: a string, or the text parts joined. */
function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return content
    .filter(isObj)
    .map((p) => (typeof p["text"] === "string" ? p["text"] : ""))
    .join("");
}

/** The parts of an OpenAI-shaped chat body the scenario depends on. */
export function familyScenarioInput(body: Json): ScenarioInput {
  const msgs = Array.isArray(body["messages"]) ? body["messages"].filter(isObj) : [];
  const last = msgs[msgs.length - 1];
  const lastUser = [...msgs].reverse().find((m) => m["role"] === "user");
  const tools = Array.isArray(body["tools"]) ? body["tools"].filter(isObj) : [];
  return {
    lastUserText: lastUser ? textOf(lastUser["content"]) : "",
    lastToolResult: last?.["role"] === "tool" ? textOf(last["content"]) : undefined,
    toolNames: tools.map((t) => (isObj(t["function"]) && typeof t["function"]["name"] === "string" ? t["function"]["name"] : "")),
    parallelToolCalls: body["parallel_tool_calls"] !== false,
  };
}

/** A deterministic vector for a text: values k/128, exact in float32 so base64 round-trips. */
export function fakeVector(text: string, dims: number): number[] {
  const h = createHash("sha256").update(text).digest();
  return Array.from({ length: dims }, (_, j) => (h[j % h.length]! - 128) / 128);
}

/** Vector length when the caller asks for none. */
export const FAKE_EMBEDDING_DIMS = 8;

// ---- the server ---------------------------------------------------------------------------

function send(res: http.ServerResponse, r: Reply): void {
  res.writeHead(r.status, { "content-type": "application/json", ...r.headers });
  res.end(JSON.stringify(r.body));
}

/** The embeddings answer: one vector per input, listed last input first to prove callers sort by index. */
function embeddingsReply(d: Dialect, flavour: FamilyFlavour, routed: Routed, body: Json): Reply {
  const input = typeof body["input"] === "string" ? [body["input"]] : body["input"];
  if (!Array.isArray(input) || input.length === 0 || !input.every((t) => typeof t === "string" && t !== ""))
    return { status: 400, body: openAIError("'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.", "invalid_request_error", null, null) };
  const dimsField = flavour === "mistral" ? body["output_dimension"] : body["dimensions"];
  const dims = typeof dimsField === "number" ? dimsField : FAKE_EMBEDDING_DIMS;
  const data = input.map((text, index) => ({ object: "embedding", embedding: fakeVector(text as string, dims), index })).reverse();
  return { status: 200, body: d.embeddings(routed.model, data) };
}

/** The request body as a JSON object (an empty one for other JSON), or undefined when it is not JSON. */
function parseBody(raw: string): Json | undefined {
  try {
    const parsed: unknown = JSON.parse(raw);
    return isObj(parsed) ? parsed : {};
  } catch {
    return undefined;
  }
}

/** The error reply of a failing mode, or undefined when the mode answers. */
function failureReply(d: Dialect, flavour: FamilyFlavour, mode: FamilyFakeMode, routed: Routed): Reply | undefined {
  if (mode === "error_429") return d.rateLimited(routed);
  if (mode === "error_500") return d.serverError;
  if (mode === "error_400") return d.badRequest;
  if (mode === "content_filter" && flavour === "azure") return { status: 400, body: AZURE_CONTENT_FILTER_BODY };
  return undefined;
}

/** A 200 whose body is not what was promised: HTML for JSON, a broken event for a stream. */
function writeGarbage(res: http.ServerResponse, stream: boolean): void {
  res.writeHead(200, { "content-type": stream ? "text/event-stream" : "application/json" });
  res.end(stream ? "data: {not json\n\n" : "<html>502 Bad Gateway</html>");
}

/** The seq-th answered chat call. */
function makeTurn(d: Dialect, seq: number, model: string, body: Json): Turn {
  const answer = scenarioAnswer(familyScenarioInput(body));
  return {
    id: d.completionId(seq),
    created: Math.floor(Date.now() / 1000),
    model,
    answer,
    callIds: answer.kind === "tools" ? answer.calls.map((_, i) => d.callId(seq, i)) : [],
    finish: answer.kind === "tools" ? "tool_calls" : "stop",
  };
}

/** Write chunks as SSE and `data: [DONE]`; or, cut, two events and then drop the connection. */
function writeStream(res: http.ServerResponse, chunks: Json[], cut: boolean): void {
  const events = chunks.map((c) => `data: ${JSON.stringify(c)}\n\n`);
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  if (cut) {
    // Two events, then the connection drops (after the gateway has started answering).
    res.write(events[0]!);
    res.write(events[1] ?? "");
    setTimeout(() => res.socket?.destroy(), 50);
    return;
  }
  res.end(events.join("") + "data: [DONE]\n\n");
}

/** A running fake of one OpenAI-family member. */
export type FamilyFake = ProviderFake<FamilyFakeMode>;

/**
 * Start a fake of one OpenAI-family member on a free loopback port. `url` is the base_url to
 * configure: `<origin>/v1` for OpenAI, Mistral and compatible servers, the bare origin for
 * Azure (the resource endpoint). Modes: ok; error_429 (with Retry-After, and Azure's
 * retry-after-ms); error_500; error_400; error_401 (as a wrong key); garbage (a non-JSON
 * body or stream event); cut_stream (two events, then the connection drops); slow (waits
 * `slowMs` first); Azure's content_filter / content_filter_output.
 */
export async function startFakeFamily(opts: FamilyFakeOptions): Promise<FamilyFake> {
  const d = DIALECTS[opts.flavour];
  const record = opts.record ?? true;
  const slowMs = opts.slowMs ?? 1000;
  let seq = 0;
  const state: FamilyFake = { url: "", calls: [], mode: "ok", close: async () => {} };

  const keyOk = (key: string) => state.mode !== "error_401" && (opts.apiKeys === "any" || opts.apiKeys.includes(key));

  async function answer(req: http.IncomingMessage, res: http.ServerResponse, raw: string): Promise<void> {
    const body = parseBody(raw);
    if (!body) return send(res, d.badJson);
    if (record) state.calls.push({ path: req.url ?? "", headers: req.headers, body } satisfies RecordedCall);
    const routed = d.route(req.method ?? "", req.url ?? "", body);
    if (!("endpoint" in routed)) return send(res, routed);
    const key = d.key(req.headers);
    if (!keyOk(key)) return send(res, d.unauthorized(key));
    const refused = d.validate(routed.endpoint, body);
    if (refused) return send(res, refused);
    const mode = state.mode;
    if (mode === "slow") await delay(slowMs);
    const failure = failureReply(d, opts.flavour, mode, routed);
    if (failure) return send(res, failure);
    const stream = routed.endpoint === "chat" && body["stream"] === true;
    if (mode === "garbage") return writeGarbage(res, stream);
    if (routed.endpoint === "embeddings") return send(res, embeddingsReply(d, opts.flavour, routed, body));
    const turn = makeTurn(d, ++seq, routed.model, body);
    const filtered = mode === "content_filter_output" && opts.flavour === "azure";
    if (!stream) return send(res, { status: 200, body: d.completion(turn, filtered) });
    const includeUsage = isObj(body["stream_options"]) && body["stream_options"]["include_usage"] === true;
    writeStream(res, d.chunks(turn, includeUsage, filtered), mode === "cut_stream");
  }

  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    onBody(req, (raw) => {
      answer(req, res, raw.toString("utf8")).catch(() => res.destroy());
    });
  });
  const listening = await listenLoopback(server);
  state.url = opts.flavour === "azure" ? listening.origin : `${listening.origin}/v1`;
  state.close = listening.close;
  return state;
}
