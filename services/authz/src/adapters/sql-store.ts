import { ulid } from "@tessera/runtime";
import { json, migrated, openPgliteClient, openPostgresClient, rowsOf, time, timeOrNull, uniqueViolation, type DbInt, type DbTime, type SqlClient } from "@tessera/sql";
import {
  type AuditRow,
  type AuthzStore,
  type BudgetRow,
  type KeyRow,
  type LimitRow,
  type Period,
  type Scope,
  type ScopeRef,
  StoreConflict,
  type SubscriptionRow,
  type SubscriptionStatus,
  type TeamRow,
  type TenantRow,
  type UserRow,
} from "../domain/store.js";
import { AUTHZ_LEDGER } from "./migrations.js";

/**
 * The authz store over `db`, once its pending migrations are applied (see `migrated`): on
 * PGlite all-in-one, on Postgres in the mesh, with the same SQL.
 */
export async function openMigratedStore(db: SqlClient, log?: (line: string) => void): Promise<AuthzStore> {
  return createSqlStore(await migrated(db, AUTHZ_LEDGER, log));
}

/** The authz store on a new PGlite database at `path` ("" in memory), migrated. */
export async function openPgliteStore(opts: { path: string; log?: (line: string) => void }): Promise<AuthzStore> {
  return openMigratedStore(await openPgliteClient(opts.path, "authz.store"), opts.log);
}

/** The authz store on a new Postgres pool, migrated (serialised across replicas by an advisory lock). */
export async function openPostgresStore(opts: { url: string; poolSize?: number; log?: (line: string) => void }): Promise<AuthzStore> {
  return openMigratedStore(await openPostgresClient({ ...opts, setting: "authz.store" }), opts.log);
}

/**
 * The authz store over any {@link SqlClient}. Lists are ordered by id (limits by scope and
 * scope id); `limitsFor`/`budgetsFor` return rows in the order of the scopes asked.
 */
export function createSqlStore(db: SqlClient): AuthzStore {
  return bindStore(db, false);
}

// ---------------------------------------------------------------------------
// Rows as the engines return them, and their conversion
// ---------------------------------------------------------------------------

interface TenantDb {
  id: string;
  name: string;
  created_at: DbTime;
}
interface TeamDb {
  tenant_id: string;
  id: string;
  name: string;
  models_allow: string[] | null;
  models_deny: string[] | null;
  created_at: DbTime;
}
interface UserDb {
  tenant_id: string;
  id: string;
  email: string;
  team_id: string;
  roles: string[] | null;
  created_at: DbTime;
}
interface KeyDb {
  id: string;
  tenant_id: string;
  team_id: string;
  user_id: string;
  name: string;
  key_hash: string;
  prefix: string;
  roles: string[] | null;
  models_allow: string[] | null;
  models_deny: string[] | null;
  prompts_allow: string[] | null;
  apis_allow: string[] | null;
  redaction_policy: string;
  created_at: DbTime;
  expires_at: DbTime | null;
  revoked_at: DbTime | null;
  rotated_from: string;
}
interface LimitDb {
  tenant_id: string;
  scope: Scope;
  scope_id: string;
  requests_per_minute: DbInt;
  tokens_per_minute: DbInt;
}
interface BudgetDb {
  tenant_id: string;
  id: string;
  scope: Scope;
  scope_id: string;
  period: Period;
  starts_at: DbTime | null;
  ends_at: DbTime | null;
  limit_usd: number;
  soft_limit_usd: number;
  token_quota: DbInt;
}
interface SubscriptionDb {
  tenant_id: string;
  id: string;
  team_id: string;
  resource_kind: "model" | "prompt";
  resource: string;
  status: SubscriptionStatus;
  requested_by: string;
  decided_by: string;
  created_at: DbTime;
  decided_at: DbTime | null;
  note: string;
}
interface AuditDb {
  id: string;
  at: DbTime;
  actor: string;
  tenant_id: string;
  action: string;
  target: string;
  details: Record<string, unknown> | string | null;
}

const list = (v: string[] | null): string[] => (Array.isArray(v) ? v : []);
const int = (v: DbInt): number => Number(v);

const toTenant = (r: TenantDb): TenantRow => ({ id: r.id, name: r.name, createdAt: time(r.created_at) });

const toTeam = (r: TeamDb): TeamRow => ({
  tenantId: r.tenant_id,
  id: r.id,
  name: r.name,
  modelsAllow: list(r.models_allow),
  modelsDeny: list(r.models_deny),
  createdAt: time(r.created_at),
});

