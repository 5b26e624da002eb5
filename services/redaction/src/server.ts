import type { BuiltService, Config } from "@tessera/runtime";
import { openPolicies, openVault, type Vault } from "@tessera/guardrails";
import { redactionService } from "./routes.js";

/** Build redaction from configuration; all-in-one passes the vault it shares with ingress. */
export async function build(cfg: Config, shared?: { vault: Vault }): Promise<BuiltService> {
  const policies = openPolicies(cfg);
  const vault = shared?.vault ?? openVault(cfg, policies, true);
  return {
    bindings: [redactionService({ policies, vault, vaultTtlMs: cfg.redaction.vault_ttl_ms })],
    stop: async () => {
      if (!shared) await vault.close();
    },
  };
}
