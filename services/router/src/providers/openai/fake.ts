import * as http from "node:http";
import { listenLoopback } from "../fake-server.js";

/** How the fake answers the next calls. */
export type FakeMode = "ok" | "error_429" | "error_500" | "error_400" | "garbage" | "cut_stream" | "slow";

/** A recorded upstream request. */
export interface FakeCall {
  path: string;
  headers: http.IncomingHttpHeaders;
  body: Record<string, unknown>;
}

/** A running fake OpenAI server. */
export interface FakeOpenAI {
  url: string;
  calls: FakeCall[];
  mode: FakeMode;
  close(): Promise<void>;
}

function lastUser(body: Record<string, unknown>): string {
  const msgs = (body["messages"] as { role: string; content: unknown }[]) ?? [];
  for (let i = msgs.length - 1; i >= 0; i--) {
    const m = msgs[i]!;
    if (m.role !== "user") continue;
    if (typeof m.content === "string") return m.content;
    if (Array.isArray(m.content)) return m.content.map((p: { text?: string }) => p.text ?? "").join("");
  }
  return "";
}

const USAGE = (p: number, c: number) => ({
  prompt_tokens: p,
  completion_tokens: c,
  total_tokens: p + c,
  prompt_tokens_details: { cached_tokens: 0, audio_tokens: 0 },
  completion_tokens_details: { reasoning_tokens: 0, audio_tokens: 0, accepted_prediction_tokens: 0, rejected_prediction_tokens: 0 },
});

/**
 * A local stand-in for api.openai.com's POST /v1/chat/completions, answering in the
 * documented wire format: a `chat.completion` object, or `chat.completion.chunk` SSE events
 * (role first, content deltas, a finish chunk, a usage chunk with empty choices when
 * stream_options.include_usage is set, then `data: [DONE]`), and OpenAI's error JSON.
 * The answer is "Echo: <last user message>"; with tools, a call of the first tool.
 * It records every request so tests can check what left the gateway. Loopback only.
 */
export async function startFakeOpenAI(opts: { record?: boolean } = {}): Promise<FakeOpenAI> {
  const record = opts.record ?? true;
  let seq = 0;
  const state: FakeOpenAI = { url: "", calls: [], mode: "ok", close: async () => {} };
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    const parts: Buffer[] = [];
    req.on("data", (c: Buffer) => parts.push(c));
    req.on("end", () => {
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(parts).toString("utf8"));
      } catch {
        res.writeHead(400, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: "We could not parse the JSON body of your request.", type: "invalid_request_error", param: null, code: null } }));
        return;
      }
      if (record) state.calls.push({ path: req.url ?? "", headers: req.headers, body });
      if (req.url !== "/v1/chat/completions") {
        res.writeHead(404, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { message: `Invalid URL (POST ${req.url})`, type: "invalid_request_error", param: null, code: null } }));
        return;
      }
      const err = (status: number, message: string, type: string, code: string | null, headers: Record<string, string> = {}) => {
        res.writeHead(status, { "content-type": "application/json", ...headers });
        res.end(JSON.stringify({ error: { message, type, param: null, code } }));
      };
      switch (state.mode) {
        case "error_429":
          return err(429, "Rate limit reached for gpt-4o-mini on requests per min (RPM): Limit 3, Used 3, Requested 1.", "requests", "rate_limit_exceeded", { "retry-after": "7" });
        case "error_500":
          return err(500, "The server had an error while processing your request. Sorry about that!", "server_error", null);
        case "error_400":
          return err(400, "Invalid value for 'temperature': must be at most 2.", "invalid_request_error", "invalid_value");
        case "garbage":
          res.writeHead(200, { "content-type": body["stream"] ? "text/event-stream" : "application/json" });
          res.end(body["stream"] ? "data: {not json\n\n" : "<html>502 Bad Gateway</html>");
          return;
      }
      const id = `chatcmpl-fake${++seq}`;
      const created = Math.floor(Date.now() / 1000);
      const model = String(body["model"]);
      const text = `Echo: ${lastUser(body)}`;
      const tools = body["tools"] as { function: { name: string } }[] | undefined;
      const toolCall = tools?.length ? { id: `call_fake${seq}`, type: "function" as const, function: { name: tools[0]!.function.name, arguments: '{"city":"Paris"}' } } : undefined;
      const promptTokens = JSON.stringify(body["messages"]).length >> 2;
      const completionTokens = text.split(/\s+/).length;
      if (!body["stream"]) {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            id,
            object: "chat.completion",
            created,
            model,
            choices: [
              {
                index: 0,
                message: toolCall
                  ? { role: "assistant", content: null, tool_calls: [toolCall], refusal: null, annotations: [] }
                  : { role: "assistant", content: text, refusal: null, annotations: [] },
                logprobs: null,
                finish_reason: toolCall ? "tool_calls" : "stop",
              },
            ],
            usage: USAGE(promptTokens, completionTokens),
            service_tier: "default",
            system_fingerprint: "fp_fake",
          }),
        );
        return;
      }
      res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-cache" });
      const chunk = (delta: Record<string, unknown>, finish: string | null) =>
        `data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_fake", choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] })}\n\n`;
      const events: string[] = [];
      if (toolCall) {
        events.push(chunk({ role: "assistant", content: null, tool_calls: [{ index: 0, id: toolCall.id, type: "function", function: { name: toolCall.function.name, arguments: "" } }], refusal: null }, null));
        for (const frag of ['{"ci', 'ty":"Pa', 'ris"}']) events.push(chunk({ tool_calls: [{ index: 0, function: { arguments: frag } }] }, null));
        events.push(chunk({}, "tool_calls"));
      } else {
        events.push(chunk({ role: "assistant", content: "", refusal: null }, null));
        for (const w of text.match(/\S+\s*/g) ?? []) events.push(chunk({ content: w }, null));
        events.push(chunk({}, "stop"));
      }
      const so = body["stream_options"] as { include_usage?: boolean } | undefined;
      if (so?.include_usage)
        events.push(`data: ${JSON.stringify({ id, object: "chat.completion.chunk", created, model, system_fingerprint: "fp_fake", choices: [], usage: USAGE(promptTokens, completionTokens) })}\n\n`);
      if (state.mode === "cut_stream") {
        // Two chunks, then the connection drops mid-stream (after the gateway has started
        // answering its caller).
        res.write(events[0]!);
        res.write(events[1] ?? "");
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      events.push("data: [DONE]\n\n");
      res.end(events.join(""));
    });
  });
  const listening = await listenLoopback(server);
  state.url = `${listening.origin}/v1`;
  state.close = listening.close;
  return state;
}
