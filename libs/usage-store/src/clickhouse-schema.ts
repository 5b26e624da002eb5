/** What a migration may use: the database, the server's types, and a way to run SQL. */
export interface MigrationContext {
  /** The database name, already checked to be a plain identifier. */
  db: string;
  /**
   * The type for a low-cardinality string column: `LowCardinality(String)` where the server
   * supports it as a regular type, plain `String` on 18.x where it is still experimental.
   */
  lowCardinalityString: string;
  /** Run one statement. */
  command(sql: string): Promise<void>;
  /** The columns a table of the database has now. */
  columns(table: string): Promise<Set<string>>;
  /** Whether a table (or view) of the database exists. */
  exists(table: string): Promise<boolean>;
}

/**
 * One schema step. Applying it again after a crash part-way must be safe: every step checks
 * what exists before it creates or adds.
 */
export interface Migration {
  version: number;
  name: string;
  apply(ctx: MigrationContext): Promise<void>;
}

/** A migration that is a list of idempotent statements (IF NOT EXISTS). */
function statements(version: number, name: string, sql: (ctx: MigrationContext) => string[]): Migration {
  return {
    version,
    name,
    async apply(ctx) {
      for (const s of sql(ctx)) await ctx.command(s);
    },
  };
}

/** The model usage is reported under: the one that served, else the one asked for. */
const MODEL = "if(model_served = '', model_requested, model_served)";
const ERROR = "status_code >= 400 OR error_type != ''";

/** Columns version 2 adds to `requests`, in order. */
const REQUESTS_V2 = (lc: string): [string, string][] => [
  ["prompt_name", lc],
  ["prompt_version", "UInt32"],
  ["fallbacks", "UInt32"],
  // Exact USD to the pico-dollar (12 decimals). Decimal128: Decimal64 with 12 decimals would
  // stop below a million dollars, which absurd token counts could pass and fail a whole batch.
  ["cost_usd", "Decimal128(12)"],
  ["cost_input_usd", "Decimal128(12)"],
  ["cost_output_usd", "Decimal128(12)"],
  ["cost_cached_usd", "Decimal128(12)"],
  ["cost_reasoning_usd", "Decimal128(12)"],
  ["redaction_total", "UInt32"],
];

/** Columns version 3 adds to `requests`: published prompt APIs and their chains. */
const REQUESTS_V3 = (lc: string): [string, string][] => [
  ["api_path", lc],
  ["chain_id", "String"],
  ["chain_step", lc],
  ["chain_step_index", "UInt32"],
];

/** The rollups' keys, after the time column, in sorting-key order. */
export const ROLLUP_KEYS = ["tenant_id", "team_id", "key_id", "model", "provider", "prompt_name", "prompt_version"] as const;

/** Sums each rollup keeps per key and time, with the expression over `requests` that feeds it. */
const ROLLUP_SUMS: [column: string, type: string, expr: string][] = [
  ["requests", "UInt64", "count()"],
  ["errors", "UInt64", `countIf(${ERROR})`],
  ["prompt_tokens", "UInt64", "sum(prompt_tokens)"],
  ["completion_tokens", "UInt64", "sum(completion_tokens)"],
  ["cached_tokens", "UInt64", "sum(cached_tokens)"],
  ["reasoning_tokens", "UInt64", "sum(reasoning_tokens)"],
  ["cache_hits", "UInt64", "sum(cache_hit)"],
  ["fallbacks", "UInt64", "sum(fallbacks)"],
  ["redaction_total", "UInt64", "sum(redaction_total)"],
  ["cost_usd", "Decimal128(12)", "sum(cost_usd)"],
  ["cost_input_usd", "Decimal128(12)", "sum(cost_input_usd)"],
  ["cost_output_usd", "Decimal128(12)", "sum(cost_output_usd)"],
  ["cost_cached_usd", "Decimal128(12)", "sum(cost_cached_usd)"],
  ["cost_reasoning_usd", "Decimal128(12)", "sum(cost_reasoning_usd)"],
  ["latency_total_ms_sum", "Float64", "sum(latency_total_ms)"],
];

/**
 * A rollup by `time` (minute or hour): a SummingMergeTree fed by a materialized view over
 * `requests`. A database at an older version already holds requests the view never saw, so the
 * table is filled from them first, then the view is made; a crash before the view exists
 * starts the table over, and once it exists the step is done. (Requests written by another
 * process between the fill and the view would be missed: metering migrates before it consumes.)
 */
