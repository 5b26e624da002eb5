import type { ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";

/**
 * One provider adapter: translates the unified request to the provider's wire format, calls
 * it, and translates the answer back, whole or chunk by chunk. Errors are TesseraErrors of
 * kind upstream_error / rate_limited / timeout / invalid_request, with `retryable` telling
 * the router whether another attempt or deployment may help.
 */
export interface ProviderAdapter {
  readonly kind: string;
  chat(req: ChatRequest, model: string, signal: AbortSignal): Promise<ChatResponse>;
  /** Chunks as they arrive; the last carries usage when the provider reports it. */
  stream(req: ChatRequest, model: string, signal: AbortSignal): AsyncIterable<ChatChunk>;
  /**
   * Embeddings, for providers that have them (undefined otherwise: the router answers that
   * the deployment cannot embed). Vectors come back in input order.
   */
  embed?(req: EmbedRequest, model: string, signal: AbortSignal): Promise<EmbedResponse>;
  close(): Promise<void>;
}
