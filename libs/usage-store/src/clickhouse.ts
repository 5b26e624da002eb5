import { setTimeout as sleep } from "node:timers/promises";
import {
  type ClickHouseClient,
  ClickHouseLogLevel,
  createClient,
  type ErrorLogParams,
  type LogParams,
  type Logger as ClientLogger,
  type WarnLogParams,
} from "@clickhouse/client";
import type { RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { createStderrLogger, errorFields, formatPicoUsd, parseUsdToPico, type PortLogger as Logger } from "@tessera/runtime";
import { latencySql, usageSql, dateTimeSeconds } from "./clickhouse-query.js";
import { MIGRATIONS, type MigrationContext } from "./clickhouse-schema.js";
import { type Dimension, type LatencyRow, type Percentiles, RowsRejectedError, type StoredRequest, type UsageRow, type UsageStore } from "./port.js";
import { planSource, usageByModelVia } from "./query.js";
import { dedupById, RecentIds, surfaceName } from "./rows.js";
import { identifier, sqlValues, type SqlValues } from "./sql.js";

/** Options for {@link createClickHouseUsageStore}. */
export interface ClickHouseUsageStoreOptions {
  /** HTTP interface, e.g. `http://127.0.0.1:8123`. */
  url: string;
  /** Database holding the tables; created by `migrate()`. Letters, digits, underscore. Default "tessera". */
  database?: string;
  /** Default "default". */
  username?: string;
  password?: string;
  /** Where warnings go. Default: JSON lines on stderr. */
  log?: Logger;
  /** Per-request timeout. Default 30 000 ms. */
  requestTimeoutMs?: number;
  /**
   * Request ids remembered after a successful insert, so a redelivered event is skipped
   * without asking the server. Default 200 000.
   */
  recentIds?: number;
  /**
   * Before inserting, ask the server which of the batch's ids it already holds and skip them.
   * This is what keeps the rollups exact after a consumer restart (the recent-ids set is empty
   * then). Costs one small primary-key query per batch. Default true.
   */
  checkExisting?: boolean;
  /**
   * Migrate up to this schema version only (default: the latest). For staged upgrades, and for
   * tests that start from an older schema.
   */
  schemaVersion?: number;
  /**
   * How long start-up waits for another process's migration before taking its lock over (the
   * other is then presumed dead). Default 120 000 ms: the rollup backfill of version 2 reads the
   * whole `requests` table once.
   */
  migrationLockTimeoutMs?: number;
}

function finite(x: number | undefined): number {
  return x !== undefined && Number.isFinite(x) ? x : 0;
}

/**
 * A Decimal column's value: exact decimal text, written into the JSON as a bare number, since
 * 18.16 refuses a quoted Decimal and a JavaScript number would lose digits.
 */
class DecimalText {
  constructor(readonly text: string) {}
}

const usd = (pico: bigint) => new DecimalText(formatPicoUsd(pico));

const SURROGATE = /[\ud800-\udfff]/;

/**
 * Strings as the server stores them: a lone surrogate (which has no UTF-8 form) becomes U+FFFD.
 * JSON.stringify would write it as a `\udXXX` escape, which ClickHouse refuses, failing the
 * whole batch.
 */
function wellFormed(_key: string, v: unknown): unknown {
  return typeof v === "string" && SURROGATE.test(v) ? Buffer.from(v, "utf8").toString("utf8") : v;
}

/** JSON for one row of {@link toRow}: as JSON.stringify, with DecimalText values as bare numbers. */
export function stringifyRow(row: unknown): string {
  if (row === null || typeof row !== "object" || Array.isArray(row)) return JSON.stringify(row, wellFormed);
  let decimals = "";
  const plain: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(row)) {
    if (v instanceof DecimalText) decimals += `,${JSON.stringify(k)}:${v.text}`;
    else plain[k] = v;
  }
  const json = JSON.stringify(plain, wellFormed);
  if (!decimals) return json;
  return json === "{}" ? `{${decimals.slice(1)}}` : `${json.slice(0, -1)}${decimals}}`;
}

