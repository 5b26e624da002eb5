import { create } from "@bufbuild/protobuf";
import { EmbedResponseSchema, type EmbedRequest, type EmbedResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError } from "@tessera/runtime";
import { garbage } from "../http-adapter.js";
import type { TitanEmbedRequest, TitanEmbedResponse } from "./wire.js";

/** Model ids Bedrock embeds through Titan's InvokeModel body. */
export const TITAN_EMBED_PREFIX = "amazon.titan-embed";

/** Titan Text Embeddings V2 (the one Titan embedder that takes dimensions and normalize). */
export const TITAN_EMBED_V2_PREFIX = "amazon.titan-embed-text-v2";

/** Output sizes Titan Text Embeddings V2 accepts (1024 is its default). */
export const TITAN_V2_DIMENSIONS: readonly number[] = [1024, 512, 256];

/** True for a model id this provider can embed with. */
export function isTitanEmbedModel(model: string): boolean {
  return model.startsWith(TITAN_EMBED_PREFIX);
}

/**
 * Check an embedding request before any call: the model must be a Titan embedder, the input
 * non-empty, and dimensions (when set) one V2 accepts; older Titan embedders take none.
 */
export function validateTitanEmbed(req: EmbedRequest, model: string): void {
  if (!isTitanEmbedModel(model))
    throw new TesseraError(
      "invalid_request",
      `model ${model} cannot embed on Bedrock: embeddings are served for Amazon Titan Text Embeddings models (${TITAN_EMBED_PREFIX}…) only`,
      { param: "model", code: "model_cannot_embed" },
    );
  if (req.input.length === 0) throw new TesseraError("invalid_request", "input must hold at least one text", { param: "input", code: "invalid_value" });
  if (req.dimensions === 0) return;
  if (!model.startsWith(TITAN_EMBED_V2_PREFIX))
    throw new TesseraError("invalid_request", `model ${model} does not take dimensions (only Titan Text Embeddings V2 does)`, { param: "dimensions", code: "unsupported_parameter" });
  if (!TITAN_V2_DIMENSIONS.includes(req.dimensions))
    throw new TesseraError("invalid_request", `dimensions must be one of ${TITAN_V2_DIMENSIONS.join(", ")} for Titan Text Embeddings V2`, { param: "dimensions", code: "invalid_value" });
}

/**
 * The InvokeModel body for one text (Titan embeds one text per call). V2 gets normalize: true
 * (unit vectors, as OpenAI's are) and the dimensions when asked; G1 takes inputText only.
 * input_type and user have no Titan counterpart.
 */
export function titanEmbedBody(text: string, req: EmbedRequest, model: string): TitanEmbedRequest {
  if (!model.startsWith(TITAN_EMBED_V2_PREFIX)) return { inputText: text };
  const out: TitanEmbedRequest = { inputText: text, normalize: true };
  if (req.dimensions !== 0) out.dimensions = req.dimensions;
  return out;
}

/** One Titan answer → a one-vector EmbedResponse (index 0), or garbage. */
export function titanEmbedResponse(json: unknown, model: string, provider: string): EmbedResponse {
  const r = json as TitanEmbedResponse;
  if (!Array.isArray(r.embedding) || !r.embedding.every((x) => typeof x === "number")) throw garbage(provider, "returned JSON without a numeric 'embedding'", true);
  const tokens = typeof r.inputTextTokenCount === "number" ? r.inputTextTokenCount : 0;
  return create(EmbedResponseSchema, { model, data: [{ index: 0, vector: r.embedding }], usage: { promptTokens: tokens, totalTokens: tokens } });
}

/** Per-input answers (in input order) → one response with indexes and summed token counts. */
export function mergeTitanEmbeddings(parts: readonly EmbedResponse[], model: string): EmbedResponse {
  let tokens = 0;
  const data = parts.map((p, index) => {
    tokens += p.usage?.promptTokens ?? 0;
    return { index, vector: p.data[0]?.vector ?? [] };
  });
  return create(EmbedResponseSchema, { model, data, usage: { promptTokens: tokens, totalTokens: tokens } });
}
