import type { DescMessage, Message } from "@bufbuild/protobuf";
import type { CallOptions, Client } from "@connectrpc/connect";
import {
  AdminService,
  ApiKeySchema,
  AuditEntrySchema,
  BudgetSchema,
  CreateKeyResponseSchema,
  CreateTeamResponseSchema,
  CreateTenantResponseSchema,
  CreateUserResponseSchema,
  DecideSubscriptionResponseSchema,
  DeleteBudgetResponseSchema,
  DeleteLimitResponseSchema,
  LimitSchema,
  ListAuditResponseSchema,
  ListBudgetsResponseSchema,
  ListKeysResponseSchema,
  ListLimitsResponseSchema,
  ListSubscriptionsResponseSchema,
  ListTeamsResponseSchema,
  ListTenantsResponseSchema,
  ListUsersResponseSchema,
  RequestSubscriptionResponseSchema,
  RevokeKeyResponseSchema,
  RotateKeyResponseSchema,
  SetBudgetResponseSchema,
  SetLimitResponseSchema,
  SubscriptionSchema,
  TeamSchema,
  TenantSchema,
  UpdateKeyResponseSchema,
  UpdateTeamResponseSchema,
  UserSchema,
  WhoAmIResponseSchema,
  type ApiKey,
} from "@tessera/gen/tessera/authz/v1/admin_pb";
import type { PromptAdminService } from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import { duration, isoTime, list, oneOf, uint32, uint64, usd, UsageError } from "./args.js";
import { record, table, time, type Column } from "./output.js";
import { PROMPTS } from "./prompts.js";
import { MeteringService } from "@tessera/gen/tessera/metering/v1/metering_pb";
import { USAGE } from "./usage-commands.js";
import { APIS } from "./apis.js";

/** One option a command takes: always a value, shown as `--name META`. */
export interface OptionSpec {
  meta: string;
  help: string;
}

/** What a command's `run` gets: the clients and its checked arguments. */
export interface CommandContext {
  admin: Client<typeof AdminService>;
  /** prompt-registry's admin API (same address, same token). */
  prompts: Client<typeof PromptAdminService>;
  /** The usage API. */
  metering: Client<typeof MeteringService>;
  /** Headers (the token) and timeout for every call. */
  call: CallOptions;
  /** An option's value, if given. */
  opt(name: string): string | undefined;
  /** A required option's value (checked before `run`). */
  need(name: string): string;
  /** A positional argument by name (checked before `run`). */
  arg(name: string): string;
}

/** A command's answer: the raw message for --json, readable lines otherwise. */
export interface CommandOutput {
  schema: DescMessage;
  message: Message;
  lines: string[];
  /** Printed on stderr in every mode. */
  warnings?: string[];
}

/** One CLI command, e.g. `keys create`. */
export interface Command {
  /** One or two words: "whoami", "keys create". */
  name: string;
  summary: string;
  /** Positional arguments, all required, in order. */
  args?: string[];
  options?: Record<string, OptionSpec>;
  /** Options that must be given. */
  required?: string[];
  run(ctx: CommandContext): Promise<CommandOutput>;
}

/** The warning printed with every newly shown secret. */
export const SECRET_WARNING = "store it now: it cannot be shown again";

const SCOPES = ["tenant", "team", "user", "key"] as const;
const PERIODS = ["day", "month", "custom"] as const;

const TENANT: Record<string, OptionSpec> = { tenant: { meta: "T", help: "the tenant" } };
const SCOPE: Record<string, OptionSpec> = {
  scope: { meta: "S", help: `what it applies to: ${SCOPES.join(", ")}` },
  id: { meta: "ID", help: "the team, user or key id (default with --scope tenant: the tenant)" },
};

export function output(schema: DescMessage, message: Message, lines: string[], warnings?: string[]): CommandOutput {
  return warnings ? { schema, message, lines, warnings } : { schema, message, lines };
}

