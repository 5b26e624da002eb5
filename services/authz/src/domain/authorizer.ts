import { createTtlCache, rateLimitHeaders, TesseraError, type Logger, type PriceTable, type RateLimitInfo, type TokenCounts } from "@tessera/runtime";
import { currentPeriod, fromMicros, LEDGER_GRACE_MS, ledgerKeys, toMicros } from "./budget-period.js";
import { actorOf, type Identity, type IdentityResolver, type Role } from "./identity.js";
import type { Limiter, LedgerCheck, WindowCheck, WindowState } from "./limiter.js";
import type { AuthzStore, BudgetRow, LimitRow, Scope, ScopeRef } from "./store.js";

/** What a call wants to do. */
export type CallAction = "chat" | "embed" | "list_models" | "invoke_prompt";

export interface AuthorizeInput {
  credential: string;
  model: string;
  requestId: string;
  action: CallAction;
  estimatedInputTokens: number;
  /** 0: the configured default. */
  maxOutputTokens: number;
  sourceIp: string;
  prompt: string;
  candidateModels: string[];
  /** The published prompt API the call goes through ("" when none). */
  api: string;
  /**
   * The rules of an API published at run time, as prompt-registry resolved them for ingress;
   * the configuration's rules win for a configured API.
   */
  apiRules?: ApiInfo | undefined;
}

export interface AuthorizeOutput {
  identity: Identity;
  /** Opaque; pass to settle(). Empty when nothing was reserved. */
  reservation: string;
  rateLimit?: RateLimitInfo | undefined;
  allowedModels: string[];
}

/** What the authorizer knows of a model from the configuration. */
export interface ModelInfo {
  requiresApproval: boolean;
  /** Provider id and provider model of each deployment, for the worst-case price. */
  deployments: { provider: string; model: string }[];
}

/** A published prompt API's access rules (from the configuration, or resolved with the call). */
export interface ApiInfo {
  /** Who may call it (any of them); all empty: every caller of the tenant. */
  keys: string[];
  teams: string[];
  roles: Role[];
  requiresApproval: boolean;
}

/**
 * What a budget's subject spent since an instant, as metering stored it (micro-dollars,
 * rounded up, and tokens): where a cold ledger starts. Bounded in time by the implementation.
 */
export type SpendSource = (q: { tenantId: string; scope: "tenant" | "team" | "key"; scopeId: string; sinceMs: number }) => Promise<{ micros: number; tokens: number }>;

/** After a failed spend lookup, the ledger is not asked about again for this long. */
export const SEED_RETRY_MS = 30_000;

export interface AuthorizerDeps {
  identities: IdentityResolver;
  store: AuthzStore;
  limiter: Limiter;
  prices: PriceTable;
  models: Map<string, ModelInfo>;
  /** Published prompt APIs by "<tenant>\u0000<path>" (none when unset). */
  apis?: Map<string, ApiInfo>;
  /**
   * Whether a prompt requires approval, by "<tenant>\u0000<name>" (tenant "*": every tenant's,
   * unless the tenant has its own prompt of that name); none when unset.
   */
  promptApproval?: Map<string, boolean>;
  cacheMs: number;
  defaultMaxOutputTokens: number;
  reservationTtlMs: number;
  /**
   * Where a budget ledger first touched by this process starts its spend (metering); unset:
   * from the counters alone. A user's budget is never seeded (the usage store has no user
   * dimension).
   */
  spend?: SpendSource | undefined;
  log: Logger;
  now?: () => number;
}

const MINUTE = 60_000;
const CALLERS: readonly Role[] = ["admin", "developer"];

/** Whether `model` matches one of the patterns: exact, "*", or a prefix ending in "*". */
export function matchesAny(patterns: readonly string[], model: string): boolean {
  for (const p of patterns) {
    if (p === model || p === "*") return true;
    if (p.endsWith("*") && model.startsWith(p.slice(0, -1))) return true;
  }
  return false;
}

/** Whether the identity's key and team lists allow the model. */
export function modelAllowed(id: Identity, model: string): boolean {
  const team = id.team;
  if (id.modelsAllow.length > 0 && !matchesAny(id.modelsAllow, model)) return false;
  if (team && team.modelsAllow.length > 0 && !matchesAny(team.modelsAllow, model)) return false;
  if (matchesAny(id.modelsDeny, model)) return false;
  if (team && matchesAny(team.modelsDeny, model)) return false;
  return true;
}

