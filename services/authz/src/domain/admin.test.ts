import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { sha256Hex } from "@tessera/runtime";
import { currentPeriod, ledgerKeys, LEDGER_GRACE_MS, toMicros } from "./budget-period.js";
import type { Identity } from "./identity.js";
import type { BudgetRow } from "./store.js";
import { authzFixture, noKeyLists, refused } from "./test-support.js";

const OPERATOR_TOKEN = "op-admin-test-token";
const T0 = Date.UTC(2025, 5, 10, 12, 0, 10);
let clock = T0;
const now = () => clock;

const fx = authzFixture({ operatorToken: OPERATOR_TOKEN, now, logName: "admin-test" });

/** An admin over the shared store with its own limiter and identity resolver; counts changes. */
function env() {
  const { identities, limiter, log } = fx.resolver();
  const changes = { n: 0 };
  const admin = fx.admin({
    identities,
    limiter,
    onChange: () => {
      changes.n++;
      identities.invalidate();
    },
    log,
  });
  return { admin, identities, limiter, changes };
}
type Env = ReturnType<typeof env>;

/** A 400 naming `param`. */
async function invalidParam(p: Promise<unknown>, param: string): Promise<void> {
  const err = await refused(p, "invalid_request", "invalid_field", 400);
  assert.equal(err.details.param, param, err.message);
}

let tenantN = 0;
const newId = (p: string) => `${p}-${++tenantN}-${Math.random().toString(36).slice(2, 6)}`;

/** A tenant with team "core" (and "lab"), and identities for its admin, developer and viewer keys. */
async function setUp(e: Env) {
  const op = await e.identities.resolve(OPERATOR_TOKEN, "");
  const id = newId("adm");
  await e.admin.createTenant(op, { id, name: `Tenant ${id}` });
  await e.admin.createTeam(op, { tenantId: id, id: "core", name: "Core", modelsAllow: [], modelsDeny: [] });
  await e.admin.createTeam(op, { tenantId: id, id: "lab", name: "Lab", modelsAllow: [], modelsDeny: [] });
  const make = async (roles: string[], teamId = "core") => {
    const { key, secret } = await e.admin.createKey(op, { tenantId: id, teamId, userId: "", name: roles.join("+"), roles, ...noKeyLists });
    return { key, secret, who: await e.identities.resolve(secret, "") };
  };
  const admin = await make(["admin"], "");
  const dev = await make(["developer"]);
  const viewer = await make(["viewer"]);
  return { id, op, admin, dev, viewer };
}

const count = async (tenantId?: string) => (await fx.store.listAudit({ ...(tenantId !== undefined ? { tenantId } : {}), limit: 1000 })).length;

