import { createHash } from "node:crypto";
import { isObject } from "@tessera/runtime";
import type { ProviderAdapter } from "../types.js";
import type { HttpAdapterOptions } from "../http-adapter.js";
import { bearerAuth, createOpenAIFamilyAdapter } from "../openai/family.js";
import { FAMILY_CHAT_PARAMS, type ParamMap } from "../openai/param-map.js";

/** Options for {@link createMistralAdapter}: the shared HTTP provider options. */
export type MistralAdapterOptions = HttpAdapterOptions;

const MISTRAL_TOOL_CALL_ID = /^[a-zA-Z0-9]{9}$/;
const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/**
 * A tool call id Mistral accepts ("must be a-z, A-Z, 0-9, with a length of 9"). Its own ids
 * pass unchanged; any other (OpenAI's `call_…`, another provider's) maps to 9 base62
 * characters of its SHA-256, the same on the assistant's call and on the tool's answer, so
 * the pair still matches.
 */
export function mistralToolCallId(id: string): string {
  if (MISTRAL_TOOL_CALL_ID.test(id)) return id;
  const digest = createHash("sha256").update(id).digest();
  return Array.from(digest.subarray(0, 9), (b) => BASE62[b % 62]).join("");
}

/** Roles Mistral knows: system, user, assistant, tool (OpenAI's developer is its system). */
function mistralMessage(m: unknown): unknown {
  if (!isObject(m)) return m;
  const out: Record<string, unknown> = { ...m };
  if (out["role"] === "developer") out["role"] = "system";
  if (out["role"] !== "tool") delete out["name"];
  if (Array.isArray(out["tool_calls"]))
    out["tool_calls"] = out["tool_calls"].map((tc) => (isObject(tc) && typeof tc["id"] === "string" ? { ...tc, id: mistralToolCallId(tc["id"]) } : tc));
  if (typeof out["tool_call_id"] === "string") out["tool_call_id"] = mistralToolCallId(out["tool_call_id"]);
  return out;
}

/** Mistral's chat parameters: the family's shared rules plus Mistral's own. */
export const MISTRAL_CHAT_PARAMS: ParamMap = {
  ...FAMILY_CHAT_PARAMS,
  seed: {
    param: "random_seed",
    why: "Mistral's ChatCompletionRequest names the seed `random_seed` (docs.mistral.ai API reference; mistralai/client-ts chatcompletionrequest.ts).",
  },
  tool_choice: {
    transform: (v) => (v === "required" ? "any" : v),
    why: "Mistral's tool_choice modes are auto, none and any (\"any\" forces a tool call); newer versions also accept \"required\", \"any\" works on all.",
  },
  stream_options: {
    drop: true,
    why:
      "Mistral answers 422 extra_forbidden for `stream_options.include_usage` (recorded in dnakov/anon-kode#53); its streams carry usage " +
      "in the last chunk anyway (recorded in vercel/ai packages/mistral fixtures).",
  },
  user: {
    drop: true,
    why: "Not in Mistral's ChatCompletionRequest (mistralai/client-ts), whose validator refuses extra inputs with 422 extra_forbidden.",
  },
  messages: {
    transform: (v) => (Array.isArray(v) ? v.map(mistralMessage) : v),
    why:
      "Tool call ids must be 9 characters a-z, A-Z, 0-9 (\"Tool call id was call_… but must be a-z, A-Z, 0-9, with a length of 9\", recorded in " +
      "langchain-ai/langchain#24668 and many others); roles are system/user/assistant/tool; `name` exists on tool messages only.",
  },
};

/** Mistral's embeddings parameters. */
export const MISTRAL_EMBED_PARAMS: ParamMap = {
  dimensions: {
    param: "output_dimension",
    why: "Mistral's POST /v1/embeddings takes `output_dimension` (codestral-embed; docs.mistral.ai/api/endpoint/embeddings).",
  },
  user: {
    drop: true,
    why: "Not in Mistral's EmbeddingRequest (model, input, output_dimension, output_dtype, encoding_format).",
  },
};

/**
 * The Mistral API adapter (POST {base}/chat/completions and /embeddings, Bearer key,
 * default base https://api.mistral.ai/v1): the OpenAI family with Mistral's parameter map.
 */
export function createMistralAdapter(opts: MistralAdapterOptions): ProviderAdapter {
  return createOpenAIFamilyAdapter(opts, {
    kind: "mistral",
    headers: bearerAuth,
    chatPath: () => "/chat/completions",
    embedPath: () => "/embeddings",
    chatParams: MISTRAL_CHAT_PARAMS,
    embedParams: MISTRAL_EMBED_PARAMS,
  });
}
