import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { sha256Hex, TesseraError, type ResolvedApiKey } from "@tessera/runtime";
import type { Identity } from "./identity.js";
import type { JwtIdentity, JwtVerifier } from "./jwt.js";
import { createMemoryLimiter } from "./limiter-memory.js";
import { authzFixture, noKeyLists, refused } from "./test-support.js";

const OPERATOR_TOKEN = "op-identity-test-token";
/** 10 s into a minute, so failed-auth windows have 50 s left. */
const T0 = Date.UTC(2025, 5, 10, 12, 0, 10);
let clock = T0;
const now = () => clock;

const fx = authzFixture({ operatorToken: OPERATOR_TOKEN, now, logName: "identity-test" });

/** A resolver over the shared store; `over` replaces any dependency. */
const resolver = fx.resolver;

/** A string with the shape of a compact JWT (header with alg), signature irrelevant. */
function fakeJwt(sub: string): string {
  const seg = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  return `${seg({ alg: "RS256", typ: "JWT", kid: "k1" })}.${seg({ sub })}.${Buffer.from("sig").toString("base64url")}`;
}

let tenantN = 0;
/** A fresh tenant with team "core", a user and an admin handle acting as the operator. */
async function tenant() {
  const r = resolver();
  const admin = fx.admin({ identities: r.identities, limiter: r.limiter });
  const op = await r.identities.resolve(OPERATOR_TOKEN, "");
  const id = `idt-${++tenantN}`;
  await admin.createTenant(op, { id, name: id });
  await admin.createTeam(op, { tenantId: id, id: "core", name: "Core", modelsAllow: ["gpt-4*"], modelsDeny: ["gpt-4-32k"] });
  await admin.createUser(op, { tenantId: id, id: "alice", email: "alice@example.com", teamId: "core", roles: ["developer"] });
  const key = (over: Partial<Parameters<typeof admin.createKey>[1]> = {}) =>
    admin.createKey(op, {
      tenantId: id,
      teamId: "core",
      userId: "alice",
      name: "ci",
      roles: ["developer"],
      ...noKeyLists,
      ...over,
    });
  return { id, op, admin, key, ...r };
}

