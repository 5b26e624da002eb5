import * as http from "node:http";
import { listenLoopback } from "../fake-server.js";

/** How the fake answers the next calls. */
export type FakeAnthropicMode = "ok" | "error_429" | "error_529" | "error_400" | "error_401" | "garbage" | "cut_stream" | "stream_error";

/** A recorded upstream request. */
export interface FakeAnthropicCall {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A running fake Anthropic server. */
export interface FakeAnthropic {
  /** Base URL including /v1, as configured for the real API. */
  url: string;
  calls: FakeAnthropicCall[];
  mode: FakeAnthropicMode;
  close(): Promise<void>;
}

type Block = { type: string; text?: string };

function lastUserText(body: Record<string, unknown>): string {
  const msgs = (body["messages"] as { role: string; content: string | Block[] }[]) ?? [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]!;
    if (m.role !== "user") continue;
    if (typeof m.content === "string") return m.content;
    const text = m.content.filter((b) => b.type === "text").map((b) => b.text ?? "").join("");
    if (text) return text;
  }
  return "";
}

/** The argument fragments of the fake's tool call; they concatenate to {"city":"Paris"}. */
export const FAKE_TOOL_FRAGMENTS = ["", '{"ci', 'ty": "Pa', 'ris"}'];

/**
 * A local stand-in for api.anthropic.com's POST /v1/messages, answering in the documented
 * wire format: a Message object, or the SSE sequence with `event:` lines (message_start,
 * content_block_start, ping, content_block_delta…, content_block_stop, message_delta,
 * message_stop), and Anthropic's error JSON with its status codes. Like the real API it
 * requires `anthropic-version` and `max_tokens`. The answer is "Echo: <last user text>";
 * with tools, a short text block then a call of the first tool with input {"city":"Paris"},
 * streamed as several input_json_delta fragments. Records every request. Loopback only.
 */
export async function startFakeAnthropic(opts: { record?: boolean } = {}): Promise<FakeAnthropic> {
  const record = opts.record ?? true;
  let seq = 0;
  const state: FakeAnthropic = { url: "", calls: [], mode: "ok", close: async () => {} };
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      const err = (status: number, type: string, message: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", "request-id": `req_fake${seq}`, ...headers });
        res.end(JSON.stringify({ type: "error", error: { type, message }, request_id: `req_fake${seq}` }));
      };
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(parts).toString("utf8"));
      } catch {
        return err(400, "invalid_request_error", "The request body is not valid JSON.");
      }
      if (record) state.calls.push({ path: req.url ?? "", headers: req.headers, body });
      if (req.url !== "/v1/messages") return err(404, "not_found_error", "Not found");
      if (!req.headers["anthropic-version"]) return err(400, "invalid_request_error", "anthropic-version: header is required");
      if (typeof body["max_tokens"] !== "number") return err(400, "invalid_request_error", "max_tokens: Field required");
      switch (state.mode) {
        case "error_429":
          return err(429, "rate_limit_error", "This request would exceed the rate limit for your organization of 50 requests per minute.", { "retry-after": "7" });
        case "error_529":
          return err(529, "overloaded_error", "Overloaded");
        case "error_400":
          return err(400, "invalid_request_error", "temperature: range: 0..1");
        case "error_401":
          return err(401, "authentication_error", "invalid x-api-key");
        case "garbage":
          res.writeHead(200, { "content-type": body["stream"] ? "text/event-stream" : "application/json" });
          res.end(body["stream"] ? "event: message_start\ndata: {not json\n\n" : "<html>502 Bad Gateway</html>");
          return;
      }
      const id = `msg_fake${++seq}`;
      const model = String(body["model"]);
      const text = `Echo: ${lastUserText(body)}`;
      const tools = body["tools"] as { name: string }[] | undefined;
      const tool = tools?.length ? { id: `toolu_fake${seq}`, name: tools[0]!.name } : undefined;
      const inputTokens = JSON.stringify(body["messages"]).length >> 2;
      const outputTokens = text.split(/\s+/).length + (tool ? 10 : 0);
      const preface = "Let me call a tool.";
      if (!body["stream"]) {
        const content: unknown[] = tool
          ? [{ type: "text", text: preface }, { type: "tool_use", id: tool.id, name: tool.name, input: { city: "Paris" } }]
          : [{ type: "text", text }];
        res.writeHead(200, { "content-type": "application/json", "request-id": `req_fake${seq}` });
        res.end(
          JSON.stringify({
            id,
            type: "message",
            role: "assistant",
            model,
            content,
            stop_reason: tool ? "tool_use" : "end_turn",
            stop_sequence: null,
            usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: outputTokens },
          }),
        );
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
            usage: { input_tokens: inputTokens, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
          },
        }),
        ev({ type: "content_block_start", index: 0, content_block: { type: "text", text: "" } }),
        ev({ type: "ping" }),
      ];
      for (const w of (tool ? preface : text).match(/\S+\s*/g) ?? []) events.push(ev({ type: "content_block_delta", index: 0, delta: { type: "text_delta", text: w } }));
      events.push(ev({ type: "content_block_stop", index: 0 }));
      if (tool) {
        events.push(ev({ type: "content_block_start", index: 1, content_block: { type: "tool_use", id: tool.id, name: tool.name, input: {} } }));
        for (const f of FAKE_TOOL_FRAGMENTS) events.push(ev({ type: "content_block_delta", index: 1, delta: { type: "input_json_delta", partial_json: f } }));
        events.push(ev({ type: "content_block_stop", index: 1 }));
      }
      if (state.mode === "stream_error") {
        res.end(events.slice(0, 4).join("") + ev({ type: "error", error: { type: "overloaded_error", message: "Overloaded" } }));
        return;
      }
      events.push(ev({ type: "message_delta", delta: { stop_reason: tool ? "tool_use" : "end_turn", stop_sequence: null }, usage: { output_tokens: outputTokens } }));
      events.push(ev({ type: "message_stop" }));
      if (state.mode === "cut_stream") {
        // message_start and the first block start, then the connection drops.
        res.write(events[0]!);
        res.write(events[1]!);
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      res.end(events.join(""));
    });
  });
  const listening = await listenLoopback(server);
  state.url = `${listening.origin}/v1`;
  state.close = listening.close;
  return state;
}
