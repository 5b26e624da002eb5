import type { FakeMode, ProviderFake } from "../fake-scenario.js";
import { startFakeFamily } from "../openai/fake-family.js";

/** A running fake Mistral API; `url` is the base_url to configure (`…/v1`). */
export type FakeMistral = ProviderFake<FakeMode>;

/** The key the fake accepts as Bearer token; others get Mistral's 401 `{"message":"Unauthorized"}`. */
export const FAKE_MISTRAL_KEY = "fake-mistral-key-0123456789";

/**
 * A local stand-in for api.mistral.ai's POST /v1/chat/completions and /v1/embeddings, in
 * Mistral's format as recorded (fixtures/): tool calls without index or type and with
 * 9-character ids, streamed whole in the finishing chunk, usage in the last chunk (no usage
 * chunk of its own, no cached or reasoning counts), embeddings with an id, and Mistral's
 * errors. Like Mistral it refuses fields it does not know (`stream_options`, `user`, `seed`,
 * `max_completion_tokens` … → 422 extra_forbidden), unknown roles, and tool call ids that
 * are not 9 characters a-z, A-Z, 0-9 (400). Mistral documents no Retry-After; the fake sends
 * one on 429 so the mapping can be tested. Records every request. Loopback only.
 */
export async function startFakeMistral(opts: { record?: boolean; slowMs?: number } = {}): Promise<FakeMistral> {
  return (await startFakeFamily({ flavour: "mistral", apiKeys: [FAKE_MISTRAL_KEY], ...opts })) as FakeMistral;
}
