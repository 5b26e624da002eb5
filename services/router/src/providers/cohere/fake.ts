import * as http from "node:http";
import { listenLoopback, onBody, parseJsonBody } from "../fake-server.js";
import {
  SCENARIO_USAGE,
  scenarioAnswer,
  scenarioArgFragments,
  scenarioTextPieces,
  type FakeMode,
  type ProviderFake,
  type ScenarioAnswer,
  type ScenarioInput,
} from "../fake-scenario.js";

/**
 * How the fake answers the next calls: the shared modes, plus Cohere's own 402 (billing), 498
 * (blocked content) and 499 (cancelled) statuses, and `stream_error`, a generation that ends
 * with finish_reason ERROR.
 */
export type FakeCohereMode = FakeMode | "error_402" | "error_498" | "error_499" | "stream_error";

/** A running fake Cohere API. `url` is the origin, as the real base URL https://api.cohere.com. */
export type FakeCohere = ProviderFake<FakeCohereMode>;

/** Options for {@link startFakeCohere}. */
export interface FakeCohereOptions {
  /** Record requests in `calls` (default true; benchmarks turn it off). */
  record?: boolean;
  /** In mode `slow`, how long the fake waits before it starts answering (default {@link FAKE_COHERE_SLOW_MS}). */
  slowMs?: number;
}

/** The API key the fake accepts; any other bearer token gets Cohere's 401 "invalid api token". */
export const FAKE_COHERE_KEY = "fake-cohere-key";

/** How long mode `slow` waits before answering, unless {@link FakeCohereOptions.slowMs} says otherwise. */
export const FAKE_COHERE_SLOW_MS = 2_000;

/** Vector size when the request names no output_dimension (embed-v4's default). */
export const FAKE_COHERE_DEFAULT_DIMENSIONS = 1536;

/** Values Cohere documents for output_dimension. */
const DIMENSIONS: ReadonlySet<number> = new Set([256, 512, 1024, 1536]);

/** Retry-After the fake sends with its 429 (Cohere's docs do not say whether it sends one). */
export const FAKE_COHERE_RETRY_AFTER_S = 7;

/**
 * The fake's embedding of a text: `dims` float32 values in [-1, 1) from a PRNG seeded with the
 * text's FNV-1a hash, so the same text always gets the same vector and tests can recompute it.
 */
export function fakeCohereVector(text: string, dims: number): number[] {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(text, "utf8")) h = Math.imul(h ^ b, 0x01000193) >>> 0;
  let s = h || 1;
  const out: number[] = [];
  for (let i = 0; i < dims; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out.push(Math.fround(s / 0x80000000 - 1));
  }
  return out;
}

/** Billed input tokens the fake reports for an embed call: the words of all texts. */
export function fakeCohereEmbedTokens(texts: string[]): number {
  return texts.reduce((n, t) => n + (t.match(/\S+/g)?.length ?? 0), 0);
}

type Json = Record<string, unknown>;
type Block = { type?: string; text?: string; document?: { data?: unknown } };

/** Text of a Cohere content value: a string, or the text (and document data) of its blocks. */
function textOf(content: unknown): string {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return "";
  return (content as Block[]).map((b) => (b.type === "text" ? (b.text ?? "") : b.type === "document" ? JSON.stringify(b.document?.data ?? {}) : "")).join("");
}

/**
 * What the scenario needs from a v2 chat body: the text of the last user message, the last
 * tool result when the conversation ends with a tool message, and the offered functions.
 * Cohere has no parallel-tool-calls switch, so the fake always allows several calls (the
 * adapter trims them when the caller disabled parallel calls).
 */
export function cohereScenarioInput(body: Json): ScenarioInput {
  const messages = Array.isArray(body["messages"]) ? (body["messages"] as { role?: string; content?: unknown }[]) : [];
  const last = messages[messages.length - 1];
  const lastUser = [...messages].reverse().find((m) => m.role === "user");
  const tools = Array.isArray(body["tools"]) ? (body["tools"] as { function?: { name?: string } }[]) : [];
  return {
    lastUserText: textOf(lastUser?.content),
    lastToolResult: last?.role === "tool" ? textOf(last.content) : undefined,
    toolNames: tools.map((t) => t.function?.name ?? ""),
    parallelToolCalls: true,
  };
}

