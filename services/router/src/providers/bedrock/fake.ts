import * as http from "node:http";
import { createHash, randomUUID } from "node:crypto";
import type { AwsCredentials } from "@tessera/runtime";
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
import { EVENT_STREAM_CONTENT_TYPE, encodeConverseEvent, encodeConverseException } from "./event-stream.js";
import { verifySigV4 } from "./sigv4-verifier.js";
import type { ConverseContentBlock, ConverseMessage, ConverseRequest, TitanEmbedRequest } from "./wire.js";

/** The region the fake signs for; configure the bedrock provider with it. */
export const FAKE_AWS_REGION = "us-east-1";

/** Long-term credentials the fake accepts (AWS's documentation example key pair). */
export const FAKE_AWS_CREDENTIALS: Readonly<AwsCredentials> = Object.freeze({
  accessKeyId: "AKIDEXAMPLE",
  secretAccessKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
});

/** Temporary credentials the fake accepts: the session token must be sent and signed. */
export const FAKE_AWS_SESSION_CREDENTIALS: Readonly<AwsCredentials> = Object.freeze({
  accessKeyId: "ASIAFAKESESSIONEXAMPLE",
  secretAccessKey: "fakeSessionSecretKey/K7MDENG+bPxRfiEXAMPLE",
  sessionToken: "FwoGZXIvYXdzEFAKESESSIONTOKEN//////////EXAMPLE=",
});

/** A chat model id as Bedrock names them (its ':' travels as %3A in the path). */
export const FAKE_BEDROCK_CHAT_MODEL = "anthropic.claude-3-haiku-20240307-v1:0";

/** The embedding model the fake serves on /invoke. */
export const FAKE_TITAN_EMBED_MODEL = "amazon.titan-embed-text-v2:0";

/**
 * How the fake answers the next calls: the shared modes, plus `stream_exception` (a stream
 * that breaks off with a throttlingException frame after its first text). `error_401`
 * answers as AWS does for bad credentials: 403 UnrecognizedClientException.
 */
export type FakeBedrockMode = FakeMode | "stream_exception";

/** A running fake Bedrock Runtime endpoint. */
export interface FakeBedrock extends ProviderFake<FakeBedrockMode> {
  /** The region to sign for ({@link FAKE_AWS_REGION}). */
  region: string;
  /** Delay before answering in `slow` mode ({@link FAKE_BEDROCK_SLOW_MS} unless changed). */
  slowMs: number;
  /** Delay of each embedding answer by its input text (none unless set): lets tests finish calls out of order. */
  embedDelayMs: (inputText: string) => number;
}

/** How long the `slow` mode waits before answering, unless `slowMs` is changed. */
export const FAKE_BEDROCK_SLOW_MS = 2_000;

/** The Retry-After (seconds) of the fake's 429 ThrottlingException. */
export const FAKE_BEDROCK_RETRY_AFTER_S = 7;

/** Vector length of the fake's Titan embeddings when dimensions is not given (Titan V2's default). */
export const FAKE_TITAN_DEFAULT_DIMENSIONS = 1024;

/**
 * {@link SCENARIO_USAGE} in Converse's TokenUsage: inputTokens excludes the cache read (the
 * prompt is inputTokens + cacheReadInputTokens + cacheWriteInputTokens), and there is no
 * reasoning count (it is inside outputTokens).
 */
export const FAKE_BEDROCK_USAGE = {
  inputTokens: SCENARIO_USAGE.prompt - SCENARIO_USAGE.cached,
  outputTokens: SCENARIO_USAGE.completion,
  totalTokens: SCENARIO_USAGE.prompt + SCENARIO_USAGE.completion,
  cacheReadInputTokens: SCENARIO_USAGE.cached,
  cacheWriteInputTokens: 0,
} as const;

/**
 * Titan's vector for a text, deterministic: `dimensions` values drawn from a SHA-256 counter
 * stream of the text, in [-1, 1), scaled to unit length when normalize is on.
 */
export function fakeTitanVector(text: string, dimensions = FAKE_TITAN_DEFAULT_DIMENSIONS, normalize = true): number[] {
  const out: number[] = [];
  for (let block = 0; out.length < dimensions; block++) {
    const h = createHash("sha256").update(`${block}:${text}`).digest();
    for (let i = 0; i + 4 <= h.length && out.length < dimensions; i += 4) out.push(h.readUInt32BE(i) / 2 ** 31 - 1);
  }
  if (!normalize) return out;
  const norm = Math.sqrt(out.reduce((s, x) => s + x * x, 0));
  return out.map((x) => x / norm);
}

