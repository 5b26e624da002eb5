import type { BuiltService, Config } from "@tessera/runtime";
import { createRegistry } from "./domain/registry.js";
import { createApis } from "./domain/apis.js";
import { promptRegistryService } from "./routes.js";

/** Build prompt-registry from configuration. */
export async function build(cfg: Config): Promise<BuiltService> {
  const registry = createRegistry(cfg.prompts);
  const apis = createApis(cfg.prompt_apis, cfg.prompts, registry);
  return { bindings: [promptRegistryService({ registry, apis })], stop: async () => {} };
}