/** --scope and --id: the scope and its id (a tenant's own scope id is the tenant). */
function scopeOf(ctx: CommandContext): { scope: string; scopeId: string } {
  const scope = oneOf(ctx.need("scope"), "scope", SCOPES);
  const scopeId = ctx.opt("id") ?? (scope === "tenant" ? ctx.need("tenant") : undefined);
  if (!scopeId) throw new UsageError(`--id is required with --scope ${scope}`);
  return { scope, scopeId };
}

/** A key's state at a glance. */
function keyStatus(k: ApiKey): string {
  if (k.revokedAtMs > 0n) return "revoked";
  if (k.expiresAtMs > 0n && k.expiresAtMs <= BigInt(Date.now())) return "expired";
  return "active";
}

const KEY_STATUS: Column<ApiKey> = { title: "STATUS", value: keyStatus };

/** A key and its secret, shown once. */
function secretLines(key: ApiKey | undefined, secret: string): string[] {
  return [...record(ApiKeySchema, key), "", `secret: ${secret}`];
}

const WHOAMI: Command = {
  name: "whoami",
  summary: "Show who the token belongs to (principal and roles).",
  async run({ admin, call }) {
    const r = await admin.whoAmI({}, call);
    return output(WhoAmIResponseSchema, r, record(WhoAmIResponseSchema, r));
  },
};

const TENANTS: Command[] = [
  {
    name: "tenants create",
    summary: "Create a tenant (operator only).",
    args: ["id"],
    options: { name: { meta: "NAME", help: "display name" } },
    async run(ctx) {
      const r = await ctx.admin.createTenant({ id: ctx.arg("id"), name: ctx.opt("name") ?? "" }, ctx.call);
      return output(CreateTenantResponseSchema, r, record(TenantSchema, r.tenant));
    },
  },
  {
    name: "tenants list",
    summary: "List the tenants the token may see.",
    async run(ctx) {
      const r = await ctx.admin.listTenants({}, ctx.call);
      return output(ListTenantsResponseSchema, r, table(TenantSchema, r.tenants, ["id", "name", "created_at_ms"]));
    },
  },
];

const TEAM_OPTIONS: Record<string, OptionSpec> = {
  ...TENANT,
  name: { meta: "NAME", help: "display name" },
  allow: { meta: "M1,M2", help: "models the team may use (default: all; a trailing * matches a prefix)" },
  deny: { meta: "M1,M2", help: "models the team may never use" },
};

/** The team fields of `teams create` and `teams update`. */
function teamFields(ctx: CommandContext) {
  return { tenantId: ctx.need("tenant"), id: ctx.arg("id"), name: ctx.opt("name") ?? "", modelsAllow: list(ctx.opt("allow")), modelsDeny: list(ctx.opt("deny")) };
}

const TEAMS: Command[] = [
  {
    name: "teams create",
    summary: "Create a team.",
    args: ["id"],
    options: TEAM_OPTIONS,
    required: ["tenant"],
    async run(ctx) {
      const r = await ctx.admin.createTeam(teamFields(ctx), ctx.call);
      return output(CreateTeamResponseSchema, r, record(TeamSchema, r.team));
    },
  },
  {
    name: "teams update",
    summary: "Change a team's name and model lists (as given).",
    args: ["id"],
    options: TEAM_OPTIONS,
    required: ["tenant"],
    async run(ctx) {
      const r = await ctx.admin.updateTeam(teamFields(ctx), ctx.call);
      return output(UpdateTeamResponseSchema, r, record(TeamSchema, r.team));
    },
  },
  {
    name: "teams list",
    summary: "List a tenant's teams.",
    options: TENANT,
    required: ["tenant"],
    async run(ctx) {
      const r = await ctx.admin.listTeams({ tenantId: ctx.need("tenant") }, ctx.call);
      return output(ListTeamsResponseSchema, r, table(TeamSchema, r.teams, ["id", "name", "models_allow", "models_deny", "created_at_ms"]));
    },
  },
];

