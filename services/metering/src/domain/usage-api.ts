import { TesseraError } from "@tessera/runtime";
import type { Bucket, Dimension, LatencyRow, Metric, UsageQuery, UsageResult, UsageStore } from "@tessera/usage-store";

/** Who asks, as authz resolved the credential. */
export interface Caller {
  /** The operator token: every tenant. */
  operator: boolean;
  tenantId: string;
  roles: readonly string[];
}

/** A usage question as the caller sent it (enums already mapped to names). */
export interface UsageRequest {
  startMs: number;
  /** 0: now. */
  endMs: number;
  groupBy: readonly (Dimension | undefined)[];
  bucket: Bucket | undefined;
  filters: readonly { dimension: Dimension | undefined; values: readonly string[] }[];
  orderBy: Metric | undefined;
  limit: number;
}

/** Roles of a tenant that may read its usage. */
const READERS = ["admin", "developer", "viewer"];

/** Most rows a top-N may ask for. */
export const MAX_LIMIT = 10_000;

/** Most buckets one question may span (a year of hours, a week of minutes…). */
export const MAX_BUCKETS = 20_000;

const BUCKET_MS: Record<Exclude<Bucket, "none">, number> = {
  minute: 60_000,
  hour: 3_600_000,
  day: 86_400_000,
  week: 7 * 86_400_000,
  month: 28 * 86_400_000,
};

const invalid = (param: string, message: string) => new TesseraError("invalid_request", message, { param, code: "invalid_field" });

/**
 * The tenants the caller may read, forced into the query: the operator any (all when it names
 * none); anyone else only their own tenant, and only with a tenant role. Naming another
 * tenant is refused, never silently narrowed.
 */
export function scopeTenants(caller: Caller, asked: readonly string[]): readonly string[] {
  if (caller.operator) return asked;
  if (!caller.roles.some((r) => READERS.includes(r)))
    throw new TesseraError("permission_denied", `Reading usage needs the ${READERS.join(", ")} or operator role; yours: ${caller.roles.join(", ") || "none"}.`, { code: "role_not_allowed" });
  const other = asked.find((t) => t !== caller.tenantId);
  if (other !== undefined)
    throw new TesseraError("permission_denied", `You may only read your own tenant's usage ('${caller.tenantId}'), not '${other.slice(0, 64)}'.`, { code: "other_tenant" });
  return [caller.tenantId];
}

/** Check a request and scope it to what the caller may see; errors name the field at fault. */
export function checkUsageRequest(req: UsageRequest, caller: Caller, now: number): UsageQuery {
  const toMs = req.endMs === 0 ? now : req.endMs;
  if (req.startMs < 0) throw invalid("start_unix_ms", "start_unix_ms must not be negative.");
  if (!(toMs > req.startMs)) throw invalid("end_unix_ms", `end_unix_ms (${toMs}) must be after start_unix_ms (${req.startMs}).`);
  const groupBy: Dimension[] = [];
  for (const [i, d] of req.groupBy.entries()) {
    if (d === undefined) throw invalid(`group_by[${i}]`, `group_by[${i}] is not a dimension.`);
    if (groupBy.includes(d)) throw invalid(`group_by[${i}]`, `group_by names ${d} twice.`);
    groupBy.push(d);
  }
  if (req.bucket === undefined) throw invalid("bucket", "bucket is not a bucket size.");
  if (req.bucket !== "none" && (toMs - req.startMs) / BUCKET_MS[req.bucket] > MAX_BUCKETS)
    throw invalid("bucket", `The range spans more than ${MAX_BUCKETS} ${req.bucket} buckets; use a shorter range or a wider bucket.`);
  const filters: Partial<Record<Dimension, string[]>> = {};
  for (const [i, f] of req.filters.entries()) {
    if (f.dimension === undefined) throw invalid(`filters[${i}].dimension`, `filters[${i}].dimension is not a dimension.`);
    if (filters[f.dimension]) throw invalid(`filters[${i}].dimension`, `filters name ${f.dimension} twice; put every value in one filter.`);
    if ((f.dimension === "prompt_version" || f.dimension === "status") && f.values.some((v) => !/^\d{1,10}$/.test(v)))
      throw invalid(`filters[${i}].values`, `${f.dimension} values must be whole numbers.`);
    filters[f.dimension] = [...f.values];
  }
  const tenants = scopeTenants(caller, filters.tenant ?? []);
  if (tenants.length > 0) filters.tenant = [...tenants];
  if (req.orderBy === undefined) throw invalid("order_by", "order_by is not a metric.");
  if (!Number.isInteger(req.limit) || req.limit < 0 || req.limit > MAX_LIMIT) throw invalid("limit", `limit must be between 0 and ${MAX_LIMIT}.`);
  return { fromMs: req.startMs, toMs, groupBy, bucket: req.bucket, filters, orderBy: req.orderBy, limit: req.limit };
}

/** The usage API's domain: every question checked and scoped to the caller before the store sees it. */
export function createUsageApi(deps: { store: UsageStore; now?: () => number }) {
  const now = deps.now ?? Date.now;
  return {
    usage(req: UsageRequest, caller: Caller): Promise<UsageResult> {
      return deps.store.queryUsage(checkUsageRequest(req, caller, now()));
    },
    latency(req: UsageRequest, caller: Caller): Promise<LatencyRow[]> {
      if (req.limit !== 0) throw invalid("limit", "Latency queries have no top-N: leave limit and order_by unset.");
      return deps.store.queryLatency(checkUsageRequest(req, caller, now()));
    },
    /** GetUsage: per-model totals of one tenant. */
    byModel(tenantId: string, startMs: number, endMs: number, caller: Caller) {
      if (!tenantId) throw new TesseraError("invalid_request", "tenant_id is required", { param: "tenant_id" });
      scopeTenants(caller, [tenantId]);
      return deps.store.usageByModel(tenantId, startMs, endMs === 0 ? now() : endMs);
    },
  };
}

/** The usage API of a metering instance. */
export type UsageApi = ReturnType<typeof createUsageApi>;
