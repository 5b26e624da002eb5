import type { ProviderFake } from "../../services/router/src/providers/fake-scenario.js";
import { FAKE_OPENAI_KEY, startFakeOpenAI } from "../../services/router/src/providers/openai/fake.js";
import { FAKE_ANTHROPIC_KEY, startFakeAnthropic } from "../../services/router/src/providers/anthropic/fake.js";
import { FAKE_GEMINI_KEY, startFakeGemini } from "../../services/router/src/providers/gemini/fake.js";
import { FAKE_AZURE_API_VERSION, FAKE_AZURE_KEY, startFakeAzureOpenAI } from "../../services/router/src/providers/azure/fake.js";
import { FAKE_MISTRAL_KEY, startFakeMistral } from "../../services/router/src/providers/mistral/fake.js";
import { FAKE_COMPATIBLE_KEY, startFakeOpenAICompatible } from "../../services/router/src/providers/openai-compatible/fake.js";
import {
  FAKE_AWS_CREDENTIALS,
  FAKE_AWS_REGION,
  FAKE_BEDROCK_CHAT_MODEL,
  FAKE_BEDROCK_RETRY_AFTER_S,
  startFakeBedrock,
} from "../../services/router/src/providers/bedrock/fake.js";
import { FAKE_COHERE_KEY, FAKE_COHERE_RETRY_AFTER_S, startFakeCohere } from "../../services/router/src/providers/cohere/fake.js";

/**
 * The provider rows of the conformance matrix: one entry per provider kind, with everything
 * the suite needs to put its fake behind the gateway and to judge what reached it. Adding a
 * provider is adding one row.
 */

type Json = Record<string, unknown>;

/** What a provider request carried, read from the provider's own wire shape. */
export interface UpstreamView {
  /** The tools offered, in order, with their parameter schema as the provider got it. */
  tools: { name: string; parameters: unknown }[];
  /** Tool calls of earlier assistant turns, in order (id when the provider's format has one). */
  calls: { id?: string | undefined; name: string; args: unknown }[];
  /** Tool results sent back, in order (paired with calls by id, or by name where there are no ids). */
  results: { id?: string | undefined; name?: string | undefined; content: unknown }[];
}

/** What a provider's API can express, which decides the expected usage and the n/a cells. */
export interface ProviderCaps {
  /** Its usage reports prompt tokens read from a cache. */
  cached: boolean;
  /** Its usage reports reasoning tokens apart. */
  reasoning: boolean;
  /** It can answer with several tool calls at once. */
  parallel: boolean;
  /**
   * A caller's "no parallel tool calls" is honoured (by the provider's own setting, or by the
   * adapter keeping the first call); else why not, for the report.
   */
  disableParallel: true | string;
  /** The Retry-After (seconds) its fake's 429 carries, when the suite should see it passed on. */
  retryAfterS?: number;
}

/** One provider row. */
export interface ProviderRow {
  /** Row label; also the prefix of its provider ids and model aliases in the suite's configuration. */
  id: string;
  label: string;
  /** The model name sent to the provider. */
  model: string;
  start(): Promise<ProviderFake<string>>;
  /** Its entry under `providers:` (one line of YAML flow mapping). */
  yaml(id: string, url: string): string;
  /** The secrets the entry names. */
  env: Record<string, string>;
  caps: ProviderCaps;
  /** Read a recorded request body. */
  upstream(body: Json): UpstreamView;
}

const arr = (v: unknown): Json[] => (Array.isArray(v) ? (v as Json[]) : []);

/** A tool result as sent: JSON text parsed when it is JSON. */
function parsed(v: unknown): unknown {
  if (typeof v !== "string") return v;
  try {
    return JSON.parse(v);
  } catch {
    return v;
  }
}

/** Message content as text: a string, or the text (and document data) of its blocks. */
function contentText(v: unknown): string {
  if (typeof v === "string") return v;
  return arr(v)
    .map((b) => (typeof b["text"] === "string" ? b["text"] : b["type"] === "document" ? JSON.stringify((b["document"] as Json | undefined)?.["data"] ?? {}) : ""))
    .join("");
}

/** OpenAI chat-completions bodies (the OpenAI family, and Cohere v2, whose chat messages have the same shape). */
export function openAIUpstream(body: Json): UpstreamView {
  const messages = arr(body["messages"]);
  return {
    tools: arr(body["tools"]).map((t) => {
      const fn = t["function"] as Json;
      return { name: String(fn["name"]), parameters: fn["parameters"] };
    }),
    calls: messages
      .filter((m) => m["role"] === "assistant")
      .flatMap((m) => arr(m["tool_calls"]))
      .map((tc) => {
        const fn = tc["function"] as Json;
        return { id: String(tc["id"]), name: String(fn["name"]), args: parsed(fn["arguments"]) };
      }),
    results: messages.filter((m) => m["role"] === "tool").map((m) => ({ id: String(m["tool_call_id"]), content: parsed(contentText(m["content"])) })),
  };
}

