/**
 * The one base of every OpenAI-compatible provider (OpenAI, Azure OpenAI, Mistral, and the
 * generic adapter for vLLM, Ollama, Groq, Together, DeepSeek …). A member is data: how it
 * authenticates, where its endpoints are, and its parameter maps; the translation, the
 * stream handling, the error mapping and embeddings are written once, here.
 */
import { embedRequestToOpenAI, requestToOpenAI } from "@tessera/openai-format";
import type { ProviderAdapter } from "../types.js";
import { createHttpAdapter, type HttpAdapterOptions } from "../http-adapter.js";
import { applyParamMap, type ParamMap } from "./param-map.js";
import { familyStatusError } from "./openai-errors.js";
import { FamilyStreamTranslator, familyEmbeddings, familyResponse } from "./openai-family-to-unified.js";

/** What one member of the OpenAI family does differently. */
export interface OpenAIFamilyMember {
  /** The adapter kind (provider kind in the configuration, recorded in usage events). */
  kind: string;
  /** Auth (and any other) headers for every call; none when the key is undefined. */
  headers(apiKey: string | undefined): Record<string, string>;
  /** Chat completions path below the base URL's path (may carry a query string). */
  chatPath(model: string): string;
  /** Embeddings path below the base URL's path. */
  embedPath(model: string): string;
  /** Applied to the OpenAI chat body before it leaves. */
  chatParams: ParamMap;
  /** Applied to the OpenAI embeddings body before it leaves. */
  embedParams: ParamMap;
  /** Azure's api-version, which some rules depend on. */
  apiVersion?: string;
}

/** `Authorization: Bearer <key>`, or nothing for keyless servers (local vLLM, Ollama). */
export function bearerAuth(apiKey: string | undefined): Record<string, string> {
  return apiKey ? { authorization: `Bearer ${apiKey}` } : {};
}

/** An adapter for one member of the OpenAI family (see {@link OpenAIFamilyMember}). */
export function createOpenAIFamilyAdapter(opts: HttpAdapterOptions, member: OpenAIFamilyMember): ProviderAdapter {
  const ctx = { provider: opts.id, apiVersion: member.apiVersion };
  return createHttpAdapter(opts, {
    kind: member.kind,
    headers: (apiKey) => member.headers(apiKey),
    path: (model) => member.chatPath(model),
    body: (req, model, stream) => applyParamMap(requestToOpenAI(req, model, stream), member.chatParams, ctx),
    statusError: familyStatusError,
    response: (json, model) => familyResponse(opts.id, json, model),
    // OpenAI's own chunks pass through the OpenAI surface as they came (no re-serialisation).
    streamTranslator: () => new FamilyStreamTranslator(opts.id, member.kind === "openai"),
    embed: {
      path: (model) => member.embedPath(model),
      body: (req, model) => applyParamMap(embedRequestToOpenAI(req, model), member.embedParams, ctx),
      response: (json, model, req) => familyEmbeddings(opts.id, json, model, req),
    },
  });
}
