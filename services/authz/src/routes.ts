import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { bind, SOURCE_IP_HEADER, TesseraError, type ServiceBinding } from "@tessera/runtime";
import { Action, AuthorizeResponseSchema, AuthzService, SettleResponseSchema } from "@tessera/gen/tessera/authz/v1/authz_pb";
import {
  AdminService,
  ApiKeySchema,
  AuditEntrySchema,
  BudgetSchema,
  LimitSchema,
  SubscriptionSchema,
  TeamSchema,
  TenantSchema,
  UserSchema,
  type Budget,
} from "@tessera/gen/tessera/authz/v1/admin_pb";
import type { Admin } from "./domain/admin.js";
import type { Authorizer, CallAction } from "./domain/authorizer.js";
import { ROLES, type Role } from "./domain/identity.js";
import type { AuditRow, BudgetRow, KeyRow, LimitRow, Scope, SubscriptionRow, TeamRow, TenantRow, UserRow } from "./domain/store.js";

/** Dependencies of the authz routes. */
export interface AuthzDeps {
  authorizer: Authorizer;
  admin: Admin;
}

const ACTIONS: Record<Action, CallAction> = {
  [Action.UNSPECIFIED]: "chat",
  [Action.CHAT]: "chat",
  [Action.EMBED]: "embed",
  [Action.LIST_MODELS]: "list_models",
  [Action.INVOKE_PROMPT]: "invoke_prompt",
};


/** Bind AuthzService to the authorizer. */
export function authzService(deps: AuthzDeps): ServiceBinding<typeof AuthzService> {
  return bind(AuthzService, {
    async authorize(req) {
      const out = await deps.authorizer.authorize({
        credential: req.credential,
        model: req.model,
        requestId: req.requestId,
        action: ACTIONS[req.action] ?? "chat",
        estimatedInputTokens: req.estimatedInputTokens,
        maxOutputTokens: req.maxOutputTokens,
        sourceIp: req.sourceIp,
        prompt: req.prompt,
        candidateModels: req.candidateModels,
        api: req.api,
        apiRules: req.apiRules && { ...req.apiRules, roles: req.apiRules.roles.filter((r): r is Role => (ROLES as readonly string[]).includes(r)) },
      });
      const id = out.identity;
      return create(AuthorizeResponseSchema, {
        principal: { tenantId: id.tenantId, keyId: id.keyId, teamId: id.teamId, userId: id.userId, roles: id.roles, redactionPolicy: id.redactionPolicy },
        reservationId: out.reservation,
        ...(out.rateLimit ? { rateLimit: { ...out.rateLimit, limitTokens: BigInt(out.rateLimit.limitTokens), remainingTokens: BigInt(out.rateLimit.remainingTokens) } } : {}),
        allowedModels: out.allowedModels,
      });
    },
    async settle(req) {
      const u = req.usage;
      await deps.authorizer.settle(
        req.reservationId,
        u && { promptTokens: u.promptTokens, completionTokens: u.completionTokens, cachedTokens: u.cachedTokens, reasoningTokens: u.reasoningTokens },
        req.provider,
        req.providerModel,
      );
      return create(SettleResponseSchema);
    },
  });
}

const ms = (d: Date | null | undefined) => BigInt(d ? d.getTime() : 0);
const date = (v: bigint) => (v > 0n ? new Date(Number(v)) : null);

const tenantMsg = (t: TenantRow) => create(TenantSchema, { id: t.id, name: t.name, createdAtMs: ms(t.createdAt) });
const teamMsg = (t: TeamRow) => create(TeamSchema, { ...t, createdAtMs: ms(t.createdAt) });
const userMsg = (u: UserRow) => create(UserSchema, { ...u, createdAtMs: ms(u.createdAt) });
const keyMsg = (k: KeyRow) =>
  create(ApiKeySchema, {
    id: k.id,
    tenantId: k.tenantId,
    teamId: k.teamId,
    userId: k.userId,
    name: k.name,
    prefix: k.prefix,
    roles: k.roles,
    modelsAllow: k.modelsAllow,
    modelsDeny: k.modelsDeny,
    promptsAllow: k.promptsAllow,
    apisAllow: k.apisAllow,
    redactionPolicy: k.redactionPolicy,
    createdAtMs: ms(k.createdAt),
    expiresAtMs: ms(k.expiresAt),
    revokedAtMs: ms(k.revokedAt),
    rotatedFrom: k.rotatedFrom,
  });
const limitMsg = (l: LimitRow) => create(LimitSchema, { ...l, tokensPerMinute: BigInt(l.tokensPerMinute) });
const budgetMsg = (b: BudgetRow & { spentUsd: number; reservedUsd: number; tokensUsed: number; periodStartMs: number; periodEndMs: number }) =>
  create(BudgetSchema, {
    tenantId: b.tenantId,
    id: b.id,
    scope: b.scope,
    scopeId: b.scopeId,
    period: b.period,
    startsAtMs: ms(b.startsAt),
    endsAtMs: ms(b.endsAt),
    limitUsd: b.limitUsd,
    softLimitUsd: b.softLimitUsd,
    tokenQuota: BigInt(b.tokenQuota),
    spentUsd: b.spentUsd,
    reservedUsd: b.reservedUsd,
    tokensUsed: BigInt(b.tokensUsed),
    periodStartMs: BigInt(b.periodStartMs),
    periodEndMs: BigInt(b.periodEndMs),
  });