/** A message from the errors page for a request the real API would reject, or undefined. */
function chatRequestError(body: Json): string | undefined {
  if (typeof body["model"] !== "string" || body["model"] === "") return "a model parameter is required for this endpoint.";
  const messages = body["messages"];
  if (!Array.isArray(messages) || messages.length === 0) return "invalid request: messages must not be empty.";
  if ((messages as { role?: string; tool_call_id?: unknown }[]).some((m) => m.role === "tool" && !m.tool_call_id)) return "tool call id must be provided with tool message";
  return undefined;
}

function embedRequestError(body: Json): string | undefined {
  if (typeof body["model"] !== "string" || body["model"] === "") return "a model parameter is required for this endpoint.";
  if (typeof body["input_type"] !== "string") return "invalid request: valid input_type must be provided with the provided model";
  if (!Array.isArray(body["embedding_types"])) return "embedding_types parameter is required";
  const texts = body["texts"];
  if (!Array.isArray(texts) || texts.some((t) => typeof t !== "string")) return "invalid request: texts must be a list of strings.";
  if (texts.length > 96) return `invalid request: total number of texts must be at most 96 - received ${texts.length}`;
  const dims = body["output_dimension"];
  if (dims !== undefined && !DIMENSIONS.has(dims as number)) return "invalid request: output_dimension must be one of 256, 512, 1024, 1536.";
  return undefined;
}

/**
 * {@link SCENARIO_USAGE} in Cohere's usage fields: `tokens` and `billed_units` both carry the
 * prompt and completion counts, and `cached_tokens` the cached part of the prompt. Cohere
 * reports no reasoning tokens apart.
 */
export const FAKE_COHERE_USAGE = {
  billed_units: { input_tokens: SCENARIO_USAGE.prompt, output_tokens: SCENARIO_USAGE.completion },
  tokens: { input_tokens: SCENARIO_USAGE.prompt, output_tokens: SCENARIO_USAGE.completion },
  cached_tokens: SCENARIO_USAGE.cached,
};

/** A UUID-shaped id, deterministic per call. */
const fakeId = (seq: number) => `00000000-0000-4000-8000-${seq.toString(16).padStart(12, "0")}`;

/** Cohere-style tool call ids: the function name and 12 lowercase letters or digits. */
const callId = (name: string, seq: number, i: number) => `${name}_${(seq * 16 + i).toString(36).padStart(12, "0")}`;

/** The plan a Cohere model writes before calling tools. */
const toolPlan = (names: string[]) => `I will use the ${names.join(" and ")} tool${names.length > 1 ? "s" : ""}.`;

function chatJson(id: string, answer: ScenarioAnswer, seq: number): Json {
  if (answer.kind === "text")
    return { id, message: { role: "assistant", content: [{ type: "text", text: answer.text }] }, finish_reason: "COMPLETE", usage: FAKE_COHERE_USAGE };
  return {
    id,
    message: {
      role: "assistant",
      tool_plan: toolPlan(answer.calls.map((c) => c.name)),
      tool_calls: answer.calls.map((c, i) => ({ id: callId(c.name, seq, i), type: "function", function: { name: c.name, arguments: c.arguments } })),
    },
    finish_reason: "TOOL_CALL",
    usage: FAKE_COHERE_USAGE,
  };
}

/** One SSE event as Cohere writes it: the `event:` line repeats the data's type. */
const sse = (data: Json) => `event: ${String(data["type"])}\ndata: ${JSON.stringify(data)}\n\n`;