const USERS: Command[] = [
  {
    name: "users create",
    summary: "Create a user.",
    args: ["id"],
    options: {
      ...TENANT,
      email: { meta: "EMAIL", help: "the user's email" },
      team: { meta: "TEAM", help: "the user's team" },
      roles: { meta: "R1,R2", help: "admin, developer or viewer" },
    },
    required: ["tenant", "email"],
    async run(ctx) {
      const r = await ctx.admin.createUser(
        { tenantId: ctx.need("tenant"), id: ctx.arg("id"), email: ctx.need("email"), teamId: ctx.opt("team") ?? "", roles: list(ctx.opt("roles")) },
        ctx.call,
      );
      return output(CreateUserResponseSchema, r, record(UserSchema, r.user));
    },
  },
  {
    name: "users list",
    summary: "List a tenant's users.",
    options: TENANT,
    required: ["tenant"],
    async run(ctx) {
      const r = await ctx.admin.listUsers({ tenantId: ctx.need("tenant") }, ctx.call);
      return output(ListUsersResponseSchema, r, table(UserSchema, r.users, ["id", "email", "team_id", "roles", "created_at_ms"]));
    },
  },
];

/** The options that set what a key may do, in `keys create` and `keys update`. */
const KEY_GRANTS: Record<string, OptionSpec> = {
  roles: { meta: "R1,R2", help: "admin, developer or viewer (default: developer)" },
  models: { meta: "M1,M2", help: "models the key may use (default: all its team may)" },
  "deny-models": { meta: "M1,M2", help: "models the key may never use" },
  prompts: { meta: "P1,P2", help: "prompts the key may invoke (POST /v1/prompts/{name}/invoke)" },
  apis: { meta: "PATH1,PATH2", help: "published prompt APIs the key may call, e.g. /apis/support/* (then nothing else)" },
  redaction: { meta: "POLICY", help: "redaction policy" },
};

/** A key's grants from the KEY_GRANTS options (empty when not given). */
const grantsOf = (ctx: CommandContext) => ({
  roles: list(ctx.opt("roles")),
  modelsAllow: list(ctx.opt("models")),
  modelsDeny: list(ctx.opt("deny-models")),
  promptsAllow: list(ctx.opt("prompts")),
  apisAllow: list(ctx.opt("apis")),
  redactionPolicy: ctx.opt("redaction") ?? "",
});

/** `keys update` options and the UpdateKey field each one changes. */
const KEY_UPDATE: Record<string, string> = {
  name: "name",
  roles: "roles",
  models: "models_allow",
  "deny-models": "models_deny",
  prompts: "prompts_allow",
  apis: "apis_allow",
  redaction: "redaction_policy",
};