/** The JSONEachRow object for one event: one key per column of `requests`. */
export function toRow(e: RequestEvent): Record<string, unknown> {
  const ms = e.timeUnixMs;
  const c = e.cost;
  const cost = { input: c?.inputPicoUsd ?? 0n, output: c?.outputPicoUsd ?? 0n, cached: c?.cachedPicoUsd ?? 0n, reasoning: c?.reasoningPicoUsd ?? 0n };
  return {
    request_id: e.requestId,
    time: dateTimeSeconds(Number(ms)),
    // As a string: exact for any int64, and both 18.16 and current servers parse it.
    time_ms: ms.toString(),
    tenant_id: e.tenantId,
    team_id: e.teamId,
    key_id: e.keyId,
    user_id: e.userId,
    surface: surfaceName(e.surface),
    stream: e.stream ? 1 : 0,
    model_requested: e.modelRequested,
    model_served: e.modelServed,
    provider: e.provider,
    deployment: e.deployment,
    status_code: e.statusCode,
    error_type: e.errorType,
    prompt_tokens: e.promptTokens,
    completion_tokens: e.completionTokens,
    cached_tokens: e.cachedTokens,
    reasoning_tokens: e.reasoningTokens,
    cache_hit: e.cacheHit ? 1 : 0,
    attempts: e.attempts,
    latency_total_ms: finite(e.latency?.totalMs),
    latency_authz_ms: finite(e.latency?.authzMs),
    latency_redaction_ms: finite(e.latency?.redactionMs),
    latency_router_ms: finite(e.latency?.routerMs),
    latency_ttft_ms: finite(e.latency?.ttftMs),
    redaction_types: e.redactions.map((r) => r.entityType),
    redaction_counts: e.redactions.map((r) => r.count),
    finish_reason: e.finishReason,
    prompt_name: e.promptName,
    prompt_version: e.promptVersion,
    fallbacks: e.fallbacks,
    cost_usd: usd(cost.input + cost.output + cost.cached + cost.reasoning),
    cost_input_usd: usd(cost.input),
    cost_output_usd: usd(cost.output),
    cost_cached_usd: usd(cost.cached),
    cost_reasoning_usd: usd(cost.reasoning),
    redaction_total: e.redactions.reduce((n, r) => n + r.count, 0),
    api_path: e.apiPath,
    chain_id: e.chainId,
    chain_step: e.chainStep,
    chain_step_index: e.chainStepIndex,
  };
}

/** Routes the client's own log lines: its warnings to ours; its per-request errors to debug,
 * since every failed request also rejects the call that made it. */
function clientLoggerClass(log: Logger): new () => ClientLogger {
  const fields = (p: LogParams, err?: Error) => ({
    source: "@clickhouse/client",
    module: p.module,
    ...(err ? errorFields(err) : {}),
  });
  return class implements ClientLogger {
    trace() {}
    debug(p: LogParams) {
      log.debug(fields(p), p.message);
    }
    info(p: LogParams) {
      log.debug(fields(p), p.message);
    }
    warn(p: WarnLogParams) {
      log.warn(fields(p, p.err), p.message);
    }
    error(p: ErrorLogParams) {
      log.debug(fields(p, p.err), p.message);
    }
  };
}

/**
 * Server error codes that mean "these rows can never go in": parse and type errors on the
 * data. Everything else (network, timeouts, memory, too many parts, a missing table during a
 * migration) may pass on a retry.
 */
const REJECTED_CODES = new Set([
  6, // CANNOT_PARSE_TEXT
  26, // CANNOT_PARSE_QUOTED_STRING
  27, // CANNOT_PARSE_INPUT_ASSERTION_FAILED
  38, // CANNOT_PARSE_DATE
  41, // CANNOT_PARSE_DATETIME
  53, // TYPE_MISMATCH
  69, // ARGUMENT_OUT_OF_BOUND
  70, // CANNOT_CONVERT_TYPE
  72, // CANNOT_PARSE_NUMBER
  117, // INCORRECT_DATA
  131, // TOO_LARGE_STRING_SIZE
  349, // CANNOT_INSERT_NULL_IN_ORDINARY_COLUMN
]);

/**
 * A {@link RowsRejectedError} for a data error, else `err` unchanged. The client parses
 * current servers' errors into a `code`; 18.16's ("Code: 27, e.displayText() = …") it leaves
 * as plain text.
 */
function rejectedOr(err: unknown): unknown {
  const code = Number((err as { code?: unknown }).code ?? /^Code: (\d+)/.exec((err as Error).message ?? "")?.[1]);
  if (!REJECTED_CODES.has(code)) return err;
  return new RowsRejectedError(`ClickHouse refused the rows (code ${code}): ${(err as Error).message.slice(0, 500)}`, { cause: err });
}

/**
 * How a 64-bit integer arrives in JSON output: quoted by default
 * (`output_format_json_quote_64bit_integers`), a bare number where a server turned that off.
 */
