import type { BuiltService, Config } from "@tessera/runtime";
import { createPolicies } from "./domain/redact.js";
import { redactionService } from "./routes.js";

/** Build redaction from configuration. */
export async function build(cfg: Config): Promise<BuiltService> {
  return { bindings: [redactionService({ policy: createPolicies(cfg.redaction.policies) })], stop: async () => {} };
}