/** The documented event sequence of an answer, ending with message-end (ERROR when `fail`). */
function chatEvents(id: string, answer: ScenarioAnswer, seq: number, fail: boolean): string[] {
  const events = [sse({ id, type: "message-start", delta: { message: { role: "assistant", content: [], tool_plan: "", tool_calls: [], citations: [] } } })];
  if (answer.kind === "text") {
    events.push(sse({ type: "content-start", index: 0, delta: { message: { content: { type: "text", text: "" } } } }));
    const pieces = scenarioTextPieces(answer.text);
    for (const text of fail ? pieces.slice(0, 1) : pieces) events.push(sse({ type: "content-delta", index: 0, delta: { message: { content: { text } } } }));
    if (!fail) events.push(sse({ type: "content-end", index: 0 }));
  } else {
    for (const piece of scenarioTextPieces(toolPlan(answer.calls.map((c) => c.name)))) events.push(sse({ type: "tool-plan-delta", delta: { message: { tool_plan: piece } } }));
    answer.calls.forEach((c, index) => {
      events.push(sse({ type: "tool-call-start", index, delta: { message: { tool_calls: { id: callId(c.name, seq, index), type: "function", function: { name: c.name, arguments: "" } } } } }));
      for (const arguments_ of scenarioArgFragments(c.arguments))
        events.push(sse({ type: "tool-call-delta", index, delta: { message: { tool_calls: { function: { arguments: arguments_ } } } } }));
      events.push(sse({ type: "tool-call-end", index }));
    });
  }
  const end = fail
    ? { finish_reason: "ERROR", error: "internal server error, this has been reported to our developers." }
    : { finish_reason: answer.kind === "text" ? "COMPLETE" : "TOOL_CALL", usage: FAKE_COHERE_USAGE };
  events.push(sse({ type: "message-end", delta: end }));
  return events;
}

/** Cohere's error answer: the status and `{"message": …}`. */
function errorAnswer(res: http.ServerResponse, status: number, message: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ message }));
}

/**
 * Cohere's statuses and messages for the error modes: 400, 401, 402, 429 and 499 messages are
 * examples from docs.cohere.com/reference/errors, the 500 one is a live body quoted in
 * cohere-python issue 563, and the 498 one is made up (no example is published).
 */
const MODE_ERRORS: Partial<Record<FakeCohereMode, { status: number; message: string; headers?: Record<string, string> }>> = {
  error_429: { status: 429, message: "You are past the per minute request limit, please wait and try again later.", headers: { "retry-after": String(FAKE_COHERE_RETRY_AFTER_S) } },
  error_500: { status: 500, message: "internal server error, this has been reported to our developers. id 00000000-0000-4000-8000-000000000500" },
  error_400: { status: 400, message: "invalid request: temperature must be between 0 and 1.0 inclusive." },
  error_401: { status: 401, message: "invalid api token" },
  error_402: { status: 402, message: "Please add or update your payment method at https://dashboard.cohere.com/billing?tab=payment to continue" },
  error_498: { status: 498, message: "blocked input: please adjust your prompt and try again, as it may be a potential violation of our Usage Guidelines (https://docs.cohere.com/docs/usage-guidelines)." },
  error_499: { status: 499, message: "request cancelled" },
};

/** A 200 whose body is not Cohere's: HTML, or an SSE event whose data is not JSON. */
function garbageAnswer(res: http.ServerResponse, stream: boolean): void {
  res.writeHead(200, { "content-type": stream ? "text/event-stream" : "application/json" });
  res.end(stream ? "event: message-start\ndata: {not json\n\n" : "<html>502 Bad Gateway</html>");
}

/** `POST /v2/embed`: one float vector per text, in order, as Cohere's EmbedByTypeResponse. */
function embedAnswer(res: http.ServerResponse, body: Json, id: string): void {
  const problem = embedRequestError(body);
  if (problem) return errorAnswer(res, 400, problem);
  const texts = body["texts"] as string[];
  const dims = (body["output_dimension"] as number | undefined) ?? FAKE_COHERE_DEFAULT_DIMENSIONS;
  res.writeHead(200, { "content-type": "application/json" });
  res.end(
    JSON.stringify({
      id,
      texts,
      embeddings: { float: texts.map((t) => fakeCohereVector(t, dims)) },
      meta: { api_version: { version: "2" }, billed_units: { input_tokens: fakeCohereEmbedTokens(texts) } },
      response_type: "embeddings_by_type",
    }),
  );
}