type Int64Json = string | number;

/** Ids per existence-check query: keeps the SQL text far below 18.16's 256 KiB max_query_size. */
const EXISTING_CHUNK = 2_000;

/** One row of usageSql's answer. */
interface UsageJson {
  b?: Int64Json;
  [dim: `d${number}`]: string;
  s_requests: Int64Json;
  s_errors: Int64Json;
  s_prompt_tokens: Int64Json;
  s_completion_tokens: Int64Json;
  s_cached_tokens: Int64Json;
  s_reasoning_tokens: Int64Json;
  s_cache_hits: Int64Json;
  s_cost_input: string;
  s_cost_output: string;
  s_cost_cached: string;
  s_cost_reasoning: string;
  s_latency_sum: number;
}

/** One row of latencySql's answer. */
interface LatencyJson {
  b?: Int64Json;
  [dim: `d${number}`]: string;
  n: Int64Json;
  total: number[];
  streams: Int64Json;
  ttft: number[];
}

/** A row's bucket (the range's start without buckets) and grouped dimensions. */
function groupOf(x: { b?: Int64Json; [dim: `d${number}`]: string }, groupBy: readonly Dimension[], fromMs: number) {
  const dims: Partial<Record<Dimension, string>> = {};
  groupBy.forEach((d, i) => (dims[d] = x[`d${i}`]));
  return { bucketStartMs: x.b === undefined ? fromMs : Number(x.b) * 1000, dims };
}

const percentiles = (xs: number[]): Percentiles => [xs[0] ?? 0, xs[1] ?? 0, xs[2] ?? 0, xs[3] ?? 0];

/**
 * The usage store on ClickHouse. Works on Debian's ClickHouse 18.16 and on current releases:
 * server-side query parameters where the server has them (found out once), escaped literals
 * where it does not; no DateTime64, LowCardinality only where it is not experimental, no HTTP
 * compression.
 */