const subMsg = (s: SubscriptionRow) => create(SubscriptionSchema, { ...s, createdAtMs: ms(s.createdAt), decidedAtMs: ms(s.decidedAt) });
const auditMsg = (a: AuditRow) => create(AuditEntrySchema, { id: a.id, atMs: ms(a.at), actor: a.actor, tenantId: a.tenantId, action: a.action, target: a.target, detailsJson: JSON.stringify(a.details) });

function budgetRow(b: Budget | undefined): BudgetRow {
  if (!b) throw new TesseraError("invalid_request", "budget is required.", { code: "invalid_field", param: "budget" });
  return {
    tenantId: b.tenantId,
    id: b.id,
    scope: b.scope as Scope,
    scopeId: b.scopeId,
    period: b.period as BudgetRow["period"],
    startsAt: date(b.startsAtMs),
    endsAt: date(b.endsAtMs),
    limitUsd: b.limitUsd,
    softLimitUsd: b.softLimitUsd,
    tokenQuota: Number(b.tokenQuota),
  };
}

/** The caller's bearer credential from the call's headers. */
function credential(ctx: HandlerContext): string {
  const a = ctx.requestHeader.get("authorization") ?? "";
  const m = /^Bearer\s+(.+)$/i.exec(a.trim());
  return m ? m[1]!.trim() : (ctx.requestHeader.get("x-api-key") ?? "").trim();
}

/** Bind AdminService: every call first resolves the caller from its authorization header. */
export function adminService(deps: AuthzDeps): ServiceBinding<typeof AdminService> {
  const a = deps.admin;
  const who = (ctx: HandlerContext) => a.caller(credential(ctx), ctx.requestHeader.get(SOURCE_IP_HEADER) ?? "");
  return bind(AdminService, {
    async whoAmI(_req, ctx) {
      const id = await who(ctx);
      return { operator: id.operator, tenantId: id.tenantId, teamId: id.teamId, userId: id.userId, keyId: id.keyId, roles: id.roles };
    },
    async createTenant(req, ctx) {
      return { tenant: tenantMsg(await a.createTenant(await who(ctx), req)) };
    },
    async listTenants(_req, ctx) {
      return { tenants: (await a.listTenants(await who(ctx))).map(tenantMsg) };
    },
    async createTeam(req, ctx) {
      return { team: teamMsg(await a.createTeam(await who(ctx), req)) };
    },
    async updateTeam(req, ctx) {
      return { team: teamMsg(await a.updateTeam(await who(ctx), req)) };
    },
    async listTeams(req, ctx) {
      return { teams: (await a.listTeams(await who(ctx), req.tenantId)).map(teamMsg) };
    },
    async createUser(req, ctx) {
      return { user: userMsg(await a.createUser(await who(ctx), req)) };
    },
    async listUsers(req, ctx) {
      return { users: (await a.listUsers(await who(ctx), req.tenantId)).map(userMsg) };
    },
    async createKey(req, ctx) {
      const r = await a.createKey(await who(ctx), { ...req, ttlSeconds: Number(req.ttlSeconds) });
      return { key: keyMsg(r.key), secret: r.secret };
    },
    async updateKey(req, ctx) {
      return { key: keyMsg(await a.updateKey(await who(ctx), { ...req, keyId: req.id })) };
    },
    async listKeys(req, ctx) {
      return { keys: (await a.listKeys(await who(ctx), req.tenantId)).map(keyMsg) };
    },
    async rotateKey(req, ctx) {
      const r = await a.rotateKey(await who(ctx), req.tenantId, req.id, Number(req.overlapSeconds));
      return { key: keyMsg(r.key), secret: r.secret, previous: keyMsg(r.previous) };
    },
    async revokeKey(req, ctx) {
      return { key: keyMsg(await a.revokeKey(await who(ctx), req.tenantId, req.id)) };
    },
    async setLimit(req, ctx) {
      const l = req.limit;
      if (!l) throw new TesseraError("invalid_request", "limit is required.", { code: "invalid_field", param: "limit" });
      const row = await a.setLimit(await who(ctx), { tenantId: l.tenantId, scope: l.scope as Scope, scopeId: l.scopeId, requestsPerMinute: l.requestsPerMinute, tokensPerMinute: Number(l.tokensPerMinute) });
      return { limit: limitMsg(row) };
    },
    async listLimits(req, ctx) {
      return { limits: (await a.listLimits(await who(ctx), req.tenantId)).map(limitMsg) };
    },
    async deleteLimit(req, ctx) {
      await a.deleteLimit(await who(ctx), req.tenantId, req.scope as Scope, req.scopeId);
      return {};
    },
    async setBudget(req, ctx) {
      return { budget: budgetMsg(await a.setBudget(await who(ctx), budgetRow(req.budget))) };
    },
    async listBudgets(req, ctx) {
      return { budgets: (await a.listBudgets(await who(ctx), req.tenantId)).map(budgetMsg) };
    },
    async deleteBudget(req, ctx) {
      await a.deleteBudget(await who(ctx), req.tenantId, req.id);
      return {};
    },
    async requestSubscription(req, ctx) {
      return { subscription: subMsg(await a.requestSubscription(await who(ctx), req)) };
    },
    async decideSubscription(req, ctx) {
      return { subscription: subMsg(await a.decideSubscription(await who(ctx), req.tenantId, req.id, req.status, req.note)) };
    },
    async listSubscriptions(req, ctx) {
      return { subscriptions: (await a.listSubscriptions(await who(ctx), req.tenantId)).map(subMsg) };
    },
    async listAudit(req, ctx) {
      return { entries: (await a.listAudit(await who(ctx), { tenantId: req.tenantId, limit: req.limit, beforeId: req.beforeId })).map(auditMsg) };
    },
  });
}