/** Bedrock Converse bodies: toolConfig.tools[].toolSpec, toolUse and toolResult blocks. */
function bedrockUpstream(body: Json): UpstreamView {
  const messages = arr(body["messages"]);
  const blocks = (role: string) => messages.filter((m) => m["role"] === role).flatMap((m) => arr(m["content"]));
  const toolConfig = (body["toolConfig"] ?? {}) as Json;
  return {
    tools: arr(toolConfig["tools"]).map((t) => {
      const spec = t["toolSpec"] as Json;
      return { name: String(spec["name"]), parameters: (spec["inputSchema"] as Json | undefined)?.["json"] };
    }),
    calls: blocks("assistant")
      .filter((b) => b["toolUse"])
      .map((b) => {
        const u = b["toolUse"] as Json;
        return { id: String(u["toolUseId"]), name: String(u["name"]), args: u["input"] };
      }),
    results: blocks("user")
      .filter((b) => b["toolResult"])
      .map((b) => {
        const r = b["toolResult"] as Json;
        const content = arr(r["content"]);
        return { id: String(r["toolUseId"]), content: content.length === 1 && content[0]!["json"] !== undefined ? content[0]!["json"] : parsed(contentText(content)) };
      }),
  };
}

function anthropicUpstream(body: Json): UpstreamView {
  const messages = arr(body["messages"]);
  const blocks = (role: string) => messages.filter((m) => m["role"] === role).flatMap((m) => arr(m["content"]));
  return {
    tools: arr(body["tools"]).map((t) => ({ name: String(t["name"]), parameters: t["input_schema"] })),
    calls: blocks("assistant")
      .filter((b) => b["type"] === "tool_use")
      .map((b) => ({ id: String(b["id"]), name: String(b["name"]), args: b["input"] })),
    results: blocks("user")
      .filter((b) => b["type"] === "tool_result")
      .map((b) => {
        const c = b["content"];
        const text = typeof c === "string" ? c : arr(c).map((x) => String(x["text"] ?? "")).join("");
        return { id: String(b["tool_use_id"]), content: parsed(text) };
      }),
  };
}

function geminiUpstream(body: Json): UpstreamView {
  const contents = arr(body["contents"]);
  const parts = (role: string) => contents.filter((c) => (c["role"] ?? "user") === role).flatMap((c) => arr(c["parts"]));
  return {
    tools: arr(body["tools"])
      .flatMap((t) => arr(t["functionDeclarations"]))
      .map((d) => ({ name: String(d["name"]), parameters: d["parameters"] ?? d["parametersJsonSchema"] })),
    calls: parts("model")
      .filter((p) => p["functionCall"])
      .map((p) => {
        const fc = p["functionCall"] as Json;
        return { id: fc["id"] as string | undefined, name: String(fc["name"]), args: fc["args"] };
      }),
    results: parts("user")
      .filter((p) => p["functionResponse"])
      .map((p) => {
        const fr = p["functionResponse"] as Json;
        return { id: fr["id"] as string | undefined, name: String(fr["name"]), content: fr["response"] };
      }),
  };
}