const KEYS: Command[] = [
  {
    name: "keys create",
    summary: "Create an API key; its secret is printed once.",
    options: {
      ...TENANT,
      team: { meta: "TEAM", help: "the team the key belongs to" },
      user: { meta: "USER", help: "the user the key belongs to" },
      name: { meta: "NAME", help: "a name to recognise it by" },
      ...KEY_GRANTS,
      ttl: { meta: "DURATION", help: "lifetime: 3600, 12h, 30d … (default: never expires)" },
    },
    required: ["tenant"],
    async run(ctx) {
      const ttl = ctx.opt("ttl");
      const r = await ctx.admin.createKey(
        {
          tenantId: ctx.need("tenant"),
          teamId: ctx.opt("team") ?? "",
          userId: ctx.opt("user") ?? "",
          name: ctx.opt("name") ?? "",
          ...grantsOf(ctx),
          ttlSeconds: ttl === undefined ? 0n : duration(ttl, "ttl"),
        },
        ctx.call,
      );
      return output(CreateKeyResponseSchema, r, secretLines(r.key, r.secret), [SECRET_WARNING]);
    },
  },
  {
    name: "keys list",
    summary: "List a tenant's keys (never their secrets).",
    options: TENANT,
    required: ["tenant"],
    async run(ctx) {
      const r = await ctx.admin.listKeys({ tenantId: ctx.need("tenant") }, ctx.call);
      const cols = ["id", "name", "prefix", "team_id", "user_id", "roles", "expires_at_ms", KEY_STATUS];
      return output(ListKeysResponseSchema, r, table(ApiKeySchema, r.keys, cols));
    },
  },
  {
    name: "keys update",
    summary: "Change a key's name, roles, lists or redaction policy (only the options given; '' clears a list).",
    args: ["id"],
    options: {
      ...TENANT,
      name: { meta: "NAME", help: "a new name" },
      ...KEY_GRANTS,
    },
    required: ["tenant"],
    async run(ctx) {
      const given = Object.entries(KEY_UPDATE).filter(([option]) => ctx.opt(option) !== undefined);
      if (given.length === 0) throw new UsageError(`give at least one of ${Object.keys(KEY_UPDATE).map((o) => `--${o}`).join(", ")}`);
      const r = await ctx.admin.updateKey(
        {
          tenantId: ctx.need("tenant"),
          id: ctx.arg("id"),
          fields: given.map(([, field]) => field),
          name: ctx.opt("name") ?? "",
          ...grantsOf(ctx),
        },
        ctx.call,
      );
      return output(UpdateKeyResponseSchema, r, record(ApiKeySchema, r.key));
    },
  },
  {
    name: "keys rotate",
    summary: "Replace a key with a new one with the same grants; the old one works for the overlap.",
    args: ["id"],
    options: { ...TENANT, overlap: { meta: "DURATION", help: "how long the old key keeps working (default 1h)" } },
    required: ["tenant"],
    async run(ctx) {
      const overlap = ctx.opt("overlap");
      const r = await ctx.admin.rotateKey({ tenantId: ctx.need("tenant"), id: ctx.arg("id"), overlapSeconds: overlap === undefined ? 0n : duration(overlap, "overlap") }, ctx.call);
      const until = r.previous ? [`previous key ${r.previous.id} works until ${time(r.previous.expiresAtMs)}`] : [];
      return output(RotateKeyResponseSchema, r, [...secretLines(r.key, r.secret), ...until], [SECRET_WARNING]);
    },
  },
  {
    name: "keys revoke",
    summary: "Revoke a key: refused everywhere within a second.",
    args: ["id"],
    options: TENANT,
    required: ["tenant"],
    async run(ctx) {
      const r = await ctx.admin.revokeKey({ tenantId: ctx.need("tenant"), id: ctx.arg("id") }, ctx.call);
      return output(RevokeKeyResponseSchema, r, record(ApiKeySchema, r.key));
    },
  },
];

const LIMITS: Command[] = [
  {
    name: "limits set",
    summary: "Set a rate limit (requests and/or tokens per minute).",
    options: { ...TENANT, ...SCOPE, rpm: { meta: "N", help: "requests per minute" }, tpm: { meta: "N", help: "tokens per minute" } },
    required: ["tenant", "scope"],
    async run(ctx) {
      const rpm = ctx.opt("rpm");
      const tpm = ctx.opt("tpm");
      if (rpm === undefined && tpm === undefined) throw new UsageError("give --rpm, --tpm or both");
      const limit = {
        tenantId: ctx.need("tenant"),
        ...scopeOf(ctx),
        requestsPerMinute: rpm === undefined ? 0 : uint32(rpm, "rpm"),
        tokensPerMinute: tpm === undefined ? 0n : uint64(tpm, "tpm"),
      };
      const r = await ctx.admin.setLimit({ limit }, ctx.call);
      return output(SetLimitResponseSchema, r, record(LimitSchema, r.limit));
    },
  },
  {
    name: "limits list",
    summary: "List a tenant's rate limits.",
    options: TENANT,
    required: ["tenant"],
    async run(ctx) {
      const r = await ctx.admin.listLimits({ tenantId: ctx.need("tenant") }, ctx.call);
      return output(ListLimitsResponseSchema, r, table(LimitSchema, r.limits, ["scope", "scope_id", "requests_per_minute", "tokens_per_minute"]));
    },
  },
  {
    name: "limits delete",
    summary: "Remove a rate limit.",
    options: { ...TENANT, ...SCOPE },
    required: ["tenant", "scope"],
    async run(ctx) {
      const { scope, scopeId } = scopeOf(ctx);
      const r = await ctx.admin.deleteLimit({ tenantId: ctx.need("tenant"), scope, scopeId }, ctx.call);
      return output(DeleteLimitResponseSchema, r, [`deleted the ${scope} limit of ${scopeId}`]);
    },
  },
];

