import type { Config } from "@tessera/runtime";
import { compilePolicies, type PolicySet } from "./policy.js";
import { createMemoryVault, createRedisVault, type Vault } from "./vault.js";

/** The configured policies, compiled once; the hash key from the environment when set. */
export function openPolicies(cfg: Config, env: NodeJS.ProcessEnv = process.env): PolicySet {
  const key = env[cfg.redaction.hash_key_env];
  return compilePolicies(cfg.redaction, key ? Buffer.from(key, "utf8") : undefined);
}

/**
 * The vault a process of the mesh uses: Redis when configured (redaction writes, ingress
 * reads), else memory — which only works when both live in one process; a mesh whose
 * policies tokenise without Redis is refused at start.
 */
export function openVault(cfg: Config, policies: PolicySet, mesh = false): Vault {
  if (cfg.redis) return createRedisVault(cfg.redis.url, cfg.redis.key_prefix);
  if (mesh && policies.tokenizes)
    throw new Error("a redaction policy tokenises, which needs the redis section in the mesh (redaction stores tokens, ingress restores them)");
  return createMemoryVault();
}
