import { randomBytes } from "node:crypto";
import { API_PATH, sha256Hex, TesseraError, ulid, type Logger } from "@tessera/runtime";
import { currentPeriod, fromMicros, ledgerKeys } from "./budget-period.js";
import { actorOf, ROLES, type Identity, type IdentityResolver, type Role } from "./identity.js";
import type { Limiter } from "./limiter.js";
import {
  StoreConflict,
  type AuthzStore,
  type BudgetRow,
  type KeyRow,
  type LimitRow,
  type Period,
  type Scope,
  type SubscriptionRow,
  type SubscriptionStatus,
  type TeamRow,
  type TenantRow,
  type UserRow,
} from "./store.js";

export interface AdminDeps {
  store: AuthzStore;
  identities: IdentityResolver;
  limiter: Limiter;
  /** Redaction policies the configuration defines (keys may only name these, or "default"). */
  redactionPolicies: ReadonlySet<string>;
  /** Called after every change, so cached rows are dropped at once on this replica. */
  onChange: () => void;
  log: Logger;
  now?: () => number;
}

const SLUG = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const SCOPES: readonly Scope[] = ["tenant", "team", "user", "key"];
const PERIODS: readonly Period[] = ["day", "month", "custom"];
const DECISIONS: readonly SubscriptionStatus[] = ["approved", "rejected", "revoked"];

const invalid = (param: string, message: string) => new TesseraError("invalid_request", message, { code: "invalid_field", param });
const notFound = (what: string) => new TesseraError("not_found", `${what} was not found.`, { code: "not_found" });

function slug(param: string, v: string): string {
  if (!SLUG.test(v)) throw invalid(param, `${param} '${v.slice(0, 64)}' must be 1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit.`);
  return v;
}

function roles(param: string, xs: readonly string[], dflt: Role[]): Role[] {
  if (xs.length === 0) return dflt;
  for (const r of xs) if (!(ROLES as readonly string[]).includes(r)) throw invalid(param, `Unknown role '${r.slice(0, 32)}'; roles are ${ROLES.join(", ")}.`);
  return [...new Set(xs)] as Role[];
}

function patterns(param: string, xs: readonly string[]): string[] {
  for (const x of xs) if (!x || x.length > 200) throw invalid(param, `${param} entries must be 1-200 characters (a model or prompt name, or a prefix ending in *).`);
  return [...xs];
}

/** Published prompt API paths a key may call: a path (/apis/…) or a prefix of one ending in *. */
function apiPatterns(param: string, xs: readonly string[]): string[] {
  for (const x of xs) {
    const ok = x.endsWith("*") ? x.startsWith("/apis/") && x.length <= 200 : API_PATH.test(x);
    if (!ok) throw invalid(param, `${param} entry '${x.slice(0, 64)}' must be a prompt API path (/apis/support/summarize) or a prefix of one ending in * (/apis/support/*).`);
  }
  return [...new Set(xs)];
}

/** The fields UpdateKey may change. */
const KEY_FIELDS = ["name", "roles", "models_allow", "models_deny", "prompts_allow", "apis_allow", "redaction_policy"] as const;
type KeyField = (typeof KEY_FIELDS)[number];

/** A key's grants as a request gives them. */
type KeyGrants = Pick<KeyRow, "name" | "roles" | "modelsAllow" | "modelsDeny" | "promptsAllow" | "apisAllow" | "redactionPolicy">;

/** A key secret: "tsk-" and 43 base64url characters (256 bits). */
export function newSecret(): string {
  return `tsk-${randomBytes(32).toString("base64url")}`;
}

/**
 * The admin API's domain: every operation checks the caller's rights (operator: all; tenant
 * admin: its tenant; developer and viewer: read, and developers may request subscriptions),
 * validates its input, writes in one transaction together with its audit entry, and tells
 * the authorizer to drop its cached rows.
 */