/** The scopes a call counts against, narrowest first. */
export function scopesOf(id: Identity): ScopeRef[] {
  const s: ScopeRef[] = [{ scope: "key", scopeId: id.keyId }];
  if (id.userId) s.push({ scope: "user", scopeId: id.userId });
  if (id.teamId) s.push({ scope: "team", scopeId: id.teamId });
  s.push({ scope: "tenant", scopeId: id.tenantId });
  return s;
}

/** What settle() needs, carried by the caller so any replica can settle. */
interface Reservation {
  /** Reservation id (the request id). */
  id: string;
  tenant: string;
  /** Token windows charged with the estimate: [key, windowMs, amount charged]. */
  windows: [string, number, number][];
  /** Ledgers: key, expireAt, kind, soft limit (micro-USD; 0 none), budget id, hard limit. */
  ledgers: [string, number, "usd" | "tokens", number, string, number][];
}

const encode = (r: Reservation) => Buffer.from(JSON.stringify(r)).toString("base64url");
const isInt = (x: unknown): x is number => Number.isSafeInteger(x);
const isWindow = (w: unknown): boolean => Array.isArray(w) && w.length === 3 && typeof w[0] === "string" && isInt(w[1]) && w[1] > 0 && isInt(w[2]);
const isLedger = (l: unknown): boolean =>
  Array.isArray(l) && l.length === 6 && typeof l[0] === "string" && isInt(l[1]) && (l[2] === "usd" || l[2] === "tokens") && isInt(l[3]) && typeof l[4] === "string" && isInt(l[5]);
function decode(s: string): Reservation | undefined {
  try {
    const r = JSON.parse(Buffer.from(s, "base64url").toString("utf8")) as Reservation;
    // Every entry is checked: a malformed one would reach the limiter (a 500, or a stray counter).
    return typeof r.id === "string" && typeof r.tenant === "string" && Array.isArray(r.windows) && r.windows.every(isWindow) && Array.isArray(r.ledgers) && r.ledgers.every(isLedger)
      ? r
      : undefined;
  } catch {
    return undefined;
  }
}

const scopeName = (scope: Scope, id: string) => `${scope} '${id}'`;

/**
 * The hot path of authz: who is calling (identity), may they (role, model lists, approval),
 * and is there room (rate limits, then budgets and quotas, each all-or-nothing across the
 * key, user, team and tenant). Rows from the store are cached for `cacheMs`.
 */
