import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createPriceTable, sha256Hex, TesseraError, type ResolvedApiKey, type TokenCounts } from "@tessera/runtime";
import { createAuthorizer, SEED_RETRY_MS, type ApiInfo, type AuthorizeInput, type AuthorizeOutput, type ModelInfo, type SpendSource } from "./authorizer.js";
import { currentPeriod, ledgerKeys, toMicros } from "./budget-period.js";
import type { BudgetRow, Period } from "./store.js";
import { authzFixture, noKeyLists, refused } from "./test-support.js";

const OPERATOR_TOKEN = "op-authorizer-test-token";
/** 10 s into a minute: rate-limit windows have 50 s left. */
const T0 = Date.UTC(2025, 5, 10, 12, 0, 10);
let clock = T0;
const now = () => clock;

/**
 * gpt-4o has two deployments: "cheap" ($1/$2 per M tokens) and "pricey" ($10/$30). A call of
 * 1000 input + 1000 output tokens costs at worst (1000·10 + 1000·30)/1e6 = $0.04.
 */
const prices = createPriceTable([
  { provider: "cheap", model: "small-4o", input: 1, output: 2 },
  { provider: "pricey", model: "big-4o", input: 10, output: 30 },
]);
const WORST = 0.04;
const both = [
  { provider: "cheap", model: "small-4o" },
  { provider: "pricey", model: "big-4o" },
];
const models = new Map<string, ModelInfo>([
  ["gpt-4o", { requiresApproval: false, deployments: both }],
  ["gpt-4-32k", { requiresApproval: false, deployments: both }],
  ["claude-3", { requiresApproval: false, deployments: [{ provider: "cheap", model: "small-4o" }] }],
  ["o1-preview", { requiresApproval: true, deployments: [{ provider: "pricey", model: "big-4o" }] }],
]);

/** Usage whose actual cost on "cheap" is $0.001 (500·1 + 250·2 per M). */
const SMALL: TokenCounts = { promptTokens: 500, completionTokens: 250, cachedTokens: 0, reasoningTokens: 0 };

const fx = authzFixture({ operatorToken: OPERATOR_TOKEN, now, logName: "authorizer-test" });

/** A fresh authorizer (own limiter and caches) over the shared store, with an admin wired to it. */
function env(over: { cacheMs?: number; staticKeys?: ResolvedApiKey[]; apis?: Map<string, ApiInfo>; promptApproval?: Map<string, boolean>; spend?: SpendSource } = {}) {
  const cacheMs = over.cacheMs ?? 10_000;
  const { identities, limiter, log, lines } = fx.resolver({ cacheMs, staticKeys: over.staticKeys ?? [] });
  const authorizer = createAuthorizer({
    identities,
    store: fx.store,
    limiter,
    prices,
    models,
    apis: over.apis,
    promptApproval: over.promptApproval,
    spend: over.spend,
    cacheMs,
    defaultMaxOutputTokens: 1000,
    reservationTtlMs: 600_000,
    log,
    now,
  });
  const admin = fx.admin({ identities, limiter, redactionPolicies: new Set(), onChange: () => authorizer.invalidate(), log });
  return { limiter, identities, authorizer, admin, lines, log };
}
type Env = ReturnType<typeof env>;

let tenantN = 0;
/** A fresh tenant with teams "core" and "lab" and users alice (core) and bob (lab). */
async function tenant(e: Env, core: { allow?: string[]; deny?: string[] } = {}) {
  const op = await e.identities.resolve(OPERATOR_TOKEN, "");
  const id = `az-${++tenantN}-${Math.random().toString(36).slice(2, 6)}`;
  await e.admin.createTenant(op, { id, name: id });
  await e.admin.createTeam(op, { tenantId: id, id: "core", name: "Core", modelsAllow: core.allow ?? [], modelsDeny: core.deny ?? [] });
  await e.admin.createTeam(op, { tenantId: id, id: "lab", name: "Lab", modelsAllow: [], modelsDeny: [] });
  await e.admin.createUser(op, { tenantId: id, id: "alice", email: "", teamId: "core", roles: ["developer"] });
  await e.admin.createUser(op, { tenantId: id, id: "bob", email: "", teamId: "lab", roles: ["developer"] });
  const key = async (over: Partial<{ teamId: string; userId: string; roles: string[]; modelsAllow: string[]; modelsDeny: string[]; apisAllow: string[] }> = {}) => {
    const { key, secret } = await e.admin.createKey(op, {
      tenantId: id,
      teamId: "core",
      userId: "alice",
      name: "k",
      roles: ["developer"],
      ...noKeyLists,
      ...over,
    });
    return { id: key.id, secret };
  };
  const limit = (scope: "tenant" | "team" | "user" | "key", scopeId: string, requestsPerMinute: number, tokensPerMinute = 0) =>
    e.admin.setLimit(op, { tenantId: id, scope, scopeId, requestsPerMinute, tokensPerMinute });
  const budget = async (over: Partial<BudgetRow> & { id: string }): Promise<BudgetRow> => {
    const row: BudgetRow = { tenantId: id, scope: "team", scopeId: "core", period: "month", startsAt: null, endsAt: null, limitUsd: 0, softLimitUsd: 0, tokenQuota: 0, ...over };
    await e.admin.setBudget(op, row);
    return row;
  };
  return { id, op, key, limit, budget };
}

let reqN = 0;
/** A chat call of 1000 input + 1000 output tokens on gpt-4o. */
function call(credential: string, over: Partial<AuthorizeInput> = {}): AuthorizeInput {
  return {
    credential,
    model: "gpt-4o",
    requestId: `req-${++reqN}`,
    action: "chat",
    estimatedInputTokens: 1000,
    maxOutputTokens: 1000,
    sourceIp: "10.0.0.1",
    prompt: "",
    candidateModels: [],
    api: "",
    ...over,
  };
}

/** The usd and token ledger states of a budget's current period. */
async function ledger(e: Env, b: BudgetRow) {
  const p = currentPeriod(b, clock);
  assert.ok(p, "budget active");
  const k = ledgerKeys(b, p.startMs);
  const [usd, tokens] = await e.limiter.ledgers([k.usd, k.tokens], clock);
  return { usd: usd!, tokens: tokens! };
}