/** Titan's token count for the fake: whitespace-separated words. */
export function fakeTitanTokens(text: string): number {
  return text.split(/\s+/).filter(Boolean).length;
}

function textOf(blocks: readonly ConverseContentBlock[]): string {
  return blocks.map((b) => ("text" in b ? b.text : "")).join("");
}

/** The parts of a Converse request the shared scenario answers from. */
function scenarioInput(body: ConverseRequest): ScenarioInput {
  const msgs = body.messages;
  let lastUserText = "";
  for (let i = msgs.length - 1; i >= 0; i--) {
    const text = msgs[i]!.role === "user" ? textOf(msgs[i]!.content) : "";
    if (text) {
      lastUserText = text;
      break;
    }
  }
  const last = msgs[msgs.length - 1];
  const lastBlock = last?.content[last.content.length - 1];
  const lastToolResult =
    last?.role === "user" && lastBlock && "toolResult" in lastBlock
      ? lastBlock.toolResult.content.map((c) => ("text" in c ? c.text : JSON.stringify(c.json))).join("")
      : undefined;
  const choice = body.toolConfig?.toolChoice;
  const toolNames = choice && "tool" in choice ? [choice.tool.name] : (body.toolConfig?.tools ?? []).map((t) => t.toolSpec.name);
  // Converse has no switch for parallel tool calls.
  return { lastUserText, lastToolResult, toolNames, parallelToolCalls: true };
}

/** What real Bedrock rejects in a Converse body (a subset of its validation), or undefined. */
function converseProblem(body: ConverseRequest): string | undefined {
  if (!Array.isArray(body.messages) || body.messages.length === 0) return "The messages field is required and must not be empty.";
  const toolUseIds = new Set<string>();
  let hasToolBlocks = false;
  for (const [i, m] of body.messages.entries()) {
    if (m.role !== "user" && m.role !== "assistant") return `messages.${i}.role: must be user or assistant.`;
    if (i === 0 && m.role !== "user") return "A conversation must start with a user message. Try again with a conversation that starts with a user message.";
    if (i > 0 && body.messages[i - 1]!.role === m.role) return "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again.";
    if (!Array.isArray(m.content) || m.content.length === 0) return `The content field in the Message object at messages.${i} is empty. Add a ContentBlock object to the content field and try again.`;
    for (const [j, b] of m.content.entries()) {
      if ("text" in b && b.text.trim() === "") return `The text field in the ContentBlock object at messages.${i}.content.${j} is blank. Add text to the text field, and try again.`;
      if ("image" in b && (!["png", "jpeg", "gif", "webp"].includes(b.image.format) || !/^[A-Za-z0-9+/]+={0,2}$/.test(b.image.source.bytes)))
        return `messages.${i}.content.${j}.image: invalid format or bytes.`;
      if ("toolUse" in b) {
        hasToolBlocks = true;
        toolUseIds.add(b.toolUse.toolUseId);
      }
      if ("toolResult" in b) {
        hasToolBlocks = true;
        if (!toolUseIds.has(b.toolResult.toolUseId)) return `messages.${i}.content.${j}.toolResult: toolUseId ${b.toolResult.toolUseId} does not answer a toolUse block.`;
      }
      for (const id of ["toolUse" in b ? b.toolUse.toolUseId : undefined, "toolResult" in b ? b.toolResult.toolUseId : undefined])
        if (id !== undefined && !/^[a-zA-Z0-9_-]{1,64}$/.test(id)) return `messages.${i}.content.${j}: toolUseId failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+`;
    }
  }
  if (hasToolBlocks && !body.toolConfig) return "The toolConfig field must be defined when using toolUse and toolResult content blocks.";
  return undefined;
}

const tooluseId = (seq: number, n: number) => `tooluse_fake${String(seq).padStart(4, "0")}x${n}AbCdEfGhIj`;

/** The Converse response for an answer. */
function converseResponse(answer: ScenarioAnswer, seq: number): Record<string, unknown> {
  const content: ConverseContentBlock[] =
    answer.kind === "text"
      ? [{ text: answer.text }]
      : answer.calls.map((c, n) => ({ toolUse: { toolUseId: tooluseId(seq, n), name: c.name, input: JSON.parse(c.arguments) as unknown } }));
  const message: ConverseMessage = { role: "assistant", content };
  return { output: { message }, stopReason: answer.kind === "text" ? "end_turn" : "tool_use", usage: FAKE_BEDROCK_USAGE, metrics: { latencyMs: 42 } };
}

