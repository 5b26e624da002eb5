import { createLazy, createSqlDatabases, type EmptyAnswers, type SqlDatabases } from "@tessera/sql";
import type { Client } from "@connectrpc/connect";
import { SpendScope, SpendService } from "@tessera/gen/tessera/metering/v1/spend_pb";
import { createMeshClient, createPriceTable, meshUrl, sha256Hex, type BuiltService, type Config, type Logger } from "@tessera/runtime";
import { createAdmin } from "./domain/admin.js";
import { createAuthorizer, type ApiInfo, type ModelInfo, type SpendSource } from "./domain/authorizer.js";
import { createIdentityResolver } from "./domain/identity.js";
import { createJwtVerifier } from "./domain/jwt.js";
import type { Limiter } from "./domain/limiter.js";
import { createMemoryLimiter } from "./domain/limiter-memory.js";
import type { AuthzStore } from "./domain/store.js";
import { createRedisLimiter } from "./adapters/limiter-redis.js";
import { openMigratedStore } from "./adapters/sql-store.js";
import { adminService, authzService } from "./routes.js";


const SPEND_SCOPES = { tenant: SpendScope.TENANT, team: SpendScope.TEAM, key: SpendScope.KEY } as const;

/** Metering's SpendService as the authorizer's spend source: micro-dollars rounded up, bounded in time. */
export function spendSource(client: Client<typeof SpendService>, timeoutMs: number): SpendSource {
  return async (q) => {
    const r = await client.getSpend({ tenantId: q.tenantId, scope: SPEND_SCOPES[q.scope], scopeId: q.scopeId, sinceUnixMs: BigInt(q.sinceMs) }, { timeoutMs });
    return { micros: Number((r.picoUsd + 999_999n) / 1_000_000n), tokens: Number(r.tokens) };
  };
}

/** What each read answers while the store has never been opened: nothing exists yet. */
const EMPTY: EmptyAnswers<AuthzStore> = {
  getTenant: () => undefined,
  listTenants: () => [],
  getTeam: () => undefined,
  listTeams: () => [],
  getUser: () => undefined,
  listUsers: () => [],
  getKey: () => undefined,
  getKeyByHash: () => undefined,
  listKeys: () => [],
  listLimits: () => [],
  limitsFor: () => [],
  listBudgets: () => [],
  budgetsFor: () => [],
  listSubscriptions: () => [],
  isSubscribed: () => false,
  listAudit: () => [],
};

/**
 * Open the configured store (PGlite, a directory or memory, or Postgres) in `databases`, which
 * other stores of the process may share. Migrations run here. A PGlite directory that does not
 * exist yet is opened on the first admin change.
 */
export async function openStore(cfg: Config, log: Logger, databases: SqlDatabases): Promise<AuthzStore> {
  const s = cfg.authz.store;
  const open = async () => openMigratedStore(await databases.open(s, "authz.store"), (line) => log.info(line));
  if (s.kind !== "pglite" || databases.exists(s)) return open();
  log.info(`authz store ${s.path} does not exist yet; PGlite starts with the first admin change`);
  return createLazy(open, EMPTY);
}

/** The configured counters: in memory, or Redis (shared by every replica). */
export function openLimiter(cfg: Config): Limiter {
  if (cfg.authz.counters === "memory") return createMemoryLimiter();
  if (!cfg.redis) throw new Error("authz.counters is redis but no redis section is configured; add redis: { url: … }");
  return createRedisLimiter({ url: cfg.redis.url, prefix: `${cfg.redis.key_prefix}authz:` });
}

/**
 * Build authz from configuration. `databases` are the process's SQL databases when it shares
 * them (all-in-one); without, authz opens its own and closes them on stop.
 */
export async function build(cfg: Config, log: Logger, databases?: SqlDatabases, shared: { spend?: Client<typeof SpendService> } = {}): Promise<BuiltService> {
  const a = cfg.authz;
  // Metering's stored spend for cold ledgers: in process all-in-one, over the mesh otherwise.
  const spendClient = !a.seed_spend_from_metering ? undefined : (shared.spend ?? (cfg.mesh?.metering ? createMeshClient(SpendService, meshUrl(cfg, "metering")) : undefined));
  const dbs = databases ?? createSqlDatabases((line) => log.warn(line));
  const store = await openStore(cfg, log, dbs);
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
    spend: spendClient && spendSource(spendClient, a.seed_spend_timeout_ms),
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
      if (!databases) await dbs.close();
      if (spendClient && !shared.spend) (spendClient as { close?: () => void }).close?.();
    },
  };
}
