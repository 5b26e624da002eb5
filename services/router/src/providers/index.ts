import type { ResolvedProvider } from "@tessera/runtime";
import { createDemoAdapter } from "./demo/adapter.js";
import { createOpenAIAdapter } from "./openai/adapter.js";
import { createAnthropicAdapter } from "./anthropic/adapter.js";
import { createGeminiAdapter } from "./gemini/adapter.js";
import type { ProviderAdapter } from "./types.js";

export type { ProviderAdapter } from "./types.js";
export { ProviderError } from "./errors.js";

/**
 * The one place an adapter is chosen for a provider kind. Returns undefined for a provider
 * that is switched off (its API key variable is named but not set).
 */
export function createAdapter(p: ResolvedProvider): ProviderAdapter | undefined {
  if (p.api_key_env && !p.apiKey) return undefined;
  if (p.kind === "bedrock" && !p.aws) return undefined;
  const http = { id: p.id, baseUrl: p.base_url!, apiKey: p.apiKey, connections: p.connections, timeoutMs: p.timeout_ms, connectTimeoutMs: p.connect_timeout_ms };
  switch (p.kind) {
    case "demo":
      return createDemoAdapter();
    case "openai":
      return createOpenAIAdapter(http);
    case "openai_compatible":
    case "azure":
    case "mistral":
      throw new Error(`provider kind ${p.kind}: adapter being written (issue 3)`);
    case "bedrock":
      throw new Error(`provider kind ${p.kind}: adapter being written (issue 3)`);
    case "cohere":
      throw new Error(`provider kind ${p.kind}: adapter being written (issue 3)`);
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