const toUser = (r: UserDb): UserRow => ({
  tenantId: r.tenant_id,
  id: r.id,
  email: r.email,
  teamId: r.team_id,
  roles: list(r.roles),
  createdAt: time(r.created_at),
});

const toKey = (r: KeyDb): KeyRow => ({
  id: r.id,
  tenantId: r.tenant_id,
  teamId: r.team_id,
  userId: r.user_id,
  name: r.name,
  keyHash: r.key_hash,
  prefix: r.prefix,
  roles: list(r.roles),
  modelsAllow: list(r.models_allow),
  modelsDeny: list(r.models_deny),
  promptsAllow: list(r.prompts_allow),
  apisAllow: list(r.apis_allow),
  redactionPolicy: r.redaction_policy,
  createdAt: time(r.created_at),
  expiresAt: timeOrNull(r.expires_at),
  revokedAt: timeOrNull(r.revoked_at),
  rotatedFrom: r.rotated_from,
});

const toLimit = (r: LimitDb): LimitRow => ({
  tenantId: r.tenant_id,
  scope: r.scope,
  scopeId: r.scope_id,
  requestsPerMinute: int(r.requests_per_minute),
  tokensPerMinute: int(r.tokens_per_minute),
});

const toBudget = (r: BudgetDb): BudgetRow => ({
  tenantId: r.tenant_id,
  id: r.id,
  scope: r.scope,
  scopeId: r.scope_id,
  period: r.period,
  startsAt: timeOrNull(r.starts_at),
  endsAt: timeOrNull(r.ends_at),
  limitUsd: Number(r.limit_usd),
  softLimitUsd: Number(r.soft_limit_usd),
  tokenQuota: int(r.token_quota),
});

const toSubscription = (r: SubscriptionDb): SubscriptionRow => ({
  tenantId: r.tenant_id,
  id: r.id,
  teamId: r.team_id,
  resourceKind: r.resource_kind,
  resource: r.resource,
  status: r.status,
  requestedBy: r.requested_by,
  decidedBy: r.decided_by,
  createdAt: time(r.created_at),
  decidedAt: timeOrNull(r.decided_at),
  note: r.note,
});

const toAudit = (r: AuditDb): AuditRow => ({
  id: r.id,
  at: time(r.at),
  actor: r.actor,
  tenantId: r.tenant_id,
  action: r.action,
  target: r.target,
  details: json(r.details, {}),
});

// Column lists, so a later migration that adds a column changes no result shape by accident.
const TENANT_COLS = "id, name, created_at";
const TEAM_COLS = "tenant_id, id, name, models_allow, models_deny, created_at";
const USER_COLS = "tenant_id, id, email, team_id, roles, created_at";
const KEY_COLS =
  "id, tenant_id, team_id, user_id, name, key_hash, prefix, roles, models_allow, models_deny, prompts_allow, apis_allow, redaction_policy, created_at, expires_at, revoked_at, rotated_from";
const LIMIT_COLS = "tenant_id, scope, scope_id, requests_per_minute, tokens_per_minute";
const BUDGET_COLS = "tenant_id, id, scope, scope_id, period, starts_at, ends_at, limit_usd, soft_limit_usd, token_quota";
const SUBSCRIPTION_COLS = "tenant_id, id, team_id, resource_kind, resource, status, requested_by, decided_by, created_at, decided_at, note";
const AUDIT_COLS = "id, at, actor, tenant_id, action, target, details";

/** Prefix each column of a list with a table alias. */
const aliased = (alias: string, cols: string) => cols.split(", ").map((c) => `${alias}.${c}`).join(", ");

// ---------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------

/** Run `write`; a unique violation becomes a StoreConflict with `message(constraint)`. */
async function orConflict<T>(write: Promise<T>, message: (constraint: string) => string): Promise<T> {
  try {
    return await write;
  } catch (err) {
    const u = uniqueViolation(err);
    if (u) throw new StoreConflict(message(u.constraint), { cause: err });
    throw err;
  }
}

/** Distinct scopes, as the two parallel arrays `unnest` takes. */
function scopeArrays(scopes: ScopeRef[]): [string[], string[]] {
  const seen = new Set<string>();
  const kinds: string[] = [];
  const ids: string[] = [];
  for (const s of scopes) {
    const k = `${s.scope}\u0000${s.scopeId}`;
    if (seen.has(k)) continue;
    seen.add(k);
    kinds.push(s.scope);
    ids.push(s.scopeId);
  }
  return [kinds, ids];
}

