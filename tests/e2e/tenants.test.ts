import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import Anthropic from "@anthropic-ai/sdk";
import OpenAI from "openai";
import { ConnectError, Code } from "@connectrpc/connect";
import { startTestGateway } from "../helpers/gateway.js";
import { adminClient, burst, OPERATOR_ENV, OPERATOR_TOKEN, openai, setUpTenants, type TwoTenants } from "../helpers/tenants.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

/** $1 per thousand tokens: a call of ~4 prompt + 16 output tokens costs at most ~$0.02. */
const PRICES = "prices: [{ model: gpt-4o-mini, provider: fake, input: 1000, output: 1000 }]";

/**
 * Two tenants share one all-in-one gateway: keys, roles, limits and budgets made through the
 * admin API (Connect and REST), called through the official SDKs. Neither can see, use or
 * spend what belongs to the other.
 */
describe("tenants, all-in-one: two tenants share a gateway", () => {
  let g: Gateway;
  let t: TwoTenants;
  const suffix = Math.random().toString(36).slice(2, 8);

  before(async () => {
    process.env[OPERATOR_ENV] = OPERATOR_TOKEN;
    g = await startTestGateway({ authz: `{ store: { kind: pglite, path: "" }, admin_token_env: ${OPERATOR_ENV}, cache_ms: 200, max_failed_auth_per_minute: 1000 }`, extra: PRICES });
    t = await setUpTenants(g.url, suffix);
  });
  after(() => g.stop());

  test("each tenant's developer key calls models; the answer carries no rate-limit headers without limits", async () => {
    for (const tenant of [t.a, t.b]) {
      const { data, response } = await openai(g.url, tenant.dev).chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: "hi" }] }).withResponse();
      assert.match(data.choices[0]!.message.content ?? "", /Echo: hi/);
      assert.equal(response.headers.get("x-ratelimit-limit-requests"), null);
    }
  });

  test("an admin sees and manages only its own tenant, over Connect and REST", async () => {
    const a = adminClient(g.url, t.a.admin);
    const keys = await a.listKeys({ tenantId: t.a.id });
    assert.equal(keys.keys.length, 2);
    for (const k of keys.keys) assert.ok(!JSON.stringify(k, (_k, v: unknown) => (typeof v === "bigint" ? String(v) : v)).includes(t.a.dev.slice(12)), "no secret in listings");
    await assert.rejects(a.listKeys({ tenantId: t.b.id }), (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied);
    await assert.rejects(a.revokeKey({ tenantId: t.b.id, id: t.b.devKeyId }), (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied);
    await assert.rejects(a.createTenant({ id: `x-${suffix}` }), (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied);
    assert.deepEqual((await a.listTenants({})).tenants.map((x) => x.id), [t.a.id]);

    const rest = await fetch(`${g.url}/admin/v1/tenants/${t.b.id}/keys`, { headers: { authorization: `Bearer ${t.a.admin}` } });
    assert.equal(rest.status, 403);
    const body = (await rest.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, "other_tenant");
    assert.ok(!body.error.message.includes(t.a.admin));
    const own = await fetch(`${g.url}/admin/v1/tenants/${t.a.id}/teams`, { headers: { authorization: `Bearer ${t.a.admin}` } });
    assert.equal(own.status, 200);
    assert.deepEqual(((await own.json()) as { teams: { id: string }[] }).teams.map((x) => x.id), ["core"]);
  });

  test("a developer key may not use the admin API to change anything; a viewer key may not call models", async () => {
    const dev = adminClient(g.url, t.a.dev);
    await assert.rejects(dev.createKey({ tenantId: t.a.id, roles: ["admin"] }), (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied);
    const viewer = await adminClient(g.url, t.a.admin).createKey({ tenantId: t.a.id, name: "viewer", roles: ["viewer"] });
    const err = await openai(g.url, viewer.secret).chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.PermissionDeniedError, String(err));
    assert.equal(err.code, "role_not_allowed");
  });

  test("model allow-lists: the listing and the calls follow the key's list", async () => {
    const k = await adminClient(g.url, t.b.admin).createKey({ tenantId: t.b.id, name: "demo-only", modelsAllow: ["demo"] });
    const c = openai(g.url, k.secret);
    const models = (await c.models.list()).data.map((m) => m.id);
    assert.deepEqual(models, ["demo"]);
    const err = await c.chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.PermissionDeniedError);
    assert.equal(err.code, "model_not_allowed");
  });

  test("a burst of parallel calls at a small rate limit: exactly the limit passes, 429s carry Retry-After and x-ratelimit-*; the other tenant is untouched", async () => {
    const admin = adminClient(g.url, t.b.admin);
    const k = await admin.createKey({ tenantId: t.b.id, teamId: "core", name: "limited" });
    await admin.setLimit({ limit: { tenantId: t.b.id, scope: "key", scopeId: k.key!.id, requestsPerMinute: 8 } });
    const counts = await burst(openai(g.url, k.secret), "demo", 40);
    assert.deepEqual([...counts.entries()].sort(), [[200, 8], [429, 32]]);
    const err = await openai(g.url, k.secret).chat.completions.create({ model: "demo", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.RateLimitError);
    assert.equal(err.code, "rate_limit_requests");
    assert.ok(Number(err.headers?.get("retry-after")) >= 1);
    assert.equal(err.headers?.get("x-ratelimit-limit-requests"), "8");
    assert.equal(err.headers?.get("x-ratelimit-remaining-requests"), "0");
    // Tenant A's keys do not share tenant B's key limit.
    assert.equal((await burst(openai(g.url, t.a.dev), "demo", 10)).get(200), 10);
  });

  test("success answers carry x-ratelimit-* with the remaining count", async () => {
    const admin = adminClient(g.url, t.a.admin);
    const k = await admin.createKey({ tenantId: t.a.id, name: "headers" });
    await admin.setLimit({ limit: { tenantId: t.a.id, scope: "key", scopeId: k.key!.id, requestsPerMinute: 5, tokensPerMinute: 100_000n } });
    const { response } = await openai(g.url, k.secret).chat.completions.create({ model: "demo", max_tokens: 50, messages: [{ role: "user", content: "hi" }] }).withResponse();
    assert.equal(response.headers.get("x-ratelimit-limit-requests"), "5");
    assert.equal(response.headers.get("x-ratelimit-remaining-requests"), "4");
    assert.equal(response.headers.get("x-ratelimit-limit-tokens"), "100000");
    assert.ok(Number(response.headers.get("x-ratelimit-remaining-tokens")) < 100_000);
  });

  test("a burst of parallel calls at a small dollar budget: never more than the budget is spent; 402 in each surface's format", async () => {
    const admin = adminClient(g.url, t.a.admin);
    const team = `spend-${suffix}`;
    await admin.createTeam({ tenantId: t.a.id, id: team });
    const k = await admin.createKey({ tenantId: t.a.id, teamId: team, name: "spender" });
    // Worst case per call: (1 prompt token + 16 output) x $0.001 = $0.017; 5 fit in $0.09.
    await admin.setBudget({ budget: { tenantId: t.a.id, id: "team-month", scope: "team", scopeId: team, period: "month", limitUsd: 0.09, softLimitUsd: 0.02 } });
    const counts = await burst(openai(g.url, k.secret), "gpt-fake", 30);
    assert.equal(counts.get(200), 5, JSON.stringify([...counts]));
    assert.equal(counts.get(402), 25);
    const budget = await (async () => {
      for (let i = 0; i < 50; i++) {
        const b = (await admin.listBudgets({ tenantId: t.a.id })).budgets.find((x) => x.id === "team-month")!;
        if (b.reservedUsd === 0) return b;
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.fail("reservations were not settled");
    })();
    // The fake reports 21 prompt + 9 completion tokens per call: 5 x 30 x $0.001.
    assert.ok(Math.abs(budget.spentUsd - 0.15) < 1e-9 || budget.spentUsd <= 0.15, `spent ${budget.spentUsd}`);
    assert.ok(budget.spentUsd > 0);
    const audit = await admin.listAudit({ tenantId: t.a.id, limit: 50 });
    assert.ok(audit.entries.some((e) => e.action === "budget.soft_limit_crossed" && e.target === "budget:team-month"));

    const err = await openai(g.url, k.secret).chat.completions.create({ model: "gpt-fake", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIError && err.status === 402, String(err));
    assert.equal(err.code, "budget_exceeded");
    assert.equal((err.error as { type: string }).type, "insufficient_quota");
    const anth = await new Anthropic({ baseURL: g.url, apiKey: k.secret, maxRetries: 0 }).messages
      .create({ model: "gpt-fake", max_tokens: 16, messages: [{ role: "user", content: "hi" }] })
      .catch((e: unknown) => e);
    assert.ok(anth instanceof Anthropic.APIError && anth.status === 402, String(anth));
    assert.equal((anth.error as { error: { type: string } }).error.type, "billing_error");
    // The other tenant's spend is untouched.
    assert.equal((await burst(openai(g.url, t.b.dev), "gpt-fake", 3)).get(200), 3);
  });

  test("a model that requires approval: refused until the team's subscription is approved", async () => {
    const dev = adminClient(g.url, t.b.dev);
    const c = openai(g.url, t.b.dev);
    const before = await c.chat.completions.create({ model: "approved-only", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    assert.ok(before instanceof OpenAI.PermissionDeniedError);
    assert.equal(before.code, "subscription_required");
    const sub = await dev.requestSubscription({ tenantId: t.b.id, teamId: "core", resourceKind: "model", resource: "approved-only" });
    await assert.rejects(dev.decideSubscription({ tenantId: t.b.id, id: sub.subscription!.id, status: "approved" }));
    await adminClient(g.url, t.b.admin).decideSubscription({ tenantId: t.b.id, id: sub.subscription!.id, status: "approved" });
    const ok = await c.chat.completions.create({ model: "approved-only", messages: [{ role: "user", content: "hi" }] });
    assert.match(ok.choices[0]!.message.content ?? "", /hi/);
    // Tenant A's team of the same name is not covered by tenant B's approval.
    const other = await openai(g.url, t.a.dev).chat.completions.create({ model: "approved-only", messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    assert.ok(other instanceof OpenAI.PermissionDeniedError);
  });

  test("a revoked key is refused within a second; rotation keeps the old key for the overlap", async () => {
    const admin = adminClient(g.url, t.a.admin);
    const k = await admin.createKey({ tenantId: t.a.id, name: "short" });
    const c = openai(g.url, k.secret);
    await c.models.list();
    const rotated = await admin.rotateKey({ tenantId: t.a.id, id: k.key!.id, overlapSeconds: 60n });
    assert.equal((await openai(g.url, rotated.secret).models.list()).data.length > 0, true);
    await c.models.list();
    await admin.revokeKey({ tenantId: t.a.id, id: k.key!.id });
    const t0 = Date.now();
    let err: unknown;
    while (Date.now() - t0 < 1000) {
      err = await c.models.list().then(() => undefined, (e: unknown) => e);
      if (err) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(err instanceof OpenAI.AuthenticationError, "revoked within a second");
    assert.equal(err.code, "key_revoked");
    assert.ok(!err.message.includes(k.secret));
  });

  test("every admin change is in the audit log, without secrets", async () => {
    const entries = (await adminClient(g.url, OPERATOR_TOKEN).listAudit({ limit: 1000 })).entries;
    const actions = new Set(entries.map((e) => e.action));
    for (const a of ["tenant.create", "team.create", "key.create", "limit.set", "budget.set", "key.rotate", "key.revoke", "subscription.request", "subscription.approved"])
      assert.ok(actions.has(a), `audit has ${a}`);
    const text = JSON.stringify(entries.map((e) => [e.actor, e.detailsJson, e.target]));
    for (const s of [t.a.admin, t.a.dev, t.b.admin, t.b.dev, OPERATOR_TOKEN]) assert.ok(!text.includes(s));
    const bOnly = (await adminClient(g.url, t.b.admin).listAudit({ tenantId: t.b.id, limit: 1000 })).entries;
    assert.ok(bOnly.length > 0 && bOnly.every((e) => e.tenantId === t.b.id));
  });
});
