import type { ProviderAdapter } from "../types.js";
import type { HttpAdapterOptions } from "../http-adapter.js";
import { bearerAuth, createOpenAIFamilyAdapter } from "./family.js";
import { FAMILY_CHAT_PARAMS, type ParamMap } from "./param-map.js";

/** OpenAI's chat parameters: the family's shared rules plus OpenAI's own. */
export const OPENAI_CHAT_PARAMS: ParamMap = {
  ...FAMILY_CHAT_PARAMS,
  max_tokens: {
    param: "max_completion_tokens",
    why:
      "OpenAI's API reference: max_tokens is deprecated in favour of max_completion_tokens and is not compatible with o-series " +
      "(reasoning) models, which reject it; max_completion_tokens is accepted by every current chat model.",
  },
};

/** OpenAI's embeddings parameters: the request is OpenAI's own shape. */
export const OPENAI_EMBED_PARAMS: ParamMap = {};

/**
 * The OpenAI API adapter (POST {base}/chat/completions and /embeddings, Bearer key), the
 * reference member of the OpenAI family.
 */
export function createOpenAIAdapter(opts: HttpAdapterOptions): ProviderAdapter {
  return createOpenAIFamilyAdapter(opts, {
    kind: "openai",
    headers: bearerAuth,
    chatPath: () => "/chat/completions",
    embedPath: () => "/embeddings",
    chatParams: OPENAI_CHAT_PARAMS,
    embedParams: OPENAI_EMBED_PARAMS,
  });
}