// ---------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------

function bindStore(db: SqlClient, inTransaction: boolean): AuthzStore {
  const { one, must, all } = rowsOf(db, "authz store");
  const deleted = async (text: string, params: unknown[]): Promise<boolean> => (await db.query(text, params)).rows.length > 0;

  return {
    async transaction(fn) {
      if (inTransaction) throw new Error("authz store: transaction() is not nestable; use the store passed to fn");
      return db.transaction((tx) => fn(bindStore(tx, true)));
    },

    // --- tenants ---------------------------------------------------------
    createTenant(t) {
      return orConflict(
        must<TenantDb, TenantRow>(`INSERT INTO tenants (id, name) VALUES ($1, $2) RETURNING ${TENANT_COLS}`, [t.id, t.name], toTenant),
        () => `tenant '${t.id}' already exists`,
      );
    },
    getTenant(id) {
      return one<TenantDb, TenantRow>(`SELECT ${TENANT_COLS} FROM tenants WHERE id = $1`, [id], toTenant);
    },
    listTenants() {
      return all<TenantDb, TenantRow>(`SELECT ${TENANT_COLS} FROM tenants ORDER BY id`, [], toTenant);
    },

    // --- teams -----------------------------------------------------------
    createTeam(t) {
      return orConflict(
        must<TeamDb, TeamRow>(
          `INSERT INTO teams (tenant_id, id, name, models_allow, models_deny) VALUES ($1, $2, $3, $4, $5) RETURNING ${TEAM_COLS}`,
          [t.tenantId, t.id, t.name, t.modelsAllow, t.modelsDeny],
          toTeam,
        ),
        () => `team '${t.id}' already exists in tenant '${t.tenantId}'`,
      );
    },
    updateTeam(t) {
      return one<TeamDb, TeamRow>(
        `UPDATE teams SET name = $3, models_allow = $4, models_deny = $5 WHERE tenant_id = $1 AND id = $2 RETURNING ${TEAM_COLS}`,
        [t.tenantId, t.id, t.name, t.modelsAllow, t.modelsDeny],
        toTeam,
      );
    },
    getTeam(tenantId, id) {
      return one<TeamDb, TeamRow>(`SELECT ${TEAM_COLS} FROM teams WHERE tenant_id = $1 AND id = $2`, [tenantId, id], toTeam);
    },
    listTeams(tenantId) {
      return all<TeamDb, TeamRow>(`SELECT ${TEAM_COLS} FROM teams WHERE tenant_id = $1 ORDER BY id`, [tenantId], toTeam);
    },

    // --- users -----------------------------------------------------------
    createUser(u) {
      return orConflict(
        must<UserDb, UserRow>(
          `INSERT INTO users (tenant_id, id, email, team_id, roles) VALUES ($1, $2, $3, $4, $5) RETURNING ${USER_COLS}`,
          [u.tenantId, u.id, u.email, u.teamId, u.roles],
          toUser,
        ),
        () => `user '${u.id}' already exists in tenant '${u.tenantId}'`,
      );
    },
    getUser(tenantId, id) {
      return one<UserDb, UserRow>(`SELECT ${USER_COLS} FROM users WHERE tenant_id = $1 AND id = $2`, [tenantId, id], toUser);
    },
    listUsers(tenantId) {
      return all<UserDb, UserRow>(`SELECT ${USER_COLS} FROM users WHERE tenant_id = $1 ORDER BY id`, [tenantId], toUser);
    },

    // --- keys ------------------------------------------------------------
    createKey(k) {
      return orConflict(
        must<KeyDb, KeyRow>(
          `INSERT INTO api_keys (id, tenant_id, team_id, user_id, name, key_hash, prefix, roles, models_allow, models_deny,
             prompts_allow, apis_allow, redaction_policy, expires_at, revoked_at, rotated_from)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) RETURNING ${KEY_COLS}`,
          [
            k.id,
            k.tenantId,
            k.teamId,
            k.userId,
            k.name,
            k.keyHash,
            k.prefix,
            k.roles,
            k.modelsAllow,
            k.modelsDeny,
            k.promptsAllow,
            k.apisAllow,
            k.redactionPolicy,
            k.expiresAt,
            k.revokedAt,
            k.rotatedFrom,
          ],
          toKey,
        ),
        // The hash is not echoed: it identifies a secret.
        (constraint) => (constraint === "api_keys_key_hash_key" ? `a key with the same secret already exists` : `key '${k.id}' already exists`),
      );
    },
    getKey(id) {
      return one<KeyDb, KeyRow>(`SELECT ${KEY_COLS} FROM api_keys WHERE id = $1`, [id], toKey);
    },
    getKeyByHash(keyHash) {
      return one<KeyDb, KeyRow>(`SELECT ${KEY_COLS} FROM api_keys WHERE key_hash = $1`, [keyHash], toKey);
    },
    listKeys(tenantId) {
      return all<KeyDb, KeyRow>(`SELECT ${KEY_COLS} FROM api_keys WHERE tenant_id = $1 ORDER BY id`, [tenantId], toKey);
    },
    updateKey(k) {
      return one<KeyDb, KeyRow>(
        `UPDATE api_keys SET name = $2, roles = $3, models_allow = $4, models_deny = $5, prompts_allow = $6, apis_allow = $7, redaction_policy = $8
         WHERE id = $1 RETURNING ${KEY_COLS}`,
        [k.id, k.name, k.roles, k.modelsAllow, k.modelsDeny, k.promptsAllow, k.apisAllow, k.redactionPolicy],
        toKey,
      );
    },
    setKeyExpiry(id, expiresAt) {
      return one<KeyDb, KeyRow>(`UPDATE api_keys SET expires_at = $2 WHERE id = $1 RETURNING ${KEY_COLS}`, [id, expiresAt], toKey);
    },
    revokeKey(id, at) {
      // LEAST ignores NULL: the first revocation sets the time, a later one keeps the earlier.
      return one<KeyDb, KeyRow>(
        `UPDATE api_keys SET revoked_at = LEAST(revoked_at, $2::timestamptz) WHERE id = $1 RETURNING ${KEY_COLS}`,
        [id, at],
        toKey,
      );
    },

    // --- limits ----------------------------------------------------------
    setLimit(l) {
      return must<LimitDb, LimitRow>(
        `INSERT INTO limits (tenant_id, scope, scope_id, requests_per_minute, tokens_per_minute) VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (tenant_id, scope, scope_id)
         DO UPDATE SET requests_per_minute = EXCLUDED.requests_per_minute, tokens_per_minute = EXCLUDED.tokens_per_minute
         RETURNING ${LIMIT_COLS}`,
        [l.tenantId, l.scope, l.scopeId, l.requestsPerMinute, l.tokensPerMinute],
        toLimit,
      );
    },
    deleteLimit(tenantId, scope, scopeId) {
      return deleted(`DELETE FROM limits WHERE tenant_id = $1 AND scope = $2 AND scope_id = $3 RETURNING 1`, [tenantId, scope, scopeId]);
    },
    listLimits(tenantId) {
      return all<LimitDb, LimitRow>(`SELECT ${LIMIT_COLS} FROM limits WHERE tenant_id = $1 ORDER BY scope, scope_id`, [tenantId], toLimit);
    },
    async limitsFor(tenantId, scopes) {
      if (scopes.length === 0) return [];
      const [kinds, ids] = scopeArrays(scopes);
      return all<LimitDb, LimitRow>(
        `SELECT ${aliased("l", LIMIT_COLS)}
         FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS s(scope, scope_id, ord)
         JOIN limits l ON l.tenant_id = $1 AND l.scope = s.scope AND l.scope_id = s.scope_id
         ORDER BY s.ord`,
        [tenantId, kinds, ids],
        toLimit,
      );
    },

    // --- budgets ---------------------------------------------------------
    setBudget(b) {
      return must<BudgetDb, BudgetRow>(
        `INSERT INTO budgets (tenant_id, id, scope, scope_id, period, starts_at, ends_at, limit_usd, soft_limit_usd, token_quota)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         ON CONFLICT (tenant_id, id) DO UPDATE SET scope = EXCLUDED.scope, scope_id = EXCLUDED.scope_id, period = EXCLUDED.period,
           starts_at = EXCLUDED.starts_at, ends_at = EXCLUDED.ends_at, limit_usd = EXCLUDED.limit_usd,
           soft_limit_usd = EXCLUDED.soft_limit_usd, token_quota = EXCLUDED.token_quota
         RETURNING ${BUDGET_COLS}`,
        [b.tenantId, b.id, b.scope, b.scopeId, b.period, b.startsAt, b.endsAt, b.limitUsd, b.softLimitUsd, b.tokenQuota],
        toBudget,
      );
    },
    deleteBudget(tenantId, id) {
      return deleted(`DELETE FROM budgets WHERE tenant_id = $1 AND id = $2 RETURNING 1`, [tenantId, id]);
    },
    listBudgets(tenantId) {
      return all<BudgetDb, BudgetRow>(`SELECT ${BUDGET_COLS} FROM budgets WHERE tenant_id = $1 ORDER BY id`, [tenantId], toBudget);
    },
    async budgetsFor(tenantId, scopes) {
      if (scopes.length === 0) return [];
      const [kinds, ids] = scopeArrays(scopes);
      return all<BudgetDb, BudgetRow>(
        `SELECT ${aliased("b", BUDGET_COLS)}
         FROM unnest($2::text[], $3::text[]) WITH ORDINALITY AS s(scope, scope_id, ord)
         JOIN budgets b ON b.tenant_id = $1 AND b.scope = s.scope AND b.scope_id = s.scope_id
         ORDER BY s.ord, b.id`,
        [tenantId, kinds, ids],
        toBudget,
      );
    },

    // --- subscriptions ---------------------------------------------------
    createSubscription(s) {
      return orConflict(
        must<SubscriptionDb, SubscriptionRow>(
          `INSERT INTO subscriptions (tenant_id, id, team_id, resource_kind, resource, requested_by, note)
           VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING ${SUBSCRIPTION_COLS}`,
          [s.tenantId, s.id, s.teamId, s.resourceKind, s.resource, s.requestedBy, s.note],
          toSubscription,
        ),
        () => `subscription '${s.id}' already exists in tenant '${s.tenantId}'`,
      );
    },
    decideSubscription(tenantId, id, status, decidedBy, note) {
      return one<SubscriptionDb, SubscriptionRow>(
        `UPDATE subscriptions SET status = $3, decided_by = $4, decided_at = now(), note = $5
         WHERE tenant_id = $1 AND id = $2 RETURNING ${SUBSCRIPTION_COLS}`,
        [tenantId, id, status, decidedBy, note],
        toSubscription,
      );
    },
    listSubscriptions(tenantId) {
      return all<SubscriptionDb, SubscriptionRow>(
        `SELECT ${SUBSCRIPTION_COLS} FROM subscriptions WHERE tenant_id = $1 ORDER BY id`,
        [tenantId],
        toSubscription,
      );
    },
    async isSubscribed(tenantId, teamId, resourceKind, resource) {
      const { rows } = await db.query<{ ok: boolean }>(
        `SELECT EXISTS (
           SELECT 1 FROM subscriptions
           WHERE tenant_id = $1 AND resource_kind = $2 AND resource = $3 AND status = 'approved' AND team_id IN ($4, '')
         ) AS ok`,
        [tenantId, resourceKind, resource, teamId],
      );
      return rows[0]?.ok === true;
    },

    // --- audit -----------------------------------------------------------
    appendAudit(a) {
      const now = Date.now();
      return must<AuditDb, AuditRow>(
        `INSERT INTO audit_log (id, at, actor, tenant_id, action, target, details) VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb)
         RETURNING ${AUDIT_COLS}`,
        [ulid(now), new Date(now), a.actor, a.tenantId, a.action, a.target, JSON.stringify(a.details ?? {})],
        toAudit,
      );
    },
    listAudit(q) {
      if (!Number.isInteger(q.limit) || q.limit < 0) {
        return Promise.reject(new Error(`listAudit: limit must be a non-negative integer, got ${q.limit}`));
      }
      const params: unknown[] = [];
      const where: string[] = [];
      if (q.tenantId !== undefined) where.push(`tenant_id = $${params.push(q.tenantId)}`);
      if (q.beforeId !== undefined) where.push(`id < $${params.push(q.beforeId)}`);
      const filter = where.length > 0 ? `WHERE ${where.join(" AND ")}` : "";
      return all<AuditDb, AuditRow>(
        `SELECT ${AUDIT_COLS} FROM audit_log ${filter} ORDER BY id DESC LIMIT $${params.push(q.limit)}`,
        params,
        toAudit,
      );
    },

    async close() {
      if (inTransaction) throw new Error("authz store: close() inside a transaction; close the store it came from");
      await db.close();
    },
  };
}