export function createAdmin(deps: AdminDeps) {
  const now = deps.now ?? Date.now;

  async function caller(credential: string, sourceIp: string): Promise<Identity> {
    return deps.identities.resolve(credential, sourceIp);
  }

  /** Throw unless the caller may act in `tenantId` with one of `allowed` roles. */
  function require(id: Identity, tenantId: string, allowed: readonly Role[]): void {
    if (!tenantId) throw invalid("tenant_id", "tenant_id is required.");
    if (id.operator) return;
    if (id.tenantId !== tenantId)
      throw new TesseraError("permission_denied", `You may only act within your own tenant ('${id.tenantId}').`, { code: "other_tenant" });
    if (!id.roles.some((r) => allowed.includes(r)))
      throw new TesseraError("permission_denied", `This needs the ${allowed.join(" or ")} role; yours: ${id.roles.join(", ") || "none"}.`, { code: "role_not_allowed" });
  }

  function requireOperator(id: Identity): void {
    if (!id.operator) throw new TesseraError("permission_denied", "Only the operator (the bootstrap admin token) may do this.", { code: "operator_only" });
  }

  /** Run a change with its audit entry in one transaction, then drop caches. */
  async function change<T>(id: Identity, tenantId: string, action: string, target: string, details: Record<string, unknown>, fn: (tx: AuthzStore) => Promise<T>): Promise<T> {
    try {
      const out = await deps.store.transaction(async (tx) => {
        const r = await fn(tx);
        await tx.appendAudit({ actor: actorOf(id), tenantId, action, target, details });
        return r;
      });
      deps.onChange();
      return out;
    } catch (err) {
      if (err instanceof StoreConflict) throw new TesseraError("conflict", err.message, { code: "already_exists" });
      throw err;
    }
  }

  /** A key's grants checked: known roles (default developer), patterns, a redaction policy the configuration has. */
  function grants(k: KeyGrants): KeyGrants {
    const policy = k.redactionPolicy || "default";
    if (policy !== "default" && !deps.redactionPolicies.has(policy)) throw invalid("redaction_policy", `Unknown redaction policy '${policy.slice(0, 64)}'.`);
    return {
      name: k.name,
      roles: roles("roles", k.roles, ["developer"]),
      modelsAllow: patterns("models_allow", k.modelsAllow),
      modelsDeny: patterns("models_deny", k.modelsDeny),
      promptsAllow: patterns("prompts_allow", k.promptsAllow),
      apisAllow: apiPatterns("apis_allow", k.apisAllow),
      redactionPolicy: policy,
    };
  }

  async function tenantExists(tx: AuthzStore, tenantId: string): Promise<void> {
    if (!(await tx.getTenant(tenantId))) throw notFound(`Tenant '${tenantId}'`);
  }

  async function teamExists(tx: AuthzStore, tenantId: string, teamId: string): Promise<void> {
    if (teamId && !(await tx.getTeam(tenantId, teamId))) throw notFound(`Team '${teamId}' in tenant '${tenantId}'`);
  }

  async function scopeExists(tx: AuthzStore, tenantId: string, scope: Scope, scopeId: string): Promise<void> {
    if (!SCOPES.includes(scope)) throw invalid("scope", `scope must be one of ${SCOPES.join(", ")}.`);
    if (!scopeId) throw invalid("scope_id", "scope_id is required.");
    const found =
      scope === "tenant"
        ? scopeId === tenantId
        : scope === "team"
          ? !!(await tx.getTeam(tenantId, scopeId))
          : scope === "user"
            ? !!(await tx.getUser(tenantId, scopeId))
            : (await tx.getKey(scopeId))?.tenantId === tenantId;
    if (!found) throw notFound(`${scope} '${scopeId}' in tenant '${tenantId}'`);
  }

  async function keyOf(tx: AuthzStore, tenantId: string, id: string): Promise<KeyRow> {
    const k = await tx.getKey(id);
    if (!k || k.tenantId !== tenantId) throw notFound(`Key '${id}' in tenant '${tenantId}'`);
    return k;
  }

  /** Budgets with their current period's spend. */
  async function withSpend(rows: BudgetRow[]): Promise<(BudgetRow & { spentUsd: number; reservedUsd: number; tokensUsed: number; periodStartMs: number; periodEndMs: number })[]> {
    const t = now();
    const periods = rows.map((b) => currentPeriod(b, t));
    const keys = rows.flatMap((b, i) => {
      const p = periods[i];
      if (!p) return [];
      const k = ledgerKeys(b, p.startMs);
      return [k.usd, k.tokens];
    });
    const states = keys.length ? await deps.limiter.ledgers(keys, t) : [];
    let j = 0;
    return rows.map((b, i) => {
      const p = periods[i];
      if (!p) return { ...b, spentUsd: 0, reservedUsd: 0, tokensUsed: 0, periodStartMs: 0, periodEndMs: 0 };
      const usd = states[j++]!;
      const tok = states[j++]!;
      return { ...b, spentUsd: fromMicros(usd.spent), reservedUsd: fromMicros(usd.reserved), tokensUsed: tok.spent, periodStartMs: p.startMs, periodEndMs: p.endMs };
    });
  }

  return {
    caller,

    async createTenant(id: Identity, t: { id: string; name: string }): Promise<TenantRow> {
      requireOperator(id);
      const tenantId = slug("id", t.id);
      return change(id, tenantId, "tenant.create", `tenant:${tenantId}`, { name: t.name }, (tx) => tx.createTenant({ id: tenantId, name: t.name || tenantId }));
    },

    async listTenants(id: Identity): Promise<TenantRow[]> {
      if (id.operator) return deps.store.listTenants();
      const t = await deps.store.getTenant(id.tenantId);
      return t ? [t] : [];
    },

    async createTeam(id: Identity, t: Omit<TeamRow, "createdAt">): Promise<TeamRow> {
      require(id, t.tenantId, ["admin"]);
      const row = { tenantId: t.tenantId, id: slug("id", t.id), name: t.name || t.id, modelsAllow: patterns("models_allow", t.modelsAllow), modelsDeny: patterns("models_deny", t.modelsDeny) };
      return change(id, t.tenantId, "team.create", `team:${row.id}`, { modelsAllow: row.modelsAllow, modelsDeny: row.modelsDeny }, async (tx) => {
        await tenantExists(tx, t.tenantId);
        return tx.createTeam(row);
      });
    },

    async updateTeam(id: Identity, t: Omit<TeamRow, "createdAt">): Promise<TeamRow> {
      require(id, t.tenantId, ["admin"]);
      const row = { ...t, modelsAllow: patterns("models_allow", t.modelsAllow), modelsDeny: patterns("models_deny", t.modelsDeny) };
      return change(id, t.tenantId, "team.update", `team:${t.id}`, { name: t.name, modelsAllow: row.modelsAllow, modelsDeny: row.modelsDeny }, async (tx) => {
        const before = await tx.getTeam(t.tenantId, t.id);
        if (!before) throw notFound(`Team '${t.id}' in tenant '${t.tenantId}'`);
        return (await tx.updateTeam({ ...row, name: t.name || before.name }))!;
      });
    },

    async listTeams(id: Identity, tenantId: string): Promise<TeamRow[]> {
      require(id, tenantId, ROLES);
      return deps.store.listTeams(tenantId);
    },

    async createUser(id: Identity, u: Omit<UserRow, "createdAt">): Promise<UserRow> {
      require(id, u.tenantId, ["admin"]);
      const row = { ...u, id: slug("id", u.id), roles: roles("roles", u.roles, ["developer"]) };
      if (u.email && !/^[^\s@]+@[^\s@]+$/.test(u.email)) throw invalid("email", "email is not an e-mail address.");
      return change(id, u.tenantId, "user.create", `user:${row.id}`, { teamId: row.teamId, roles: row.roles }, async (tx) => {
        await tenantExists(tx, u.tenantId);
        await teamExists(tx, u.tenantId, u.teamId);
        return tx.createUser(row);
      });
    },

    async listUsers(id: Identity, tenantId: string): Promise<UserRow[]> {
      require(id, tenantId, ROLES);
      return deps.store.listUsers(tenantId);
    },

    async createKey(id: Identity, k: Pick<KeyRow, "tenantId" | "teamId" | "userId"> & KeyGrants & { ttlSeconds: number }): Promise<{ key: KeyRow; secret: string }> {
      require(id, k.tenantId, ["admin"]);
      if (k.ttlSeconds < 0) throw invalid("ttl_seconds", "ttl_seconds must be 0 (never expires) or positive.");
      const secret = newSecret();
      const row: Omit<KeyRow, "createdAt"> = {
        id: `key_${ulid().toLowerCase()}`,
        tenantId: k.tenantId,
        teamId: k.teamId,
        userId: k.userId,
        keyHash: sha256Hex(secret),
        prefix: secret.slice(0, 10),
        ...grants(k),
        expiresAt: k.ttlSeconds > 0 ? new Date(now() + k.ttlSeconds * 1000) : null,
        revokedAt: null,
        rotatedFrom: "",
      };
      const details = { name: row.name, teamId: row.teamId, userId: row.userId, roles: row.roles, modelsAllow: row.modelsAllow, modelsDeny: row.modelsDeny, apisAllow: row.apisAllow, expiresAt: row.expiresAt };
      const key = await change(id, k.tenantId, "key.create", `key:${row.id}`, details, async (tx) => {
        await tenantExists(tx, k.tenantId);
        await teamExists(tx, k.tenantId, k.teamId);
        if (k.userId && !(await tx.getUser(k.tenantId, k.userId))) throw notFound(`User '${k.userId}' in tenant '${k.tenantId}'`);
        return tx.createKey(row);
      });
      return { key, secret };
    },

    /**
     * Change the named fields of a key (its secret, owner and times stay): e.g. limit it to some
     * prompt APIs. Served within authz.cache_ms on other replicas, at once on this one.
     */
    async updateKey(id: Identity, r: { tenantId: string; keyId: string; fields: readonly string[] } & KeyGrants): Promise<KeyRow> {
      require(id, r.tenantId, ["admin"]);
      if (r.fields.length === 0) throw invalid("fields", `fields names what to change: ${KEY_FIELDS.join(", ")}.`);
      for (const f of r.fields)
        if (!(KEY_FIELDS as readonly string[]).includes(f)) throw invalid("fields", `Unknown key field '${f.slice(0, 64)}'; a key's ${KEY_FIELDS.join(", ")} may change.`);
      const named = new Set(r.fields as readonly KeyField[]);
      return change(id, r.tenantId, "key.update", `key:${r.keyId}`, { fields: [...named] }, async (tx) => {
        const old = await keyOf(tx, r.tenantId, r.keyId);
        const pick = <K extends keyof KeyGrants>(field: KeyField, k: K): KeyGrants[K] => (named.has(field) ? r[k] : old[k]);
        const next = grants({
          name: pick("name", "name"),
          roles: pick("roles", "roles"),
          modelsAllow: pick("models_allow", "modelsAllow"),
          modelsDeny: pick("models_deny", "modelsDeny"),
          promptsAllow: pick("prompts_allow", "promptsAllow"),
          apisAllow: pick("apis_allow", "apisAllow"),
          redactionPolicy: pick("redaction_policy", "redactionPolicy"),
        });
        return (await tx.updateKey({ id: r.keyId, ...next }))!;
      });
    },

    async listKeys(id: Identity, tenantId: string): Promise<KeyRow[]> {
      require(id, tenantId, ROLES);
      return deps.store.listKeys(tenantId);
    },

    async rotateKey(id: Identity, tenantId: string, keyId: string, overlapSeconds: number): Promise<{ key: KeyRow; secret: string; previous: KeyRow }> {
      require(id, tenantId, ["admin"]);
      if (overlapSeconds < 0) throw invalid("overlap_seconds", "overlap_seconds must be 0 or positive.");
      const overlap = overlapSeconds || 3600;
      const secret = newSecret();
      const out = await change(id, tenantId, "key.rotate", `key:${keyId}`, { overlapSeconds: overlap }, async (tx) => {
        const old = await keyOf(tx, tenantId, keyId);
        const t = now();
        if (old.revokedAt) throw new TesseraError("conflict", `Key '${keyId}' is revoked; create a new key instead.`, { code: "key_revoked" });
        if (old.expiresAt && old.expiresAt.getTime() <= t) throw new TesseraError("conflict", `Key '${keyId}' has expired; create a new key instead.`, { code: "key_expired" });
        const until = new Date(Math.min(t + overlap * 1000, old.expiresAt?.getTime() ?? Infinity));
        const previous = (await tx.setKeyExpiry(keyId, until))!;
        const { createdAt: _c, ...grants } = old;
        const key = await tx.createKey({ ...grants, id: `key_${ulid().toLowerCase()}`, keyHash: sha256Hex(secret), prefix: secret.slice(0, 10), expiresAt: null, revokedAt: null, rotatedFrom: keyId });
        return { key, previous };
      });
      return { ...out, secret };
    },

    async revokeKey(id: Identity, tenantId: string, keyId: string): Promise<KeyRow> {
      require(id, tenantId, ["admin"]);
      return change(id, tenantId, "key.revoke", `key:${keyId}`, {}, async (tx) => {
        await keyOf(tx, tenantId, keyId);
        return (await tx.revokeKey(keyId, new Date(now())))!;
      });
    },

    async setLimit(id: Identity, l: LimitRow): Promise<LimitRow> {
      require(id, l.tenantId, ["admin"]);
      if (l.requestsPerMinute < 0 || l.tokensPerMinute < 0) throw invalid("limit", "Limits must be 0 (none) or positive.");
      return change(id, l.tenantId, "limit.set", `${l.scope}:${l.scopeId}`, { requestsPerMinute: l.requestsPerMinute, tokensPerMinute: l.tokensPerMinute }, async (tx) => {
        await scopeExists(tx, l.tenantId, l.scope, l.scopeId);
        return tx.setLimit(l);
      });
    },

    async listLimits(id: Identity, tenantId: string): Promise<LimitRow[]> {
      require(id, tenantId, ROLES);
      return deps.store.listLimits(tenantId);
    },

    async deleteLimit(id: Identity, tenantId: string, scope: Scope, scopeId: string): Promise<void> {
      require(id, tenantId, ["admin"]);
      await change(id, tenantId, "limit.delete", `${scope}:${scopeId}`, {}, async (tx) => {
        if (!(await tx.deleteLimit(tenantId, scope, scopeId))) throw notFound(`The limit of ${scope} '${scopeId}'`);
      });
    },

    async setBudget(id: Identity, b: BudgetRow) {
      require(id, b.tenantId, ["admin"]);
      if (!PERIODS.includes(b.period)) throw invalid("period", `period must be one of ${PERIODS.join(", ")}.`);
      if (b.period === "custom" && (!b.startsAt || !b.endsAt || b.endsAt <= b.startsAt))
        throw invalid("ends_at_ms", "A custom budget needs starts_at_ms and a later ends_at_ms.");
      if (b.limitUsd < 0 || b.softLimitUsd < 0 || b.tokenQuota < 0 || !Number.isFinite(b.limitUsd) || !Number.isFinite(b.softLimitUsd))
        throw invalid("limit_usd", "Budget amounts must be 0 (none) or positive numbers.");
      if (b.limitUsd === 0 && b.softLimitUsd === 0 && b.tokenQuota === 0) throw invalid("limit_usd", "Set at least one of limit_usd, soft_limit_usd or token_quota.");
      const row: BudgetRow = { ...b, id: b.id ? slug("id", b.id) : `bud_${ulid().toLowerCase()}` };
      const saved = await change(id, b.tenantId, "budget.set", `budget:${row.id}`, { scope: row.scope, scopeId: row.scopeId, period: row.period, limitUsd: row.limitUsd, softLimitUsd: row.softLimitUsd, tokenQuota: row.tokenQuota }, async (tx) => {
        await scopeExists(tx, b.tenantId, b.scope, b.scopeId);
        return tx.setBudget(row);
      });
      return (await withSpend([saved]))[0]!;
    },

    async listBudgets(id: Identity, tenantId: string) {
      require(id, tenantId, ROLES);
      return withSpend(await deps.store.listBudgets(tenantId));
    },

    async deleteBudget(id: Identity, tenantId: string, budgetId: string): Promise<void> {
      require(id, tenantId, ["admin"]);
      await change(id, tenantId, "budget.delete", `budget:${budgetId}`, {}, async (tx) => {
        if (!(await tx.deleteBudget(tenantId, budgetId))) throw notFound(`Budget '${budgetId}'`);
      });
    },

    async requestSubscription(id: Identity, s: { tenantId: string; teamId: string; resourceKind: string; resource: string; note: string }): Promise<SubscriptionRow> {
      require(id, s.tenantId, ["admin", "developer"]);
      if (s.resourceKind !== "model" && s.resourceKind !== "prompt") throw invalid("resource_kind", "resource_kind must be 'model' or 'prompt'.");
      if (!s.resource) throw invalid("resource", "resource is required.");
      if (!id.operator && !id.roles.includes("admin") && s.teamId !== id.teamId)
        throw new TesseraError("permission_denied", "Developers may request subscriptions for their own team only.", { code: "other_team" });
      const row = { tenantId: s.tenantId, id: `sub_${ulid().toLowerCase()}`, teamId: s.teamId, resourceKind: s.resourceKind, resource: s.resource, requestedBy: actorOf(id), note: s.note } as const;
      return change(id, s.tenantId, "subscription.request", `subscription:${row.id}`, { teamId: row.teamId, resourceKind: row.resourceKind, resource: row.resource }, async (tx) => {
        await tenantExists(tx, s.tenantId);
        await teamExists(tx, s.tenantId, s.teamId);
        return tx.createSubscription(row);
      });
    },

    async decideSubscription(id: Identity, tenantId: string, subId: string, status: string, note: string): Promise<SubscriptionRow> {
      require(id, tenantId, ["admin"]);
      if (!(DECISIONS as readonly string[]).includes(status)) throw invalid("status", `status must be one of ${DECISIONS.join(", ")}.`);
      return change(id, tenantId, `subscription.${status}`, `subscription:${subId}`, { note }, async (tx) => {
        const r = await tx.decideSubscription(tenantId, subId, status as SubscriptionStatus, actorOf(id), note);
        if (!r) throw notFound(`Subscription '${subId}'`);
        return r;
      });
    },

    async listSubscriptions(id: Identity, tenantId: string): Promise<SubscriptionRow[]> {
      require(id, tenantId, ROLES);
      return deps.store.listSubscriptions(tenantId);
    },

    async listAudit(id: Identity, q: { tenantId: string; limit: number; beforeId: string }) {
      if (q.tenantId || !id.operator) require(id, q.tenantId || id.tenantId, ["admin"]);
      const limit = Math.min(Math.max(q.limit || 100, 1), 1000);
      return deps.store.listAudit({ ...(q.tenantId || !id.operator ? { tenantId: q.tenantId || id.tenantId } : {}), limit, ...(q.beforeId ? { beforeId: q.beforeId } : {}) });
    },
  };
}

export type Admin = ReturnType<typeof createAdmin>;
