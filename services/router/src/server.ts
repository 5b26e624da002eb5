import { createPriceTable, type BuiltService, type Config, type Logger } from "@tessera/runtime";
import { createAdapter } from "./providers/index.js";
import { createRouterCore, type ModelEntry } from "./domain/router.js";
import { createBreakers, createMemoryBreakerStore } from "./domain/breaker.js";
import { createLatencyTracker } from "./domain/strategies.js";
import { createRedisBreakerStore } from "./adapters/breaker-redis.js";
import { routerService } from "./routes.js";

/**
 * Build the router: one adapter (and connection pool) per configured provider, made once;
 * circuit breakers shared through Redis when the configuration names one, else in memory.
 */
export async function build(cfg: Config, log: Logger): Promise<BuiltService> {
  const prices = createPriceTable(cfg.prices);
  const adapters = new Map(cfg.providers.map((p) => [p.id, { kind: p.kind, adapter: createAdapter(p) }]));
  const models: ModelEntry[] = cfg.models.map((m) => ({
    name: m.name,
    ownedBy: m.owned_by,
    strategy: m.strategy,
    routes: m.routes,
    deployments: m.deployments.map((d) => {
      const a = adapters.get(d.provider)!;
      return {
        id: `${d.provider}/${d.model}`,
        provider: d.provider,
        providerKind: a.kind,
        model: d.model,
        adapter: a.adapter,
        weight: d.weight,
        supports: d.supports,
        price: prices.price(d.provider, d.model),
      };
    }),
  }));
  for (const [id, a] of adapters) if (!a.adapter) log.info({ provider: id }, "provider off: its credentials are not set");
  const r = cfg.routing;
  const store = cfg.redis ? createRedisBreakerStore(cfg.redis.url, cfg.redis.key_prefix) : createMemoryBreakerStore();
  const breakers = await createBreakers(
    store,
    { failureThreshold: r.circuit_breaker.failure_threshold, windowMs: r.circuit_breaker.window_ms, cooldownMs: r.circuit_breaker.cooldown_ms },
    (err) => log.warn({ err: (err as Error).message }, "circuit breaker store unavailable; breakers act on this replica only"),
  );
  const core = createRouterCore(
    models,
    {
      retries: r.retries,
      backoffBaseMs: r.backoff_base_ms,
      backoffMaxMs: r.backoff_max_ms,
      totalTimeoutMs: r.total_timeout_ms,
      breakers,
      latency: createLatencyTracker(r.ewma_alpha),
    },
    log,
  );
  return {
    bindings: [routerService({ core })],
    stop: async () => {
      await Promise.all([...[...adapters.values()].map((a) => a.adapter?.close()), breakers.stop()]);
    },
  };
}
