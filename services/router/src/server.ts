import type { BuiltService, Config, Logger } from "@tessera/runtime";
import { createAdapter } from "./providers/index.js";
import { createRouterCore, type ModelEntry } from "./domain/router.js";
import { routerService } from "./routes.js";

/** Build the router: one adapter (and connection pool) per configured provider, made once. */
export async function build(cfg: Config, log: Logger): Promise<BuiltService> {
  const adapters = new Map(cfg.providers.map((p) => [p.id, { kind: p.kind, adapter: createAdapter(p) }]));
  const models: ModelEntry[] = cfg.models.map((m) => ({
    name: m.name,
    ownedBy: m.owned_by,
    deployments: m.deployments.map((d) => {
      const a = adapters.get(d.provider)!;
      return { id: `${d.provider}/${d.model}`, provider: d.provider, providerKind: a.kind, model: d.model, adapter: a.adapter };
    }),
  }));
  for (const [id, a] of adapters) if (!a.adapter) log.info({ provider: id }, "provider off: its API key variable is not set");
  return {
    bindings: [routerService({ core: createRouterCore(models, log) })],
    stop: async () => {
      await Promise.all([...adapters.values()].map((a) => a.adapter?.close()));
    },
  };
}
