import type { FakeMode, ProviderFake } from "../fake-scenario.js";
import { startFakeFamily } from "../openai/fake-family.js";

/** Modes of the Azure fake: the shared ones plus Azure's content filter (prompt refused, or completion filtered). */
export type FakeAzureMode = FakeMode | "content_filter" | "content_filter_output";

/** A running fake Azure OpenAI resource; `url` is the base_url to configure (the resource origin). */
export type FakeAzureOpenAI = ProviderFake<FakeAzureMode>;

/** The key the fake accepts in `api-key` (32 hex characters, like Azure's); others get Azure's 401. */
export const FAKE_AZURE_KEY = "0123456789abcdef0123456789abcdef";

/** The api-version the tests configure (the GA inference spec the fixtures come from). */
export const FAKE_AZURE_API_VERSION = "2024-10-21";

/**
 * A local stand-in for an Azure OpenAI resource: POST
 * /openai/deployments/{deployment}/chat/completions?api-version=… and …/embeddings, the key
 * in the `api-key` header. Answers follow the shared scenario in Azure's format: a
 * prompt_filter_results chunk with no choices opens every stream, completions carry
 * content_filter_results, errors are `{"error":{"code","message"}}` (401, 429 with
 * Retry-After and retry-after-ms), and mode content_filter answers Azure's documented 400
 * refusal. The model in answers is the deployment name. A missing api-version is a 404, as
 * on Azure. Records every request. Loopback only.
 */
export async function startFakeAzureOpenAI(opts: { record?: boolean; slowMs?: number } = {}): Promise<FakeAzureOpenAI> {
  return startFakeFamily({ flavour: "azure", apiKeys: [FAKE_AZURE_KEY], ...opts });
}