export function createAuthorizer(deps: AuthorizerDeps) {
  const now = deps.now ?? Date.now;
  const limits = createTtlCache<LimitRow[]>(deps.cacheMs);
  const budgets = createTtlCache<BudgetRow[]>(deps.cacheMs);
  const subs = createTtlCache<boolean>(deps.cacheMs);
  const apis = deps.apis ?? new Map<string, ApiInfo>();
  const promptApproval = deps.promptApproval ?? new Map<string, boolean>();

  /** A key given prompt or API lists may call those and nothing else. */
  const restricted = (id: Identity) => id.promptsAllow.length > 0 || id.apisAllow.length > 0;

  /** A published API's rules: the configuration's, else those the call carries (an API published at run time). */
  const apiOf = (id: Identity, input: AuthorizeInput): ApiInfo | undefined => apis.get(`${id.tenantId}\u0000${input.api}`) ?? input.apiRules;

  /** A published API's own rules: the key's API list, then who the API lets call it. */
  function checkApi(id: Identity, input: AuthorizeInput): void {
    const path = input.api;
    const api = apiOf(id, input);
    if (!api) throw new TesseraError("not_found", `There is no prompt API at ${path} for your tenant.`, { code: "api_not_found" });
    if (restricted(id) && !matchesAny(id.apisAllow, path))
      throw new TesseraError("permission_denied", `This API key is not allowed to call the prompt API ${path}.`, { code: "api_not_allowed" });
    const listed = api.keys.length + api.teams.length + api.roles.length > 0;
    if (listed && !api.keys.includes(id.keyId) && !(id.teamId && api.teams.includes(id.teamId)) && !id.roles.some((r) => api.roles.includes(r)))
      throw new TesseraError("permission_denied", `The prompt API ${path} does not let your key call it (its access rules name other keys, teams or roles); ask a tenant admin.`, {
        code: "api_access_denied",
      });
  }

  function checkAccess(id: Identity, input: AuthorizeInput): void {
    if (id.operator)
      throw new TesseraError("permission_denied", "The operator token is for the admin API only; call models with a tenant's API key.", { code: "operator_token" });
    if (input.action === "list_models") return;
    if (!id.roles.some((r) => CALLERS.includes(r)))
      throw new TesseraError("permission_denied", `Your role (${id.roles.join(", ") || "none"}) may not call models; the admin or developer role is needed.`, {
        code: "role_not_allowed",
      });
    if (input.action === "invoke_prompt") {
      // Through a published API its own rules apply; the API's author chose its prompts.
      if (input.api) checkApi(id, input);
      else if (restricted(id) && !matchesAny(id.promptsAllow, input.prompt))
        throw new TesseraError("permission_denied", `This API key is not allowed to invoke prompt '${input.prompt}'.`, { code: "prompt_not_allowed", param: "prompt" });
      // The prompt's author chose its model: the key's own model allow-list governs direct
      // calls, not prompt APIs; deny-lists (the key's and the team's) and the team's allow-list still hold.
      if (input.model && !modelAllowed({ ...id, modelsAllow: [] }, input.model))
        throw new TesseraError("permission_denied", `Prompt '${input.prompt}' uses model '${input.model}', which your team may not use.`, { code: "model_not_allowed", param: "model" });
      return;
    }
    // A key limited to some prompt APIs may call nothing else.
    if (restricted(id)) {
      const may = [
        ...(id.promptsAllow.length > 0 ? [`the prompts ${id.promptsAllow.join(", ")} (POST /v1/prompts/{name}/invoke)`] : []),
        ...(id.apisAllow.length > 0 ? [`the prompt APIs ${id.apisAllow.join(", ")}`] : []),
      ];
      throw new TesseraError("permission_denied", `This API key may only invoke ${may.join(" and ")}.`, { code: "prompt_key_only" });
    }
    if (input.model && !modelAllowed(id, input.model))
      throw new TesseraError("permission_denied", `This API key is not allowed to use model '${input.model}'.`, { code: "model_not_allowed", param: "model" });
  }

  async function checkApproval(id: Identity, input: AuthorizeInput): Promise<void> {
    const needs: ["model" | "prompt", string][] = [];
    if (input.model && deps.models.get(input.model)?.requiresApproval) needs.push(["model", input.model]);
    if (input.action === "invoke_prompt") {
      if ((promptApproval.get(`${id.tenantId}\u0000${input.prompt}`) ?? promptApproval.get(`*\u0000${input.prompt}`)) === true) needs.push(["prompt", input.prompt]);
      // An API's subscription is one of kind prompt whose resource is the API's path.
      if (input.api && apiOf(id, input)?.requiresApproval) needs.push(["prompt", input.api]);
    }
    for (const [kind, resource] of needs) {
      const ok = await subs.get(`${id.tenantId}\u0000${id.teamId}\u0000${kind}\u0000${resource}`, () =>
        deps.store.isSubscribed(id.tenantId, id.teamId, kind, resource),
      );
      if (!ok)
        throw new TesseraError(
          "permission_denied",
          `${kind === "model" ? "Model" : resource.startsWith("/") ? "Prompt API" : "Prompt"} '${resource}' requires an approved subscription for your team. Request one (tessera subscriptions request --tenant ${id.tenantId}${id.teamId ? ` --team ${id.teamId}` : ""} --${kind} ${resource}) and ask a tenant admin to approve it.`,
          { code: "subscription_required" },
        );
    }
  }

  /** The worst-case cost of the call among the model's deployments, in USD. */
  function worstCost(model: string, t: TokenCounts): number {
    let worst = 0;
    for (const d of deps.models.get(model)?.deployments ?? []) worst = Math.max(worst, deps.prices.cost(d.provider, d.model, t));
    return worst;
  }

  async function rateLimit(id: Identity, rows: LimitRow[], tokens: number, t: number): Promise<{ info?: RateLimitInfo; windows: Reservation["windows"] }> {
    const checks: (WindowCheck & { row: LimitRow; kind: "requests" | "tokens" })[] = [];
    for (const row of rows) {
      const base = `rl:${id.tenantId}:${row.scope}:${row.scopeId}`;
      if (row.requestsPerMinute > 0) checks.push({ key: `${base}:req`, limit: row.requestsPerMinute, amount: 1, windowMs: MINUTE, row, kind: "requests" });
      // One call bigger than the whole token limit still passes an empty window.
      if (row.tokensPerMinute > 0)
        checks.push({ key: `${base}:tok`, limit: row.tokensPerMinute, amount: Math.min(tokens, row.tokensPerMinute), windowMs: MINUTE, row, kind: "tokens" });
    }
    if (checks.length === 0) return { windows: [] };
    const res = await deps.limiter.acquire(
      checks.map(({ key, limit, amount, windowMs }) => ({ key, limit, amount, windowMs })),
      t,
    );
    const info = summarise(checks, res.states);
    if (!res.ok) {
      const c = checks[res.index]!;
      const retryAfterS = Math.max(1, Math.ceil(res.retryAfterMs / 1000));
      const what = c.kind === "requests" ? `${c.limit} requests per minute` : `${c.limit} tokens per minute`;
      throw new TesseraError("rate_limited", `Rate limit of ${what} for ${scopeName(c.row.scope, c.row.scopeId)} reached; retry in ${retryAfterS} s.`, {
        code: c.kind === "requests" ? "rate_limit_requests" : "rate_limit_tokens",
        retryAfterS,
        headers: rateLimitHeaders(info),
      });
    }
    return { info, windows: checks.filter((c) => c.kind === "tokens").map((c) => [c.key, c.windowMs, c.amount]) };
  }

  /** Budget periods whose ledgers this process has seeded (true), is seeding, or retries after (ms). */
  const seeded = new Map<string, true | number | Promise<void>>();

  /**
   * Start the ledgers of a budget period from metering's stored spend the first time this
   * process touches them; the limiter keeps whatever spend a ledger already has (settled here or
   * by another replica). Concurrent first calls share one lookup; a failed or slow one is logged
   * and the call goes on from the counters (retried after SEED_RETRY_MS), never failed.
   */
  async function seed(b: BudgetRow, period: { startMs: number }, keys: { usd: string; tokens: string }, expireAtMs: number, t: number): Promise<void> {
    const spend = deps.spend;
    if (!spend || b.scope === "user") return;
    const state = seeded.get(keys.usd);
    if (state === true) return;
    if (typeof state === "number" && state > t) return;
    if (state instanceof Promise) return state;
    const job = (async () => {
      try {
        const r = await spend({ tenantId: b.tenantId, scope: b.scope as "tenant" | "team" | "key", scopeId: b.scopeId, sinceMs: period.startMs });
        if (b.limitUsd > 0 || b.softLimitUsd > 0) await deps.limiter.seed(keys.usd, r.micros, expireAtMs, t);
        if (b.tokenQuota > 0) await deps.limiter.seed(keys.tokens, r.tokens, expireAtMs, t);
        seeded.set(keys.usd, true);
      } catch (err) {
        seeded.set(keys.usd, t + SEED_RETRY_MS);
        deps.log.warn({ tenantId: b.tenantId, budgetId: b.id, err: (err as Error).message }, "could not start a budget ledger from metering's spend; counting from authz's counters alone");
      }
    })();
    seeded.set(keys.usd, job);
    return job;
  }

  async function reserve(id: Identity, input: AuthorizeInput, rows: BudgetRow[], tokens: number, costUsd: number, t: number): Promise<Reservation["ledgers"]> {
    const checks: (LedgerCheck & { b: BudgetRow; kind: "usd" | "tokens"; end: number })[] = [];
    for (const b of rows) {
      const p = currentPeriod(b, t);
      if (!p) continue;
      const keys = ledgerKeys(b, p.startMs);
      const expireAtMs = p.endMs + LEDGER_GRACE_MS;
      await seed(b, p, keys, expireAtMs, t);
      if (b.limitUsd > 0) checks.push({ key: keys.usd, limit: toMicros(b.limitUsd), amount: toMicros(costUsd), expireAtMs, b, kind: "usd", end: p.endMs });
      if (b.tokenQuota > 0) checks.push({ key: keys.tokens, limit: b.tokenQuota, amount: tokens, expireAtMs, b, kind: "tokens", end: p.endMs });
    }
    // Soft limits alone reserve nothing but are still settled (for the alert).
    const softOnly = rows.filter((b) => b.limitUsd === 0 && b.softLimitUsd > 0);
    const ledgers: Reservation["ledgers"] = checks.map((c) => [c.key, c.expireAtMs, c.kind, c.kind === "usd" ? toMicros(c.b.softLimitUsd) : 0, c.b.id, c.limit]);
    for (const b of softOnly) {
      const p = currentPeriod(b, t);
      if (p) ledgers.push([ledgerKeys(b, p.startMs).usd, p.endMs + LEDGER_GRACE_MS, "usd", toMicros(b.softLimitUsd), b.id, 0]);
    }
    if (checks.length === 0) return ledgers;
    const res = await deps.limiter.reserve(
      input.requestId,
      checks.map(({ key, limit, amount, expireAtMs }) => ({ key, limit, amount, expireAtMs })),
      deps.reservationTtlMs,
      t,
    );
    if (!res.ok) {
      const c = checks[res.index]!;
      const resets = new Date(c.end).toISOString();
      const who = scopeName(c.b.scope, c.b.scopeId);
      if (c.kind === "usd")
        throw new TesseraError(
          "payment_required",
          `The ${c.b.period} budget of ${who} ($${c.b.limitUsd.toFixed(2)}) cannot cover this call: $${fromMicros(res.spent).toFixed(4)} spent and $${fromMicros(res.reserved).toFixed(4)} reserved; this call may cost up to $${costUsd.toFixed(4)}. It resets at ${resets}; ask a tenant admin to raise it.`,
          { code: "budget_exceeded" },
        );
      throw new TesseraError(
        "payment_required",
        `The ${c.b.period} token quota of ${who} (${c.b.tokenQuota} tokens) cannot cover this call: ${res.spent} used and ${res.reserved} reserved; this call may use up to ${tokens}. It resets at ${resets}.`,
        { code: "token_quota_exceeded" },
      );
    }
    return ledgers;
  }

  return {
    async authorize(input: AuthorizeInput): Promise<AuthorizeOutput> {
      const id = await deps.identities.resolve(input.credential, input.sourceIp);
      checkAccess(id, input);
      if (input.action === "list_models") {
        return { identity: id, reservation: "", allowedModels: input.candidateModels.filter((m) => modelAllowed(id, m)) };
      }
      await checkApproval(id, input);
      const t = now();
      const scopes = scopesOf(id);
      const scopeKey = `${id.tenantId}\u0000${scopes.map((s) => `${s.scope}:${s.scopeId}`).join("|")}`;
      const [limitRows, budgetRows] = await Promise.all([
        limits.get(scopeKey, () => deps.store.limitsFor(id.tenantId, scopes)),
        budgets.get(scopeKey, () => deps.store.budgetsFor(id.tenantId, scopes)),
      ]);
      const maxOut = input.maxOutputTokens || deps.defaultMaxOutputTokens;
      const tokens = input.estimatedInputTokens + maxOut;
      const rl = await rateLimit(id, limitRows, tokens, t);
      let ledgers: Reservation["ledgers"] = [];
      if (budgetRows.length > 0) {
        const cost = worstCost(input.model, { promptTokens: input.estimatedInputTokens, completionTokens: maxOut, cachedTokens: 0, reasoningTokens: 0 });
        try {
          ledgers = await reserve(id, input, budgetRows, tokens, cost, t);
        } catch (err) {
          // Give the request back to the rate limits: the call is not made.
          if (limitRows.length > 0) await releaseWindows(id, limitRows, tokens, t);
          throw err;
        }
      }
      const reservation =
        rl.windows.length > 0 || ledgers.length > 0 ? encode({ id: input.requestId, tenant: id.tenantId, windows: rl.windows, ledgers }) : "";
      return { identity: id, reservation, rateLimit: rl.info, allowedModels: [] };
    },

    /**
     * Settle a reservation with what the call used: token windows corrected by the difference
     * from the estimate, budgets charged the actual cost, reservations released. Crossing a
     * soft limit raises an alert (a log line and an audit entry).
     */
    async settle(reservation: string, usage: TokenCounts | undefined, provider: string, providerModel: string): Promise<void> {
      if (!reservation) return;
      const r = decode(reservation);
      if (!r) throw new TesseraError("invalid_request", "The reservation to settle is not one authz issued.", { code: "invalid_reservation" });
      const t = now();
      const used = usage ? usage.promptTokens + usage.completionTokens : 0;
      const costMicros = usage ? toMicros(deps.prices.cost(provider, providerModel, usage)) : 0;
      const amounts = r.ledgers.map(([key, expireAtMs, kind]) => ({ key, amount: kind === "usd" ? costMicros : used, expireAtMs }));
      // Settling marks the id settled (with or without ledgers): a second settle does nothing.
      const { applied, states } = await deps.limiter.settle(r.id, amounts, t);
      if (!applied) return;
      const corrections = r.windows.filter(([, , charged]) => charged !== used).map(([key, windowMs, charged]) => ({ key, amount: used - charged, windowMs }));
      if (corrections.length > 0) await deps.limiter.adjust(corrections, t);
      for (let i = 0; i < r.ledgers.length; i++) {
        const [, , kind, soft, budgetId, hard] = r.ledgers[i]!;
        const spent = states[i]?.spent ?? 0;
        const before = spent - amounts[i]!.amount;
        if (kind === "usd" && soft > 0 && before < soft && spent >= soft) await alert(r.tenant, budgetId, "budget.soft_limit_crossed", spent, soft);
        if (kind === "usd" && hard > 0 && before < hard && spent >= hard) await alert(r.tenant, budgetId, "budget.exhausted", spent, hard);
      }
    },

    /** Forget cached rows (a local admin change). */
    invalidate(): void {
      limits.clear();
      budgets.clear();
      subs.clear();
      deps.identities.invalidate();
    },
  };

  async function alert(tenantId: string, budgetId: string, action: string, spentMicros: number, limitMicros: number): Promise<void> {
    const details = { spentUsd: fromMicros(spentMicros), limitUsd: fromMicros(limitMicros) };
    deps.log.warn({ tenantId, budgetId, ...details, alert: action }, `budget ${budgetId} of tenant ${tenantId}: ${action === "budget.exhausted" ? "hard limit reached" : "soft limit crossed"}`);
    await deps.store.appendAudit({ actor: "system", tenantId, action, target: `budget:${budgetId}`, details }).catch((err: unknown) => {
      deps.log.error({ err: (err as Error).message }, "could not record a budget alert");
    });
  }

  /** Undo the request count of a call refused by its budget. */
  async function releaseWindows(id: Identity, rows: LimitRow[], tokens: number, t: number): Promise<void> {
    const items: { key: string; amount: number; windowMs: number }[] = [];
    for (const row of rows) {
      const base = `rl:${id.tenantId}:${row.scope}:${row.scopeId}`;
      if (row.requestsPerMinute > 0) items.push({ key: `${base}:req`, amount: -1, windowMs: MINUTE });
      if (row.tokensPerMinute > 0) items.push({ key: `${base}:tok`, amount: -Math.min(tokens, row.tokensPerMinute), windowMs: MINUTE });
    }
    if (items.length) await deps.limiter.adjust(items, t).catch(() => undefined);
  }
}

/** The tightest request and token windows, for the x-ratelimit-* headers. */
function summarise(checks: { kind: "requests" | "tokens" }[], states: WindowState[]): RateLimitInfo {
  const info: RateLimitInfo = { limitRequests: 0, remainingRequests: 0, resetRequestsMs: 0, limitTokens: 0, remainingTokens: 0, resetTokensMs: 0 };
  let req: WindowState | undefined;
  let tok: WindowState | undefined;
  checks.forEach((c, i) => {
    const s = states[i];
    if (!s) return;
    if (c.kind === "requests" && (!req || s.remaining < req.remaining)) req = s;
    if (c.kind === "tokens" && (!tok || s.remaining < tok.remaining)) tok = s;
  });
  if (req) Object.assign(info, { limitRequests: req.limit, remainingRequests: req.remaining, resetRequestsMs: req.resetMs });
  if (tok) Object.assign(info, { limitTokens: tok.limit, remainingTokens: tok.remaining, resetTokensMs: tok.resetMs });
  return info;
}

export type Authorizer = ReturnType<typeof createAuthorizer>;
export { actorOf };
