import {
  type ClickHouseClient,
  ClickHouseLogLevel,
  createClient,
  type ErrorLogParams,
  type LogParams,
  type Logger as ClientLogger,
  type WarnLogParams,
} from "@clickhouse/client";
import { type RequestEvent, Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { createStderrLogger, errorFields, type PortLogger as Logger } from "@tessera/runtime";
import { type ModelUsageRow, RowsRejectedError, type StoredRequest, type UsageStore } from "./port.js";
import { dedupById, RecentIds } from "./rows.js";
import { escapeString, identifier, integerLiteral } from "./sql.js";

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
   * This is what keeps the per-minute rollup exact after a consumer restart (the recent-ids
   * set is empty then). Costs one small primary-key query per batch. Default true.
   */
  checkExisting?: boolean;
}

/** What a migration's statements may depend on. */
export interface MigrationContext {
  /** The database name, already checked to be a plain identifier. */
  db: string;
  /**
   * The type for a low-cardinality string column: `LowCardinality(String)` where the server
   * supports it as a regular type, plain `String` on 18.x where it is still experimental.
   */
  lowCardinalityString: string;
}

/** One schema step; its statements must each be idempotent (IF NOT EXISTS). */
export interface Migration {
  version: number;
  name: string;
  statements(ctx: MigrationContext): string[];
}

/**
 * The schema, in order. Applied versions are recorded in `schema_migrations`; add a new entry
 * for any change, never edit an applied one.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "requests table and per-minute rollup",
    statements: ({ db, lowCardinalityString: lc }) => [
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
        CAST(if(model_served = '', model_requested, model_served) AS ${lc}) AS model,
        count() AS requests,
        countIf(status_code >= 400 OR error_type != '') AS errors,
        sum(prompt_tokens) AS prompt_tokens,
        sum(completion_tokens) AS completion_tokens,
        sum(cached_tokens) AS cached_tokens,
        sum(reasoning_tokens) AS reasoning_tokens
      FROM ${db}.requests
      GROUP BY minute, tenant_id, team_id, key_id, model`,
    ],
  },
];

/** The lowercase surface name stored in the `surface` column ("openai", "grpc", …). */
export function surfaceName(s: Surface): string {
  const name = Surface[s] as string | undefined;
  return name === undefined ? String(s) : name.toLowerCase();
}

const MAX_DATETIME = 4_294_967_295;

/** Unix seconds for a DateTime column (which holds 1970 … 2106), clamped into range. */
function dateTimeSeconds(ms: number): number {
  return Math.min(MAX_DATETIME, Math.max(0, Math.floor(ms / 1000)));
}

function finite(x: number | undefined): number {
  return x !== undefined && Number.isFinite(x) ? x : 0;
}

/** The JSONEachRow object for one event: one key per column of `requests`. */
export function toRow(e: RequestEvent): Record<string, unknown> {
  const ms = e.timeUnixMs;
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

/**
 * The usage store on ClickHouse. Works on Debian's ClickHouse 18.16 and on current releases:
 * no query parameters (values are escaped into SQL by {@link escapeString}), no DateTime64,
 * LowCardinality only where it is not experimental, no HTTP compression.
 */
export function createClickHouseUsageStore(opts: ClickHouseUsageStoreOptions): UsageStore {
  const db = identifier(opts.database ?? "tessera", "createClickHouseUsageStore: database");
  const log = opts.log ?? createStderrLogger("usage-store.clickhouse");
  const checkExisting = opts.checkExisting ?? true;
  const recent = new RecentIds(opts.recentIds ?? 200_000);
  const client: ClickHouseClient = createClient({
    url: opts.url,
    username: opts.username ?? "default",
    password: opts.password ?? "",
    request_timeout: opts.requestTimeoutMs ?? 30_000,
    // 18.16 copes with gzip, but uncompressed keeps both ends simple and is cheap on loopback
    // or a LAN; the rows are small.
    compression: { request: false, response: false },
    log: { LoggerClass: clientLoggerClass(log), level: ClickHouseLogLevel.WARN },
  });

  async function rows<T>(query: string): Promise<T[]> {
    const rs = await client.query({ query, format: "JSONEachRow" });
    return rs.json<T>();
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
      const r = await rows<{ request_id: string }>(
        `SELECT request_id FROM ${db}.requests
         WHERE tenant_id IN (${tenants.map(escapeString).join(",")})
           AND time >= toDateTime(${integerLiteral(Math.min(...secs))})
           AND time <= toDateTime(${integerLiteral(Math.max(...secs))})
           AND request_id IN (${chunk.map((e) => escapeString(e.requestId)).join(",")})`,
      );
      for (const { request_id } of r) found.add(request_id);
    }
    return found;
  }

  return {
    async migrate() {
      await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
      await client.command({
        query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (
          version UInt32,
          name String,
          applied_at DateTime
        ) ENGINE = ReplacingMergeTree ORDER BY version`,
      });
      const applied = new Set(
        (await rows<{ version: number }>(`SELECT version FROM ${db}.schema_migrations FINAL`)).map((r) =>
          Number(r.version),
        ),
      );
      const pending = MIGRATIONS.filter((m) => !applied.has(m.version));
      if (pending.length === 0) return;
      const ctx: MigrationContext = {
        db,
        lowCardinalityString: (await lowCardinalitySupported()) ? "LowCardinality(String)" : "String",
      };
      for (const m of pending) {
        for (const statement of m.statements(ctx)) await client.command({ query: statement });
        await client.insert({
          table: `${db}.schema_migrations`,
          values: [{ version: m.version, name: m.name, applied_at: Math.floor(Date.now() / 1000) }],
          format: "JSONEachRow",
        });
        log.info({ database: db, version: m.version, migration: m.name }, "applied usage-store migration");
      }
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

    async usageByModel(tenantId, fromMs, toMs) {
      const from = Math.ceil(fromMs);
      const to = Math.ceil(toMs);
      if (!(to > from)) return [];
      const r = await rows<{ model: string; requests: Int64Json; pt: Int64Json; ct: Int64Json; errors: Int64Json }>(
        `SELECT
           if(model_served = '', model_requested, model_served) AS model,
           count() AS requests,
           sum(prompt_tokens) AS pt,
           sum(completion_tokens) AS ct,
           countIf(status_code >= 400 OR error_type != '') AS errors
         FROM ${db}.requests FINAL
         WHERE tenant_id = ${escapeString(tenantId)}
           AND time >= toDateTime(${integerLiteral(dateTimeSeconds(from))})
           AND time <= toDateTime(${integerLiteral(dateTimeSeconds(to - 1))})
           AND time_ms >= ${integerLiteral(from)}
           AND time_ms < ${integerLiteral(to)}
         GROUP BY model
         ORDER BY model`,
      );
      return r.map(
        (x): ModelUsageRow => ({
          model: x.model,
          requests: Number(x.requests),
          promptTokens: Number(x.pt),
          completionTokens: Number(x.ct),
          errors: Number(x.errors),
        }),
      );
    },

    async findRequest(requestId) {
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
      }>(
        `SELECT request_id, time_ms, tenant_id, key_id, model_requested, model_served, provider,
                deployment, status_code, prompt_tokens, completion_tokens, stream
         FROM ${db}.requests
         WHERE request_id = ${escapeString(requestId)}
         LIMIT 1`,
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
      } satisfies StoredRequest;
    },

    async close() {
      await client.close();
    },
  };
}