/** The ConverseStream frames for an answer, as Bedrock orders them. */
function converseStreamFrames(answer: ScenarioAnswer, seq: number): Uint8Array[] {
  // Bedrock pads event payloads with a "p" member, which readers must ignore.
  const ev = (type: string, payload: Record<string, unknown>) => encodeConverseEvent(type, { ...payload, p: "abcdefghijklmnop" });
  const frames = [ev("messageStart", { role: "assistant" })];
  if (answer.kind === "text") {
    // Text blocks have no contentBlockStart.
    for (const piece of scenarioTextPieces(answer.text)) frames.push(ev("contentBlockDelta", { contentBlockIndex: 0, delta: { text: piece } }));
    frames.push(ev("contentBlockStop", { contentBlockIndex: 0 }));
  } else {
    answer.calls.forEach((c, n) => {
      frames.push(ev("contentBlockStart", { contentBlockIndex: n, start: { toolUse: { toolUseId: tooluseId(seq, n), name: c.name } } }));
      for (const frag of scenarioArgFragments(c.arguments)) frames.push(ev("contentBlockDelta", { contentBlockIndex: n, delta: { toolUse: { input: frag } } }));
      frames.push(ev("contentBlockStop", { contentBlockIndex: n }));
    });
  }
  frames.push(ev("messageStop", { stopReason: answer.kind === "text" ? "end_turn" : "tool_use" }));
  frames.push(ev("metadata", { usage: FAKE_BEDROCK_USAGE, metrics: { latencyMs: 42 } }));
  return frames;
}

/**
 * A local stand-in for bedrock-runtime.<region>.amazonaws.com, loopback only. It serves
 *
 * - POST /model/{modelId}/converse — a Converse response;
 * - POST /model/{modelId}/converse-stream — real binary event-stream frames (prelude, string
 *   headers, JSON payload, CRC32s; application/vnd.amazon.eventstream): messageStart, text
 *   deltas (no block start) or per tool call contentBlockStart + input fragments +
 *   contentBlockStop, messageStop, metadata;
 * - POST /model/amazon.titan-embed…/invoke — Titan Text Embeddings: one deterministic vector
 *   ({@link fakeTitanVector}) of `dimensions` (256, 512 or 1024, the default) values.
 *
 * Every request must carry a valid AWS SigV4 signature for service "bedrock" in
 * {@link FAKE_AWS_REGION} by {@link FAKE_AWS_CREDENTIALS} or
 * {@link FAKE_AWS_SESSION_CREDENTIALS}, checked by an independent verifier; otherwise it
 * answers 403 InvalidSignatureException / UnrecognizedClientException as AWS does. Answers
 * follow the shared scenario (fake-scenario.ts) and its usage (inputTokens excluding the
 * cached 5, cacheReadInputTokens 5). Errors are Bedrock's: JSON `{"message"}` with the type in
 * `x-amzn-ErrorType`. It rejects what Bedrock rejects in a conversation (not starting with
 * user, roles not alternating, blank text, tool blocks without toolConfig, a toolResult with
 * no toolUse). Every request is recorded, signed or not.
 */