describe("admin", () => {
  describe("tenants", () => {
    it("the operator creates and lists tenants, each creation audited", async () => {
      const e = env();
      const op = await e.identities.resolve(OPERATOR_TOKEN, "");
      const id = newId("ten");
      const row = await e.admin.createTenant(op, { id, name: "Acme" });
      assert.equal(row.id, id);
      assert.equal(row.name, "Acme");
      assert.ok(row.createdAt instanceof Date);
      assert.ok((await e.admin.listTenants(op)).some((t) => t.id === id));
      const [entry] = await fx.store.listAudit({ tenantId: id, limit: 10 });
      assert.equal(entry?.action, "tenant.create");
      assert.equal(entry?.actor, "operator");
      assert.equal(entry?.target, `tenant:${id}`);
      assert.deepEqual(entry?.details, { name: "Acme" });
      // A name defaults to the id.
      const id2 = newId("ten");
      assert.equal((await e.admin.createTenant(op, { id: id2, name: "" })).name, id2);
    });

    it("only the operator creates tenants; others list their own tenant only", async () => {
      const e = env();
      const t = await setUp(e);
      for (const k of [t.admin, t.dev, t.viewer]) {
        await refused(e.admin.createTenant(k.who, { id: newId("nope"), name: "" }), "permission_denied", "operator_only", 403);
        assert.deepEqual((await e.admin.listTenants(k.who)).map((x) => x.id), [t.id]);
      }
    });
  });

  describe("a tenant admin", () => {
    it("manages teams, users, keys, limits, budgets and subscriptions in its tenant", async () => {
      const e = env();
      const t = await setUp(e);
      const a = t.admin.who;
      assert.deepEqual(a.roles, ["admin"]);
      const team = await e.admin.createTeam(a, { tenantId: t.id, id: "ml", name: "ML", modelsAllow: ["gpt-4*"], modelsDeny: [] });
      assert.deepEqual(team.modelsAllow, ["gpt-4*"]);
      const updated = await e.admin.updateTeam(a, { tenantId: t.id, id: "ml", name: "", modelsAllow: [], modelsDeny: ["o1*"] });
      assert.equal(updated.name, "ML", "an empty name keeps the old one");
      assert.deepEqual(updated.modelsDeny, ["o1*"]);
      const user = await e.admin.createUser(a, { tenantId: t.id, id: "carol", email: "carol@example.com", teamId: "ml", roles: [] });
      assert.deepEqual(user.roles, ["developer"], "developer by default");
      const { key, secret } = await e.admin.createKey(a, { tenantId: t.id, teamId: "ml", userId: "carol", name: "carol's", roles: ["developer"], ...noKeyLists, redactionPolicy: "strict" });
      assert.equal(key.redactionPolicy, "strict");
      assert.equal((await e.identities.resolve(secret, "")).userId, "carol");
      const limit = await e.admin.setLimit(a, { tenantId: t.id, scope: "user", scopeId: "carol", requestsPerMinute: 60, tokensPerMinute: 0 });
      assert.equal(limit.requestsPerMinute, 60);
      const budget = await e.admin.setBudget(a, { tenantId: t.id, id: "", scope: "key", scopeId: key.id, period: "day", startsAt: null, endsAt: null, limitUsd: 5, softLimitUsd: 4, tokenQuota: 0 });
      assert.match(budget.id, /^bud_[0-9a-z]{26}$/);
      const sub = await e.admin.requestSubscription(a, { tenantId: t.id, teamId: "ml", resourceKind: "model", resource: "o1-preview", note: "eval" });
      assert.equal(sub.status, "pending");
      assert.equal(sub.requestedBy, `key:${t.admin.key.id}`);
      const decided = await e.admin.decideSubscription(a, t.id, sub.id, "approved", "fine");
      assert.equal(decided.status, "approved");
      assert.equal(decided.decidedBy, `key:${t.admin.key.id}`);
      assert.ok(await fx.store.isSubscribed(t.id, "ml", "model", "o1-preview"));
      await e.admin.deleteLimit(a, t.id, "user", "carol");
      assert.deepEqual(await e.admin.listLimits(a, t.id), []);
      await e.admin.deleteBudget(a, t.id, budget.id);
      assert.deepEqual(await e.admin.listBudgets(a, t.id), []);
      await refused(e.admin.deleteBudget(a, t.id, budget.id), "not_found", "not_found", 404);
      await refused(e.admin.deleteLimit(a, t.id, "user", "carol"), "not_found", "not_found", 404);
    });

    it("is refused in another tenant with 403 other_tenant", async () => {
      const e = env();
      const t = await setUp(e);
      const other = await setUp(e);
      const a = t.admin.who;
      const o = other.id;
      const attempts: (() => Promise<unknown>)[] = [
        () => e.admin.createTeam(a, { tenantId: o, id: "x", name: "", modelsAllow: [], modelsDeny: [] }),
        () => e.admin.updateTeam(a, { tenantId: o, id: "core", name: "", modelsAllow: [], modelsDeny: ["*"] }),
        () => e.admin.createUser(a, { tenantId: o, id: "x", email: "", teamId: "", roles: [] }),
        () => e.admin.createKey(a, { tenantId: o, teamId: "", userId: "", name: "", roles: ["admin"], ...noKeyLists }),
        () => e.admin.rotateKey(a, o, other.dev.key.id, 0),
        () => e.admin.revokeKey(a, o, other.dev.key.id),
        () => e.admin.setLimit(a, { tenantId: o, scope: "tenant", scopeId: o, requestsPerMinute: 1, tokensPerMinute: 0 }),
        () => e.admin.deleteLimit(a, o, "tenant", o),
        () => e.admin.setBudget(a, { tenantId: o, id: "b", scope: "tenant", scopeId: o, period: "month", startsAt: null, endsAt: null, limitUsd: 1, softLimitUsd: 0, tokenQuota: 0 }),
        () => e.admin.deleteBudget(a, o, "b"),
        () => e.admin.requestSubscription(a, { tenantId: o, teamId: "core", resourceKind: "model", resource: "m", note: "" }),
        () => e.admin.decideSubscription(a, o, "sub_x", "approved", ""),
        () => e.admin.listTeams(a, o),
        () => e.admin.listUsers(a, o),
        () => e.admin.listKeys(a, o),
        () => e.admin.listLimits(a, o),
        () => e.admin.listBudgets(a, o),
        () => e.admin.listSubscriptions(a, o),
        () => e.admin.listAudit(a, { tenantId: o, limit: 10, beforeId: "" }),
      ];
      for (const attempt of attempts) await refused(attempt(), "permission_denied", "other_tenant", 403);
      // Nothing happened in the other tenant.
      assert.equal((await e.identities.resolve(other.dev.secret, "")).keyId, other.dev.key.id);
      assert.deepEqual((await fx.store.listTeams(o)).map((x) => x.id), ["core", "lab"]);
      // Its own scope cannot point at the other tenant's key either.
      await refused(e.admin.setLimit(a, { tenantId: t.id, scope: "key", scopeId: other.dev.key.id, requestsPerMinute: 1, tokensPerMinute: 0 }), "not_found", "not_found", 404);
    });
  });

  describe("developers and viewers", () => {
    it("a developer lists, and requests subscriptions for its own team only", async () => {
      const e = env();
      const t = await setUp(e);
      const d = t.dev.who;
      assert.deepEqual((await e.admin.listTeams(d, t.id)).map((x) => x.id), ["core", "lab"]);
      assert.equal((await e.admin.listKeys(d, t.id)).length, 3);
      await e.admin.listUsers(d, t.id);
      await e.admin.listLimits(d, t.id);
      await e.admin.listBudgets(d, t.id);
      const sub = await e.admin.requestSubscription(d, { tenantId: t.id, teamId: "core", resourceKind: "model", resource: "o1-preview", note: "" });
      assert.equal(sub.requestedBy, `key:${t.dev.key.id}`);
      assert.equal(sub.status, "pending");
      assert.deepEqual((await e.admin.listSubscriptions(d, t.id)).map((s) => s.id), [sub.id]);
      await refused(e.admin.requestSubscription(d, { tenantId: t.id, teamId: "lab", resourceKind: "model", resource: "o1-preview", note: "" }), "permission_denied", "other_team", 403);
      await refused(e.admin.requestSubscription(d, { tenantId: t.id, teamId: "", resourceKind: "model", resource: "o1-preview", note: "" }), "permission_denied", "other_team", 403);
      // Not its own approval, and no writes.
      await refused(e.admin.decideSubscription(d, t.id, sub.id, "approved", ""), "permission_denied", "role_not_allowed", 403);
      await refused(e.admin.createTeam(d, { tenantId: t.id, id: "x", name: "", modelsAllow: [], modelsDeny: [] }), "permission_denied", "role_not_allowed", 403);
      await refused(e.admin.createKey(d, { tenantId: t.id, teamId: "core", userId: "", name: "", roles: ["admin"], ...noKeyLists }), "permission_denied", "role_not_allowed", 403);
      await refused(e.admin.setLimit(d, { tenantId: t.id, scope: "key", scopeId: t.dev.key.id, requestsPerMinute: 0, tokensPerMinute: 0 }), "permission_denied", "role_not_allowed", 403);
      await refused(e.admin.listAudit(d, { tenantId: "", limit: 10, beforeId: "" }), "permission_denied", "role_not_allowed", 403);
      assert.equal((await fx.store.listSubscriptions(t.id)).length, 1);
    });

    it("a viewer may only list", async () => {
      const e = env();
      const t = await setUp(e);
      const v = t.viewer.who;
      await e.admin.listTeams(v, t.id);
      await e.admin.listUsers(v, t.id);
      await e.admin.listKeys(v, t.id);
      await e.admin.listLimits(v, t.id);
      await e.admin.listBudgets(v, t.id);
      await e.admin.listSubscriptions(v, t.id);
      const before = await count(t.id);
      const writes: (() => Promise<unknown>)[] = [
        () => e.admin.requestSubscription(v, { tenantId: t.id, teamId: "core", resourceKind: "model", resource: "m", note: "" }),
        () => e.admin.createTeam(v, { tenantId: t.id, id: "x", name: "", modelsAllow: [], modelsDeny: [] }),
        () => e.admin.createUser(v, { tenantId: t.id, id: "x", email: "", teamId: "", roles: [] }),
        () => e.admin.revokeKey(v, t.id, t.viewer.key.id),
        () => e.admin.setBudget(v, { tenantId: t.id, id: "b", scope: "tenant", scopeId: t.id, period: "month", startsAt: null, endsAt: null, limitUsd: 1, softLimitUsd: 0, tokenQuota: 0 }),
        () => e.admin.listAudit(v, { tenantId: t.id, limit: 10, beforeId: "" }),
      ];
      for (const write of writes) await refused(write(), "permission_denied", "role_not_allowed", 403);
      assert.equal(await count(t.id), before);
    });
  });

  describe("keys", () => {
    it("a created key works with the identity resolver and is stored only as a hash", async () => {
      const e = env();
      const t = await setUp(e);
      const { key, secret } = await e.admin.createKey(t.admin.who, { tenantId: t.id, teamId: "core", userId: "", name: "ci", roles: ["developer", "viewer"], ...noKeyLists, modelsAllow: ["gpt-4*"] });
      assert.match(secret, /^tsk-[A-Za-z0-9_-]{43}$/);
      assert.match(key.id, /^key_[0-9a-z]{26}$/);
      const who = await e.identities.resolve(secret, "");
      assert.equal(who.keyId, key.id);
      assert.equal(who.tenantId, t.id);
      assert.deepEqual(who.roles, ["developer", "viewer"]);
      assert.deepEqual(who.modelsAllow, ["gpt-4*"]);
      const listed = (await e.admin.listKeys(t.admin.who, t.id)).find((k) => k.id === key.id);
      assert.ok(listed);
      assert.equal(listed.keyHash, sha256Hex(secret));
      assert.equal(listed.prefix, secret.slice(0, 10));
      assert.ok(secret.startsWith(listed.prefix));
      assert.ok(!("secret" in listed));
      const all = JSON.stringify(await e.admin.listKeys(t.op, t.id));
      assert.ok(!all.includes(secret), "listKeys shows a secret");
      assert.ok(!all.includes(secret.slice(10)), "listKeys shows the rest of a secret");
      // Two keys never share a secret.
      const again = await e.admin.createKey(t.admin.who, { tenantId: t.id, teamId: "", userId: "", name: "", roles: [], ...noKeyLists });
      assert.notEqual(again.secret, secret);
      assert.deepEqual(again.key.roles, ["developer"]);
    });

    it("a ttl sets the expiry; unknown team or user is a 404", async () => {
      clock = T0;
      const e = env();
      const t = await setUp(e);
      const { key } = await e.admin.createKey(t.op, { tenantId: t.id, teamId: "", userId: "", name: "", roles: [], ...noKeyLists, ttlSeconds: 90 });
      assert.equal(key.expiresAt?.getTime(), T0 + 90_000);
      await refused(e.admin.createKey(t.op, { tenantId: t.id, teamId: "ghost", userId: "", name: "", roles: [], ...noKeyLists }), "not_found", "not_found", 404);
      await refused(e.admin.createKey(t.op, { tenantId: t.id, teamId: "", userId: "ghost", name: "", roles: [], ...noKeyLists }), "not_found", "not_found", 404);
      await refused(e.admin.createKey(t.op, { tenantId: newId("missing"), teamId: "", userId: "", name: "", roles: [], ...noKeyLists }), "not_found", "not_found", 404);
    });

    it("rotation: the new key works, the old one until the overlap ends, then key_expired", async () => {
      clock = T0;
      try {
        const e = env();
        const t = await setUp(e);
        const old = await e.admin.createKey(t.admin.who, { tenantId: t.id, teamId: "core", userId: "", name: "svc", roles: ["developer"], ...noKeyLists, modelsDeny: ["o1*"], redactionPolicy: "strict" });
        const r = await e.admin.rotateKey(t.admin.who, t.id, old.key.id, 600);
        assert.notEqual(r.secret, old.secret);
        assert.equal(r.key.rotatedFrom, old.key.id);
        assert.equal(r.previous.id, old.key.id);
        assert.equal(r.previous.expiresAt?.getTime(), T0 + 600_000);
        assert.equal(r.key.expiresAt, null);
        // The grants carry over.
        assert.deepEqual([r.key.teamId, r.key.roles, r.key.modelsDeny, r.key.redactionPolicy], ["core", ["developer"], ["o1*"], "strict"]);
        assert.equal((await e.identities.resolve(r.secret, "")).keyId, r.key.id);
        assert.equal((await e.identities.resolve(old.secret, "")).keyId, old.key.id);
        clock = T0 + 599_999;
        assert.equal((await e.identities.resolve(old.secret, "")).keyId, old.key.id);
        clock = T0 + 600_000;
        await refused(e.identities.resolve(old.secret, ""), "unauthenticated", "key_expired", 401);
        assert.equal((await e.identities.resolve(r.secret, "")).keyId, r.key.id);
        // An expired key cannot be rotated again.
        await refused(e.admin.rotateKey(t.admin.who, t.id, old.key.id, 0), "conflict", "key_expired", 409);
        // Overlap 0 means the default of an hour; it never outlives the key's own expiry.
        const r2 = await e.admin.rotateKey(t.admin.who, t.id, r.key.id, 0);
        assert.equal(r2.previous.expiresAt?.getTime(), T0 + 600_000 + 3_600_000);
        const short = await e.admin.createKey(t.op, { tenantId: t.id, teamId: "", userId: "", name: "", roles: [], ...noKeyLists, ttlSeconds: 60 });
        const r3 = await e.admin.rotateKey(t.op, t.id, short.key.id, 3600);
        assert.equal(r3.previous.expiresAt?.getTime(), clock + 60_000);
        await invalidParam(e.admin.rotateKey(t.op, t.id, r3.key.id, -1), "overlap_seconds");
        await refused(e.admin.rotateKey(t.op, t.id, "key_nope", 0), "not_found", "not_found", 404);
      } finally {
        clock = T0;
      }
    });

    it("revocation: refused at once, and a revoked key cannot be rotated", async () => {
      clock = T0;
      const e = env();
      const t = await setUp(e);
      const k = await e.admin.createKey(t.op, { tenantId: t.id, teamId: "", userId: "", name: "", roles: [], ...noKeyLists });
      assert.equal((await e.identities.resolve(k.secret, "")).keyId, k.key.id);
      const revoked = await e.admin.revokeKey(t.admin.who, t.id, k.key.id);
      assert.equal(revoked.revokedAt?.getTime(), T0);
      await refused(e.identities.resolve(k.secret, ""), "unauthenticated", "key_revoked", 401);
      await refused(e.admin.rotateKey(t.admin.who, t.id, k.key.id, 0), "conflict", "key_revoked", 409);
      // Revoking again keeps the first time.
      clock = T0 + 5_000;
      assert.equal((await e.admin.revokeKey(t.op, t.id, k.key.id)).revokedAt?.getTime(), T0);
      clock = T0;
      // The key must be in the named tenant.
      const other = await setUp(e);
      await refused(e.admin.revokeKey(t.op, t.id, other.dev.key.id), "not_found", "not_found", 404);
      assert.equal((await e.identities.resolve(other.dev.secret, "")).keyId, other.dev.key.id);
    });
  });

  describe("conflicts and validation", () => {
    it("duplicate ids are a 409 conflict and leave no audit entry", async () => {
      const e = env();
      const t = await setUp(e);
      await e.admin.createUser(t.op, { tenantId: t.id, id: "dave", email: "", teamId: "", roles: [] });
      const before = await count();
      const changes = e.changes.n;
      const dupes: [() => Promise<unknown>, RegExp][] = [
        [() => e.admin.createTenant(t.op, { id: t.id, name: "" }), new RegExp(`tenant '${t.id}' already exists`)],
        [() => e.admin.createTeam(t.admin.who, { tenantId: t.id, id: "core", name: "", modelsAllow: [], modelsDeny: [] }), /team 'core' already exists/],
        [() => e.admin.createUser(t.admin.who, { tenantId: t.id, id: "dave", email: "", teamId: "", roles: [] }), /user 'dave' already exists/],
      ];
      for (const [attempt, message] of dupes) {
        const err = await refused(attempt(), "conflict", "already_exists", 409);
        assert.match(err.message, message);
      }
      assert.equal(await count(), before);
      assert.equal(e.changes.n, changes, "no cache drop for a failed change");
      // The same ids in another tenant are fine.
      const other = await setUp(e);
      await e.admin.createUser(other.op, { tenantId: other.id, id: "dave", email: "", teamId: "", roles: [] });
    });

    it("validation errors name the parameter and change nothing", async () => {
      const e = env();
      const t = await setUp(e);
      const a = t.admin.who;
      const before = await count();
      const budget = (over: Partial<BudgetRow>): BudgetRow => ({ tenantId: t.id, id: "b", scope: "tenant", scopeId: t.id, period: "month", startsAt: null, endsAt: null, limitUsd: 1, softLimitUsd: 0, tokenQuota: 0, ...over });
      const key = { tenantId: t.id, teamId: "", userId: "", name: "", roles: [] as string[], ...noKeyLists };
      const cases: [() => Promise<unknown>, string][] = [
        [() => e.admin.createTenant(t.op, { id: "Bad Slug", name: "" }), "id"],
        [() => e.admin.createTenant(t.op, { id: "-leading", name: "" }), "id"],
        [() => e.admin.createTenant(t.op, { id: "x".repeat(64), name: "" }), "id"],
        [() => e.admin.createTeam(a, { tenantId: t.id, id: "UPPER", name: "", modelsAllow: [], modelsDeny: [] }), "id"],
        [() => e.admin.createTeam(a, { tenantId: t.id, id: "ok", name: "", modelsAllow: [""], modelsDeny: [] }), "models_allow"],
        [() => e.admin.createTeam(a, { tenantId: "", id: "ok", name: "", modelsAllow: [], modelsDeny: [] }), "tenant_id"],
        [() => e.admin.createUser(a, { tenantId: t.id, id: "u1", email: "", teamId: "", roles: ["god"] }), "roles"],
        [() => e.admin.createUser(a, { tenantId: t.id, id: "u1", email: "not-an-email", teamId: "", roles: [] }), "email"],
        [() => e.admin.createUser(a, { tenantId: t.id, id: "a/b", email: "", teamId: "", roles: [] }), "id"],
        [() => e.admin.createKey(a, { ...key, roles: ["root"] }), "roles"],
        [() => e.admin.createKey(a, { ...key, redactionPolicy: "nope" }), "redaction_policy"],
        [() => e.admin.createKey(a, { ...key, ttlSeconds: -1 }), "ttl_seconds"],
        [() => e.admin.createKey(a, { ...key, modelsDeny: ["x".repeat(201)] }), "models_deny"],
        [() => e.admin.createKey(a, { ...key, apisAllow: ["support/summarize"] }), "apis_allow"],
        [() => e.admin.createKey(a, { ...key, apisAllow: ["/v1/*"] }), "apis_allow"],
        [() => e.admin.updateKey(a, { ...key, keyId: t.dev.key.id, fields: [] }), "fields"],
        [() => e.admin.updateKey(a, { ...key, keyId: t.dev.key.id, fields: ["secret"] }), "fields"],
        [() => e.admin.updateKey(a, { ...key, keyId: t.dev.key.id, fields: ["apis_allow"], apisAllow: ["/apis/a/../b"] }), "apis_allow"],
        [() => e.admin.setLimit(a, { tenantId: t.id, scope: "tenant", scopeId: t.id, requestsPerMinute: -1, tokensPerMinute: 0 }), "limit"],
        [() => e.admin.setLimit(a, { tenantId: t.id, scope: "tenant", scopeId: t.id, requestsPerMinute: 0, tokensPerMinute: -5 }), "limit"],
        [() => e.admin.setLimit(a, { tenantId: t.id, scope: "org" as "tenant", scopeId: t.id, requestsPerMinute: 1, tokensPerMinute: 0 }), "scope"],
        [() => e.admin.setLimit(a, { tenantId: t.id, scope: "team", scopeId: "", requestsPerMinute: 1, tokensPerMinute: 0 }), "scope_id"],
        [() => e.admin.setBudget(a, budget({ period: "custom" })), "ends_at_ms"],
        [() => e.admin.setBudget(a, budget({ period: "custom", startsAt: new Date(T0) })), "ends_at_ms"],
        [() => e.admin.setBudget(a, budget({ period: "custom", startsAt: new Date(T0), endsAt: new Date(T0) })), "ends_at_ms"],
        [() => e.admin.setBudget(a, budget({ period: "week" as "day" })), "period"],
        [() => e.admin.setBudget(a, budget({ limitUsd: -1 })), "limit_usd"],
        [() => e.admin.setBudget(a, budget({ softLimitUsd: -0.01 })), "limit_usd"],
        [() => e.admin.setBudget(a, budget({ tokenQuota: -10 })), "limit_usd"],
        [() => e.admin.setBudget(a, budget({ limitUsd: Number.POSITIVE_INFINITY })), "limit_usd"],
        [() => e.admin.setBudget(a, budget({ limitUsd: 0 })), "limit_usd"],
        [() => e.admin.setBudget(a, budget({ id: "Bad Id" })), "id"],
        [() => e.admin.requestSubscription(a, { tenantId: t.id, teamId: "core", resourceKind: "tool", resource: "x", note: "" }), "resource_kind"],
        [() => e.admin.requestSubscription(a, { tenantId: t.id, teamId: "core", resourceKind: "model", resource: "", note: "" }), "resource"],
        [() => e.admin.decideSubscription(a, t.id, "sub_x", "maybe", ""), "status"],
        [() => e.admin.decideSubscription(a, t.id, "sub_x", "pending", ""), "status"],
      ];
      for (const [attempt, param] of cases) await invalidParam(attempt(), param);
      assert.equal(await count(), before, "no audit entry for an invalid change");
      assert.deepEqual((await fx.store.listUsers(t.id)).map((u) => u.id), []);
      assert.deepEqual(await fx.store.listBudgets(t.id), []);
    });

    it("a change that fails inside its transaction leaves no row and no audit entry", async () => {
      const e = env();
      const t = await setUp(e);
      const before = await count(t.id);
      const changes = e.changes.n;
      await refused(e.admin.createUser(t.admin.who, { tenantId: t.id, id: "erin", email: "", teamId: "ghost", roles: [] }), "not_found", "not_found", 404);
      await refused(e.admin.updateTeam(t.admin.who, { tenantId: t.id, id: "ghost", name: "", modelsAllow: [], modelsDeny: [] }), "not_found", "not_found", 404);
      await refused(e.admin.setLimit(t.admin.who, { tenantId: t.id, scope: "team", scopeId: "ghost", requestsPerMinute: 1, tokensPerMinute: 0 }), "not_found", "not_found", 404);
      await refused(e.admin.setBudget(t.admin.who, { tenantId: t.id, id: "b", scope: "user", scopeId: "ghost", period: "day", startsAt: null, endsAt: null, limitUsd: 1, softLimitUsd: 0, tokenQuota: 0 }), "not_found", "not_found", 404);
      await refused(e.admin.decideSubscription(t.admin.who, t.id, "sub_ghost", "approved", ""), "not_found", "not_found", 404);
      await refused(e.admin.requestSubscription(t.admin.who, { tenantId: t.id, teamId: "ghost", resourceKind: "model", resource: "m", note: "" }), "not_found", "not_found", 404);
      assert.equal(await count(t.id), before);
      assert.equal(e.changes.n, changes);
      assert.equal(await fx.store.getUser(t.id, "erin"), undefined);
      assert.deepEqual(await fx.store.listLimits(t.id), []);
      assert.deepEqual(await fx.store.listBudgets(t.id), []);
      assert.deepEqual(await fx.store.listSubscriptions(t.id), []);
    });
  });

  describe("budgets", () => {
    it("setBudget and listBudgets return the current period's spend", async () => {
      clock = T0;
      const e = env();
      const t = await setUp(e);
      const row: BudgetRow = { tenantId: t.id, id: "monthly", scope: "team", scopeId: "core", period: "month", startsAt: null, endsAt: null, limitUsd: 10, softLimitUsd: 8, tokenQuota: 100_000 };
      const saved = await e.admin.setBudget(t.admin.who, row);
      assert.deepEqual(saved, { ...row, spentUsd: 0, reservedUsd: 0, tokensUsed: 0, periodStartMs: Date.UTC(2025, 5, 1), periodEndMs: Date.UTC(2025, 6, 1) });
      // Spend recorded by the limiter (as the authorizer does) shows up.
      const p = currentPeriod(row, clock)!;
      const k = ledgerKeys(row, p.startMs);
      const expireAtMs = p.endMs + LEDGER_GRACE_MS;
      assert.deepEqual(await e.limiter.reserve("r1", [{ key: k.usd, limit: toMicros(10), amount: toMicros(0.5), expireAtMs }], 60_000, clock), { ok: true });
      await e.limiter.settle("r0", [{ key: k.usd, amount: toMicros(1.25), expireAtMs }, { key: k.tokens, amount: 4321, expireAtMs }], clock);
      const [listed] = await e.admin.listBudgets(t.dev.who, t.id);
      assert.equal(listed?.spentUsd, 1.25);
      assert.equal(listed?.reservedUsd, 0.5);
      assert.equal(listed?.tokensUsed, 4321);
      // Replacing the budget keeps the ledger.
      const again = await e.admin.setBudget(t.admin.who, { ...row, limitUsd: 20 });
      assert.equal(again.limitUsd, 20);
      assert.equal(again.spentUsd, 1.25);
      // A custom budget outside its window reports no period.
      const custom = await e.admin.setBudget(t.admin.who, { ...row, id: "later", period: "custom", startsAt: new Date(T0 + 86_400_000), endsAt: new Date(T0 + 2 * 86_400_000) });
      assert.deepEqual([custom.spentUsd, custom.reservedUsd, custom.tokensUsed, custom.periodStartMs, custom.periodEndMs], [0, 0, 0, 0, 0]);
      assert.deepEqual((await e.admin.listBudgets(t.viewer.who, t.id)).map((b) => b.id), ["later", "monthly"]);
    });
  });

  describe("audit", () => {
    it("every change is audited with actor, action and target, never a secret", async () => {
      clock = T0;
      const e = env();
      const t = await setUp(e);
      const a = t.admin.who;
      const actor = `key:${t.admin.key.id}`;
      const startCount = await count(t.id);
      await e.admin.createTeam(a, { tenantId: t.id, id: "ops", name: "Ops", modelsAllow: ["gpt*"], modelsDeny: [] });
      await e.admin.updateTeam(a, { tenantId: t.id, id: "ops", name: "Ops", modelsAllow: [], modelsDeny: [] });
      await e.admin.createUser(a, { tenantId: t.id, id: "frank", email: "frank@example.com", teamId: "ops", roles: ["viewer"] });
      const k = await e.admin.createKey(a, { tenantId: t.id, teamId: "ops", userId: "frank", name: "frank", roles: ["viewer"], ...noKeyLists });
      const r = await e.admin.rotateKey(a, t.id, k.key.id, 60);
      await e.admin.revokeKey(a, t.id, r.key.id);
      await e.admin.setLimit(a, { tenantId: t.id, scope: "team", scopeId: "ops", requestsPerMinute: 5, tokensPerMinute: 500 });
      await e.admin.deleteLimit(a, t.id, "team", "ops");
      await e.admin.setBudget(a, { tenantId: t.id, id: "ops-b", scope: "team", scopeId: "ops", period: "day", startsAt: null, endsAt: null, limitUsd: 3, softLimitUsd: 0, tokenQuota: 0 });
      await e.admin.deleteBudget(a, t.id, "ops-b");
      const sub = await e.admin.requestSubscription(t.dev.who, { tenantId: t.id, teamId: "core", resourceKind: "prompt", resource: "summarise", note: "" });
      await e.admin.decideSubscription(a, t.id, sub.id, "rejected", "no");

      const entries = await e.admin.listAudit(a, { tenantId: "", limit: 12, beforeId: "" });
      assert.equal(await count(t.id), startCount + 12);
      assert.deepEqual(
        entries.map((x) => [x.actor, x.action, x.target]),
        [
          [actor, "subscription.rejected", `subscription:${sub.id}`],
          [`key:${t.dev.key.id}`, "subscription.request", `subscription:${sub.id}`],
          [actor, "budget.delete", "budget:ops-b"],
          [actor, "budget.set", "budget:ops-b"],
          [actor, "limit.delete", "team:ops"],
          [actor, "limit.set", "team:ops"],
          [actor, "key.revoke", `key:${r.key.id}`],
          [actor, "key.rotate", `key:${k.key.id}`],
          [actor, "key.create", `key:${k.key.id}`],
          [actor, "user.create", "user:frank"],
          [actor, "team.update", "team:ops"],
          [actor, "team.create", "team:ops"],
        ],
      );
      for (const x of entries) {
        assert.equal(x.tenantId, t.id);
        assert.ok(x.at instanceof Date);
      }
      assert.deepEqual(entries.find((x) => x.action === "limit.set")?.details, { requestsPerMinute: 5, tokensPerMinute: 500 });
      assert.deepEqual(entries.find((x) => x.action === "key.rotate")?.details, { overlapSeconds: 60 });
      const serialized = JSON.stringify(await fx.store.listAudit({ limit: 1000 }));
      for (const s of [k.secret, r.secret, t.admin.secret, t.dev.secret, t.viewer.secret, OPERATOR_TOKEN]) {
        assert.ok(!serialized.includes(s), "the audit log holds a secret");
        assert.ok(!serialized.includes(sha256Hex(s)), "the audit log holds a secret's hash");
      }
    });

    it("listAudit is scoped to the caller's tenant; the operator sees all, pages with beforeId", async () => {
      const e = env();
      const a = await setUp(e);
      const b = await setUp(e);
      await e.admin.createTeam(b.admin.who, { tenantId: b.id, id: "only-b", name: "", modelsAllow: [], modelsDeny: [] });
      const mine = await e.admin.listAudit(a.admin.who, { tenantId: "", limit: 1000, beforeId: "" });
      assert.ok(mine.length >= 5);
      assert.ok(mine.every((x) => x.tenantId === a.id));
      assert.deepEqual(mine, await e.admin.listAudit(a.admin.who, { tenantId: a.id, limit: 0, beforeId: "" }).then((x) => x.slice(0, mine.length)));
      await refused(e.admin.listAudit(a.admin.who, { tenantId: b.id, limit: 10, beforeId: "" }), "permission_denied", "other_tenant", 403);

      const all = await e.admin.listAudit(a.op, { tenantId: "", limit: 1000, beforeId: "" });
      assert.ok(all.some((x) => x.tenantId === a.id) && all.some((x) => x.tenantId === b.id));
      const onlyB = await e.admin.listAudit(a.op, { tenantId: b.id, limit: 1000, beforeId: "" });
      assert.ok(onlyB.every((x) => x.tenantId === b.id));
      assert.equal(onlyB[0]?.target, "team:only-b");

      // Newest first; pages follow on with beforeId.
      const page1 = await e.admin.listAudit(a.op, { tenantId: b.id, limit: 2, beforeId: "" });
      const page2 = await e.admin.listAudit(a.op, { tenantId: b.id, limit: 2, beforeId: page1[1]!.id });
      assert.deepEqual([...page1, ...page2].map((x) => x.id), onlyB.slice(0, 4).map((x) => x.id));
      assert.ok(page1[0]!.id > page1[1]!.id);
    });
  });

  it("the caller helper resolves credentials like the identity resolver", async () => {
    const e = env();
    const t = await setUp(e);
    const who: Identity = await e.admin.caller(t.admin.secret, "");
    assert.equal(who.keyId, t.admin.key.id);
    await refused(e.admin.caller("", ""), "unauthenticated", "missing_api_key", 401);
  });
});
