import * as http from "node:http";
import { listenLoopback, onBody, parseJsonBody } from "../fake-server.js";
import {
  SCENARIO_TOOL_ARGS,
  SCENARIO_USAGE,
  scenarioAnswer,
  scenarioArgFragments,
  scenarioTextPieces,
  type FakeMode,
  type ProviderFake,
  type RecordedCall,
  type ScenarioInput,
} from "../fake-scenario.js";

/**
 * How the fake answers the next calls: the shared modes plus Anthropic's own 529
 * overloaded_error and an `event: error` in the middle of a stream.
 */
export type FakeAnthropicMode = FakeMode | "error_529" | "stream_error";

/** A recorded upstream request. */
export type FakeAnthropicCall = RecordedCall;

/** A running fake Anthropic server. `url` is the base URL including /v1, as configured for the real API. */
export type FakeAnthropic = ProviderFake<FakeAnthropicMode>;

/** A key to configure for the fake (it accepts any `x-api-key`, as tests use several). */
export const FAKE_ANTHROPIC_KEY = "sk-ant-fake-upstream-secret";

/** How long the "slow" mode waits before answering. */
export const FAKE_ANTHROPIC_SLOW_MS = 2_000;

/** The input_json_delta fragments of the first tool call's input: they concatenate to {"city":"Paris"}. */
export const FAKE_TOOL_FRAGMENTS: readonly string[] = ["", ...scenarioArgFragments(SCENARIO_TOOL_ARGS[0])];

type Block = { type: string; text?: string; content?: string | Block[] };
type Msg = { role: string; content: string | Block[] };

function blocksText(content: string | Block[] | undefined): string {
  if (content === undefined) return "";
  if (typeof content === "string") return content;
  return content
    .filter((b) => b.type === "text")
    .map((b) => b.text ?? "")
    .join("");
}

/**
 * What the scenario needs from a Messages request: the last user text, the last tool result
 * (when the conversation ends with a tool_result block, i.e. the caller added nothing after
 * the results), the tools, and whether tool_choice.disable_parallel_tool_use is set.
 */
export function anthropicScenarioInput(body: Record<string, unknown>): ScenarioInput {
  const msgs = (body["messages"] as Msg[] | undefined) ?? [];
  let lastUserText = "";
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]!;
    if (m.role !== "user") continue;
    const text = blocksText(m.content);
    if (text) {
      lastUserText = text;
      break;
    }
  }
  const last = msgs[msgs.length - 1];
  const lastBlock = last?.role === "user" && Array.isArray(last.content) ? last.content[last.content.length - 1] : undefined;
  const toolChoice = body["tool_choice"] as { disable_parallel_tool_use?: boolean } | undefined;
  return {
    lastUserText,
    lastToolResult: lastBlock?.type === "tool_result" ? blocksText(lastBlock.content) : undefined,
    toolNames: ((body["tools"] as { name: string }[] | undefined) ?? []).map((t) => t.name),
    parallelToolCalls: toolChoice?.disable_parallel_tool_use !== true,
  };
}

/**
 * {@link SCENARIO_USAGE} in Anthropic's fields: input_tokens excludes cache reads, which are
 * counted apart in cache_read_input_tokens; output_tokens includes thinking (Anthropic has no
 * separate reasoning count in the classic usage object).
 */
export const FAKE_ANTHROPIC_USAGE = {
  input_tokens: SCENARIO_USAGE.prompt - SCENARIO_USAGE.cached,
  cache_creation_input_tokens: 0,
  cache_read_input_tokens: SCENARIO_USAGE.cached,
  output_tokens: SCENARIO_USAGE.completion,
} as const;

/**
 * A local stand-in for api.anthropic.com's POST /v1/messages, answering in the documented
 * wire format: a Message object, or the SSE sequence with `event:` lines (message_start,
 * content_block_start, ping, content_block_delta…, content_block_stop, message_delta,
 * message_stop), and Anthropic's error JSON with its status codes. Like the real API it
 * requires `anthropic-version` and `max_tokens`.
 *
 * It answers per the shared scenario (fake-scenario.ts): "Echo: <last user text>" as one text
 * block; with tools, one tool_use block per call (ids `toolu_fake<n>_<i>`, input streamed as
 * input_json_delta fragments); after a tool result, "Tool said: <result>"; usage is
 * {@link FAKE_ANTHROPIC_USAGE} (in message_start for input, message_delta for output when
 * streaming). Records every request. Loopback only.
 */
