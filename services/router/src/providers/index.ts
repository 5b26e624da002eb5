import type { ResolvedProvider } from "@tessera/runtime";
import { createDemoAdapter } from "./demo/adapter.js";
import { createOpenAIAdapter } from "./openai/adapter.js";
import { createAzureAdapter } from "./azure/adapter.js";
import { createMistralAdapter } from "./mistral/adapter.js";
import { createOpenAICompatibleAdapter, OPENAI_COMPATIBLE_CHAT_PARAMS } from "./openai-compatible/adapter.js";
import type { ParamMap, ParamRule } from "./openai/param-map.js";
import { createAnthropicAdapter } from "./anthropic/adapter.js";
import { createGeminiAdapter } from "./gemini/adapter.js";
import { createBedrockAdapter } from "./bedrock/adapter.js";
import { createCohereAdapter } from "./cohere/adapter.js";
import type { ProviderAdapter } from "./types.js";
import { withOneToolCallWhenAsked } from "./one-tool-call.js";

export type { ProviderAdapter } from "./types.js";
export { ProviderError } from "./errors.js";

/**
 * The one place an adapter is chosen for a provider kind. Returns undefined for a provider
 * that is switched off (its API key variable is named but not set).
 */
export function createAdapter(p: ResolvedProvider): ProviderAdapter | undefined {
  const adapter = createKindAdapter(p);
  return adapter && withOneToolCallWhenAsked(adapter);
}

/** The built-in map with the configuration's rules laid over it (a configured rule replaces a built-in one). */
function withConfiguredParams(base: ParamMap, params: ResolvedProvider["params"]): ParamMap {
  const out: Record<string, ParamRule> = { ...base };
  for (const [key, r] of Object.entries(params)) {
    const rule: ParamRule = { why: "from the provider's configuration (providers[].params)" };
    if (r.drop) rule.drop = true;
    if (r.rename) rule.param = r.rename;
    if (r.default !== undefined) rule.default = r.default;
    if (r.min !== undefined) rule.min = r.min;
    if (r.max !== undefined) rule.max = r.max;
    if (r.strict) rule.strict = true;
    out[key] = rule;
  }
  return out;
}

function createKindAdapter(p: ResolvedProvider): ProviderAdapter | undefined {
  if (p.api_key_env && !p.apiKey) return undefined;
  if (p.kind === "bedrock" && !p.aws) return undefined;
  const http = { id: p.id, baseUrl: p.base_url!, apiKey: p.apiKey, connections: p.connections, timeoutMs: p.timeout_ms, connectTimeoutMs: p.connect_timeout_ms };
  switch (p.kind) {
    case "demo":
      return createDemoAdapter();
    case "openai":
      return createOpenAIAdapter(http);
    case "openai_compatible":
      return createOpenAICompatibleAdapter({ ...http, chatParams: withConfiguredParams(OPENAI_COMPATIBLE_CHAT_PARAMS, p.params) });
    case "azure":
      return createAzureAdapter({ ...http, apiVersion: p.api_version ?? "" });
    case "mistral":
      return createMistralAdapter(http);
    case "bedrock":
      return createBedrockAdapter({ ...http, region: p.region, credentials: p.aws });
    case "cohere":
      return createCohereAdapter(http);
    case "anthropic":
      return createAnthropicAdapter(http);
    case "gemini":
      return createGeminiAdapter(http);
    default: {
      const kind: never = p.kind;
      throw new Error(`no adapter for provider kind ${String(kind)}`);
    }
  }
}
