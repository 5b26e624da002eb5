import { create } from "@bufbuild/protobuf";
import type { Client, HandlerContext } from "@connectrpc/connect";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import {
  Bucket as BucketEnum,
  Dimension as DimensionEnum,
  GetUsageResponseSchema,
  MeteringService,
  Metric as MetricEnum,
  QueryLatencyResponseSchema,
  QueryUsageResponseSchema,
  type UsageGroup as UsageGroupMsg,
  type UsageQuery as UsageQueryMsg,
} from "@tessera/gen/tessera/metering/v1/metering_pb";
import type { Bucket, Dimension, Metric, UsageGroup } from "@tessera/usage-store";
import { bind, formatPicoUsd, TesseraError, REMOTE_ADDRESS, SOURCE_IP_HEADER, type ServiceBinding } from "@tessera/runtime";
import { GetSpendResponseSchema, SpendScope as SpendScopeEnum, SpendService } from "@tessera/gen/tessera/metering/v1/spend_pb";
import type { Caller, UsageApi, UsageRequest } from "./domain/usage-api.js";
import type { SpendReader, SpendScope } from "./domain/spend.js";

/** Proto enums to the store's names (UNSPECIFIED is no dimension; no bucket; cost). */
const DIMENSION_NAMES: Partial<Record<DimensionEnum, Dimension>> = {
  [DimensionEnum.TENANT]: "tenant",
  [DimensionEnum.TEAM]: "team",
  [DimensionEnum.KEY]: "key",
  [DimensionEnum.MODEL]: "model",
  [DimensionEnum.PROVIDER]: "provider",
  [DimensionEnum.PROMPT_NAME]: "prompt_name",
  [DimensionEnum.PROMPT_VERSION]: "prompt_version",
  [DimensionEnum.SURFACE]: "surface",
  [DimensionEnum.STATUS]: "status",
};
const BUCKET_NAMES: Partial<Record<BucketEnum, Bucket>> = {
  [BucketEnum.UNSPECIFIED]: "none",
  [BucketEnum.MINUTE]: "minute",
  [BucketEnum.HOUR]: "hour",
  [BucketEnum.DAY]: "day",
  [BucketEnum.WEEK]: "week",
  [BucketEnum.MONTH]: "month",
};
const METRIC_NAMES: Partial<Record<MetricEnum, Metric>> = {
  [MetricEnum.UNSPECIFIED]: "cost",
  [MetricEnum.COST]: "cost",
  [MetricEnum.REQUESTS]: "requests",
  [MetricEnum.ERRORS]: "errors",
  [MetricEnum.TOKENS]: "tokens",
  [MetricEnum.CACHE_HITS]: "cache_hits",
};

function usageRequest(q: UsageQueryMsg | undefined): UsageRequest {
  return {
    startMs: Number(q?.startUnixMs ?? 0n),
    endMs: Number(q?.endUnixMs ?? 0n),
    groupBy: (q?.groupBy ?? []).map((d) => DIMENSION_NAMES[d]),
    bucket: BUCKET_NAMES[q?.bucket ?? BucketEnum.UNSPECIFIED],
    filters: (q?.filters ?? []).map((f) => ({ dimension: DIMENSION_NAMES[f.dimension], values: f.values })),
    orderBy: METRIC_NAMES[q?.orderBy ?? MetricEnum.UNSPECIFIED],
    limit: q?.limit ?? 0,
  };
}

function groupMsg(g: UsageGroup): Omit<UsageGroupMsg, "$typeName"> {
  const d = g.dims;
  return {
    bucketStartUnixMs: BigInt(g.bucketStartMs),
    tenantId: d.tenant ?? "",
    teamId: d.team ?? "",
    keyId: d.key ?? "",
    model: d.model ?? "",
    provider: d.provider ?? "",
    promptName: d.prompt_name ?? "",
    promptVersion: Number(d.prompt_version ?? 0),
    surface: d.surface ?? "",
    statusCode: Number(d.status ?? 0),
  };
}