async function rollup(ctx: MigrationContext, table: string, time: string, seconds: number): Promise<void> {
  const { db, lowCardinalityString: lc } = ctx;
  if (await ctx.exists(`${table}_mv`)) return;
  const keyTypes: Record<(typeof ROLLUP_KEYS)[number], string> = {
    tenant_id: lc,
    team_id: lc,
    key_id: lc,
    model: lc,
    provider: lc,
    prompt_name: lc,
    prompt_version: "UInt32",
  };
  const select = `SELECT
      toDateTime(intDiv(toUInt32(time), ${seconds}) * ${seconds}) AS ${time},
      tenant_id, team_id, key_id, CAST(${MODEL} AS ${lc}) AS model, provider, prompt_name, prompt_version,
      ${ROLLUP_SUMS.map(([c, , e]) => `${e} AS ${c}`).join(",\n      ")}
    FROM ${db}.requests`;
  const groupBy = `GROUP BY ${time}, ${ROLLUP_KEYS.join(", ")}`;
  await ctx.command(`DROP TABLE IF EXISTS ${db}.${table}`);
  await ctx.command(`CREATE TABLE ${db}.${table} (
      ${time} DateTime,
      ${ROLLUP_KEYS.map((k) => `${k} ${keyTypes[k]}`).join(",\n      ")},
      ${ROLLUP_SUMS.map(([c, t]) => `${c} ${t}`).join(",\n      ")}
    ) ENGINE = SummingMergeTree
    PARTITION BY toYYYYMM(${time})
    ORDER BY (tenant_id, ${time}, ${ROLLUP_KEYS.slice(1).join(", ")})`);
  await ctx.command(`INSERT INTO ${db}.${table} ${select} FINAL ${groupBy}`);
  await ctx.command(`CREATE MATERIALIZED VIEW ${db}.${table}_mv TO ${db}.${table} AS ${select} ${groupBy}`);
}

/**
 * The schema, in order. Applied versions are recorded in `schema_migrations`; add a new entry
 * for any change, never edit an applied one.
 */
export const MIGRATIONS: readonly Migration[] = [
  statements(1, "requests table and per-minute rollup", ({ db, lowCardinalityString: lc }) => [
    // One row per request. The sorting key serves per-tenant time-range reads and is also
    // the deduplication key of ReplacingMergeTree: a redelivered event has the same
    // (tenant_id, time, request_id), lands in the same monthly partition, and collapses
    // with its twin on merge (reads use FINAL so they never see both).
    `CREATE TABLE IF NOT EXISTS ${db}.requests (
      request_id String,
      time DateTime,
      time_ms Int64,
      tenant_id ${lc},
      team_id ${lc},
      key_id ${lc},
      user_id String,
      surface ${lc},
      stream UInt8,
      model_requested ${lc},
      model_served ${lc},
      provider ${lc},
      deployment ${lc},
      status_code UInt32,
      error_type ${lc},
      prompt_tokens UInt32,
      completion_tokens UInt32,
      cached_tokens UInt32,
      reasoning_tokens UInt32,
      cache_hit UInt8,
      attempts UInt32,
      latency_total_ms Float64,
      latency_authz_ms Float64,
      latency_redaction_ms Float64,
      latency_router_ms Float64,
      latency_ttft_ms Float64,
      redaction_types Array(String),
      redaction_counts Array(UInt32),
      finish_reason ${lc}
    ) ENGINE = ReplacingMergeTree
    PARTITION BY toYYYYMM(time)
    ORDER BY (tenant_id, time, request_id)`,
    `CREATE TABLE IF NOT EXISTS ${db}.requests_by_minute (
      minute DateTime,
      tenant_id ${lc},
      team_id ${lc},
      key_id ${lc},
      model ${lc},
      requests UInt64,
      errors UInt64,
      prompt_tokens UInt64,
      completion_tokens UInt64,
      cached_tokens UInt64,
      reasoning_tokens UInt64
    ) ENGINE = SummingMergeTree
    PARTITION BY toYYYYMM(minute)
    ORDER BY (tenant_id, minute, team_id, key_id, model)`,
    // Fed at insert time, so it counts every row inserted into `requests`, duplicates
    // included: the store skips known ids before inserting (see insert()).
    `CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.requests_by_minute_mv TO ${db}.requests_by_minute AS
    SELECT
      toStartOfMinute(time) AS minute,
      tenant_id,
      team_id,
      key_id,
      CAST(${MODEL} AS ${lc}) AS model,
      count() AS requests,
      countIf(${ERROR}) AS errors,
      sum(prompt_tokens) AS prompt_tokens,
      sum(completion_tokens) AS completion_tokens,
      sum(cached_tokens) AS cached_tokens,
      sum(reasoning_tokens) AS reasoning_tokens
    FROM ${db}.requests
    GROUP BY minute, tenant_id, team_id, key_id, model`,
  ]),
  {
    version: 2,
    name: "prompt, fallbacks, costs and redaction total on requests; usage_by_minute and usage_by_hour rollups",
    async apply(ctx) {
      // 18.16 has no ADD COLUMN IF NOT EXISTS: add what the table lacks.
      const have = await ctx.columns("requests");
      const missing = REQUESTS_V2(ctx.lowCardinalityString).filter(([c]) => !have.has(c));
      if (missing.length > 0) await ctx.command(`ALTER TABLE ${ctx.db}.requests ${missing.map(([c, t]) => `ADD COLUMN ${c} ${t}`).join(", ")}`);
      await rollup(ctx, "usage_by_minute", "minute", 60);
      await rollup(ctx, "usage_by_hour", "hour", 3600);
    },
  },
  {
    version: 3,
    name: "published prompt API path and chain (id, step name, step index) on requests",
    async apply(ctx) {
      const have = await ctx.columns("requests");
      const missing = REQUESTS_V3(ctx.lowCardinalityString).filter(([c]) => !have.has(c));
      if (missing.length > 0) await ctx.command(`ALTER TABLE ${ctx.db}.requests ${missing.map(([c, t]) => `ADD COLUMN ${c} ${t}`).join(", ")}`);
    },
  },
];
