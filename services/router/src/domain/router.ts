import { setTimeout as sleep } from "node:timers/promises";
import type { ChatChunk, ChatRequest, ChatResponse, EmbedRequest, EmbedResponse } from "@tessera/gen/tessera/chat/v1/chat_pb";
import { TesseraError, type Logger } from "@tessera/runtime";
import { ProviderError, type ProviderAdapter } from "../providers/index.js";
import type { Breakers } from "./breaker.js";
import { matchRule, type CallAttributes, type RouteRule } from "./rules.js";
import { orderCandidates, type CallShape, type LatencyTracker, type Strategy } from "./strategies.js";

export type { CallAttributes } from "./rules.js";

/** A deployment: one provider serving a model under its own name. */
export interface Deployment {
  /** "<provider>/<model>", stable, reported in events and headers. */
  id: string;
  provider: string;
  providerKind: string;
  model: string;
  adapter: ProviderAdapter | undefined;
  weight: number;
  /** USD per million tokens, from the price table. */
  price?: { input: number; output: number } | undefined;
  /** Features the provider model takes (all when unset). */
  supports?: Partial<Record<Feature, boolean>> | undefined;
}

/** Request features a deployment may lack. */
export type Feature = "tools" | "images" | "json_schema";

const FEATURE_TEXT: Record<Feature, { what: string; param: string }> = {
  tools: { what: "tools", param: "tools" },
  images: { what: "images in messages", param: "messages" },
  json_schema: { what: "structured output (response_format json_schema)", param: "response_format" },
};

/** The features a chat request needs. */
export function featuresOf(req: ChatRequest): Feature[] {
  const out: Feature[] = [];
  if (req.tools.length > 0) out.push("tools");
  if (req.messages.some((m) => m.parts.some((p) => p.part.case === "imageUrl"))) out.push("images");
  if (req.responseFormat?.type === "json_schema") out.push("json_schema");
  return out;
}

/** A model alias callers use, with its deployments in configured order. */
export interface ModelEntry {
  name: string;
  ownedBy: string;
  strategy: Strategy;
  deployments: Deployment[];
  routes: RouteRule[];
}

/** Where a call was served. */
export interface ServedInfo {
  deployment: string;
  provider: string;
  providerModel: string;
  attempts: number;
  /** Deployments that failed before this one answered. */
  fallbacks: number;
}

/** Retry, timeout and health settings (routing in the configuration). */
export interface RouterOptions {
  retries: number;
  backoffBaseMs: number;
  backoffMaxMs: number;
  totalTimeoutMs: number;
  breakers: Breakers;
  latency: LatencyTracker;
  /** For tests: the weighted strategy's and the jitter's randomness. */
  random?: () => number;
}

/** Characters of prompt text in a chat request (content and text parts). */
export function promptChars(req: ChatRequest): number {
  let n = 0;
  for (const m of req.messages) {
    n += m.content.length;
    for (const p of m.parts) if (p.part.case === "text") n += p.part.value.length;
  }
  return n;
}

function isRetryable(err: unknown): err is ProviderError {
  return err instanceof ProviderError && err.retryable;
}

/** A failure of the provider itself (counts toward its breaker): not the caller's bad request. */
function isDeploymentFault(err: unknown): boolean {
  return err instanceof TesseraError && (err.kind === "upstream_error" || err.kind === "timeout" || err.kind === "rate_limited") && err.details.code !== "cancelled";
}

/**
 * The router: picks the deployments of a model for a call (conditional routes, then the
 * strategy), and tries them in order. A retryable failure (429, 5xx, timeout, unreachable)
 * is retried on the same deployment with exponential backoff and full jitter, honouring a
 * short Retry-After, then falls back to the next deployment; anything else is the answer. A
 * deployment whose circuit breaker is open is skipped. A stream retries and falls back only
 * before its first chunk: after that the caller has bytes. One deadline bounds the whole call.
 */