export async function startFakeBedrock(opts: { record?: boolean } = {}): Promise<FakeBedrock> {
  const record = opts.record ?? true;
  let seq = 0;
  const state: FakeBedrock = { url: "", calls: [], mode: "ok", region: FAKE_AWS_REGION, slowMs: FAKE_BEDROCK_SLOW_MS, embedDelayMs: () => 0, close: async () => {} };
  const server = http.createServer({ keepAliveTimeout: 60_000 }, (req, res) => {
    onBody(req, (raw) => {
      const requestId = randomUUID();
      const err = (status: number, type: string, message: string, headers: Record<string, string> = {}) => {
        res.writeHead(status, {
          "content-type": "application/json",
          "x-amzn-requestid": requestId,
          "x-amzn-errortype": `${type}:http://internal.amazon.com/coral/com.amazon.bedrock/`,
          ...headers,
        });
        res.end(JSON.stringify({ message }));
      };
      const body = parseJsonBody(raw);
      if (body === undefined) return err(400, "SerializationException", "Could not parse the request body as JSON.");
      if (record) state.calls.push({ path: req.url ?? "", headers: req.headers, body });
      const verdict = verifySigV4(
        { method: req.method ?? "", rawPath: req.url ?? "/", headers: req.headers, body: raw },
        { region: state.region, service: "bedrock", identities: [FAKE_AWS_CREDENTIALS, FAKE_AWS_SESSION_CREDENTIALS] },
      );
      if (!verdict.ok) return err(verdict.status, verdict.errorType, verdict.message);
      const m = /^\/model\/([^/?]+)\/(converse|converse-stream|invoke)$/.exec(req.url ?? "");
      if (req.method !== "POST" || !m) return err(404, "UnknownOperationException", `No operation matches ${req.method} ${req.url}.`);
      const model = decodeURIComponent(m[1]!);
      const op = m[2]!;
      const stream = op === "converse-stream";
      const answer = () => {
        switch (state.mode) {
          case "error_429":
            return err(429, "ThrottlingException", "Too many requests, please wait before trying again.", { "retry-after": String(FAKE_BEDROCK_RETRY_AFTER_S) });
          case "error_500":
            return err(500, "InternalServerException", "An internal server error occurred. Retry your request.");
          case "error_400":
            return err(400, "ValidationException", "1 validation error detected: Value '3.0' at 'inferenceConfig.temperature' failed to satisfy constraint: Member must have value less than or equal to 1.");
          case "error_401":
            return err(403, "UnrecognizedClientException", "The security token included in the request is invalid.");
          case "garbage":
            res.writeHead(200, { "content-type": stream ? EVENT_STREAM_CONTENT_TYPE : "application/json", "x-amzn-requestid": requestId });
            res.end("<html>502 Bad Gateway</html>");
            return;
        }
        if (op === "invoke") return embed(model, body as unknown as TitanEmbedRequest);
        if (model.startsWith("amazon.titan-embed")) return err(400, "ValidationException", "This action doesn't support the model that you provided. Try again with a supported text or chat model.");
        const converse = body as unknown as ConverseRequest;
        const problem = converseProblem(converse);
        if (problem) return err(400, "ValidationException", problem);
        seq++;
        const ans = scenarioAnswer(scenarioInput(converse));
        if (!stream) {
          res.writeHead(200, { "content-type": "application/json", "x-amzn-requestid": requestId });
          res.end(JSON.stringify(converseResponse(ans, seq)));
          return;
        }
        const frames = converseStreamFrames(ans, seq);
        res.writeHead(200, { "content-type": EVENT_STREAM_CONTENT_TYPE, "x-amzn-requestid": requestId });
        if (state.mode === "cut_stream") {
          // messageStart and the first delta, then the connection drops.
          res.write(frames[0]!);
          res.write(frames[1]!);
          setTimeout(() => res.socket?.destroy(), 50);
          return;
        }
        if (state.mode === "stream_exception") {
          res.end(Buffer.concat([frames[0]!, frames[1]!, encodeConverseException("throttlingException", { message: "Too many tokens, please wait before trying again." })]));
          return;
        }
        res.end(Buffer.concat(frames));
      };
      const embed = (model: string, b: TitanEmbedRequest) => {
        if (!model.startsWith("amazon.titan-embed")) return err(400, "ValidationException", `The fake serves InvokeModel for Titan embedding models only, not ${model}.`);
        if (typeof b.inputText !== "string" || b.inputText === "") return err(400, "ValidationException", "Malformed input request: #: required key [inputText] not found, please reformat your input and try again.");
        const dims = b.dimensions ?? FAKE_TITAN_DEFAULT_DIMENSIONS;
        if (![256, 512, 1024].includes(dims)) return err(400, "ValidationException", `Malformed input request: #/dimensions: ${dims} is not a valid enum value, please reformat your input and try again.`);
        const embedding = fakeTitanVector(b.inputText, dims, b.normalize ?? true);
        setTimeout(() => {
          res.writeHead(200, { "content-type": "application/json", "x-amzn-requestid": requestId });
          res.end(JSON.stringify({ embedding, inputTextTokenCount: fakeTitanTokens(b.inputText), embeddingsByType: { float: embedding } }));
        }, state.embedDelayMs(b.inputText));
      };
      if (state.mode === "slow") setTimeout(answer, state.slowMs);
      else answer();
    });
  });
  const listening = await listenLoopback(server);
  state.url = listening.origin;
  state.close = listening.close;
  return state;
}
