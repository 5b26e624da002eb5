import type { BuiltService, Config } from "@tessera/runtime";
import { createPolicies } from "./domain/redact.js";
import { routes } from "./routes.js";

/** Build redaction from configuration. */
export async function build(cfg: Config): Promise<BuiltService> {
  return { routes: routes({ policy: createPolicies(cfg.redaction.policies) }), stop: async () => {} };
}
