import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { type AuthzStore, type BudgetRow, type KeyRow, StoreConflict, type TenantRow } from "./store.js";

/** A random id with a readable prefix, so runs sharing one database never collide. */
export const rid = (prefix: string): string => `${prefix}-${Math.random().toString(36).slice(2, 10)}`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Assert that `p` rejects with a StoreConflict whose message matches `message`. */
async function conflict(p: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof StoreConflict, `expected a StoreConflict, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });
}

/** A key row with sensible values; `over` replaces any field. */
export function keyRow(tenantId: string, over: Partial<Omit<KeyRow, "createdAt">> = {}): Omit<KeyRow, "createdAt"> {
  const id = rid("key");
  return {
    id,
    tenantId,
    teamId: "",
    userId: "",
    name: "ci",
    keyHash: `${id}-${Math.random().toString(16).slice(2)}`.padEnd(64, "0"),
    prefix: "tsk_abc",
    roles: ["developer"],
    modelsAllow: [],
    modelsDeny: [],
    promptsAllow: [],
    apisAllow: [],
    redactionPolicy: "default",
    expiresAt: null,
    revokedAt: null,
    rotatedFrom: "",
    ...over,
  };
}

function budget(tenantId: string, over: Partial<BudgetRow> = {}): BudgetRow {
  return {
    tenantId,
    id: rid("bud"),
    scope: "team",
    scopeId: "t1",
    period: "month",
    startsAt: null,
    endsAt: null,
    limitUsd: 100.25,
    softLimitUsd: 80.5,
    tokenQuota: 0,
    ...over,
  };
}

/**
 * What every authz store must do (see store.ts). `open` is called once for the whole suite and
 * must give a migrated store; the suite closes it at the end. Every id is random, so the
 * suite may run against a database that other runs share.
 */
export function authzStoreContract(name: string, open: () => Promise<AuthzStore>): void {
  describe(`authz store contract: ${name}`, () => {
    let store: AuthzStore;
    /** A new tenant, created through the store. */
    const tenant = async (): Promise<string> => (await store.createTenant({ id: rid("ten"), name: "Tenant" })).id;

    before(async () => {
      store = await open();
    });
    after(async () => {
      await store?.close();
    });

    describe("tenants", () => {
      it("creates, gets and lists tenants", async () => {
        const id = rid("acme");
        const created = await store.createTenant({ id, name: "Acme Inc" });
        assert.equal(created.id, id);
        assert.equal(created.name, "Acme Inc");
        assert.ok(created.createdAt instanceof Date);
        assert.ok(Math.abs(created.createdAt.getTime() - Date.now()) < 60_000, "createdAt is now");
        assert.deepEqual(await store.getTenant(id), created);
        const all = await store.listTenants();
        assert.ok(Array.isArray(all));
        assert.deepEqual(
          all.find((t) => t.id === id),
          created,
        );
      });

      it("returns undefined for an unknown tenant", async () => {
        assert.equal(await store.getTenant(rid("nope")), undefined);
      });

      it("refuses a second tenant with the same id", async () => {
        const id = await tenant();
        await conflict(store.createTenant({ id, name: "again" }), new RegExp(`tenant '${id}' already exists`));
      });
    });

    describe("teams", () => {
      it("creates, gets, lists and updates teams, with their model lists", async () => {
        const t = await tenant();
        const created = await store.createTeam({ tenantId: t, id: "ml", name: "ML", modelsAllow: ["gpt-4o", "claude"], modelsDeny: [] });
        assert.deepEqual({ ...created, createdAt: undefined }, {
          tenantId: t,
          id: "ml",
          name: "ML",
          modelsAllow: ["gpt-4o", "claude"],
          modelsDeny: [],
          createdAt: undefined,
        });
        assert.ok(created.createdAt instanceof Date);
        assert.deepEqual(await store.getTeam(t, "ml"), created);
        await store.createTeam({ tenantId: t, id: "app", name: "App", modelsAllow: [], modelsDeny: ["o1"] });
        assert.deepEqual(
          (await store.listTeams(t)).map((x) => x.id),
          ["app", "ml"],
        );

        const updated = await store.updateTeam({ tenantId: t, id: "ml", name: "Machine learning", modelsAllow: [], modelsDeny: ["gpt-4o"] });
        assert.equal(updated?.name, "Machine learning");
        assert.deepEqual(updated?.modelsAllow, []);
        assert.deepEqual(updated?.modelsDeny, ["gpt-4o"]);
        assert.deepEqual(updated?.createdAt, created.createdAt, "update keeps createdAt");
        assert.deepEqual(await store.getTeam(t, "ml"), updated);
      });

      it("returns undefined for an unknown team, also on update", async () => {
        const t = await tenant();
        assert.equal(await store.getTeam(t, "ghost"), undefined);
        assert.equal(await store.updateTeam({ tenantId: t, id: "ghost", name: "x", modelsAllow: [], modelsDeny: [] }), undefined);
        assert.equal(await store.getTeam(t, "ghost"), undefined, "update does not create");
        assert.deepEqual(await store.listTeams(t), []);
      });

      it("keeps teams to their tenant; the same team id may exist in two tenants", async () => {
        const [a, b] = [await tenant(), await tenant()];
        await store.createTeam({ tenantId: a, id: "core", name: "A core", modelsAllow: [], modelsDeny: [] });
        assert.equal(await store.getTeam(b, "core"), undefined);
        assert.deepEqual(await store.listTeams(b), []);
        assert.equal(await store.updateTeam({ tenantId: b, id: "core", name: "B", modelsAllow: [], modelsDeny: [] }), undefined);
        await store.createTeam({ tenantId: b, id: "core", name: "B core", modelsAllow: [], modelsDeny: [] });
        assert.equal((await store.getTeam(a, "core"))?.name, "A core");
        assert.equal((await store.getTeam(b, "core"))?.name, "B core");
      });

      it("refuses a second team with the same id in one tenant", async () => {
        const t = await tenant();
        await store.createTeam({ tenantId: t, id: "x", name: "X", modelsAllow: [], modelsDeny: [] });
        await conflict(
          store.createTeam({ tenantId: t, id: "x", name: "X2", modelsAllow: [], modelsDeny: [] }),
          new RegExp(`team 'x' already exists in tenant '${t}'`),
        );
      });
    });

    describe("users", () => {
      it("creates, gets and lists users, with their roles", async () => {
        const t = await tenant();
        const u = await store.createUser({ tenantId: t, id: "u1", email: "ada@example.com", teamId: "ml", roles: ["admin", "developer"] });
        assert.deepEqual({ ...u, createdAt: undefined }, {
          tenantId: t,
          id: "u1",
          email: "ada@example.com",
          teamId: "ml",
          roles: ["admin", "developer"],
          createdAt: undefined,
        });
        assert.ok(u.createdAt instanceof Date);
        assert.deepEqual(await store.getUser(t, "u1"), u);
        await store.createUser({ tenantId: t, id: "u0", email: "bob@example.com", teamId: "", roles: [] });
        const list = await store.listUsers(t);
        assert.deepEqual(
          list.map((x) => x.id),
          ["u0", "u1"],
        );
        assert.deepEqual(list[0]?.roles, [], "an empty list is an empty array");
      });

      it("keeps users to their tenant and refuses duplicates", async () => {
        const [a, b] = [await tenant(), await tenant()];
        await store.createUser({ tenantId: a, id: "u", email: "u@a", teamId: "", roles: [] });
        assert.equal(await store.getUser(b, "u"), undefined);
        assert.deepEqual(await store.listUsers(b), []);
        await conflict(
          store.createUser({ tenantId: a, id: "u", email: "other@a", teamId: "", roles: [] }),
          new RegExp(`user 'u' already exists in tenant '${a}'`),
        );
        await store.createUser({ tenantId: b, id: "u", email: "u@b", teamId: "", roles: [] });
        assert.equal((await store.getUser(a, "u"))?.email, "u@a");
      });
    });

    describe("keys", () => {
      it("creates a key and finds it by id, by hash and in its tenant's list", async () => {
        const t = await tenant();
        const k = keyRow(t, {
          teamId: "ml",
          userId: "u1",
          roles: ["developer", "viewer"],
          modelsAllow: ["gpt-4o"],
          modelsDeny: ["o1"],
          promptsAllow: ["support/*"],
          apisAllow: ["/apis/support/summarize", "/apis/billing/*"],
          redactionPolicy: "strict",
          rotatedFrom: "key-old",
        });
        const created = await store.createKey(k);
        assert.deepEqual({ ...created, createdAt: undefined }, { ...k, createdAt: undefined });
        assert.ok(created.createdAt instanceof Date);
        assert.deepEqual(await store.getKey(k.id), created);
        assert.deepEqual(await store.getKeyByHash(k.keyHash), created);
        assert.deepEqual(await store.listKeys(t), [created]);
      });

      it("updates a key's name, roles, lists and policy, leaving its secret, tenant and times", async () => {
        const t = await tenant();
        const k = await store.createKey(keyRow(t, { promptsAllow: ["p"], apisAllow: ["/apis/a"] }));
        const grants = { name: "renamed", roles: ["viewer"], modelsAllow: ["m*"], modelsDeny: ["x"], promptsAllow: [], apisAllow: ["/apis/b", "/apis/c/*"], redactionPolicy: "strict" };
        const updated = await store.updateKey({ id: k.id, ...grants });
        assert.deepEqual(updated, { ...k, ...grants });
        assert.deepEqual(await store.getKeyByHash(k.keyHash), updated);
        assert.equal(await store.updateKey({ id: rid("key"), ...grants }), undefined);
      });

      it("returns expired and revoked keys by hash (the caller judges them)", async () => {
        const t = await tenant();
        const past = new Date(Date.now() - 3_600_000);
        const k = await store.createKey(keyRow(t, { expiresAt: past, revokedAt: past }));
        const got = await store.getKeyByHash(k.keyHash);
        assert.ok(got?.expiresAt instanceof Date && got.revokedAt instanceof Date);
        assert.equal(got.expiresAt.getTime(), past.getTime());
        assert.equal(got.revokedAt.getTime(), past.getTime());
      });

      it("returns undefined for an unknown id or hash", async () => {
        assert.equal(await store.getKey(rid("key")), undefined);
        assert.equal(await store.getKeyByHash("0".repeat(64)), undefined);
      });

      it("keeps keys to their tenant", async () => {
        const [a, b] = [await tenant(), await tenant()];
        await store.createKey(keyRow(a));
        assert.deepEqual(await store.listKeys(b), []);
        assert.equal((await store.listKeys(a)).length, 1);
      });

      it("refuses a second key with the same id or the same hash, without echoing the hash", async () => {
        const t = await tenant();
        const k = await store.createKey(keyRow(t));
        await conflict(store.createKey(keyRow(t, { id: k.id })), new RegExp(`key '${k.id}' already exists`));
        await assert.rejects(store.createKey(keyRow(t, { keyHash: k.keyHash })), (err: unknown) => {
          assert.ok(err instanceof StoreConflict);
          assert.match(err.message, /already exists/);
          assert.ok(!err.message.includes(k.keyHash), "the hash is not in the message");
          return true;
        });
      });

      it("sets and clears the expiry", async () => {
        const t = await tenant();
        const k = await store.createKey(keyRow(t));
        const at = new Date(Date.now() + 86_400_000);
        const set = await store.setKeyExpiry(k.id, at);
        assert.equal(set?.expiresAt?.getTime(), at.getTime());
        assert.equal((await store.getKey(k.id))?.expiresAt?.getTime(), at.getTime());
        const cleared = await store.setKeyExpiry(k.id, null);
        assert.equal(cleared?.expiresAt, null);
        assert.equal(await store.setKeyExpiry(rid("key"), at), undefined);
      });

      it("revokes, keeping the earlier revocation time", async () => {
        const t = await tenant();
        const k = await store.createKey(keyRow(t));
        const t1 = new Date(Date.now() - 60_000);
        const t2 = new Date(Date.now());
        assert.equal((await store.revokeKey(k.id, t1))?.revokedAt?.getTime(), t1.getTime());
        assert.equal((await store.revokeKey(k.id, t2))?.revokedAt?.getTime(), t1.getTime(), "a later revocation keeps the first time");
        const t0 = new Date(t1.getTime() - 60_000);
        assert.equal((await store.revokeKey(k.id, t0))?.revokedAt?.getTime(), t0.getTime(), "an earlier time wins");
        assert.equal((await store.getKey(k.id))?.revokedAt?.getTime(), t0.getTime());
        assert.equal(await store.revokeKey(rid("key"), t1), undefined);
      });
    });

    describe("limits", () => {
      it("inserts, replaces, lists and deletes limits", async () => {
        const t = await tenant();
        const l = { tenantId: t, scope: "team" as const, scopeId: "ml", requestsPerMinute: 60, tokensPerMinute: 100_000 };
        assert.deepEqual(await store.setLimit(l), l);
        const replaced = { ...l, requestsPerMinute: 0, tokensPerMinute: 5_000_000_000 };
        assert.deepEqual(await store.setLimit(replaced), replaced, "upsert; token counts beyond 32 bits are numbers");
        const tenantLimit = { tenantId: t, scope: "tenant" as const, scopeId: t, requestsPerMinute: 600, tokensPerMinute: 0 };
        await store.setLimit(tenantLimit);
        const list = await store.listLimits(t);
        assert.equal(list.length, 2);
        assert.deepEqual(
          list.find((x) => x.scope === "team"),
          replaced,
        );
        assert.equal(typeof list[0]?.tokensPerMinute, "number");
        assert.equal(await store.deleteLimit(t, "team", "ml"), true);
        assert.equal(await store.deleteLimit(t, "team", "ml"), false);
        assert.deepEqual(await store.listLimits(t), [tenantLimit]);
      });

      it("limitsFor returns the asked scopes of the asked tenant only", async () => {
        const [a, b] = [await tenant(), await tenant()];
        const set = (tenantId: string, scope: "tenant" | "team" | "user" | "key", scopeId: string, rpm: number) =>
          store.setLimit({ tenantId, scope, scopeId, requestsPerMinute: rpm, tokensPerMinute: 0 });
        await set(a, "tenant", a, 1);
        await set(a, "team", "ml", 2);
        await set(a, "team", "app", 3);
        await set(a, "user", "u1", 4);
        await set(a, "key", "k1", 5);
        await set(b, "team", "ml", 6);
        const got = await store.limitsFor(a, [
          { scope: "key", scopeId: "k1" },
          { scope: "team", scopeId: "ml" },
          { scope: "user", scopeId: "nobody" },
          { scope: "tenant", scopeId: a },
        ]);
        assert.deepEqual(got.map((l) => l.requestsPerMinute).sort(), [1, 2, 5]);
        assert.ok(got.every((l) => l.tenantId === a));
        assert.deepEqual(await store.limitsFor(a, []), []);
        assert.deepEqual(
          (await store.limitsFor(b, [{ scope: "team", scopeId: "ml" }])).map((l) => l.requestsPerMinute),
          [6],
        );
        assert.deepEqual(await store.limitsFor(b, [{ scope: "user", scopeId: "u1" }]), []);
      });
    });

    describe("budgets", () => {
      it("inserts, replaces, lists and deletes budgets", async () => {
        const t = await tenant();
        const starts = new Date("2026-01-01T00:00:00Z");
        const ends = new Date("2026-04-01T00:00:00Z");
        const b = budget(t, { period: "custom", startsAt: starts, endsAt: ends, tokenQuota: 10_000_000_000 });
        assert.deepEqual(await store.setBudget(b), b);
        const replaced = { ...b, scope: "user" as const, scopeId: "u9", period: "day" as const, startsAt: null, endsAt: null, limitUsd: 0.01, softLimitUsd: 0 };
        assert.deepEqual(await store.setBudget(replaced), replaced);
        const other = await store.setBudget(budget(t));
        const list = await store.listBudgets(t);
        assert.equal(list.length, 2);
        assert.deepEqual(
          list.find((x) => x.id === b.id),
          replaced,
        );
        assert.equal(await store.deleteBudget(t, b.id), true);
        assert.equal(await store.deleteBudget(t, b.id), false);
        assert.deepEqual(await store.listBudgets(t), [other]);
      });

      it("budgetsFor returns the asked scopes of the asked tenant only", async () => {
        const [a, b] = [await tenant(), await tenant()];
        const tenantWide = await store.setBudget(budget(a, { scope: "tenant", scopeId: a }));
        const team1 = await store.setBudget(budget(a, { scope: "team", scopeId: "ml" }));
        const team2 = await store.setBudget(budget(a, { scope: "team", scopeId: "ml", period: "day" }));
        await store.setBudget(budget(a, { scope: "team", scopeId: "app" }));
        await store.setBudget(budget(a, { scope: "key", scopeId: "k1" }));
        await store.setBudget(budget(b, { scope: "team", scopeId: "ml" }));
        const got = await store.budgetsFor(a, [
          { scope: "tenant", scopeId: a },
          { scope: "team", scopeId: "ml" },
          { scope: "user", scopeId: "u1" },
        ]);
        const byId = (x: BudgetRow, y: BudgetRow) => (x.id < y.id ? -1 : 1);
        assert.deepEqual([...got].sort(byId), [tenantWide, team1, team2].sort(byId));
        assert.deepEqual(await store.budgetsFor(a, []), []);
        assert.deepEqual(await store.budgetsFor(b, [{ scope: "tenant", scopeId: a }]), []);
      });

      it("keeps budgets to their tenant", async () => {
        const [a, b] = [await tenant(), await tenant()];
        const x = await store.setBudget(budget(a));
        assert.deepEqual(await store.listBudgets(b), []);
        assert.equal(await store.deleteBudget(b, x.id), false);
        assert.deepEqual(await store.listBudgets(a), [x]);
      });
    });

    describe("subscriptions", () => {
      const request = (tenantId: string, teamId: string, resource = "gpt-4o", resourceKind: "model" | "prompt" = "model") =>
        store.createSubscription({ tenantId, id: rid("sub"), teamId, resourceKind, resource, requestedBy: "ada", note: "please" });

      it("creates a pending subscription and lists it", async () => {
        const t = await tenant();
        const s = await request(t, "ml");
        assert.equal(s.status, "pending");
        assert.equal(s.decidedBy, "");
        assert.equal(s.decidedAt, null);
        assert.equal(s.requestedBy, "ada");
        assert.equal(s.note, "please");
        assert.equal(s.resourceKind, "model");
        assert.ok(s.createdAt instanceof Date);
        assert.deepEqual(await store.listSubscriptions(t), [s]);
        await conflict(
          store.createSubscription({ tenantId: t, id: s.id, teamId: "", resourceKind: "model", resource: "x", requestedBy: "", note: "" }),
          new RegExp(`subscription '${s.id}' already exists in tenant '${t}'`),
        );
      });

      it("decides a subscription in its tenant only", async () => {
        const [a, b] = [await tenant(), await tenant()];
        const s = await request(a, "ml");
        assert.equal(await store.decideSubscription(b, s.id, "approved", "eve", "no"), undefined, "not found in another tenant");
        assert.equal(await store.decideSubscription(a, rid("sub"), "approved", "eve", ""), undefined);
        const d = await store.decideSubscription(a, s.id, "approved", "root", "ok");
        assert.equal(d?.status, "approved");
        assert.equal(d?.decidedBy, "root");
        assert.equal(d?.note, "ok");
        assert.ok(d?.decidedAt instanceof Date);
        assert.deepEqual(d?.createdAt, s.createdAt);
        assert.deepEqual(await store.listSubscriptions(a), [d]);
        assert.deepEqual(await store.listSubscriptions(b), []);
      });

      it("isSubscribed: an approved team or tenant-wide subscription, for that resource only", async () => {
        const [a, b] = [await tenant(), await tenant()];
        const team = await request(a, "ml", "gpt-4o");
        assert.equal(await store.isSubscribed(a, "ml", "model", "gpt-4o"), false, "pending does not count");
        await store.decideSubscription(a, team.id, "approved", "root", "");
        assert.equal(await store.isSubscribed(a, "ml", "model", "gpt-4o"), true);
        assert.equal(await store.isSubscribed(a, "app", "model", "gpt-4o"), false, "another team");
        assert.equal(await store.isSubscribed(a, "", "model", "gpt-4o"), false, "no team: only tenant-wide counts");
        assert.equal(await store.isSubscribed(a, "ml", "model", "claude"), false, "another resource");
        assert.equal(await store.isSubscribed(a, "ml", "prompt", "gpt-4o"), false, "another kind");
        assert.equal(await store.isSubscribed(b, "ml", "model", "gpt-4o"), false, "another tenant");

        const wide = await request(a, "", "support/triage", "prompt");
        await store.decideSubscription(a, wide.id, "approved", "root", "");
        assert.equal(await store.isSubscribed(a, "app", "prompt", "support/triage"), true, "tenant-wide covers every team");
        assert.equal(await store.isSubscribed(a, "", "prompt", "support/triage"), true);
        assert.equal(await store.isSubscribed(b, "app", "prompt", "support/triage"), false);
      });

      it("isSubscribed is false for rejected and revoked subscriptions", async () => {
        const t = await tenant();
        const rejected = await request(t, "ml", "m-rejected");
        await store.decideSubscription(t, rejected.id, "rejected", "root", "no");
        assert.equal(await store.isSubscribed(t, "ml", "model", "m-rejected"), false);
        const revoked = await request(t, "", "m-revoked");
        await store.decideSubscription(t, revoked.id, "approved", "root", "");
        assert.equal(await store.isSubscribed(t, "ml", "model", "m-revoked"), true);
        await store.decideSubscription(t, revoked.id, "revoked", "root", "gone");
        assert.equal(await store.isSubscribed(t, "ml", "model", "m-revoked"), false);
      });
    });

    describe("audit log", () => {
      it("appends entries with increasing ids and lists them newest first", async () => {
        const t = await tenant();
        const first = await store.appendAudit({ actor: "root", tenantId: t, action: "team.create", target: "team/ml", details: { name: "ML", n: 2, tags: ["a"] } });
        assert.equal(typeof first.id, "string");
        assert.ok(first.at instanceof Date);
        assert.ok(Math.abs(first.at.getTime() - Date.now()) < 60_000);
        assert.deepEqual(first.details, { name: "ML", n: 2, tags: ["a"] });
        const second = await store.appendAudit({ actor: "root", tenantId: t, action: "team.update", target: "team/ml", details: {} });
        assert.ok(second.id > first.id, "ids increase");
        assert.deepEqual(await store.listAudit({ tenantId: t, limit: 10 }), [second, first]);
      });

      it("pages with limit and beforeId", async () => {
        const t = await tenant();
        const rows = [];
        for (let i = 0; i < 5; i++) rows.push(await store.appendAudit({ actor: "a", tenantId: t, action: `act${i}`, target: "", details: { i } }));
        const ids = (list: { id: string }[]) => list.map((r) => r.id);
        const newest = [...rows].reverse();
        const page1 = await store.listAudit({ tenantId: t, limit: 2 });
        assert.deepEqual(ids(page1), ids(newest.slice(0, 2)));
        const page2 = await store.listAudit({ tenantId: t, limit: 2, beforeId: page1[1]!.id });
        assert.deepEqual(ids(page2), ids(newest.slice(2, 4)));
        const page3 = await store.listAudit({ tenantId: t, limit: 2, beforeId: page2[1]!.id });
        assert.deepEqual(ids(page3), ids(newest.slice(4)));
        assert.deepEqual(await store.listAudit({ tenantId: t, limit: 2, beforeId: page3[0]!.id }), []);
        assert.deepEqual(await store.listAudit({ tenantId: t, limit: 0 }), []);
      });

      it("filters by tenant; without one lists every tenant's entries and operator-wide ones", async () => {
        const [a, b] = [await tenant(), await tenant()];
        const ea = await store.appendAudit({ actor: "x", tenantId: a, action: "a", target: "", details: {} });
        const eb = await store.appendAudit({ actor: "x", tenantId: b, action: "b", target: "", details: {} });
        const op = await store.appendAudit({ actor: "operator", tenantId: "", action: "tenant.create", target: `tenant/${a}`, details: {} });
        assert.deepEqual(await store.listAudit({ tenantId: a, limit: 10 }), [ea]);
        assert.deepEqual(await store.listAudit({ tenantId: b, limit: 10 }), [eb]);
        const all = await store.listAudit({ limit: 1000 });
        const mine = all.filter((e) => [ea.id, eb.id, op.id].includes(e.id));
        assert.deepEqual(mine, [op, eb, ea]);
        const sorted = [...all].sort((x, y) => (x.id < y.id ? 1 : -1));
        assert.deepEqual(all, sorted, "newest first across tenants");
        assert.ok((await store.listAudit({ tenantId: "", limit: 1000 })).some((e) => e.id === op.id), "tenant '' lists operator-wide entries");
      });
    });

    describe("transactions", () => {
      it("commits every write of fn and returns its result", async () => {
        const id = rid("tx");
        const out = await store.transaction(async (tx) => {
          await tx.createTenant({ id, name: "T" });
          await tx.createTeam({ tenantId: id, id: "ml", name: "ML", modelsAllow: [], modelsDeny: [] });
          await tx.appendAudit({ actor: "root", tenantId: id, action: "tenant.create", target: id, details: {} });
          assert.ok(await tx.getTenant(id), "fn reads its own writes");
          return 42;
        });
        assert.equal(out, 42);
        assert.ok(await store.getTenant(id));
        assert.ok(await store.getTeam(id, "ml"));
        assert.equal((await store.listAudit({ tenantId: id, limit: 10 })).length, 1);
      });

      it("rolls every write back when fn throws, and rethrows its error", async () => {
        const id = rid("tx");
        const boom = new Error("boom");
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.createTenant({ id, name: "T" });
            await tx.setLimit({ tenantId: id, scope: "tenant", scopeId: id, requestsPerMinute: 1, tokensPerMinute: 1 });
            await tx.appendAudit({ actor: "root", tenantId: id, action: "tenant.create", target: id, details: {} });
            throw boom;
          }),
          (err: unknown) => err === boom,
        );
        assert.equal(await store.getTenant(id), undefined);
        assert.deepEqual(await store.listLimits(id), []);
        assert.deepEqual(await store.listAudit({ tenantId: id, limit: 10 }), []);
      });

      it("a conflict inside fn rolls back the earlier writes and surfaces as StoreConflict", async () => {
        const existing = await tenant();
        const id = rid("tx");
        await conflict(
          store.transaction(async (tx) => {
            await tx.createTenant({ id, name: "new" });
            await tx.createTenant({ id: existing, name: "dup" });
          }),
          new RegExp(`tenant '${existing}' already exists`),
        );
        assert.equal(await store.getTenant(id), undefined);
      });

      it("does not nest: transaction() on the transaction's store rejects, and the outer one rolls back", async () => {
        const id = rid("tx");
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.createTenant({ id, name: "T" });
            await tx.transaction(async () => undefined);
          }),
          /not nestable/,
        );
        assert.equal(await store.getTenant(id), undefined);
      });

      it("a write outside a running transaction is not part of it", async () => {
        const inside = rid("tx-in");
        const outside = rid("tx-out");
        let outsideWrite: Promise<TenantRow> | undefined;
        await assert.rejects(
          store.transaction(async (tx) => {
            await tx.createTenant({ id: inside, name: "in" });
            // Not awaited here: on a single-connection engine it must wait for the transaction.
            outsideWrite = store.createTenant({ id: outside, name: "out" });
            await sleep(30);
            throw new Error("roll back");
          }),
          /roll back/,
        );
        await outsideWrite;
        assert.equal(await store.getTenant(inside), undefined, "the transaction's write rolled back");
        assert.equal((await store.getTenant(outside))?.name, "out", "the outside write stayed");
      });
    });
  });
}
