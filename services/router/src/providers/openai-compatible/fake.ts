import type { FakeMode, ProviderFake } from "../fake-scenario.js";
import { startFakeFamily } from "../openai/fake-family.js";

/** A running fake OpenAI-compatible server; `url` is the base_url to configure (`…/v1`). */
export type FakeOpenAICompatible = ProviderFake<FakeMode>;

/** The key a fake started with `requireKey` accepts (like `vllm serve --api-key …`). */
export const FAKE_COMPATIBLE_KEY = "fake-vllm-key-0123456789";

/**
 * A local stand-in for a vLLM-like server speaking OpenAI's API: OpenAI's bodies without
 * usage details, vLLM's error envelopes (`{"object":"error",…,"code":400}`, and
 * `{"error":"Unauthorized"}` for a wrong key). Without `requireKey` it accepts every
 * request, key or not (like Ollama, or vLLM started without --api-key). Records every
 * request. Loopback only.
 */
export async function startFakeOpenAICompatible(opts: { requireKey?: boolean; record?: boolean; slowMs?: number } = {}): Promise<FakeOpenAICompatible> {
  const { requireKey, ...rest } = opts;
  return (await startFakeFamily({ flavour: "openai_compatible", apiKeys: requireKey ? [FAKE_COMPATIBLE_KEY] : "any", ...rest })) as FakeOpenAICompatible;
}
