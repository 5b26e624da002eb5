import type { BuiltService, Config } from "@tessera/runtime";
import { createKeyring } from "./domain/keyring.js";
import { authzService } from "./routes.js";

export { createKeyring } from "./domain/keyring.js";

/** Build authz from configuration. */
export async function build(cfg: Config): Promise<BuiltService> {
  return { bindings: [authzService({ keyring: createKeyring(cfg.apiKeys) })], stop: async () => {} };
}