describe("identity resolver", () => {
  it("refuses a missing credential with 401 missing_api_key", async () => {
    const { identities } = resolver();
    const err = await refused(identities.resolve("", "10.0.0.1"), "unauthenticated", "missing_api_key", 401);
    assert.match(err.message, /Authorization: Bearer/);
  });

  it("refuses an unknown key with invalid_api_key, never echoing the key", async () => {
    const { identities } = resolver();
    const secret = "tsk-this-is-not-a-real-key-0123456789";
    const err = await refused(identities.resolve(secret, "10.0.0.1"), "unauthenticated", "invalid_api_key", 401);
    assert.ok(!err.message.includes(secret), "message contains the key");
    assert.ok(!err.message.includes(secret.slice(0, 12)), "message contains part of the key");
    assert.ok(!JSON.stringify(err.details).includes(secret));
  });

  it("resolves a static key from the configuration", async () => {
    const secret = "static-key-secret-abc";
    const s: ResolvedApiKey = {
      id: "cfg-key-1",
      tenant: "cfg-tenant",
      team: "",
      user: "bob",
      roles: ["developer", "superuser"],
      models: ["gpt-4o"],
      redaction_policy: "strict",
      prompts: [],
      apis: ["/apis/support/*"],
      keySha256: sha256Hex(secret),
    };
    const { identities } = resolver({ staticKeys: [s] });
    const id = await identities.resolve(secret, "10.0.0.1");
    assert.deepEqual(id, {
      operator: false,
      tenantId: "cfg-tenant",
      teamId: "",
      userId: "bob",
      keyId: "cfg-key-1",
      // Unknown roles are dropped.
      roles: ["developer"],
      modelsAllow: ["gpt-4o"],
      modelsDeny: [],
      promptsAllow: [],
      apisAllow: ["/apis/support/*"],
      redactionPolicy: "strict",
      team: undefined,
    } satisfies Identity);
  });

  it("resolves a store key with its team row", async () => {
    const t = await tenant();
    const { key, secret } = await t.key({ roles: ["developer", "viewer"], modelsDeny: ["o1*"], redactionPolicy: "strict" });
    const id = await t.identities.resolve(secret, "10.0.0.1");
    assert.equal(id.operator, false);
    assert.equal(id.tenantId, t.id);
    assert.equal(id.teamId, "core");
    assert.equal(id.userId, "alice");
    assert.equal(id.keyId, key.id);
    assert.deepEqual(id.roles, ["developer", "viewer"]);
    assert.deepEqual(id.modelsDeny, ["o1*"]);
    assert.equal(id.redactionPolicy, "strict");
    assert.ok(id.team);
    assert.equal(id.team.id, "core");
    assert.equal(id.team.tenantId, t.id);
    assert.deepEqual(id.team.modelsAllow, ["gpt-4*"]);
    assert.deepEqual(id.team.modelsDeny, ["gpt-4-32k"]);
  });

  it("gives a key without a redaction policy the default one, and no team row when it has no team", async () => {
    const t = await tenant();
    const { secret } = await t.key({ teamId: "", userId: "" });
    const id = await t.identities.resolve(secret, "");
    assert.equal(id.redactionPolicy, "default");
    assert.equal(id.teamId, "");
    assert.equal(id.team, undefined);
  });

  it("resolves the operator token to the operator, with no tenant", async () => {
    const { identities } = resolver();
    const id = await identities.resolve(OPERATOR_TOKEN, "10.0.0.1");
    assert.equal(id.operator, true);
    assert.equal(id.keyId, "operator");
    assert.equal(id.tenantId, "");
    assert.deepEqual(id.roles, ["admin"]);
  });

  it("refuses the operator token when none is configured", async () => {
    const { identities } = resolver({ operatorTokenHash: undefined });
    await refused(identities.resolve(OPERATOR_TOKEN, ""), "unauthenticated", "invalid_api_key", 401);
  });

  describe("revoked and expired keys", () => {
    it("refuses a revoked key with key_revoked, at once on the resolver whose caches the admin drops", async () => {
      const t = await tenant();
      const { key, secret } = await t.key();
      assert.equal((await t.identities.resolve(secret, "")).keyId, key.id); // cached now
      await t.admin.revokeKey(t.op, t.id, key.id); // onChange → invalidate()
      const err = await refused(t.identities.resolve(secret, ""), "unauthenticated", "key_revoked", 401);
      assert.ok(err.message.includes(key.id), "names the key id");
      assert.ok(!err.message.includes(secret));
    });

    it("sees a revocation made elsewhere within cacheMs", async () => {
      const t = await tenant();
      const { key, secret } = await t.key();
      // Another replica: its own cache of 50 ms, not told about the change.
      const replica = resolver({ cacheMs: 50 }).identities;
      const loadedAt = Date.now();
      assert.equal((await replica.resolve(secret, "")).keyId, key.id);
      await t.admin.revokeKey(t.op, t.id, key.id);
      // (Only checkable while the 50 ms have not passed on a slow machine.)
      if (Date.now() - loadedAt < 40) assert.equal((await replica.resolve(secret, "")).keyId, key.id, "still cached right after the change");
      await sleep(60);
      await refused(replica.resolve(secret, ""), "unauthenticated", "key_revoked", 401);
      // ...and invalidate() makes a fresh resolver-wide look-up too.
      replica.invalidate();
      await refused(replica.resolve(secret, ""), "unauthenticated", "key_revoked", 401);
    });

    it("refuses an expired key with key_expired once its ttl has passed", async () => {
      clock = T0;
      try {
        const t = await tenant();
        const { key, secret } = await t.key({ ttlSeconds: 60 });
        assert.equal(key.expiresAt?.getTime(), T0 + 60_000);
        assert.equal((await t.identities.resolve(secret, "")).keyId, key.id);
        clock = T0 + 59_999;
        assert.equal((await t.identities.resolve(secret, "")).keyId, key.id, "still valid 1 ms before expiry");
        clock = T0 + 60_000;
        const err = await refused(t.identities.resolve(secret, ""), "unauthenticated", "key_expired", 401);
        assert.ok(err.message.includes(new Date(T0 + 60_000).toISOString()), err.message);
      } finally {
        clock = T0;
      }
    });
  });

  describe("failed-auth limit per source address", () => {
    it("after N failures refuses even a valid key from that address with 429, other addresses unaffected", async () => {
      clock = T0;
      const t = await tenant();
      const { secret } = await t.key();
      const { identities, lines } = resolver({ maxFailedAuthPerMinute: 3, limiter: createMemoryLimiter() });
      for (let i = 0; i < 3; i++) await refused(identities.resolve(`tsk-wrong-${i}`, "203.0.113.7"), "unauthenticated", "invalid_api_key", 401);
      const err = await refused(identities.resolve(secret, "203.0.113.7"), "rate_limited", "too_many_failed_auth", 429);
      assert.equal(err.details.retryAfterS, 50, "the window of the failures ends 50 s from now");
      assert.ok(!err.message.includes(secret));
      // Whatever the credential: the operator token is refused too.
      await refused(identities.resolve(OPERATOR_TOKEN, "203.0.113.7"), "rate_limited", "too_many_failed_auth", 429);
      // Another address is fine.
      assert.equal((await identities.resolve(secret, "203.0.113.8")).tenantId, t.id);
      // A missing credential is not counted against an address.
      await refused(identities.resolve("", "198.51.100.1"), "unauthenticated", "missing_api_key", 401);
      // The next window forgives the address.
      clock = T0 + 50_000;
      assert.equal((await identities.resolve(secret, "203.0.113.7")).tenantId, t.id);
      assert.equal(lines.filter((l) => l.includes('"level":50')).length, 0, "no error lines");
      clock = T0;
    });

    it("does not count successes, and counts revoked keys as failures", async () => {
      clock = T0;
      const t = await tenant();
      const good = await t.key();
      const gone = await t.key();
      await t.admin.revokeKey(t.op, t.id, gone.key.id);
      const { identities } = resolver({ maxFailedAuthPerMinute: 2, limiter: createMemoryLimiter() });
      for (let i = 0; i < 5; i++) await identities.resolve(good.secret, "192.0.2.1");
      await refused(identities.resolve(gone.secret, "192.0.2.1"), "unauthenticated", "key_revoked", 401);
      await refused(identities.resolve(gone.secret, "192.0.2.1"), "unauthenticated", "key_revoked", 401);
      const err = await refused(identities.resolve(good.secret, "192.0.2.1"), "rate_limited", "too_many_failed_auth", 429);
      assert.ok((err.details.retryAfterS ?? 0) >= 1);
    });

    it("is off when the limit is 0, and without a source address", async () => {
      const t = await tenant();
      const { secret } = await t.key();
      const off = resolver({ maxFailedAuthPerMinute: 0 }).identities;
      for (let i = 0; i < 5; i++) await refused(off.resolve(`tsk-wrong-${i}`, "192.0.2.9"), "unauthenticated", "invalid_api_key", 401);
      assert.equal((await off.resolve(secret, "192.0.2.9")).tenantId, t.id);
      const noIp = resolver({ maxFailedAuthPerMinute: 1 }).identities;
      for (let i = 0; i < 3; i++) await refused(noIp.resolve(`tsk-wrong-${i}`, ""), "unauthenticated", "invalid_api_key", 401);
      assert.equal((await noIp.resolve(secret, "")).tenantId, t.id);
    });
  });

  describe("bearer JWTs", () => {
    it("map a verified token to jwt:<sub> with its roles and team row", async () => {
      const t = await tenant();
      const seen: string[] = [];
      const jwt: JwtVerifier = {
        async verify(token) {
          seen.push(token);
          return {
            issuer: "https://idp.example.com",
            subject: "user-42",
            tenantId: t.id,
            teamId: "core",
            userId: "u42@example.com",
            roles: ["viewer", "developer", "root"],
            expiresAtMs: T0 + 3_600_000,
          } satisfies JwtIdentity;
        },
      };
      const { identities } = resolver({ jwt });
      const token = fakeJwt("user-42");
      const id = await identities.resolve(token, "10.0.0.5");
      assert.deepEqual(seen, [token]);
      assert.equal(id.operator, false);
      assert.equal(id.keyId, "jwt:user-42");
      assert.equal(id.tenantId, t.id);
      assert.equal(id.userId, "u42@example.com");
      assert.deepEqual(id.roles, ["viewer", "developer"]);
      assert.equal(id.team?.id, "core");
      assert.deepEqual(id.modelsAllow, []);
    });

    it("are refused without an issuer, and a verifier's 401 counts as a failed attempt", async () => {
      const token = fakeJwt("x");
      await refused(resolver().identities.resolve(token, ""), "unauthenticated", "invalid_api_key", 401);
      const jwt: JwtVerifier = {
        verify: () => Promise.reject(new TesseraError("unauthenticated", "The bearer token has expired.", { code: "token_expired" })),
      };
      const { identities } = resolver({ jwt, maxFailedAuthPerMinute: 1, limiter: createMemoryLimiter() });
      const err = await refused(identities.resolve(token, "10.1.1.1"), "unauthenticated", "token_expired", 401);
      assert.ok(!err.message.includes(token));
      await refused(identities.resolve(token, "10.1.1.1"), "rate_limited", "too_many_failed_auth", 429);
    });

    it("an unavailable issuer is not a failed attempt", async () => {
      const jwt: JwtVerifier = { verify: () => Promise.reject(new TesseraError("unavailable", "The token issuer's keys cannot be fetched.")) };
      const { identities } = resolver({ jwt, maxFailedAuthPerMinute: 1, limiter: createMemoryLimiter() });
      for (let i = 0; i < 3; i++) {
        await refused(identities.resolve(fakeJwt("y"), "10.1.1.2"), "unavailable", undefined, 503);
      }
    });
  });
});