/** --period, --from and --to: the budget's period and, for a custom one, its bounds. */
function periodOf(ctx: CommandContext): { period: string; startsAtMs: bigint; endsAtMs: bigint } {
  const period = oneOf(ctx.need("period"), "period", PERIODS);
  const from = ctx.opt("from");
  const to = ctx.opt("to");
  if (period !== "custom") {
    if (from !== undefined || to !== undefined) throw new UsageError("--from and --to go with --period custom only");
    return { period, startsAtMs: 0n, endsAtMs: 0n };
  }
  if (from === undefined || to === undefined) throw new UsageError("--period custom needs --from and --to");
  const startsAtMs = isoTime(from, "from");
  const endsAtMs = isoTime(to, "to");
  if (endsAtMs <= startsAtMs) throw new UsageError("--to must be after --from");
  return { period, startsAtMs, endsAtMs };
}

const BUDGETS: Command[] = [
  {
    name: "budgets set",
    summary: "Create a budget, or change one with --budget-id.",
    options: {
      ...TENANT,
      ...SCOPE,
      period: { meta: "P", help: `${PERIODS.join(", ")}` },
      from: { meta: "ISO", help: "start of a custom period" },
      to: { meta: "ISO", help: "end of a custom period" },
      usd: { meta: "N", help: "hard limit in USD: calls past it answer 402" },
      "soft-usd": { meta: "N", help: "soft limit in USD: crossing it raises an alert" },
      tokens: { meta: "N", help: "token quota for the period" },
      "budget-id": { meta: "B", help: "the budget to change (default: a new one)" },
    },
    required: ["tenant", "scope", "period"],
    async run(ctx) {
      const [hard, soft, tokens] = [ctx.opt("usd"), ctx.opt("soft-usd"), ctx.opt("tokens")];
      if (hard === undefined && soft === undefined && tokens === undefined) throw new UsageError("give --usd, --soft-usd or --tokens");
      const budget = {
        tenantId: ctx.need("tenant"),
        id: ctx.opt("budget-id") ?? "",
        ...scopeOf(ctx),
        ...periodOf(ctx),
        limitUsd: hard === undefined ? 0 : usd(hard, "usd"),
        softLimitUsd: soft === undefined ? 0 : usd(soft, "soft-usd"),
        tokenQuota: tokens === undefined ? 0n : uint64(tokens, "tokens"),
      };
      const r = await ctx.admin.setBudget({ budget }, ctx.call);
      return output(SetBudgetResponseSchema, r, record(BudgetSchema, r.budget));
    },
  },
  {
    name: "budgets list",
    summary: "List a tenant's budgets with their current period's spend.",
    options: TENANT,
    required: ["tenant"],
    async run(ctx) {
      const r = await ctx.admin.listBudgets({ tenantId: ctx.need("tenant") }, ctx.call);
      const cols = ["id", "scope", "scope_id", "period", "limit_usd", "soft_limit_usd", "token_quota", "spent_usd", "reserved_usd", "tokens_used", "period_end_ms"];
      return output(ListBudgetsResponseSchema, r, table(BudgetSchema, r.budgets, cols));
    },
  },
  {
    name: "budgets delete",
    summary: "Remove a budget.",
    args: ["budget-id"],
    options: TENANT,
    required: ["tenant"],
    async run(ctx) {
      const id = ctx.arg("budget-id");
      const r = await ctx.admin.deleteBudget({ tenantId: ctx.need("tenant"), id }, ctx.call);
      return output(DeleteBudgetResponseSchema, r, [`deleted budget ${id}`]);
    },
  },
];

