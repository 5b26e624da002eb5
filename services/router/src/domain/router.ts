import type { ChatChunk, ChatRequest, ChatResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError, type Logger } from "@tessera/runtime";
import { ProviderError, type ProviderAdapter } from "../providers/index.js";

/** A deployment: one provider serving a model under its own name. */
export interface Deployment {
  /** "<provider>/<model>", stable, reported in events and headers. */
  id: string;
  provider: string;
  providerKind: string;
  model: string;
  adapter: ProviderAdapter | undefined;
}

/** A model alias callers use, with its deployments in priority order. */
export interface ModelEntry {
  name: string;
  ownedBy: string;
  deployments: Deployment[];
}

/** Where a call was served. */
export interface ServedInfo {
  deployment: string;
  provider: string;
  providerModel: string;
  attempts: number;
}

/**
 * Routing by priority with fallback: deployments are tried in order; a retryable failure
 * (429, 5xx, timeout, unreachable) moves to the next one, anything else is the answer. A
 * stream falls back only before its first chunk: after that the caller has bytes.
 */
export function createRouterCore(models: ModelEntry[], log: Logger) {
  const byName = new Map(models.map((m) => [m.name, m]));

  function candidates(model: string): Deployment[] {
    const entry = byName.get(model);
    if (!entry)
      throw new TesseraError("not_found", `The model '${model}' does not exist or you do not have access to it.`, {
        code: "model_not_found",
        param: "model",
      });
    const live = entry.deployments.filter((d) => d.adapter);
    if (live.length === 0)
      throw new TesseraError("unavailable", `The model '${model}' has no enabled deployment: its providers' API keys are not set on the gateway.`, {
        code: "model_unavailable",
      });
    return live;
  }

  function shouldFallBack(err: unknown, d: Deployment, attempt: number, total: number): boolean {
    const retryable = err instanceof ProviderError && err.retryable;
    if (retryable && attempt < total) {
      log.warn({ deployment: d.id, err: (err as Error).message }, "deployment failed, falling back");
      return true;
    }
    return false;
  }

  return {
    listModels(): { id: string; ownedBy: string }[] {
      return models.filter((m) => m.deployments.some((d) => d.adapter)).map((m) => ({ id: m.name, ownedBy: m.ownedBy }));
    },

    async route(req: ChatRequest, signal: AbortSignal): Promise<{ response: ChatResponse; served: ServedInfo }> {
      const list = candidates(req.model);
      for (let i = 0; ; i++) {
        const d = list[i]!;
        try {
          const response = await d.adapter!.chat(req, d.model, signal);
          return { response, served: { deployment: d.id, provider: d.providerKind, providerModel: d.model, attempts: i + 1 } };
        } catch (err) {
          if (!shouldFallBack(err, d, i + 1, list.length)) throw err;
        }
      }
    },

    async *routeStream(req: ChatRequest, signal: AbortSignal): AsyncGenerator<{ chunk: ChatChunk; served?: ServedInfo }> {
      const list = candidates(req.model);
      for (let i = 0; ; i++) {
        const d = list[i]!;
        const it = d.adapter!.stream(req, d.model, signal)[Symbol.asyncIterator]();
        let first: IteratorResult<ChatChunk>;
        try {
          first = await it.next();
        } catch (err) {
          if (shouldFallBack(err, d, i + 1, list.length)) continue;
          throw err;
        }
        const served = { deployment: d.id, provider: d.providerKind, providerModel: d.model, attempts: i + 1 };
        if (first.done) return;
        yield { chunk: first.value, served };
        for (;;) {
          const r = await it.next();
          if (r.done) return;
          yield { chunk: r.value };
        }
      }
    },
  };
}

/** The router core's interface. */
export type RouterCore = ReturnType<typeof createRouterCore>;