/** The rows, in report order. */
export const PROVIDERS: readonly ProviderRow[] = [
  {
    id: "openai",
    label: "OpenAI",
    model: "gpt-4o-mini",
    start: startFakeOpenAI,
    yaml: (id, url) => `{ id: ${id}, kind: openai, base_url: "${url}", api_key_env: MATRIX_OPENAI_KEY, connections: 16, timeout_ms: 5000 }`,
    env: { MATRIX_OPENAI_KEY: FAKE_OPENAI_KEY },
    caps: { cached: true, reasoning: true, parallel: true, disableParallel: true, retryAfterS: 7 },
    upstream: openAIUpstream,
  },
  {
    id: "anthropic",
    label: "Anthropic",
    model: "claude-sonnet-4-5",
    start: startFakeAnthropic,
    yaml: (id, url) => `{ id: ${id}, kind: anthropic, base_url: "${url}", api_key_env: MATRIX_ANTHROPIC_KEY, connections: 16, timeout_ms: 5000 }`,
    env: { MATRIX_ANTHROPIC_KEY: FAKE_ANTHROPIC_KEY },
    caps: { cached: true, reasoning: false, parallel: true, disableParallel: true, retryAfterS: 7 },
    upstream: anthropicUpstream,
  },
  {
    id: "gemini",
    label: "Gemini",
    model: "gemini-2.5-flash",
    start: startFakeGemini,
    yaml: (id, url) => `{ id: ${id}, kind: gemini, base_url: "${url}", api_key_env: MATRIX_GEMINI_KEY, connections: 16, timeout_ms: 5000 }`,
    env: { MATRIX_GEMINI_KEY: FAKE_GEMINI_KEY },
    caps: {
      cached: true,
      reasoning: true,
      parallel: true,
      // The Gemini API cannot forbid parallel calls; the router passes on only the first (one-tool-call.ts).
      disableParallel: true,
      retryAfterS: 7,
    },
    upstream: geminiUpstream,
  },
  {
    id: "bedrock",
    label: "Bedrock",
    model: FAKE_BEDROCK_CHAT_MODEL,
    start: startFakeBedrock,
    yaml: (id, url) =>
      `{ id: ${id}, kind: bedrock, region: ${FAKE_AWS_REGION}, base_url: "${url}", aws_access_key_id_env: MATRIX_AWS_KEY_ID, aws_secret_access_key_env: MATRIX_AWS_SECRET, aws_session_token_env: MATRIX_AWS_NO_TOKEN, connections: 16, timeout_ms: 5000 }`,
    env: { MATRIX_AWS_KEY_ID: FAKE_AWS_CREDENTIALS.accessKeyId, MATRIX_AWS_SECRET: FAKE_AWS_CREDENTIALS.secretAccessKey },
    caps: {
      cached: true,
      reasoning: false,
      parallel: true,
      // Converse cannot forbid parallel calls; the router passes on only the first (one-tool-call.ts).
      disableParallel: true,
      retryAfterS: FAKE_BEDROCK_RETRY_AFTER_S,
    },
    upstream: bedrockUpstream,
  },
  {
    id: "cohere",
    label: "Cohere",
    model: "command-a-03-2025",
    start: startFakeCohere,
    yaml: (id, url) => `{ id: ${id}, kind: cohere, base_url: "${url}", api_key_env: MATRIX_COHERE_KEY, connections: 16, timeout_ms: 5000 }`,
    env: { MATRIX_COHERE_KEY: FAKE_COHERE_KEY },
    // Cohere cannot be told; the router passes on only the first call (one-tool-call.ts).
    caps: { cached: true, reasoning: false, parallel: true, disableParallel: true, retryAfterS: FAKE_COHERE_RETRY_AFTER_S },
    upstream: openAIUpstream,
  },
  {
    id: "azure",
    label: "Azure OpenAI",
    model: "gpt-4o-mini-deployment",
    start: startFakeAzureOpenAI,
    yaml: (id, url) => `{ id: ${id}, kind: azure, base_url: "${url}", api_version: "${FAKE_AZURE_API_VERSION}", api_key_env: MATRIX_AZURE_KEY, connections: 16, timeout_ms: 5000 }`,
    env: { MATRIX_AZURE_KEY: FAKE_AZURE_KEY },
    caps: { cached: true, reasoning: true, parallel: true, disableParallel: true, retryAfterS: 7 },
    upstream: openAIUpstream,
  },
  {
    id: "mistral",
    label: "Mistral",
    model: "mistral-large-latest",
    start: startFakeMistral,
    yaml: (id, url) => `{ id: ${id}, kind: mistral, base_url: "${url}", api_key_env: MATRIX_MISTRAL_KEY, connections: 16, timeout_ms: 5000 }`,
    env: { MATRIX_MISTRAL_KEY: FAKE_MISTRAL_KEY },
    caps: { cached: false, reasoning: false, parallel: true, disableParallel: true, retryAfterS: 7 },
    upstream: openAIUpstream,
  },
  {
    id: "compatible",
    label: "OpenAI-compatible",
    model: "meta-llama/Llama-3.1-8B-Instruct",
    start: () => startFakeOpenAICompatible({ requireKey: true }),
    yaml: (id, url) => `{ id: ${id}, kind: openai_compatible, base_url: "${url}", api_key_env: MATRIX_COMPATIBLE_KEY, connections: 16, timeout_ms: 5000 }`,
    env: { MATRIX_COMPATIBLE_KEY: FAKE_COMPATIBLE_KEY },
    caps: { cached: false, reasoning: false, parallel: true, disableParallel: true, retryAfterS: 7 },
    upstream: openAIUpstream,
  },
];