export async function startFakeAnthropic(opts: { record?: boolean } = {}): Promise<FakeAnthropic> {
  const record = opts.record ?? true;
  let seq = 0;
  const state: FakeAnthropic = { url: "", calls: [], mode: "ok", close: async () => {} };
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    onBody(req, (raw) => {
      const err = (status: number, type: string, message: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", "request-id": `req_fake${seq}`, ...headers });
        res.end(JSON.stringify({ type: "error", error: { type, message }, request_id: `req_fake${seq}` }));
      };
      const body = parseJsonBody(raw);
      if (body === undefined) return err(400, "invalid_request_error", "The request body is not valid JSON.");
      if (record) state.calls.push({ path: req.url ?? "", headers: req.headers, body });
      if (req.url !== "/v1/messages") return err(404, "not_found_error", "Not found");
      if (!req.headers["anthropic-version"]) return err(400, "invalid_request_error", "anthropic-version: header is required");
      if (typeof body["max_tokens"] !== "number") return err(400, "invalid_request_error", "max_tokens: Field required");
      switch (state.mode) {
        case "error_429":
          return err(429, "rate_limit_error", "This request would exceed the rate limit for your organization of 50 requests per minute.", { "retry-after": "7" });
        case "error_529":
          return err(529, "overloaded_error", "Overloaded");
        case "error_500":
          return err(500, "api_error", "Internal server error");
        case "error_400":
          return err(400, "invalid_request_error", "temperature: range: 0..1");
        case "error_401":
          return err(401, "authentication_error", "invalid x-api-key");
        case "garbage":
          res.writeHead(200, { "content-type": body["stream"] ? "text/event-stream" : "application/json" });
          res.end(body["stream"] ? "event: message_start\ndata: {not json\n\n" : "<html>502 Bad Gateway</html>");
          return;
      }
      const n = ++seq;
      const answer = () => respond(res, state.mode, n, body);
      if (state.mode === "slow") setTimeout(answer, FAKE_ANTHROPIC_SLOW_MS);
      else answer();
    });
  });
  const listening = await listenLoopback(server);
  state.url = `${listening.origin}/v1`;
  state.close = listening.close;
  return state;
}

function respond(res: http.ServerResponse, mode: FakeAnthropicMode, seq: number, body: Record<string, unknown>): void {
  if (res.destroyed) return;
  const id = `msg_fake${seq}`;
  const model = String(body["model"]);
  const answer = scenarioAnswer(anthropicScenarioInput(body));
  const calls = answer.kind === "tools" ? answer.calls.map((c, i) => ({ ...c, id: `toolu_fake${seq}_${i}` })) : [];
  const stopReason = answer.kind === "tools" ? "tool_use" : "end_turn";
  if (!body["stream"]) {
    const content: unknown[] =
      answer.kind === "text" ? [{ type: "text", text: answer.text }] : calls.map((c) => ({ type: "tool_use", id: c.id, name: c.name, input: JSON.parse(c.arguments) }));
    res.writeHead(200, { "content-type": "application/json", "request-id": `req_fake${seq}` });
    res.end(JSON.stringify({ id, type: "message", role: "assistant", model, content, stop_reason: stopReason, stop_sequence: null, usage: FAKE_ANTHROPIC_USAGE }));
    return;
  }
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache", "request-id": `req_fake${seq}` });
  const ev = (data: Record<string, unknown>) => `event: ${String(data["type"])}\ndata: ${JSON.stringify(data)}\n\n`;
  const events: string[] = [
    ev({
      type: "message_start",
      message: {
        id,
        type: "message",
        role: "assistant",
        model,
        content: [],
        stop_reason: null,
        stop_sequence: null,
        usage: { ...FAKE_ANTHROPIC_USAGE, output_tokens: 1 },
      },
    }),
  ];
  if (answer.kind === "text") {
    events.push(ev({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }), ev({ type: "ping" }));
    for (const w of scenarioTextPieces(answer.text)) events.push(ev({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: w } }));
    events.push(ev({ type: "content_block_stop", index: 0 }));
  } else {
    events.push(ev({ type: "ping" }));
    calls.forEach((c, index) => {
      events.push(ev({ type: "content_block_start", index, content_block: { type: "tool_use", id: c.id, name: c.name, input: {} } }));
      // Anthropic's first input_json_delta of a block is often empty.
      for (const f of ["", ...scenarioArgFragments(c.arguments)]) events.push(ev({ type: "content_block_delta", index, delta: { type: "input_json_delta", partial_json: f } }));
      events.push(ev({ type: "content_block_stop", index }));
    });
  }
  if (mode === "stream_error") {
    res.end(events.slice(0, 4).join("") + ev({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }));
    return;
  }
  events.push(ev({ type: "message_delta", delta: { stop_reason: stopReason, stop_sequence: null }, usage: { output_tokens: FAKE_ANTHROPIC_USAGE.output_tokens } }));
  events.push(ev({ type: "message_stop" }));
  if (mode === "cut_stream") {
    // message_start and the first block start, then the connection drops.
    res.write(events[0]!);
    res.write(events[1]!);
    setTimeout(() => res.socket?.destroy(), 50);
    return;
  }
  res.end(events.join(""));
}
