import type { BuiltService, Config } from "@tessera/runtime";
import { createRegistry } from "./domain/registry.js";
import { promptRegistryService } from "./routes.js";

/** Build prompt-registry from configuration. */
export async function build(cfg: Config): Promise<BuiltService> {
  return { bindings: [promptRegistryService({ registry: createRegistry(cfg.prompts) })], stop: async () => {} };
}
