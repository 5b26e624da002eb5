/**
 * The authz configuration store: tenants, teams, users, API keys (hashed), limits, budgets,
 * subscriptions and the audit log. Postgres in the mesh, PGlite (the same SQL and migrations)
 * all-in-one; both pass one contract suite (store-contract.ts).
 *
 * Conventions: ids are strings; times are Date (null when unset); lists are string arrays
 * (never null). "Not found" is `undefined` from get*, never an exception. Uniqueness
 * violations throw a StoreConflict naming what exists already.
 */

export type Scope = "tenant" | "team" | "user" | "key";
export type Period = "day" | "month" | "custom";
export type SubscriptionStatus = "pending" | "approved" | "rejected" | "revoked";

export interface TenantRow {
  id: string;
  name: string;
  createdAt: Date;
}

export interface TeamRow {
  tenantId: string;
  id: string;
  name: string;
  modelsAllow: string[];
  modelsDeny: string[];
  createdAt: Date;
}

export interface UserRow {
  tenantId: string;
  id: string;
  email: string;
  teamId: string;
  roles: string[];
  createdAt: Date;
}

export interface KeyRow {
  /** Public id, e.g. "key_01J…". Globally unique. */
  id: string;
  tenantId: string;
  teamId: string;
  userId: string;
  name: string;
  /** sha256 hex of the secret. Unique. */
  keyHash: string;
  /** First characters of the secret, for recognition. */
  prefix: string;
  roles: string[];
  modelsAllow: string[];
  modelsDeny: string[];
  promptsAllow: string[];
  /** Published prompt APIs the key may call; with promptsAllow, when either is set the key may call nothing else. */
  apisAllow: string[];
  redactionPolicy: string;
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  /** The id of the key this one replaced by rotation ("" when none). */
  rotatedFrom: string;
}

export interface LimitRow {
  tenantId: string;
  scope: Scope;
  scopeId: string;
  /** 0: no request limit. */
  requestsPerMinute: number;
  /** 0: no token limit. */
  tokensPerMinute: number;
}

export interface BudgetRow {
  tenantId: string;
  id: string;
  scope: Scope;
  scopeId: string;
  period: Period;
  /** Custom periods only. */
  startsAt: Date | null;
  endsAt: Date | null;
  /** 0: none. */
  limitUsd: number;
  softLimitUsd: number;
  tokenQuota: number;
}

export interface SubscriptionRow {
  tenantId: string;
  id: string;
  /** "" for a tenant-wide subscription. */
  teamId: string;
  resourceKind: "model" | "prompt";
  resource: string;
  status: SubscriptionStatus;
  requestedBy: string;
  decidedBy: string;
  createdAt: Date;
  decidedAt: Date | null;
  note: string;
}

export interface AuditRow {
  /** Assigned by the store, increasing (a ULID). */
  id: string;
  at: Date;
  actor: string;
  /** "" for operator-wide actions. */
  tenantId: string;
  action: string;
  target: string;
  /** JSON-serialisable, never a secret. */
  details: Record<string, unknown>;
}

/** A row that would violate uniqueness. */
export class StoreConflict extends Error {
  override readonly name = "StoreConflict";
}

/** One scope reference, as limits and budgets are looked up. */
export interface ScopeRef {
  scope: Scope;
  scopeId: string;
}

export interface AuthzStore {
  /** Run `fn` in one transaction: all of its writes land, or none. Not nestable. */
  transaction<T>(fn: (tx: AuthzStore) => Promise<T>): Promise<T>;

  createTenant(t: Omit<TenantRow, "createdAt">): Promise<TenantRow>;
  getTenant(id: string): Promise<TenantRow | undefined>;
  listTenants(): Promise<TenantRow[]>;

  createTeam(t: Omit<TeamRow, "createdAt">): Promise<TeamRow>;
  /** Replace name and lists; undefined when the team does not exist. */
  updateTeam(t: Omit<TeamRow, "createdAt">): Promise<TeamRow | undefined>;
  getTeam(tenantId: string, id: string): Promise<TeamRow | undefined>;
  listTeams(tenantId: string): Promise<TeamRow[]>;

  createUser(u: Omit<UserRow, "createdAt">): Promise<UserRow>;
  getUser(tenantId: string, id: string): Promise<UserRow | undefined>;
  listUsers(tenantId: string): Promise<UserRow[]>;

  createKey(k: Omit<KeyRow, "createdAt">): Promise<KeyRow>;
  getKey(id: string): Promise<KeyRow | undefined>;
  /** The key with this secret hash, whatever its state (the caller checks expiry and revocation). */
  getKeyByHash(keyHash: string): Promise<KeyRow | undefined>;
  listKeys(tenantId: string): Promise<KeyRow[]>;
  /** Replace a key's name, roles, lists and redaction policy; undefined when the key does not exist. */
  updateKey(k: Pick<KeyRow, "id" | "name" | "roles" | "modelsAllow" | "modelsDeny" | "promptsAllow" | "apisAllow" | "redactionPolicy">): Promise<KeyRow | undefined>;
  /** Set expires_at (rotation overlap); undefined when the key does not exist. */
  setKeyExpiry(id: string, expiresAt: Date | null): Promise<KeyRow | undefined>;
  /** Set revoked_at (keeps an earlier revocation time); undefined when the key does not exist. */
  revokeKey(id: string, at: Date): Promise<KeyRow | undefined>;

  /** Insert or replace the limit of (tenant, scope, scopeId). */
  setLimit(l: LimitRow): Promise<LimitRow>;
  /** true when a row was deleted. */
  deleteLimit(tenantId: string, scope: Scope, scopeId: string): Promise<boolean>;
  listLimits(tenantId: string): Promise<LimitRow[]>;
  /** The limits of these scopes in one tenant (one query). */
  limitsFor(tenantId: string, scopes: ScopeRef[]): Promise<LimitRow[]>;

  /** Insert or replace by (tenantId, id). */
  setBudget(b: BudgetRow): Promise<BudgetRow>;
  deleteBudget(tenantId: string, id: string): Promise<boolean>;
  listBudgets(tenantId: string): Promise<BudgetRow[]>;
  /** The budgets of these scopes in one tenant (one query). */
  budgetsFor(tenantId: string, scopes: ScopeRef[]): Promise<BudgetRow[]>;

  createSubscription(s: Omit<SubscriptionRow, "createdAt" | "decidedAt" | "decidedBy" | "status">): Promise<SubscriptionRow>;
  /** Set status, decidedBy, decidedAt=now, note; undefined when not found in that tenant. */
  decideSubscription(tenantId: string, id: string, status: SubscriptionStatus, decidedBy: string, note: string): Promise<SubscriptionRow | undefined>;
  listSubscriptions(tenantId: string): Promise<SubscriptionRow[]>;
  /**
   * Whether an approved subscription covers this team (or the whole tenant, team_id "") for
   * the resource.
   */
  isSubscribed(tenantId: string, teamId: string, resourceKind: "model" | "prompt", resource: string): Promise<boolean>;

  appendAudit(a: Omit<AuditRow, "id" | "at">): Promise<AuditRow>;
  /** Newest first; tenantId undefined: all tenants; beforeId: only older entries. */
  listAudit(q: { tenantId?: string; limit: number; beforeId?: string }): Promise<AuditRow[]>;

  close(): Promise<void>;
}