/** Budget alerts in a tenant's audit log. */
async function alerts(tenantId: string) {
  return (await fx.store.listAudit({ tenantId, limit: 100 })).filter((a) => a.action.startsWith("budget.") && a.action !== "budget.set");
}

const warnLines = (lines: string[]) => lines.map((l) => JSON.parse(l) as { level: number; msg: string; budgetId?: string; alert?: string }).filter((l) => l.level === 40);

describe("authorizer", () => {
  describe("roles and the operator", () => {
    it("a viewer may list models but not call them", async () => {
      const e = env();
      const t = await tenant(e);
      const viewer = await t.key({ roles: ["viewer"] });
      const err = await refused(e.authorizer.authorize(call(viewer.secret)), "permission_denied", "role_not_allowed", 403);
      assert.match(err.message, /viewer/);
      const out = await e.authorizer.authorize(call(viewer.secret, { action: "list_models", model: "", candidateModels: ["gpt-4o", "claude-3"] }));
      assert.deepEqual(out.allowedModels, ["gpt-4o", "claude-3"]);
      assert.equal(out.reservation, "");
      assert.equal(out.identity.keyId, viewer.id);
      // A developer and an admin may call.
      for (const roles of [["developer"], ["admin"], ["viewer", "developer"]]) {
        const k = await t.key({ roles });
        assert.equal((await e.authorizer.authorize(call(k.secret))).identity.keyId, k.id);
      }
    });

    it("the operator token cannot call models (nor list them)", async () => {
      const e = env();
      await refused(e.authorizer.authorize(call(OPERATOR_TOKEN)), "permission_denied", "operator_token", 403);
      await refused(e.authorizer.authorize(call(OPERATOR_TOKEN, { action: "list_models", model: "" })), "permission_denied", "operator_token", 403);
    });

    it("an unknown key is a 401 from the identity step", async () => {
      const e = env();
      await refused(e.authorizer.authorize(call("tsk-nope")), "unauthenticated", "invalid_api_key", 401);
    });
  });

  describe("model lists", () => {
    it("a key's allow-list with a prefix pattern", async () => {
      const e = env();
      const t = await tenant(e);
      const k = await t.key({ modelsAllow: ["gpt-4*"] });
      await e.authorizer.authorize(call(k.secret, { model: "gpt-4o" }));
      await e.authorizer.authorize(call(k.secret, { model: "gpt-4-32k" }));
      const err = await refused(e.authorizer.authorize(call(k.secret, { model: "claude-3" })), "permission_denied", "model_not_allowed", 403);
      assert.equal(err.details.param, "model");
      assert.match(err.message, /claude-3/);
    });

    it("a key's deny-list wins over its allow-list", async () => {
      const e = env();
      const t = await tenant(e);
      const k = await t.key({ modelsAllow: ["*"], modelsDeny: ["gpt-4-32k"] });
      await e.authorizer.authorize(call(k.secret, { model: "gpt-4o" }));
      await e.authorizer.authorize(call(k.secret, { model: "claude-3" }));
      await refused(e.authorizer.authorize(call(k.secret, { model: "gpt-4-32k" })), "permission_denied", "model_not_allowed", 403);
    });

    it("team allow and deny lists apply to every key of the team, whatever the key allows", async () => {
      const e = env();
      const t = await tenant(e, { allow: ["gpt-4*"], deny: ["gpt-4-32k"] });
      const plain = await t.key();
      const wide = await t.key({ modelsAllow: ["*"] });
      const lab = await t.key({ teamId: "lab", userId: "bob" });
      for (const k of [plain, wide]) {
        await e.authorizer.authorize(call(k.secret, { model: "gpt-4o" }));
        await refused(e.authorizer.authorize(call(k.secret, { model: "gpt-4-32k" })), "permission_denied", "model_not_allowed", 403);
        await refused(e.authorizer.authorize(call(k.secret, { model: "claude-3" })), "permission_denied", "model_not_allowed", 403);
      }
      // Another team of the tenant is not restricted.
      await e.authorizer.authorize(call(lab.secret, { model: "gpt-4-32k" }));
      await e.authorizer.authorize(call(lab.secret, { model: "claude-3" }));
    });

    it("a team change made through the admin applies at once", async () => {
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      await e.authorizer.authorize(call(k.secret, { model: "claude-3" }));
      await e.admin.updateTeam(t.op, { tenantId: t.id, id: "core", name: "", modelsAllow: [], modelsDeny: ["claude*"] });
      await refused(e.authorizer.authorize(call(k.secret, { model: "claude-3" })), "permission_denied", "model_not_allowed", 403);
    });

    it("list_models filters the candidates by key and team lists, and counts against no limit", async () => {
      const e = env();
      const t = await tenant(e, { allow: ["gpt-4*", "o1*"], deny: ["gpt-4-32k"] });
      const k = await t.key({ modelsDeny: ["o1*"] });
      await t.limit("key", k.id, 1);
      const candidateModels = ["gpt-4o", "gpt-4-32k", "claude-3", "o1-preview"];
      for (let i = 0; i < 3; i++) {
        const out = await e.authorizer.authorize(call(k.secret, { action: "list_models", model: "", candidateModels }));
        assert.deepEqual(out.allowedModels, ["gpt-4o"]);
        assert.equal(out.reservation, "");
        assert.equal(out.rateLimit, undefined);
      }
      // The one request of the minute is still there.
      const out = await e.authorizer.authorize(call(k.secret));
      assert.equal(out.rateLimit?.remainingRequests, 0);
    });
  });

  describe("models that require approval", () => {
    it("need an approved subscription for the key's team; revocation takes it away again", async () => {
      const e = env();
      const t = await tenant(e);
      const dev = await t.key();
      const devId = await e.identities.resolve(dev.secret, "");
      const replica = env({ cacheMs: 50 });

      const err = await refused(e.authorizer.authorize(call(dev.secret, { model: "o1-preview" })), "permission_denied", "subscription_required", 403);
      assert.match(err.message, new RegExp(`--tenant ${t.id} --team core --model o1-preview`));
      await refused(replica.authorizer.authorize(call(dev.secret, { model: "o1-preview" })), "permission_denied", "subscription_required", 403);
      // Models without the flag need nothing.
      await e.authorizer.authorize(call(dev.secret, { model: "gpt-4o" }));

      // Pending, and another team's approval, do not count.
      const sub = await e.admin.requestSubscription(devId, { tenantId: t.id, teamId: "core", resourceKind: "model", resource: "o1-preview", note: "" });
      assert.equal(sub.status, "pending");
      const labSub = await e.admin.requestSubscription(t.op, { tenantId: t.id, teamId: "lab", resourceKind: "model", resource: "o1-preview", note: "" });
      await e.admin.decideSubscription(t.op, t.id, labSub.id, "approved", "");
      await refused(e.authorizer.authorize(call(dev.secret, { model: "o1-preview" })), "permission_denied", "subscription_required", 403);

      await e.admin.decideSubscription(t.op, t.id, sub.id, "approved", "ok");
      // At once where the admin change was made...
      await e.authorizer.authorize(call(dev.secret, { model: "o1-preview" }));
      // ...and within the cache time elsewhere.
      await sleep(60);
      const loadedAt = Date.now();
      await replica.authorizer.authorize(call(dev.secret, { model: "o1-preview" }));

      await e.admin.decideSubscription(t.op, t.id, sub.id, "revoked", "");
      await refused(e.authorizer.authorize(call(dev.secret, { model: "o1-preview" })), "permission_denied", "subscription_required", 403);
      // Still cached on the replica (only checkable while its 50 ms have not passed on a slow machine).
      if (Date.now() - loadedAt < 40) await replica.authorizer.authorize(call(dev.secret, { model: "o1-preview" }));
      await sleep(60);
      await refused(replica.authorizer.authorize(call(dev.secret, { model: "o1-preview" })), "permission_denied", "subscription_required", 403);
    });

    it("a tenant-wide subscription covers every team", async () => {
      const e = env();
      const t = await tenant(e);
      const lab = await t.key({ teamId: "lab", userId: "bob" });
      const sub = await e.admin.requestSubscription(t.op, { tenantId: t.id, teamId: "", resourceKind: "model", resource: "o1-preview", note: "" });
      await e.admin.decideSubscription(t.op, t.id, sub.id, "approved", "");
      await e.authorizer.authorize(call(lab.secret, { model: "o1-preview" }));
    });
  });

  describe("published prompt APIs", () => {
    /** An authorizer knowing APIs of tenant `tenantId` (filled in once the tenant exists) and a key of the configuration limited to /apis/support/*. */
    function apiEnv() {
      const apis = new Map<string, ApiInfo>();
      const staticKey: ResolvedApiKey = { id: "cfg-api-key", tenant: "", team: "", user: "", roles: ["developer"], models: [], prompts: [], apis: ["/apis/support/*"], redaction_policy: "default", keySha256: sha256Hex("cfg-api-secret") };
      const e = env({ apis, staticKeys: [staticKey] });
      return { e, apis, staticKey };
    }
    const invoke = (secret: string, api: string, over: Partial<AuthorizeInput> = {}) => call(secret, { action: "invoke_prompt", prompt: "summarize", api, ...over });

    it("an API's access rules let in the keys, teams or roles they name, and no one else", async () => {
      const { e, apis } = apiEnv();
      const t = await tenant(e);
      const core = await t.key();
      const lab = await t.key({ teamId: "lab", userId: "bob" });
      const admin = await t.key({ teamId: "lab", userId: "bob", roles: ["admin"] });
      apis.set(`${t.id}\u0000/apis/open`, { keys: [], teams: [], roles: [], requiresApproval: false });
      apis.set(`${t.id}\u0000/apis/core`, { keys: [lab.id], teams: ["core"], roles: ["admin"], requiresApproval: false });
      apis.set(`${t.id}\u0000/apis/nobody`, { keys: ["key_other"], teams: [], roles: [], requiresApproval: false });
      await e.authorizer.authorize(invoke(lab.secret, "/apis/open"));
      await e.authorizer.authorize(invoke(core.secret, "/apis/core"));
      // Listed by key id, and by role.
      await e.authorizer.authorize(invoke(lab.secret, "/apis/core"));
      await e.authorizer.authorize(invoke(admin.secret, "/apis/core"));
      const err = await refused(e.authorizer.authorize(invoke(core.secret, "/apis/nobody")), "permission_denied", "api_access_denied", 403);
      assert.match(err.message, /The prompt API \/apis\/nobody does not let your key call it/);
      assert.ok(!err.message.includes("key_other"), "other callers are not disclosed");
      await refused(e.authorizer.authorize(invoke(core.secret, "/apis/unknown")), "not_found", "api_not_found", 404);
    });

    it("a key limited to APIs may call those and nothing else", async () => {
      const { e, apis, staticKey } = apiEnv();
      const t = await tenant(e);
      staticKey.tenant = t.id;
      apis.set(`${t.id}\u0000/apis/support/reply`, { keys: [], teams: [], roles: [], requiresApproval: false });
      apis.set(`${t.id}\u0000/apis/sales/pitch`, { keys: [], teams: [], roles: [], requiresApproval: false });
      const secret = "cfg-api-secret";
      await e.authorizer.authorize(invoke(secret, "/apis/support/reply"));
      await refused(e.authorizer.authorize(invoke(secret, "/apis/sales/pitch")), "permission_denied", "api_not_allowed", 403);
      await refused(e.authorizer.authorize(call(secret, { action: "invoke_prompt", prompt: "summarize" })), "permission_denied", "prompt_not_allowed", 403);
      const chat = await refused(e.authorizer.authorize(call(secret)), "permission_denied", "prompt_key_only", 403);
      assert.equal(chat.message, "This API key may only invoke the prompt APIs /apis/support/*.");
      await refused(e.authorizer.authorize(call(secret, { action: "embed" })), "permission_denied", "prompt_key_only", 403);
    });

    it("a stored key given apis_allow (at creation or later) may call those APIs and nothing else", async () => {
      const { e, apis } = apiEnv();
      const t = await tenant(e);
      apis.set(`${t.id}\u0000/apis/support/reply`, { keys: [], teams: [], roles: [], requiresApproval: false });
      apis.set(`${t.id}\u0000/apis/sales/pitch`, { keys: [], teams: [], roles: [], requiresApproval: false });
      const only = await t.key({ apisAllow: ["/apis/support/*"] });
      await e.authorizer.authorize(invoke(only.secret, "/apis/support/reply"));
      await refused(e.authorizer.authorize(invoke(only.secret, "/apis/sales/pitch")), "permission_denied", "api_not_allowed", 403);
      const chat = await refused(e.authorizer.authorize(call(only.secret)), "permission_denied", "prompt_key_only", 403);
      assert.equal(chat.message, "This API key may only invoke the prompt APIs /apis/support/*.");
      // An unrestricted key limited afterwards: this replica refuses it at once.
      const later = await t.key();
      await e.authorizer.authorize(call(later.secret));
      const updated = await e.admin.updateKey(t.op, { tenantId: t.id, keyId: later.id, fields: ["apis_allow"], ...noKeyLists, name: "", roles: [], apisAllow: ["/apis/sales/pitch"] });
      assert.deepEqual([updated.apisAllow, updated.roles, updated.name], [["/apis/sales/pitch"], ["developer"], "k"], "fields not named keep their values");
      await refused(e.authorizer.authorize(call(later.secret)), "permission_denied", "prompt_key_only", 403);
      await e.authorizer.authorize(invoke(later.secret, "/apis/sales/pitch"));
    });

    it("an API published at run time is judged by the rules the call carries; a configured API's own rules win", async () => {
      const { e, apis } = apiEnv();
      const t = await tenant(e);
      const core = await t.key();
      const stored: ApiInfo = { keys: ["key_other"], teams: [], roles: [], requiresApproval: false };
      await refused(e.authorizer.authorize(invoke(core.secret, "/apis/stored", { apiRules: stored })), "permission_denied", "api_access_denied", 403);
      await e.authorizer.authorize(invoke(core.secret, "/apis/stored", { apiRules: { ...stored, teams: ["core"] } }));
      const gated = await refused(e.authorizer.authorize(invoke(core.secret, "/apis/stored", { apiRules: { ...stored, keys: [], requiresApproval: true } })), "permission_denied", "subscription_required", 403);
      assert.match(gated.message, /^Prompt API '\/apis\/stored' requires an approved subscription/);
      await refused(e.authorizer.authorize(invoke(core.secret, "/apis/stored")), "not_found", "api_not_found", 404);
      apis.set(`${t.id}\u0000/apis/configured`, { keys: ["key_other"], teams: [], roles: [], requiresApproval: false });
      const open: ApiInfo = { keys: [], teams: [], roles: [], requiresApproval: false };
      await refused(e.authorizer.authorize(invoke(core.secret, "/apis/configured", { apiRules: open })), "permission_denied", "api_access_denied", 403);
    });

    it("an API or a prompt that requires approval needs an approved subscription of kind prompt", async () => {
      const apis = new Map<string, ApiInfo>();
      const promptApproval = new Map<string, boolean>([["*\u0000guarded", true]]);
      const e = env({ apis, promptApproval });
      const t = await tenant(e);
      const dev = await t.key();
      apis.set(`${t.id}\u0000/apis/gated`, { keys: [], teams: [], roles: [], requiresApproval: true });
      apis.set(`${t.id}\u0000/apis/free`, { keys: [], teams: [], roles: [], requiresApproval: false });
      const err = await refused(e.authorizer.authorize(invoke(dev.secret, "/apis/gated")), "permission_denied", "subscription_required", 403);
      assert.match(err.message, new RegExp(`^Prompt API '/apis/gated' requires an approved subscription.*--team core --prompt /apis/gated\\)`));
      await e.authorizer.authorize(invoke(dev.secret, "/apis/free"));
      // A prompt that requires approval needs it through any API, and when invoked directly.
      await refused(e.authorizer.authorize(invoke(dev.secret, "/apis/free", { prompt: "guarded" })), "permission_denied", "subscription_required", 403);
      await refused(e.authorizer.authorize(call(dev.secret, { action: "invoke_prompt", prompt: "guarded" })), "permission_denied", "subscription_required", 403);
      for (const resource of ["/apis/gated", "guarded"]) {
        const sub = await e.admin.requestSubscription(t.op, { tenantId: t.id, teamId: "core", resourceKind: "prompt", resource, note: "" });
        await e.admin.decideSubscription(t.op, t.id, sub.id, "approved", "");
      }
      await e.authorizer.authorize(invoke(dev.secret, "/apis/gated"));
      await e.authorizer.authorize(invoke(dev.secret, "/apis/gated", { prompt: "guarded" }));
      await e.authorizer.authorize(call(dev.secret, { action: "invoke_prompt", prompt: "guarded" }));
    });

    it("through an API, the team's deny list, limits and budgets still apply", async () => {
      const apis = new Map<string, ApiInfo>();
      const e = env({ apis });
      const t = await tenant(e, { deny: ["claude-*"] });
      const dev = await t.key();
      apis.set(`${t.id}\u0000/apis/x`, { keys: [], teams: [], roles: [], requiresApproval: false });
      await refused(e.authorizer.authorize(invoke(dev.secret, "/apis/x", { model: "claude-3" })), "permission_denied", "model_not_allowed", 403);
      await t.limit("key", dev.id, 1);
      await e.authorizer.authorize(invoke(dev.secret, "/apis/x"));
      await refused(e.authorizer.authorize(invoke(dev.secret, "/apis/x")), "rate_limited", "rate_limit_requests", 429);
    });
  });

  describe("rate limits", () => {
    it("a key's requests per minute: exactly N, then 429 with retry-after and x-ratelimit headers", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      await t.limit("key", k.id, 3);
      const remaining: number[] = [];
      for (let i = 0; i < 3; i++) {
        const out = await e.authorizer.authorize(call(k.secret));
        assert.equal(out.rateLimit?.limitRequests, 3);
        assert.equal(out.rateLimit?.resetRequestsMs, 50_000);
        assert.equal(out.rateLimit?.limitTokens, 0);
        remaining.push(out.rateLimit?.remainingRequests ?? -1);
      }
      assert.deepEqual(remaining, [2, 1, 0]);
      const err = await refused(e.authorizer.authorize(call(k.secret)), "rate_limited", "rate_limit_requests", 429);
      assert.equal(err.details.retryAfterS, 50);
      assert.deepEqual(err.details.headers, {
        "x-ratelimit-limit-requests": "3",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "50s",
      });
      assert.match(err.message, new RegExp(`3 requests per minute for key '${k.id}'`));
      // Another key of the same team and user has a room of its own.
      await e.authorizer.authorize(call((await t.key()).secret));
      // The next minute starts afresh.
      clock = T0 + 50_000;
      assert.equal((await e.authorizer.authorize(call(k.secret))).rateLimit?.remainingRequests, 2);
      clock = T0;
    });

    it("a team limit is shared by the team's keys, and not by other teams", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k1 = await t.key();
      const k2 = await t.key({ userId: "" });
      const lab = await t.key({ teamId: "lab", userId: "bob" });
      await t.limit("team", "core", 4);
      await e.authorizer.authorize(call(k1.secret));
      await e.authorizer.authorize(call(k2.secret));
      await e.authorizer.authorize(call(k1.secret));
      assert.equal((await e.authorizer.authorize(call(k2.secret))).rateLimit?.remainingRequests, 0);
      for (const k of [k1, k2]) {
        const err = await refused(e.authorizer.authorize(call(k.secret)), "rate_limited", "rate_limit_requests", 429);
        assert.match(err.message, /team 'core'/);
      }
      await e.authorizer.authorize(call(lab.secret));
    });

    it("the tightest window is reported, and a user limit spans the user's keys", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k1 = await t.key();
      const k2 = await t.key();
      await t.limit("key", k1.id, 10);
      await t.limit("user", "alice", 2);
      assert.equal((await e.authorizer.authorize(call(k1.secret))).rateLimit?.remainingRequests, 1);
      assert.equal((await e.authorizer.authorize(call(k2.secret))).rateLimit?.remainingRequests, 0);
      const err = await refused(e.authorizer.authorize(call(k1.secret)), "rate_limited", "rate_limit_requests", 429);
      assert.match(err.message, /user 'alice'/);
      // The key's own window was not charged by the refused call: 10 - 1.
      const [n] = await e.limiter.peek([{ key: `rl:${t.id}:key:${k1.id}:req`, windowMs: 60_000 }], clock);
      assert.equal(n, 1);
    });

    it("tokens per minute: charged with the estimate, corrected by settle to the actual use", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      await t.limit("key", k.id, 0, 1000);
      const first = await e.authorizer.authorize(call(k.secret, { estimatedInputTokens: 100, maxOutputTokens: 800 }));
      assert.equal(first.rateLimit?.limitTokens, 1000);
      assert.equal(first.rateLimit?.remainingTokens, 100);
      assert.equal(first.rateLimit?.limitRequests, 0);
      assert.notEqual(first.reservation, "");
      const err = await refused(e.authorizer.authorize(call(k.secret, { estimatedInputTokens: 100, maxOutputTokens: 800 })), "rate_limited", "rate_limit_tokens", 429);
      assert.equal(err.details.headers?.["x-ratelimit-remaining-tokens"], "100");
      assert.equal(err.details.headers?.["x-ratelimit-limit-tokens"], "1000");
      // The call used 100 tokens, not 900: 800 come back.
      await e.authorizer.settle(first.reservation, { promptTokens: 60, completionTokens: 40, cachedTokens: 0, reasoningTokens: 0 }, "cheap", "small-4o");
      const [used] = await e.limiter.peek([{ key: `rl:${t.id}:key:${k.id}:tok`, windowMs: 60_000 }], clock);
      assert.equal(used, 100);
      const second = await e.authorizer.authorize(call(k.secret, { estimatedInputTokens: 100, maxOutputTokens: 800 }));
      assert.equal(second.rateLimit?.remainingTokens, 0);
      await refused(e.authorizer.authorize(call(k.secret, { estimatedInputTokens: 1, maxOutputTokens: 1 })), "rate_limited", "rate_limit_tokens", 429);
      // A call that used more than estimated is charged the difference (900 → 1000 + 150).
      await e.authorizer.settle(second.reservation, { promptTokens: 1000, completionTokens: 50, cachedTokens: 0, reasoningTokens: 0 }, "cheap", "small-4o");
      const [after] = await e.limiter.peek([{ key: `rl:${t.id}:key:${k.id}:tok`, windowMs: 60_000 }], clock);
      assert.equal(after, 1150);
      // A call bigger than the whole limit still passes an empty window.
      clock = T0 + 60_000;
      const big = await e.authorizer.authorize(call(k.secret, { estimatedInputTokens: 5000, maxOutputTokens: 5000 }));
      assert.equal(big.rateLimit?.remainingTokens, 0);
      clock = T0;
    });

    it("the default max output tokens is used when the call names none", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      await t.limit("key", k.id, 0, 5000);
      const out = await e.authorizer.authorize(call(k.secret, { estimatedInputTokens: 200, maxOutputTokens: 0 }));
      assert.equal(out.rateLimit?.remainingTokens, 5000 - 200 - 1000);
    });
  });

  describe("budgets", () => {
    it("reserve the most expensive deployment's cost, refuse with 402 when it does not fit, settle the actual cost", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      const b = await t.budget({ id: "team-usd", limitUsd: 0.1 });
      const a1 = await e.authorizer.authorize(call(k.secret));
      assert.notEqual(a1.reservation, "");
      assert.equal(a1.rateLimit, undefined);
      assert.deepEqual((await ledger(e, b)).usd, { spent: 0, reserved: toMicros(WORST) });
      const a2 = await e.authorizer.authorize(call(k.secret));
      assert.deepEqual((await ledger(e, b)).usd, { spent: 0, reserved: 2 * toMicros(WORST) });
      // 0.08 reserved + 0.04 > 0.10.
      const err = await refused(e.authorizer.authorize(call(k.secret)), "payment_required", "budget_exceeded", 402);
      assert.match(err.message, /month budget of team 'core' \(\$0\.10\)/);
      assert.match(err.message, /\$0\.0800 reserved; this call may cost up to \$0\.0400/);
      assert.deepEqual((await ledger(e, b)).usd, { spent: 0, reserved: 2 * toMicros(WORST) }, "the refused call reserved nothing");

      // The first call ran on the cheap deployment and cost $0.001; its reservation is released.
      await e.authorizer.settle(a1.reservation, SMALL, "cheap", "small-4o");
      assert.deepEqual((await ledger(e, b)).usd, { spent: 1000, reserved: toMicros(WORST) });
      // Settling again charges nothing more.
      await e.authorizer.settle(a1.reservation, SMALL, "cheap", "small-4o");
      assert.deepEqual((await ledger(e, b)).usd, { spent: 1000, reserved: toMicros(WORST) });
      // Now there is room again: 0.001 + 0.04 + 0.04 <= 0.10.
      const a3 = await e.authorizer.authorize(call(k.secret));
      // The second ran on the pricey one: 500·10 + 250·30 = $0.0125.
      await e.authorizer.settle(a2.reservation, SMALL, "pricey", "big-4o");
      // A call that failed without usage costs nothing but frees its reservation.
      await e.authorizer.settle(a3.reservation, undefined, "", "");
      assert.deepEqual((await ledger(e, b)).usd, { spent: 1000 + 12_500, reserved: 0 });
      // The admin sees the same numbers.
      const [listed] = (await e.admin.listBudgets(t.op, t.id)).filter((x) => x.id === "team-usd");
      assert.equal(listed?.spentUsd, 0.0135);
      assert.equal(listed?.reservedUsd, 0);
    });

    it("a ledger first touched here starts from metering's stored spend, asked once; a failed lookup is retried later, never fatal", async () => {
      clock = T0;
      const asked: { scope: string; scopeId: string; sinceMs: number }[] = [];
      let answer: () => Promise<{ micros: number; tokens: number }> = async () => ({ micros: 70_000, tokens: 1_234 });
      const e = env({
        spend: (q) => {
          asked.push({ scope: q.scope, scopeId: q.scopeId, sinceMs: q.sinceMs });
          return answer();
        },
      });
      const t = await tenant(e);
      const k = await t.key();
      const b = await t.budget({ id: "seeded", limitUsd: 0.1, tokenQuota: 100_000 });
      const period = currentPeriod(b, clock)!;
      // Five first calls at once share one lookup; $0.07 spent + $0.04 worst case > $0.10.
      const results = await Promise.allSettled(Array.from({ length: 5 }, () => e.authorizer.authorize(call(k.secret))));
      assert.deepEqual(asked, [{ scope: "team", scopeId: "core", sinceMs: period.startMs }]);
      assert.equal(results.filter((r) => r.status === "fulfilled").length, 0, "every call is refused: the seeded spend leaves $0.03");
      await refused(e.authorizer.authorize(call(k.secret)), "payment_required", "budget_exceeded", 402);
      assert.deepEqual(await ledger(e, b), { usd: { spent: 70_000, reserved: 0 }, tokens: { spent: 1_234, reserved: 0 } });
      assert.equal(asked.length, 1, "a seeded ledger is not asked about again");

      // Another budget whose lookup fails: the call goes on from the counters, and a warning says so.
      const t2 = await tenant(e);
      const k2 = await t2.key();
      await t2.budget({ id: "unseeded", limitUsd: 1 });
      answer = async () => {
        throw new Error("metering unreachable");
      };
      const ok = await e.authorizer.authorize(call(k2.secret));
      assert.notEqual(ok.reservation, "");
      assert.equal(asked.length, 2);
      await e.authorizer.authorize(call(k2.secret));
      assert.equal(asked.length, 2, `not retried within ${SEED_RETRY_MS} ms`);
      assert.ok(warnLines(e.lines).some((l) => /could not start a budget ledger/.test(l.msg)));
      clock += SEED_RETRY_MS + 1;
      answer = async () => ({ micros: 5, tokens: 0 });
      await e.authorizer.authorize(call(k2.secret));
      assert.equal(asked.length, 3, "retried after the pause");
    });

    it("a seed never replaces spend the counters already have; user budgets are not seeded", async () => {
      clock = T0;
      let asked = 0;
      const e = env({ spend: async () => (asked++, { micros: 90_000, tokens: 0 }) });
      const t = await tenant(e);
      const k = await t.key();
      const b = await t.budget({ id: "warm", limitUsd: 0.1 });
      const p = currentPeriod(b, clock)!;
      const keys = ledgerKeys(b, p.startMs);
      // Another replica already settled $0.002 into this ledger.
      await e.limiter.reserve("other", [{ key: keys.usd, limit: 100_000, amount: 1, expireAtMs: p.endMs + 86_400_000 }], 60_000, clock);
      await e.limiter.settle("other", [{ key: keys.usd, amount: 2_000, expireAtMs: p.endMs + 86_400_000 }], clock);
      await e.authorizer.authorize(call(k.secret));
      assert.equal(asked, 1);
      assert.deepEqual((await ledger(e, b)).usd, { spent: 2_000, reserved: toMicros(WORST) });
      const t2 = await tenant(e);
      const k2 = await t2.key();
      await t2.budget({ id: "alice", scope: "user", scopeId: "alice", limitUsd: 0.1 });
      await e.authorizer.authorize(call(k2.secret));
      assert.equal(asked, 1, "the usage store has no user dimension: user budgets count from the counters");
    });

    it("crossing the soft limit writes exactly one audit entry and one warn line", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      await t.budget({ id: "soft", limitUsd: 1, softLimitUsd: 0.0025 });
      const settleOne = async () => {
        const a = await e.authorizer.authorize(call(k.secret));
        await e.authorizer.settle(a.reservation, SMALL, "cheap", "small-4o");
        return a;
      };
      await settleOne(); // 0.001
      await settleOne(); // 0.002
      assert.deepEqual(await alerts(t.id), []);
      await settleOne(); // 0.003: crossed
      await settleOne(); // 0.004
      const entries = await alerts(t.id);
      assert.equal(entries.length, 1);
      assert.equal(entries[0]?.action, "budget.soft_limit_crossed");
      assert.equal(entries[0]?.actor, "system");
      assert.equal(entries[0]?.target, "budget:soft");
      assert.equal(entries[0]?.tenantId, t.id);
      assert.deepEqual(entries[0]?.details, { spentUsd: 0.003, limitUsd: 0.0025 });
      const warns = warnLines(e.lines).filter((l) => l.alert === "budget.soft_limit_crossed");
      assert.equal(warns.length, 1);
      assert.equal(warns[0]?.budgetId, "soft");
      assert.match(warns[0]?.msg ?? "", new RegExp(`budget soft of tenant ${t.id}: soft limit crossed`));
    });

    it("a soft limit alone reserves nothing but still alerts", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      const b = await t.budget({ id: "soft-only", softLimitUsd: 0.0015 });
      const a = await e.authorizer.authorize(call(k.secret));
      assert.deepEqual((await ledger(e, b)).usd, { spent: 0, reserved: 0 });
      await e.authorizer.settle(a.reservation, SMALL, "cheap", "small-4o");
      assert.deepEqual(await alerts(t.id), []);
      const a2 = await e.authorizer.authorize(call(k.secret));
      await e.authorizer.settle(a2.reservation, SMALL, "cheap", "small-4o");
      assert.deepEqual((await alerts(t.id)).map((x) => x.action), ["budget.soft_limit_crossed"]);
      assert.equal((await ledger(e, b)).usd.spent, 2000);
    });

    it("reaching the hard limit writes a budget.exhausted entry", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      await t.budget({ id: "hard", limitUsd: 0.002 });
      // Worst case of 10 + 10 tokens: (10·10 + 10·30)/1e6 = $0.0004; each actually costs $0.001.
      for (let i = 0; i < 2; i++) {
        const a = await e.authorizer.authorize(call(k.secret, { estimatedInputTokens: 10, maxOutputTokens: 10 }));
        await e.authorizer.settle(a.reservation, SMALL, "cheap", "small-4o");
      }
      assert.deepEqual((await alerts(t.id)).map((x) => x.action), ["budget.exhausted"]);
      await refused(e.authorizer.authorize(call(k.secret, { estimatedInputTokens: 10, maxOutputTokens: 10 })), "payment_required", "budget_exceeded", 402);
    });

    it("a token quota refuses with 402 token_quota_exceeded, and settle charges the actual tokens", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      const b = await t.budget({ id: "quota", scope: "key", scopeId: k.id, period: "day", tokenQuota: 3000 });
      const a = await e.authorizer.authorize(call(k.secret));
      assert.deepEqual((await ledger(e, b)).tokens, { spent: 0, reserved: 2000 });
      const err = await refused(e.authorizer.authorize(call(k.secret)), "payment_required", "token_quota_exceeded", 402);
      assert.match(err.message, new RegExp(`day token quota of key '${k.id}' \\(3000 tokens\\)`));
      await e.authorizer.settle(a.reservation, SMALL, "cheap", "small-4o");
      assert.deepEqual((await ledger(e, b)).tokens, { spent: 750, reserved: 0 });
      await e.authorizer.authorize(call(k.secret));
      // The usd ledger is untouched: the budget has no dollar limit.
      assert.deepEqual((await ledger(e, b)).usd, { spent: 0, reserved: 0 });
    });

    it("a call refused by its budget gives its rate-limit request and tokens back", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      await t.limit("key", k.id, 2, 100_000);
      await t.budget({ id: "tight", limitUsd: 0.05 });
      const first = await e.authorizer.authorize(call(k.secret));
      assert.equal(first.rateLimit?.remainingRequests, 1);
      for (let i = 0; i < 5; i++) await refused(e.authorizer.authorize(call(k.secret)), "payment_required", "budget_exceeded", 402);
      const [req, tok] = await e.limiter.peek(
        [
          { key: `rl:${t.id}:key:${k.id}:req`, windowMs: 60_000 },
          { key: `rl:${t.id}:key:${k.id}:tok`, windowMs: 60_000 },
        ],
        clock,
      );
      assert.equal(req, 1);
      assert.equal(tok, 2000);
      // A small call fits the budget ($0.04 + $0.0004) and gets the second request.
      const small = await e.authorizer.authorize(call(k.secret, { estimatedInputTokens: 10, maxOutputTokens: 10 }));
      assert.equal(small.rateLimit?.remainingRequests, 0);
    });

    for (const period of ["day", "month"] as const satisfies readonly Period[]) {
      it(`a ${period} budget starts afresh in the next ${period}`, async () => {
        clock = T0;
        try {
          const e = env();
          const t = await tenant(e);
          const k = await t.key();
          const b = await t.budget({ id: `per-${period}`, period, limitUsd: 0.05 });
          const a = await e.authorizer.authorize(call(k.secret));
          await e.authorizer.settle(a.reservation, SMALL, "pricey", "big-4o"); // $0.0125 spent
          await refused(e.authorizer.authorize(call(k.secret)), "payment_required", "budget_exceeded", 402);
          // Still the same period at its last millisecond.
          const p = currentPeriod(b, clock)!;
          assert.equal(p.endMs - p.startMs > 0, true);
          clock = p.endMs - 1;
          await refused(e.authorizer.authorize(call(k.secret)), "payment_required", "budget_exceeded", 402);
          clock = p.endMs;
          await e.authorizer.authorize(call(k.secret));
          assert.deepEqual((await ledger(e, b)).usd, { spent: 0, reserved: toMicros(WORST) });
          assert.equal(currentPeriod(b, clock)!.startMs, p.endMs);
        } finally {
          clock = T0;
        }
      });
    }

    it("a custom budget applies only inside its window", async () => {
      clock = T0;
      try {
        const e = env();
        const t = await tenant(e);
        const k = await t.key();
        const startsAt = new Date(T0 + 3_600_000);
        const endsAt = new Date(T0 + 7_200_000);
        await t.budget({ id: "campaign", period: "custom", startsAt, endsAt, limitUsd: 0.05 });
        for (let i = 0; i < 3; i++) assert.equal((await e.authorizer.authorize(call(k.secret))).reservation, "", "before: nothing to reserve");
        clock = startsAt.getTime();
        assert.notEqual((await e.authorizer.authorize(call(k.secret))).reservation, "");
        await refused(e.authorizer.authorize(call(k.secret)), "payment_required", "budget_exceeded", 402);
        clock = endsAt.getTime();
        for (let i = 0; i < 3; i++) assert.equal((await e.authorizer.authorize(call(k.secret))).reservation, "", "after: nothing to reserve");
      } finally {
        clock = T0;
      }
    });

    it(
      "settling the same reservation twice changes nothing the second time",
      async () => {
        clock = T0;
        const e = env();
        const t = await tenant(e);
        const k = await t.key();
        await t.limit("key", k.id, 0, 10_000);
        await t.budget({ id: "twice", limitUsd: 1, softLimitUsd: 0.0005 });
        const a = await e.authorizer.authorize(call(k.secret));
        await e.authorizer.settle(a.reservation, SMALL, "cheap", "small-4o");
        await e.authorizer.settle(a.reservation, SMALL, "cheap", "small-4o");
        const [tok] = await e.limiter.peek([{ key: `rl:${t.id}:key:${k.id}:tok`, windowMs: 60_000 }], clock);
        assert.equal(tok, 750, "the window holds the actual use once");
        assert.deepEqual((await alerts(t.id)).map((x) => x.action), ["budget.soft_limit_crossed"]);
      },
    );

    it("settling a reservation authz did not issue is a 400 invalid_reservation; an empty one is nothing", async () => {
      const e = env();
      const b64 = (s: string) => Buffer.from(s).toString("base64url");
      const shaped = (o: object) => b64(JSON.stringify({ id: "r", tenant: "t", windows: [], ledgers: [], ...o }));
      const garbage = [
        "garbage!!",
        "not-a-reservation",
        b64("null"),
        b64("1"),
        b64('{"id":"x"}'),
        b64('{"windows":[],"ledgers":[]}'),
        // Well-formed JSON whose entries are not what authz issues: refused before they reach the limiter.
        shaped({ tenant: 7 }),
        shaped({ windows: [["rl:t:key:k:tok", 60_000, "900"]] }),
        shaped({ windows: [["rl:t:key:k:tok", 0, 900]] }),
        shaped({ windows: [[1, 60_000, 900]] }),
        shaped({ ledgers: [[1]] }),
        shaped({ ledgers: [["budget:usd:t:b:0", 1, "eur", 0, "b", 10]] }),
        shaped({ ledgers: [["budget:usd:t:b:0", null, "usd", 0, "b", 10]] }),
      ];
      for (const r of garbage) {
        await refused(e.authorizer.settle(r, SMALL, "cheap", "small-4o"), "invalid_request", "invalid_reservation", 400);
      }
      // A well-formed one with nothing in it settles nothing.
      await e.authorizer.settle(shaped({}), SMALL, "cheap", "small-4o");
      await e.authorizer.settle("", SMALL, "cheap", "small-4o");
    });
  });

  it("tenant B's limits and budgets never affect tenant A's keys", async () => {
    clock = T0;
    const e = env();
    const a = await tenant(e);
    const b = await tenant(e);
    const ka = await a.key();
    const kb = await b.key();
    // The same team, user and budget ids in both tenants; B's are tight.
    await b.limit("tenant", b.id, 1);
    await b.limit("team", "core", 1);
    await b.limit("user", "alice", 1);
    const bb = await b.budget({ id: "shared", limitUsd: 0.05 });
    const ba = await a.budget({ id: "shared", limitUsd: 1 });
    await e.authorizer.authorize(call(kb.secret));
    await refused(e.authorizer.authorize(call(kb.secret)), "rate_limited", "rate_limit_requests", 429);
    for (let i = 0; i < 10; i++) {
      const out = await e.authorizer.authorize(call(ka.secret));
      assert.equal(out.identity.tenantId, a.id);
      assert.equal(out.rateLimit, undefined, "no limit of A's applies");
    }
    assert.deepEqual((await ledger(e, ba)).usd, { spent: 0, reserved: 10 * toMicros(WORST) });
    assert.deepEqual((await ledger(e, bb)).usd, { spent: 0, reserved: toMicros(WORST) });
    // A has reserved B's whole budget many times over; in the next minute B is refused by its own reservation only.
    clock = T0 + 60_000;
    await refused(e.authorizer.authorize(call(kb.secret)), "payment_required", "budget_exceeded", 402);
    clock = T0;
  });

  describe("concurrency", () => {
    it("60 parallel calls against a key limit of 10 per minute: exactly 10 pass", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      await t.limit("key", k.id, 10);
      const results = await Promise.allSettled(Array.from({ length: 60 }, () => e.authorizer.authorize(call(k.secret))));
      const ok = results.filter((r): r is PromiseFulfilledResult<AuthorizeOutput> => r.status === "fulfilled");
      assert.equal(ok.length, 10);
      for (const r of results)
        if (r.status === "rejected") assert.ok(r.reason instanceof TesseraError && r.reason.details.code === "rate_limit_requests", String(r.reason));
      assert.deepEqual(
        ok.map((r) => r.value.rateLimit?.remainingRequests).sort((x, y) => (x ?? 0) - (y ?? 0)),
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      );
    });

    it("60 parallel calls against a budget of 7 worst cases: exactly 7 pass; settling all charges the sum of actual costs", async () => {
      clock = T0;
      const e = env();
      const t = await tenant(e);
      const k = await t.key();
      const b = await t.budget({ id: "seven", limitUsd: 7 * WORST, softLimitUsd: 0.005 });
      const results = await Promise.allSettled(Array.from({ length: 60 }, () => e.authorizer.authorize(call(k.secret))));
      const ok = results.filter((r): r is PromiseFulfilledResult<AuthorizeOutput> => r.status === "fulfilled").map((r) => r.value);
      assert.equal(ok.length, 7);
      for (const r of results)
        if (r.status === "rejected") assert.ok(r.reason instanceof TesseraError && r.reason.details.code === "budget_exceeded", String(r.reason));
      assert.deepEqual((await ledger(e, b)).usd, { spent: 0, reserved: 7 * toMicros(WORST) });

      const usages = ok.map((_, i): TokenCounts => ({ promptTokens: 100 * (i + 1), completionTokens: 70 * (i + 1), cachedTokens: 10 * i, reasoningTokens: 0 }));
      // Even calls ran on the cheap deployment, odd ones on the pricey one.
      const on = (i: number): [string, string] => (i % 2 === 0 ? ["cheap", "small-4o"] : ["pricey", "big-4o"]);
      await Promise.all(ok.map((a, i) => e.authorizer.settle(a.reservation, usages[i], ...on(i))));
      const expected = usages.reduce((sum, u, i) => sum + toMicros(prices.cost(on(i)[0], on(i)[1], u)), 0);
      assert.ok(expected > 5000, "the soft limit is crossed");
      assert.deepEqual((await ledger(e, b)).usd, { spent: expected, reserved: 0 });
      // Parallel settles cross the soft limit once.
      assert.deepEqual((await alerts(t.id)).map((x) => x.action), ["budget.soft_limit_crossed"]);
    });
  });
});
