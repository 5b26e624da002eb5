import type { BuiltService, Config } from "@tessera/runtime";
import { createKeyring } from "./domain/keyring.js";
import { routes } from "./routes.js";

export { createKeyring } from "./domain/keyring.js";

/** Build authz from configuration. */
export async function build(cfg: Config): Promise<BuiltService> {
  return { routes: routes({ keyring: createKeyring(cfg.apiKeys) }), stop: async () => {} };
}