/**
 * Bind MeteringService to the usage API. Every call names its caller with the credential it
 * carries (`authorization` or `x-api-key`), which authz resolves (WhoAmI): so metering's own
 * port answers no one without a credential, and ingress only passes the caller's along.
 */
export function meteringService(deps: { api: UsageApi; admin: Client<typeof AdminService> }): ServiceBinding<typeof MeteringService> {
  async function caller(ctx: HandlerContext): Promise<Caller> {
    const headers: Record<string, string> = { [SOURCE_IP_HEADER]: ctx.requestHeader.get(SOURCE_IP_HEADER) ?? ctx.values.get(REMOTE_ADDRESS) };
    for (const h of ["authorization", "x-api-key"]) {
      const v = ctx.requestHeader.get(h);
      if (v) headers[h] = v;
    }
    const who = await deps.admin.whoAmI({}, { headers, signal: ctx.signal });
    return { operator: who.operator, tenantId: who.tenantId, roles: who.roles };
  }

  return bind(MeteringService, {
    async getUsage(req, ctx) {
      const rows = await deps.api.byModel(req.tenantId, Number(req.startUnixMs), Number(req.endUnixMs), await caller(ctx));
      return create(GetUsageResponseSchema, {
        models: rows.map((r) => ({
          model: r.model,
          requests: BigInt(r.requests),
          promptTokens: BigInt(r.promptTokens),
          completionTokens: BigInt(r.completionTokens),
          errors: BigInt(r.errors),
        })),
      });
    },
    async queryUsage(req, ctx) {
      const r = await deps.api.usage(usageRequest(req.query), await caller(ctx));
      return create(QueryUsageResponseSchema, {
        source: r.source,
        rows: r.rows.map((x) => ({
          group: groupMsg(x),
          requests: BigInt(x.requests),
          errors: BigInt(x.errors),
          promptTokens: BigInt(x.promptTokens),
          completionTokens: BigInt(x.completionTokens),
          cachedTokens: BigInt(x.cachedTokens),
          reasoningTokens: BigInt(x.reasoningTokens),
          cacheHits: BigInt(x.cacheHits),
          costUsd: formatPicoUsd(x.cost.input + x.cost.output + x.cost.cached + x.cost.reasoning),
          costInputUsd: formatPicoUsd(x.cost.input),
          costOutputUsd: formatPicoUsd(x.cost.output),
          costCachedUsd: formatPicoUsd(x.cost.cached),
          costReasoningUsd: formatPicoUsd(x.cost.reasoning),
          latencyMeanMs: x.requests > 0 ? x.latencySumMs / x.requests : 0,
        })),
      });
    },
    async queryLatency(req, ctx) {
      const rows = await deps.api.latency(usageRequest(req.query), await caller(ctx));
      const pct = ([p50Ms, p90Ms, p95Ms, p99Ms]: readonly number[]) => ({ p50Ms, p90Ms, p95Ms, p99Ms });
      return create(QueryLatencyResponseSchema, {
        rows: rows.map((x) => ({ group: groupMsg(x), requests: BigInt(x.requests), total: pct(x.total), streams: BigInt(x.streams), ttft: pct(x.ttft) })),
      });
    },
  });
}

const SPEND_SCOPES: Partial<Record<SpendScopeEnum, SpendScope>> = {
  [SpendScopeEnum.TENANT]: "tenant",
  [SpendScopeEnum.TEAM]: "team",
  [SpendScopeEnum.KEY]: "key",
};

/** Bind SpendService (internal: metering's mesh port and in process; ingress never forwards it). */
export function spendService(deps: { spend: SpendReader }): ServiceBinding<typeof SpendService> {
  return bind(SpendService, {
    async getSpend(req) {
      const scope = SPEND_SCOPES[req.scope];
      if (!scope) throw new TesseraError("invalid_request", "scope must be tenant, team or key.", { param: "scope", code: "invalid_field" });
      const s = await deps.spend(req.tenantId, scope, req.scopeId, Number(req.sinceUnixMs));
      return create(GetSpendResponseSchema, { picoUsd: s.picoUsd, tokens: BigInt(s.tokens), requests: BigInt(s.requests) });
    },
  });
}