/** `POST /v2/chat`: the scenario's answer as JSON or as the SSE event sequence. */
function chatAnswer(res: http.ServerResponse, body: Json, seq: number, stream: boolean, mode: FakeCohereMode): void {
  const problem = chatRequestError(body);
  if (problem) return errorAnswer(res, 400, problem);
  const id = fakeId(seq);
  const answer = scenarioAnswer(cohereScenarioInput(body));
  if (!stream) {
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(mode === "stream_error" ? { id, message: { role: "assistant", content: [] }, finish_reason: "ERROR" } : chatJson(id, answer, seq)));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
  const events = chatEvents(id, answer, seq, mode === "stream_error");
  if (mode === "cut_stream") {
    // message-start and the next event, then the connection drops mid-stream.
    res.write(events[0]!);
    res.write(events[1]!);
    setTimeout(() => res.socket?.destroy(), 50).unref();
    return;
  }
  res.end(events.join(""));
}

/**
 * A local stand-in for api.cohere.com, answering `POST /v2/chat` (a JSON answer, or with
 * `stream: true` the documented SSE sequence: message-start, content-start, content-delta…,
 * content-end, message-end; with tools, tool-plan-delta… and then, per call, tool-call-start,
 * tool-call-delta…, tool-call-end) and `POST /v2/embed` (float vectors from
 * {@link fakeCohereVector}, in input order, output_dimension honoured). Answers follow the shared
 * scenario (fake-scenario.ts) with its token counts. It needs `Authorization: Bearer
 * FAKE_COHERE_KEY` (missing → 401 "no api key supplied", wrong → 401 "invalid api token"), and
 * answers errors as Cohere does, `{"message": …}` with the status. Modes: error_* answer that
 * status; garbage answers 200 with a body that is not Cohere's; cut_stream drops the
 * connection after the first events; slow waits `slowMs` before answering; stream_error ends a
 * generation with finish_reason ERROR. Records every request. Loopback only.
 */
export async function startFakeCohere(opts: FakeCohereOptions = {}): Promise<FakeCohere> {
  const record = opts.record ?? true;
  const slowMs = opts.slowMs ?? FAKE_COHERE_SLOW_MS;
  let seq = 0;
  const state: FakeCohere = { url: "", calls: [], mode: "ok", close: async () => {} };

  const handle = (req: http.IncomingMessage, res: http.ServerResponse, body: Json) => {
    if (res.destroyed) return;
    const route = req.url;
    if (req.method !== "POST" || (route !== "/v2/chat" && route !== "/v2/embed")) return errorAnswer(res, 404, "404 page not found");
    const auth = req.headers["authorization"];
    if (!auth) return errorAnswer(res, 401, "no api key supplied");
    if (auth !== `Bearer ${FAKE_COHERE_KEY}`) return errorAnswer(res, 401, "invalid api token");
    const modeError = MODE_ERRORS[state.mode];
    if (modeError) return errorAnswer(res, modeError.status, modeError.message, modeError.headers);
    const stream = route === "/v2/chat" && body["stream"] === true;
    if (state.mode === "garbage") return garbageAnswer(res, stream);
    seq++;
    if (route === "/v2/embed") return embedAnswer(res, body, fakeId(seq));
    chatAnswer(res, body, seq, stream, state.mode);
  };

  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    onBody(req, (raw) => {
      const body = parseJsonBody<Json>(raw);
      if (body === undefined) return errorAnswer(res, 400, "invalid json syntax: the request body is not valid JSON");
      if (record) state.calls.push({ path: req.url ?? "", headers: req.headers, body });
      if (state.mode === "slow") setTimeout(() => handle(req, res, body), slowMs).unref();
      else handle(req, res, body);
    });
  });
  const listening = await listenLoopback(server);
  state.url = listening.origin;
  state.close = listening.close;
  return state;
}