export function createClickHouseUsageStore(opts: ClickHouseUsageStoreOptions): UsageStore {
  const db = identifier(opts.database ?? "tessera", "createClickHouseUsageStore: database");
  const log = opts.log ?? createStderrLogger("usage-store.clickhouse");
  const checkExisting = opts.checkExisting ?? true;
  const recent = new RecentIds(opts.recentIds ?? 200_000);
  const migrations = MIGRATIONS.filter((m) => m.version <= (opts.schemaVersion ?? Infinity));
  const lockTimeoutMs = opts.migrationLockTimeoutMs ?? 120_000;
  const client: ClickHouseClient = createClient({
    url: opts.url,
    username: opts.username ?? "default",
    password: opts.password ?? "",
    request_timeout: opts.requestTimeoutMs ?? 30_000,
    // 18.16 copes with gzip, but uncompressed keeps both ends simple and is cheap on loopback
    // or a LAN; the rows are small.
    compression: { request: false, response: false },
    json: { stringify: stringifyRow },
    log: { LoggerClass: clientLoggerClass(log), level: ClickHouseLogLevel.WARN },
  });

  async function rows<T>(query: string, params: SqlValues["params"] = {}): Promise<T[]> {
    const rs = await client.query({ query, format: "JSONEachRow", ...(Object.keys(params).length > 0 ? { query_params: params } : {}) });
    return rs.json<T>();
  }

  /**
   * Whether the server takes `{name:Type}` parameters (19.x and later), asked once: 18.16
   * refuses the `param_*` arguments as unknown settings.
   */
  let serverParams: Promise<boolean> | undefined;
  function paramsSupported(): Promise<boolean> {
    serverParams ??= rows<{ v: string }>("SELECT {probe:String} AS v", { probe: "ok" }).then(
      (r) => r[0]?.v === "ok",
      () => false,
    );
    return serverParams;
  }

  /** Values for one query, in the form the server takes. */
  async function values(): Promise<SqlValues> {
    return sqlValues(await paramsSupported());
  }

  async function lowCardinalitySupported(): Promise<boolean> {
    // 18.x has LowCardinality only behind `allow_experimental_low_cardinality_type`, and even
    // with it on, 18.16 refuses to push a String into a LowCardinality column of a
    // materialized view's target ("Type mismatch for column model"). So: 19.x and later,
    // where the type is on by default (and later releases dropped the setting altogether).
    const [v] = await rows<{ v: string }>("SELECT version() AS v");
    if (Number(v?.v.split(".")[0]) < 19) return false;
    const r = await rows<{ value: string }>(
      "SELECT value FROM system.settings WHERE name = 'allow_experimental_low_cardinality_type'",
    );
    return r.length === 0 || r[0]?.value === "1";
  }

  async function existingIds(events: RequestEvent[]): Promise<Set<string>> {
    const found = new Set<string>();
    for (let i = 0; i < events.length; i += EXISTING_CHUNK) {
      const chunk = events.slice(i, i + EXISTING_CHUNK);
      const tenants = [...new Set(chunk.map((e) => e.tenantId))];
      const secs = chunk.map((e) => dateTimeSeconds(Number(e.timeUnixMs)));
      const v = await values();
      const r = await rows<{ request_id: string }>(
        `SELECT request_id FROM ${db}.requests
         WHERE tenant_id IN (${tenants.map(v.string).join(",")})
           AND time >= toDateTime(${v.integer(Math.min(...secs), "UInt32")})
           AND time <= toDateTime(${v.integer(Math.max(...secs), "UInt32")})
           AND request_id IN (${chunk.map((e) => v.string(e.requestId)).join(",")})`,
        v.params,
      );
      for (const { request_id } of r) found.add(request_id);
    }
    return found;
  }

  /**
   * Run `fn` while holding the database's migration lock: a table that only one process can
   * create (ClickHouse has no other lock; 18.16 not even ADD COLUMN IF NOT EXISTS), so replicas
   * starting together migrate one at a time. A lock older than `lockTimeoutMs` is taken to be
   * left by a process that died mid-way (every step is safe to run again) and taken over.
   */
  async function withMigrationLock(fn: () => Promise<void>): Promise<void> {
    const lock = `${db}.schema_migrations_lock`;
    const deadline = Date.now() + lockTimeoutMs;
    for (;;) {
      try {
        await client.command({ query: `CREATE TABLE ${lock} (at DateTime) ENGINE = TinyLog` });
        break;
      } catch (err) {
        if (!/already exists/i.test((err as Error).message)) throw err;
      }
      if (Date.now() > deadline) {
        log.warn({ database: db, lock, waitedMs: lockTimeoutMs }, "usage-store migration lock held too long; taking it over");
        await client.command({ query: `DROP TABLE IF EXISTS ${lock}` });
        continue;
      }
      await sleep(100);
    }
    try {
      await fn();
    } finally {
      await client.command({ query: `DROP TABLE IF EXISTS ${lock}` });
    }
  }

  const store: UsageStore = {
    async migrate() {
      await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
      await client.command({
        query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (
          version UInt32,
          name String,
          applied_at DateTime
        ) ENGINE = ReplacingMergeTree ORDER BY version`,
      });
      // Find out once, at start-up, how values reach the server.
      const params = await paramsSupported();
      log.info({ database: db, serverParams: params }, params ? "usage-store queries bind values as server-side parameters" : "usage-store queries write values as escaped literals (the server has no query parameters)");
      const applied = async () =>
        new Set((await rows<{ version: number }>(`SELECT version FROM ${db}.schema_migrations FINAL`)).map((r) => Number(r.version)));
      const pendingOf = (done: Set<number>) => migrations.filter((m) => !done.has(m.version));
      if (pendingOf(await applied()).length === 0) return;
      await withMigrationLock(async () => {
        const pending = pendingOf(await applied()); // another process may have done them meanwhile
        if (pending.length === 0) return;
        const ctx: MigrationContext = {
          db,
          lowCardinalityString: (await lowCardinalitySupported()) ? "LowCardinality(String)" : "String",
          command: async (query) => void (await client.command({ query })),
          columns: async (table) =>
            new Set(
              (await rows<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${db}' AND table = '${identifier(table)}'`)).map((c) => c.name),
            ),
          exists: async (table) => (await rows(`SELECT name FROM system.tables WHERE database = '${db}' AND name = '${identifier(table)}'`)).length > 0,
        };
        for (const m of pending) {
          await m.apply(ctx);
          await client.insert({
            table: `${db}.schema_migrations`,
            values: [{ version: m.version, name: m.name, applied_at: Math.floor(Date.now() / 1000) }],
            format: "JSONEachRow",
          });
          log.info({ database: db, version: m.version, migration: m.name }, "applied usage-store migration");
        }
      });
    },

    async insert(events) {
      let batch = dedupById(events).filter((e) => !recent.has(e.requestId));
      if (batch.length === 0) return 0;
      if (checkExisting) {
        const known = await existingIds(batch);
        if (known.size > 0) {
          batch = batch.filter((e) => !known.has(e.requestId));
          for (const id of known) recent.add(id);
        }
        if (batch.length === 0) return 0;
      }
      try {
        await client.insert({ table: `${db}.requests`, values: batch.map(toRow), format: "JSONEachRow" });
      } catch (err) {
        throw rejectedOr(err);
      }
      for (const e of batch) recent.add(e.requestId);
      return batch.length;
    },

    async queryUsage(q) {
      const source = planSource(q);
      if (!(Math.ceil(q.toMs) > Math.ceil(q.fromMs))) return { rows: [], source };
      const v = await values();
      const r = await rows<UsageJson>(usageSql(db, q, source, v), v.params);
      return {
        source,
        // An aggregate without GROUP BY answers one row even over no requests: not a group.
        rows: r.filter((x) => Number(x.s_requests) > 0).map(
          (x): UsageRow => ({
            ...groupOf(x, q.groupBy, q.fromMs),
            requests: Number(x.s_requests),
            errors: Number(x.s_errors),
            promptTokens: Number(x.s_prompt_tokens),
            completionTokens: Number(x.s_completion_tokens),
            cachedTokens: Number(x.s_cached_tokens),
            reasoningTokens: Number(x.s_reasoning_tokens),
            cacheHits: Number(x.s_cache_hits),
            cost: {
              input: parseUsdToPico(x.s_cost_input),
              output: parseUsdToPico(x.s_cost_output),
              cached: parseUsdToPico(x.s_cost_cached),
              reasoning: parseUsdToPico(x.s_cost_reasoning),
            },
            latencySumMs: x.s_latency_sum,
          }),
        ),
      };
    },

    async queryLatency(q) {
      if (!(Math.ceil(q.toMs) > Math.ceil(q.fromMs))) return [];
      const v = await values();
      const r = await rows<LatencyJson>(latencySql(db, q, v), v.params);
      return r.filter((x) => Number(x.n) > 0).map(
        (x): LatencyRow => ({
          ...groupOf(x, q.groupBy, q.fromMs),
          requests: Number(x.n),
          total: percentiles(x.total),
          streams: Number(x.streams),
          ttft: percentiles(x.ttft),
        }),
      );
    },

    usageByModel: (tenantId, fromMs, toMs) => usageByModelVia(store, tenantId, fromMs, toMs),

    async findRequest(requestId) {
      const v = await values();
      const r = await rows<{
        request_id: string;
        time_ms: Int64Json;
        tenant_id: string;
        key_id: string;
        model_requested: string;
        model_served: string;
        provider: string;
        deployment: string;
        status_code: number;
        prompt_tokens: number;
        completion_tokens: number;
        stream: number;
        prompt_name: string;
        prompt_version: number;
        fallbacks: number;
        cost_input_usd: string;
        cost_output_usd: string;
        cost_cached_usd: string;
        cost_reasoning_usd: string;
      }>(
        `SELECT request_id, time_ms, tenant_id, key_id, model_requested, model_served, provider,
                deployment, status_code, prompt_tokens, completion_tokens, stream, prompt_name,
                prompt_version, fallbacks, toString(cost_input_usd) AS cost_input_usd,
                toString(cost_output_usd) AS cost_output_usd, toString(cost_cached_usd) AS cost_cached_usd,
                toString(cost_reasoning_usd) AS cost_reasoning_usd
         FROM ${db}.requests
         WHERE request_id = ${v.string(requestId)}
         LIMIT 1`,
        v.params,
      );
      const x = r[0];
      if (!x) return undefined;
      return {
        requestId: x.request_id,
        timeUnixMs: Number(x.time_ms),
        tenantId: x.tenant_id,
        keyId: x.key_id,
        modelRequested: x.model_requested,
        modelServed: x.model_served,
        provider: x.provider,
        deployment: x.deployment,
        statusCode: Number(x.status_code),
        promptTokens: Number(x.prompt_tokens),
        completionTokens: Number(x.completion_tokens),
        stream: Number(x.stream) === 1,
        promptName: x.prompt_name,
        promptVersion: Number(x.prompt_version),
        fallbacks: Number(x.fallbacks),
        cost: {
          input: parseUsdToPico(x.cost_input_usd),
          output: parseUsdToPico(x.cost_output_usd),
          cached: parseUsdToPico(x.cost_cached_usd),
          reasoning: parseUsdToPico(x.cost_reasoning_usd),
        },
      } satisfies StoredRequest;
    },

    async close() {
      await client.close();
    },
  };
  return store;
}
