import { create } from "@bufbuild/protobuf";
import {
  Bucket,
  Dimension,
  LatencyRowSchema,
  Metric,
  QueryLatencyResponseSchema,
  QueryUsageResponseSchema,
  UsageQuerySchema,
  UsageRowSchema,
  type LatencyRow,
  type UsageGroup,
  type UsageQuery,
  type UsageRow,
} from "@tessera/gen/tessera/metering/v1/metering_pb";
import { isoTime, list, oneOf, uint32 } from "./args.js";
import type { Command, CommandContext, OptionSpec } from "./commands.js";
import { table, time, type Column } from "./output.js";

const DIMENSIONS = {
  tenant: Dimension.TENANT,
  team: Dimension.TEAM,
  key: Dimension.KEY,
  model: Dimension.MODEL,
  provider: Dimension.PROVIDER,
  prompt: Dimension.PROMPT_NAME,
  "prompt-version": Dimension.PROMPT_VERSION,
  surface: Dimension.SURFACE,
  status: Dimension.STATUS,
} as const;
const BUCKETS = { none: Bucket.UNSPECIFIED, minute: Bucket.MINUTE, hour: Bucket.HOUR, day: Bucket.DAY, week: Bucket.WEEK, month: Bucket.MONTH } as const;
const METRICS = { cost: Metric.COST, requests: Metric.REQUESTS, errors: Metric.ERRORS, tokens: Metric.TOKENS, "cache-hits": Metric.CACHE_HITS } as const;
type DimensionName = keyof typeof DIMENSIONS;
const DIMENSION_NAMES = Object.keys(DIMENSIONS) as DimensionName[];

/** How each dimension reads in a row's group. */
const DIMENSION_VALUE: Record<DimensionName, (g: UsageGroup) => string> = {
  tenant: (g) => g.tenantId,
  team: (g) => g.teamId,
  key: (g) => g.keyId,
  model: (g) => g.model,
  provider: (g) => g.provider,
  prompt: (g) => g.promptName,
  "prompt-version": (g) => String(g.promptVersion),
  surface: (g) => g.surface,
  status: (g) => String(g.statusCode),
};

const QUERY_OPTIONS: Record<string, OptionSpec> = {
  from: { meta: "TIME", help: "start of the range, ISO date or time (inclusive)" },
  to: { meta: "TIME", help: "end of the range (exclusive; default now)" },
  "group-by": { meta: "DIMS", help: `comma-separated: ${DIMENSION_NAMES.join(", ")}` },
  bucket: { meta: "B", help: `${Object.keys(BUCKETS).join(", ")} (default none: the whole range)` },
  ...Object.fromEntries(DIMENSION_NAMES.map((d) => [d, { meta: "V,…", help: `only these ${d} values` }])),
};

/** The query the options describe; the server forces the caller's tenant. */
function queryOf(ctx: CommandContext): UsageQuery {
  const groupBy = list(ctx.opt("group-by")).map((d) => DIMENSIONS[oneOf(d, "group-by", DIMENSION_NAMES)]);
  const filters = DIMENSION_NAMES.flatMap((d) => {
    const values = list(ctx.opt(d));
    return values.length ? [{ $typeName: "tessera.metering.v1.Filter" as const, dimension: DIMENSIONS[d], values }] : [];
  });
  const to = ctx.opt("to");
  return create(UsageQuerySchema, {
    startUnixMs: isoTime(ctx.need("from"), "from"),
    endUnixMs: to === undefined ? 0n : isoTime(to, "to"),
    groupBy,
    bucket: BUCKETS[oneOf(ctx.opt("bucket") ?? "none", "bucket", Object.keys(BUCKETS) as (keyof typeof BUCKETS)[])],
    filters,
  });
}

/** Columns for the bucket (when bucketed) and each grouped dimension, in the order asked. */
function groupColumns<T extends { group?: UsageGroup | undefined }>(ctx: CommandContext): Column<T>[] {
  const cols: Column<T>[] = [];
  if ((ctx.opt("bucket") ?? "none") !== "none") cols.push({ title: "BUCKET", value: (r) => time(r.group?.bucketStartUnixMs ?? 0n) });
  for (const d of list(ctx.opt("group-by")) as DimensionName[])
    cols.push({ title: d.toUpperCase(), value: (r) => (r.group ? DIMENSION_VALUE[d](r.group) : "") || "-" });
  return cols;
}

const ms = (x: number) => x.toFixed(1);

/** `tessera usage report` and `tessera usage latency`. */
export const USAGE: Command[] = [
  {
    name: "usage report",
    summary: "Usage and spend grouped and bucketed (a tenant sees only its own; the operator every tenant).",
    options: {
      ...QUERY_OPTIONS,
      top: { meta: "N", help: "only the N largest rows by --order-by" },
      "order-by": { meta: "M", help: `${Object.keys(METRICS).join(", ")} (default cost)` },
    },
    required: ["from"],
    async run(ctx) {
      const query = queryOf(ctx);
      const top = ctx.opt("top");
      if (top !== undefined) {
        query.limit = uint32(top, "top");
        query.orderBy = METRICS[oneOf(ctx.opt("order-by") ?? "cost", "order-by", Object.keys(METRICS) as (keyof typeof METRICS)[])];
      }
      const r = await ctx.metering.queryUsage({ query }, ctx.call);
      const cols: Column<UsageRow>[] = [
        ...groupColumns<UsageRow>(ctx),
        { title: "REQUESTS", value: (x) => String(x.requests) },
        { title: "ERRORS", value: (x) => String(x.errors) },
        { title: "PROMPT_TOKENS", value: (x) => String(x.promptTokens) },
        { title: "COMPLETION_TOKENS", value: (x) => String(x.completionTokens) },
        { title: "CACHE_HITS", value: (x) => String(x.cacheHits) },
        { title: "MEAN_MS", value: (x) => ms(x.latencyMeanMs) },
        { title: "COST_USD", value: (x) => x.costUsd },
      ];
      return { schema: QueryUsageResponseSchema, message: r, lines: table(UsageRowSchema, r.rows, cols) };
    },
  },
  {
    name: "usage latency",
    summary: "Latency percentiles (total and time to first token) grouped and bucketed.",
    options: QUERY_OPTIONS,
    required: ["from"],
    async run(ctx) {
      const r = await ctx.metering.queryLatency({ query: queryOf(ctx) }, ctx.call);
      const cols: Column<LatencyRow>[] = [
        ...groupColumns<LatencyRow>(ctx),
        { title: "REQUESTS", value: (x) => String(x.requests) },
        { title: "P50_MS", value: (x) => ms(x.total?.p50Ms ?? 0) },
        { title: "P90_MS", value: (x) => ms(x.total?.p90Ms ?? 0) },
        { title: "P95_MS", value: (x) => ms(x.total?.p95Ms ?? 0) },
        { title: "P99_MS", value: (x) => ms(x.total?.p99Ms ?? 0) },
        { title: "STREAMS", value: (x) => String(x.streams) },
        { title: "TTFT_P50_MS", value: (x) => ms(x.ttft?.p50Ms ?? 0) },
        { title: "TTFT_P95_MS", value: (x) => ms(x.ttft?.p95Ms ?? 0) },
      ];
      return { schema: QueryLatencyResponseSchema, message: r, lines: table(LatencyRowSchema, r.rows, cols) };
    },
  },
];
