import { existsSync } from "node:fs";
import { createPriceTable, sha256Hex, type BuiltService, type Config, type Logger } from "@tessera/runtime";
import { createAdmin } from "./domain/admin.js";
import { createAuthorizer, type ApiInfo, type ModelInfo } from "./domain/authorizer.js";
import { createIdentityResolver } from "./domain/identity.js";
import { createJwtVerifier } from "./domain/jwt.js";
import type { Limiter } from "./domain/limiter.js";
import { createMemoryLimiter } from "./domain/limiter-memory.js";
import type { AuthzStore } from "./domain/store.js";
import { createRedisLimiter } from "./adapters/limiter-redis.js";
import { createLazyStore } from "./adapters/lazy-store.js";
import { adminService, authzService } from "./routes.js";


/** Open the configured store: PGlite (a directory, or memory) or Postgres. Migrations run here. */
export async function openStore(cfg: Config, log: Logger): Promise<AuthzStore> {
  const s = cfg.authz.store;
  const progress = (line: string) => log.info(line);
  if (s.kind === "pglite") {
    const { openPgliteStore } = await import("./adapters/pglite-store.js");
    const open = () => openPgliteStore({ path: s.path, log: progress });
    if (!s.path || existsSync(s.path)) return open();
    // Nothing stored yet: start PGlite only when the admin API first writes.
    log.info(`authz store ${s.path} does not exist yet; PGlite starts with the first admin change`);
    return createLazyStore(open);
  }
  const url = s.url ?? (s.url_env ? process.env[s.url_env] : undefined);
  if (!url) throw new Error(`authz.store: set url, or url_env to an environment variable holding the Postgres URL${s.url_env ? ` (${s.url_env} is not set)` : ""}`);
  const { openPostgresStore } = await import("./adapters/postgres-store.js");
  return openPostgresStore({ url, poolSize: s.pool_size, log: progress });
}

/** The configured counters: in memory, or Redis (shared by every replica). */
export function openLimiter(cfg: Config): Limiter {
  if (cfg.authz.counters === "memory") return createMemoryLimiter();
  if (!cfg.redis) throw new Error("authz.counters is redis but no redis section is configured; add redis: { url: … }");
  return createRedisLimiter({ url: cfg.redis.url, prefix: `${cfg.redis.key_prefix}authz:` });
}

/** Build authz from configuration. */
export async function build(cfg: Config, log: Logger): Promise<BuiltService> {
  const a = cfg.authz;
  const store = await openStore(cfg, log);
  const limiter = openLimiter(cfg);
  const operatorToken = process.env[a.admin_token_env];
  const identities = createIdentityResolver({
    store,
    limiter,
    jwt: a.jwt.issuers.length > 0 ? createJwtVerifier(a.jwt.issuers, { log }) : undefined,
    staticKeys: cfg.apiKeys,
    operatorTokenHash: operatorToken ? sha256Hex(operatorToken) : undefined,
    cacheMs: a.cache_ms,
    maxFailedAuthPerMinute: a.max_failed_auth_per_minute,
    log,
  });
  const models = new Map<string, ModelInfo>(
    cfg.models.map((m) => [m.name, { requiresApproval: m.requires_approval, deployments: m.deployments.map((d) => ({ provider: d.provider, model: d.model })) }]),
  );
  const apis = new Map<string, ApiInfo>(
    cfg.prompt_apis.map((p) => [`${p.tenant}\u0000${p.path}`, { keys: p.access.keys, teams: p.access.teams, roles: p.access.roles, requiresApproval: p.requires_approval }]),
  );
  const authorizer = createAuthorizer({
    identities,
    store,
    limiter,
    prices: createPriceTable(cfg.prices),
    models,
    apis,
    promptApproval: new Map(cfg.prompts.map((p) => [`${p.tenant}\u0000${p.name}`, p.requires_approval])),
    cacheMs: a.cache_ms,
    defaultMaxOutputTokens: a.default_max_output_tokens,
    reservationTtlMs: a.reservation_ttl_ms,
    log,
  });
  const admin = createAdmin({
    store,
    identities,
    limiter,
    redactionPolicies: new Set(Object.keys(cfg.redaction.policies)),
    onChange: () => authorizer.invalidate(),
    log,
  });
  if (!operatorToken) log.info(`no operator token: set ${a.admin_token_env} to use the admin API as the operator`);
  return {
    bindings: [authzService({ authorizer, admin }), adminService({ authorizer, admin })],
    stop: async () => {
      await limiter.close();
      await store.close();
    },
  };
}
