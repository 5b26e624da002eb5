import { isObject } from "@tessera/runtime";
import type { ProviderAdapter } from "../types.js";
import type { HttpAdapterOptions } from "../http-adapter.js";
import { bearerAuth, createOpenAIFamilyAdapter } from "../openai/family.js";
import { FAMILY_CHAT_PARAMS, type ParamMap } from "../openai/param-map.js";

/**
 * The conservative default for servers that speak OpenAI's API (vLLM, Ollama, Groq,
 * Together, DeepSeek, LM Studio …): leave out what such servers commonly reject, keep what
 * metering needs. Each entry says which server's documentation it comes from.
 */
export const OPENAI_COMPATIBLE_CHAT_PARAMS: ParamMap = {
  ...FAMILY_CHAT_PARAMS,
  user: {
    drop: true,
    why:
      "Only OpenAI acts on it; it is not among Ollama's supported request fields (docs.ollama.com/api/openai-compatibility) and " +
      "servers that validate strictly refuse unknown fields.",
  },
  n: {
    max: 1,
    strict: true,
    transform: () => undefined,
    why:
      "Groq: \"If N is supplied, it must be equal to 1\" (console.groq.com/docs/openai); Ollama does not list `n` and returns one " +
      "choice. n > 1 is refused with a clear 400 rather than silently answered with one choice; n = 1 is the default and left out.",
  },
  messages: {
    transform: (v) => (Array.isArray(v) ? v.map((m) => (isObject(m) && "name" in m ? omitName(m) : m)) : v),
    why: "Groq answers 400 for `messages[].name` (console.groq.com/docs/openai, \"Currently Unsupported OpenAI Features\").",
  },
  stream_options: {
    why:
      "Kept: usage in the last chunk is what metering reads, and vLLM, Ollama, Groq and DeepSeek document " +
      "`stream_options.include_usage`.",
  },
};

/** Embeddings parameters for OpenAI-compatible servers. */
export const OPENAI_COMPATIBLE_EMBED_PARAMS: ParamMap = {
  user: { drop: true, why: "As for chat: only OpenAI acts on `user`." },
};

function omitName(m: Record<string, unknown>): Record<string, unknown> {
  const { name: _name, ...rest } = m;
  return rest;
}

/** Options for {@link createOpenAICompatibleAdapter}. */
export interface OpenAICompatibleAdapterOptions extends HttpAdapterOptions {
  /** The server's chat parameter map; {@link OPENAI_COMPATIBLE_CHAT_PARAMS} when unset. */
  chatParams?: ParamMap;
  /** The server's embeddings parameter map; {@link OPENAI_COMPATIBLE_EMBED_PARAMS} when unset. */
  embedParams?: ParamMap;
}

/**
 * The adapter for any server that speaks OpenAI's chat completions and embeddings API
 * (base_url required; the key is sent as a Bearer token when one is configured, and local
 * servers may have none). The parameter maps can come from configuration; the defaults are
 * the conservative ones above.
 */
export function createOpenAICompatibleAdapter(opts: OpenAICompatibleAdapterOptions): ProviderAdapter {
  return createOpenAIFamilyAdapter(opts, {
    kind: "openai_compatible",
    headers: bearerAuth,
    chatPath: () => "/chat/completions",
    embedPath: () => "/embeddings",
    chatParams: opts.chatParams ?? OPENAI_COMPATIBLE_CHAT_PARAMS,
    embedParams: opts.embedParams ?? OPENAI_COMPATIBLE_EMBED_PARAMS,
  });
}
