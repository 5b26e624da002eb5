import type { ProviderAdapter } from "../types.js";
import type { HttpAdapterOptions } from "../http-adapter.js";
import { createOpenAIFamilyAdapter } from "../openai/family.js";
import { FAMILY_CHAT_PARAMS, type ParamMap } from "../openai/param-map.js";

/** Options for {@link createAzureAdapter}: the shared HTTP options plus Azure's api-version. */
export interface AzureAdapterOptions extends HttpAdapterOptions {
  /** The `api-version` query parameter of every call, e.g. 2024-10-21 (required). */
  apiVersion: string;
}

/** The first api-version whose request schema has `stream_options` (2024-09-01-preview). */
const STREAM_OPTIONS_SINCE = "2024-09-01";

/** Azure OpenAI's chat parameters: the family's shared rules plus Azure's own. */
export const AZURE_CHAT_PARAMS: ParamMap = {
  ...FAMILY_CHAT_PARAMS,
  model: {
    drop: true,
    why:
      "The deployment in the path selects the model; the request schema of the 2024-10-21 inference spec " +
      "(Azure/azure-rest-api-specs, AzureOpenAI/inference/stable/2024-10-21) has no `model`.",
  },
  stream_options: {
    transform: (v, ctx) => ((ctx.apiVersion ?? "").slice(0, 10) >= STREAM_OPTIONS_SINCE ? v : undefined),
    why:
      "`stream_options` is in the request schema of the GA 2024-10-21 spec (added with 2024-09-01-preview); older " +
      "api-versions do not know it, so it is left out there (their streams then carry no usage).",
  },
};

/** Azure OpenAI's embeddings parameters. */
export const AZURE_EMBED_PARAMS: ParamMap = {
  model: {
    drop: true,
    why: "The deployment in the path selects the model; the 2024-10-21 embeddings request schema has input, user, input_type, encoding_format, dimensions.",
  },
};

/** `https://<resource>.openai.azure.com` with or without a trailing `/openai`: the resource origin. */
function resourceBase(baseUrl: string): string {
  return baseUrl.replace(/\/+$/, "").replace(/\/openai$/, "");
}

/**
 * The Azure OpenAI adapter: POST {resource}/openai/deployments/{deployment}/chat/completions
 * and /embeddings with `?api-version=…`, the key in the `api-key` header. The deployment
 * name is the model configured for the deployment. Azure's prompt content filter refusal
 * becomes an invalid_request with code content_filter; `retry-after-ms` is honoured.
 */
export function createAzureAdapter(opts: AzureAdapterOptions): ProviderAdapter {
  if (!opts.apiVersion) throw new Error(`provider ${opts.id}: api_version is required for kind azure (e.g. 2024-10-21)`);
  const version = `api-version=${encodeURIComponent(opts.apiVersion)}`;
  const deployment = (model: string) => `/openai/deployments/${encodeURIComponent(model)}`;
  return createOpenAIFamilyAdapter(
    { ...opts, baseUrl: resourceBase(opts.baseUrl) },
    {
      kind: "azure",
      headers: (apiKey): Record<string, string> => (apiKey ? { "api-key": apiKey } : {}),
      chatPath: (model) => `${deployment(model)}/chat/completions?${version}`,
      embedPath: (model) => `${deployment(model)}/embeddings?${version}`,
      chatParams: AZURE_CHAT_PARAMS,
      embedParams: AZURE_EMBED_PARAMS,
      apiVersion: opts.apiVersion,
    },
  );
}