export function createRouterCore(models: ModelEntry[], opts: RouterOptions, log: Logger) {
  const byName = new Map(models.map((m) => [m.name, m]));
  const random = opts.random ?? Math.random;
  const { breakers, latency } = opts;

  function entryOf(model: string): ModelEntry {
    const entry = byName.get(model);
    if (!entry)
      throw new TesseraError("not_found", `The model '${model}' does not exist or you do not have access to it.`, {
        code: "model_not_found",
        param: "model",
      });
    return entry;
  }

  /** Keep the deployments that take every feature the request needs, or say which is missing. */
  function capable(model: string, list: Deployment[], features: Feature[]): Deployment[] {
    let out = list;
    for (const f of features) {
      out = out.filter((d) => d.supports?.[f] !== false);
      if (out.length === 0)
        throw new TesseraError("invalid_request", `The model '${model}' does not support ${FEATURE_TEXT[f].what}; remove them or use another model.`, {
          code: "unsupported_feature",
          param: FEATURE_TEXT[f].param,
        });
    }
    return out;
  }

  /** The deployments to try for this call, in order. */
  function plan(model: string, attrs: CallAttributes, call: CallShape, need?: (d: Deployment) => boolean, features: Feature[] = []): Deployment[] {
    const entry = entryOf(model);
    const rule = matchRule(entry.routes, attrs);
    const chosen = rule ? rule.deployments.map((id) => entry.deployments.find((d) => d.id === id)!) : entry.deployments;
    const live = chosen.filter((d) => d.adapter);
    if (live.length === 0)
      throw new TesseraError("unavailable", `The model '${model}' has no enabled deployment: its providers' credentials are not set on the gateway.`, {
        code: "model_unavailable",
      });
    const able = capable(model, need ? live.filter(need) : live, features);
    if (able.length === 0)
      throw new TesseraError("invalid_request", `The model '${model}' cannot create embeddings: none of its providers offers them.`, {
        code: "model_cannot_embed",
        param: "model",
      });
    return orderCandidates(rule?.strategy ?? entry.strategy, able, { latency, call, random });
  }

  /** How long to wait before retry `k` (0-based), or undefined to fall back instead. */
  function backoff(k: number, err: ProviderError): number | undefined {
    const ra = err.details.retryAfterS;
    if (ra !== undefined) return ra * 1000 <= opts.backoffMaxMs ? ra * 1000 : undefined;
    return random() * Math.min(opts.backoffMaxMs, opts.backoffBaseMs * 2 ** k);
  }

  function served(r: { d: Deployment; attempts: number; fallbacks: number }): ServedInfo {
    return { deployment: r.d.id, provider: r.d.providerKind, providerModel: r.d.model, attempts: r.attempts, fallbacks: r.fallbacks };
  }

  /** Every deployment's breaker is open: fail fast, saying when one will be tried again. */
  function allOpen(model: string, list: Deployment[]): TesseraError {
    const soonest = Math.min(...list.map((d) => breakers.openUntil(d.id)));
    const retryAfterS = Math.max(1, Math.ceil((soonest - Date.now()) / 1000));
    return new TesseraError("unavailable", `Every deployment of '${model}' is failing and was taken out of rotation; retry in ${retryAfterS} s.`, {
      code: "circuit_open",
      retryAfterS,
    });
  }

  function deadline(signal: AbortSignal): { signal: AbortSignal; timedOut: () => boolean } {
    const t = AbortSignal.timeout(opts.totalTimeoutMs);
    return { signal: AbortSignal.any([signal, t]), timedOut: () => t.aborted && !signal.aborted };
  }

  function totalTimeout(): TesseraError {
    return new TesseraError("timeout", `The call took longer than the gateway's total timeout (${opts.totalTimeoutMs} ms).`, { code: "total_timeout" });
  }

  /**
   * Try `attempt` on each deployment in order with retries, returning the first success.
   * `attempt` resolves once the deployment has answered (for a stream: its first chunk).
   */
  async function run<T>(model: string, list: Deployment[], signal: AbortSignal, timedOut: () => boolean, attempt: (d: Deployment) => Promise<T>) {
    let attempts = 0;
    let fallbacks = 0;
    let last: unknown;
    for (const d of list) {
      const state = breakers.allow(d.id);
      if (state === "open") continue;
      for (let k = 0; ; k++) {
        attempts++;
        const t0 = performance.now();
        try {
          const value = await attempt(d);
          latency.record(d.id, performance.now() - t0);
          breakers.success(d.id);
          return { value, d, attempts, fallbacks };
        } catch (err) {
          if (timedOut()) throw totalTimeout();
          if (isDeploymentFault(err)) breakers.failure(d.id);
          if (!isRetryable(err) || signal.aborted) throw err;
          last = err;
          const wait = state === "half_open" || k >= opts.retries ? undefined : backoff(k, err);
          if (wait === undefined) break;
          log.warn({ deployment: d.id, attempt: k + 1, waitMs: Math.round(wait), err: err.message }, "deployment failed, retrying");
          try {
            await sleep(wait, undefined, { signal });
          } catch {
            if (timedOut()) throw totalTimeout();
            throw err;
          }
        }
      }
      log.warn({ deployment: d.id, err: (last as Error).message }, "deployment failed, falling back");
      fallbacks++;
    }
    throw last ?? allOpen(model, list);
  }

  return {
    listModels(): { id: string; ownedBy: string }[] {
      return models.filter((m) => m.deployments.some((d) => d.adapter)).map((m) => ({ id: m.name, ownedBy: m.ownedBy }));
    },

    async route(req: ChatRequest, attrs: CallAttributes, signal: AbortSignal): Promise<{ response: ChatResponse; served: ServedInfo }> {
      const list = plan(req.model, attrs, { promptChars: attrs.promptChars, maxTokens: req.maxTokens }, undefined, featuresOf(req));
      const dl = deadline(signal);
      const r = await run(req.model, list, dl.signal, dl.timedOut, (d) => d.adapter!.chat(req, d.model, dl.signal));
      return { response: r.value, served: served(r) };
    },

    async embed(req: EmbedRequest, attrs: CallAttributes, signal: AbortSignal): Promise<{ response: EmbedResponse; served: ServedInfo }> {
      const list = plan(req.model, attrs, { promptChars: attrs.promptChars, maxTokens: 0 }, (d) => d.adapter!.embed !== undefined);
      const dl = deadline(signal);
      const r = await run(req.model, list, dl.signal, dl.timedOut, (d) => d.adapter!.embed!(req, d.model, dl.signal));
      return { response: r.value, served: served(r) };
    },

    async *routeStream(req: ChatRequest, attrs: CallAttributes, signal: AbortSignal): AsyncGenerator<{ chunk: ChatChunk; served?: ServedInfo }> {
      const list = plan(req.model, attrs, { promptChars: attrs.promptChars, maxTokens: req.maxTokens }, undefined, featuresOf(req));
      const dl = deadline(signal);
      const r = await run(req.model, list, dl.signal, dl.timedOut, async (d) => {
        const it = d.adapter!.stream(req, d.model, dl.signal)[Symbol.asyncIterator]();
        return { it, first: await it.next() };
      });
      const { it, first } = r.value;
      if (first.done) return;
      yield { chunk: first.value, served: served(r) };
      try {
        for (;;) {
          const n = await it.next();
          if (n.done) return;
          yield { chunk: n.value };
        }
      } catch (err) {
        if (dl.timedOut()) throw totalTimeout();
        if (isDeploymentFault(err)) breakers.failure(r.d.id);
        throw err;
      } finally {
        await it.return?.();
      }
    },
  };
}

/** The router core's interface. */
export type RouterCore = ReturnType<typeof createRouterCore>;