/** `subscriptions approve|reject|revoke`: one decision. */
function decide(verb: string, status: string): Command {
  return {
    name: `subscriptions ${verb}`,
    summary: `Mark a subscription ${status}.`,
    args: ["id"],
    options: { ...TENANT, note: { meta: "TEXT", help: "why" } },
    required: ["tenant"],
    async run(ctx) {
      const r = await ctx.admin.decideSubscription({ tenantId: ctx.need("tenant"), id: ctx.arg("id"), status, note: ctx.opt("note") ?? "" }, ctx.call);
      return output(DecideSubscriptionResponseSchema, r, record(SubscriptionSchema, r.subscription));
    },
  };
}

const SUBSCRIPTIONS: Command[] = [
  {
    name: "subscriptions request",
    summary: "Ask for a team to use a model or prompt that needs approval (give --model or --prompt).",
    options: {
      ...TENANT,
      team: { meta: "TEAM", help: "the team asking" },
      model: { meta: "M", help: "the model" },
      prompt: { meta: "P", help: "the prompt" },
      note: { meta: "TEXT", help: "why" },
    },
    required: ["tenant", "team"],
    async run(ctx) {
      const [model, prompt] = [ctx.opt("model"), ctx.opt("prompt")];
      if ((model === undefined) === (prompt === undefined)) throw new UsageError("give exactly one of --model and --prompt");
      const r = await ctx.admin.requestSubscription(
        { tenantId: ctx.need("tenant"), teamId: ctx.need("team"), resourceKind: model !== undefined ? "model" : "prompt", resource: model ?? prompt ?? "", note: ctx.opt("note") ?? "" },
        ctx.call,
      );
      return output(RequestSubscriptionResponseSchema, r, record(SubscriptionSchema, r.subscription));
    },
  },
  decide("approve", "approved"),
  decide("reject", "rejected"),
  decide("revoke", "revoked"),
  {
    name: "subscriptions list",
    summary: "List a tenant's subscriptions.",
    options: TENANT,
    required: ["tenant"],
    async run(ctx) {
      const r = await ctx.admin.listSubscriptions({ tenantId: ctx.need("tenant") }, ctx.call);
      const cols = ["id", "team_id", "resource_kind", "resource", "status", "requested_by", "decided_by", "note"];
      return output(ListSubscriptionsResponseSchema, r, table(SubscriptionSchema, r.subscriptions, cols));
    },
  },
];

const AUDIT: Command = {
  name: "audit",
  summary: "Show the audit log, newest first (no --tenant: every tenant, operator only).",
  options: { ...TENANT, limit: { meta: "N", help: "at most this many entries (default 100)" }, before: { meta: "ID", help: "only entries older than this one" } },
  async run(ctx) {
    const limit = ctx.opt("limit");
    const r = await ctx.admin.listAudit({ tenantId: ctx.opt("tenant") ?? "", limit: limit === undefined ? 0 : uint32(limit, "limit"), beforeId: ctx.opt("before") ?? "" }, ctx.call);
    return output(ListAuditResponseSchema, r, table(AuditEntrySchema, r.entries, ["id", "at_ms", "actor", "tenant_id", "action", "target", "details_json"]));
  },
};

/** Every command, in help order. */
export const COMMANDS: readonly Command[] = [WHOAMI, ...TENANTS, ...TEAMS, ...USERS, ...KEYS, ...LIMITS, ...BUDGETS, ...SUBSCRIPTIONS, AUDIT, ...PROMPTS, ...APIS, ...USAGE];
