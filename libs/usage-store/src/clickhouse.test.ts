import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { createClient } from "@clickhouse/client";
import { createClickHouseUsageStore, toRow } from "./clickhouse.js";
import { usageSql } from "./clickhouse-query.js";
import { picoCost, T0, usageEvent, usageStoreContract } from "./contract.js";
import { parseUsdToPico, type PortLogger as Logger } from "@tessera/runtime";
import { type Dimension, RowsRejectedError } from "./port.js";
import { escapeString, identifier, integerLiteral, sqlValues } from "./sql.js";

const URL = process.env["TESSERA_TEST_CLICKHOUSE_URL"];

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

const COSTS = ["cost_usd", "cost_input_usd", "cost_output_usd", "cost_cached_usd", "cost_reasoning_usd"];

const HOUR = 3_600_000;

/** What the server stores for a JavaScript string: lone surrogates become U+FFFD in UTF-8. */
const wellFormed = (s: string) => Buffer.from(s, "utf8").toString("utf8");

/**
 * `n` random strings from a seeded generator: quotes, backslashes, NUL and every control byte,
 * SQL and placeholder fragments, Latin, CJK, right-to-left, astral characters, lone surrogates.
 */
function fuzzStrings(n: number, seed: number): string[] {
  const atoms = [
    ...Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)),
    ..."''''\\\\\\\\\"\"``{}[]%_?$:;".split(""),
    "' OR 1=1 --", "'; DROP TABLE requests; --", "\\'", "\\x41", "\\0", "*/", "/*", "{p0:String}", "{probe:String}", "$1", "?", "\\N", "NULL",
    ..."äöüßéèçñøåÆŒ€£¥©®±µ¶·".split(""),
    ..."漢字仮名カタカナ한국어עבריתالعربيةहिन्दी".split(""),
    ...["😀", "🎉", "👍🏽", "🇫🇷", "𝔘", "\u200d", "\u00a0", "\u2028", "\u2029", "\ufeff", "\uffff", "\ud800", "\udfff", "\udbff\udbff"],
  ];
  let x = seed;
  const rand = (k: number) => {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    return x % k;
  };
  const out = ["", "'", "\\", "\\'", "'\\", "\0", "\\x41", "\\n", "'; SELECT 1; --"];
  while (out.length < n) out.push(Array.from({ length: rand(24) }, () => atoms[rand(atoms.length)]).join(""));
  return out;
}

describe("escapeString (no server)", () => {
  it("escapes backslash, quote and control characters, leaving the rest as is", () => {
    assert.equal(escapeString(""), "''");
    assert.equal(escapeString("it's"), "'it\\'s'");
    assert.equal(escapeString("a\\b"), "'a\\\\b'");
    assert.equal(escapeString("\\'"), "'\\\\\\''");
    assert.equal(escapeString("l1\nl2\r\t\0\b\f"), "'l1\\nl2\\r\\t\\0\\b\\f'");
    assert.equal(escapeString("\u0001\u001f\u007f"), "'\\x01\\x1f\\x7f'");
    assert.equal(escapeString('"ü✓😀`'), "'\"ü✓😀`'");
  });

  it("accepts only plain identifiers and safe integers", () => {
    assert.equal(identifier("tessera_test_1"), "tessera_test_1");
    assert.throws(() => identifier("x; DROP TABLE y"), /must match/);
    assert.throws(() => identifier("1abc"), /must match/);
    assert.throws(() => identifier("a-b"), /must match/);
    assert.equal(integerLiteral(-5), "-5");
    assert.equal(integerLiteral(2n ** 63n - 1n), "9223372036854775807");
    assert.throws(() => integerLiteral(1.5), /not a safe integer/);
    assert.throws(() => integerLiteral(Number.NaN), /not a safe integer/);
  });

  it("sqlValues: placeholders and a parameter map for servers with parameters, escaped literals otherwise", () => {
    const p = sqlValues(true);
    assert.equal(`${p.string("it's")} ${p.integer(-5, "Int64")} ${p.string("\\")}`, "{p0:String} {p1:Int64} {p2:String}");
    assert.deepEqual(p.params, { p0: "it's", p1: -5, p2: "\\" });
    assert.throws(() => p.integer(1, "Int64) OR (1"), /integer type must match/);
    assert.throws(() => p.integer(0.5, "Int64"), /not a safe integer/);
    const l = sqlValues(false);
    assert.equal(`${l.string("it's")} ${l.integer(7n, "UInt32")}`, "'it\\'s' 7");
    assert.deepEqual(l.params, {});
  });

  it("usage SQL maps dimensions and metrics to fixed columns; caller values only as values", () => {
    const q = { fromMs: T0, toMs: T0 + HOUR, groupBy: ["model", "prompt_version"] as Dimension[], bucket: "day", filters: { team: ["x') OR 1=1 --"], status: ["200"] }, orderBy: "tokens", limit: 3 } as const;
    const v = sqlValues(true);
    const sql = usageSql("db", q, "requests", v);
    assert.match(sql, /FROM db\.requests FINAL/);
    assert.match(sql, /team_id IN \(\{p\d+:String\}\)/);
    assert.match(sql, /status_code IN \(\{p\d+:UInt32\}\)/);
    assert.match(sql, /ORDER BY sum\(prompt_tokens\) \+ sum\(completion_tokens\) DESC/);
    assert.ok(!sql.includes("OR 1=1"), "the filter value is a parameter, not text");
    assert.ok(Object.values(v.params).includes("x') OR 1=1 --"));
    assert.throws(() => usageSql("db", { ...q, filters: { status: ["2OO"] } }, "requests", sqlValues(false)), /filter status: "2OO" is not a whole number/);
    assert.throws(() => usageSql("db", { ...q, groupBy: ["surface"], filters: {} }, "usage_by_hour", sqlValues(false)), /dimension surface is not in usage_by_hour/);
  });

  it("refuses a database name that is not a plain identifier", () => {
    assert.throws(
      () => createClickHouseUsageStore({ url: "http://127.0.0.1:1", database: "bad-name" }),
      /database must match/,
    );
  });
});

if (!URL) {
  it("ClickHouse integration tests need a server", () => {
    assert.fail(
      "TESSERA_TEST_CLICKHOUSE_URL is not set. Start the engines with `scripts/infra up clickhouse` " +
        'and load their addresses with `eval "$(scripts/infra env)"`, then run the tests again.',
    );
  });
} else {
  const admin = createClient({ url: URL, compression: { request: false, response: false } });
  const databases: string[] = [];
  after(async () => {
    for (const db of databases) await admin.command({ query: `DROP DATABASE IF EXISTS ${db}` }).catch(() => {});
    await admin.close();
  });

  const freshDatabase = () => {
    const db = `tessera_test_${randomBytes(6).toString("hex")}`;
    databases.push(db);
    return db;
  };
  const q = async <T>(query: string): Promise<T[]> =>
    (await admin.query({ query, format: "JSONEachRow" })).json<T>();

  usageStoreContract("clickhouse", async () => {
    const database = freshDatabase();
    const store = createClickHouseUsageStore({ url: URL, database, log: quiet });
    await store.migrate();
    return { store, cleanup: () => store.close() };
  });

  describe("clickhouse usage store", () => {
    it("fuzz: thousands of hostile strings come back from SELECT byte for byte and a WHERE finds exactly their row", async () => {
      const strings = fuzzStrings(3_000, 20260101);
      // SELECT <literal>: text and bytes, 100 strings per query.
      for (let i = 0; i < strings.length; i += 100) {
        const chunk = strings.slice(i, i + 100);
        const v = sqlValues(false);
        const select = chunk.map((s, j) => `${v.string(s)} AS s${j}, hex(${v.string(s)}) AS h${j}`).join(", ");
        const [row] = await q<Record<string, string>>(`SELECT ${select}`);
        chunk.forEach((s, j) => {
          assert.equal(row?.[`h${j}`], Buffer.from(s, "utf8").toString("hex").toUpperCase(), `bytes of ${JSON.stringify(s)}`);
          assert.equal(row?.[`s${j}`], wellFormed(s), `text of ${JSON.stringify(s)}`);
        });
      }
      // A row per string (as request id and key); the existence check and the inserts carry them too.
      const database = freshDatabase();
      const store = createClickHouseUsageStore({ url: URL, database, log: quiet });
      await store.migrate();
      const unique = [...new Map(strings.map((s) => [wellFormed(s), s])).values()];
      await store.insert(unique.map((s, i) => usageEvent({ requestId: s, keyId: s, timeUnixMs: BigInt(T0 + i) })));
      const range = { fromMs: T0, toMs: T0 + 60_001, bucket: "none", orderBy: "cost", limit: 0 } as const;
      for (let i = 0; i < unique.length; i += 150) {
        const chunk = unique.slice(i, i + 150);
        const { rows } = await store.queryUsage({ ...range, groupBy: ["key"], filters: { key: chunk } });
        assert.deepEqual(rows.map((r) => r.dims.key).sort(), chunk.map(wellFormed).sort(), "a filter on these keys finds exactly their rows");
        assert.ok(rows.every((r) => r.requests === 1));
      }
      for (const s of unique.filter((_, i) => i % 10 === 0)) {
        assert.equal((await store.findRequest(s))?.requestId, wellFormed(s), `WHERE request_id = ${JSON.stringify(s)}`);
        const one = await store.queryUsage({ ...range, groupBy: [], filters: { key: [s] } });
        assert.equal(one.rows[0]?.requests, 1, `exactly one row for ${JSON.stringify(s)}`);
      }
      await store.close();
    });

    it("stores every event field in its column", async () => {
      const database = freshDatabase();
      const store = createClickHouseUsageStore({ url: URL, database, log: quiet });
      await store.migrate();
      const e = usageEvent({
        cachedTokens: 7,
        reasoningTokens: 9,
        cacheHit: true,
        attempts: 3,
        stream: true,
        promptName: "faq",
        promptVersion: 4,
        fallbacks: 1,
        apiPath: "/apis/support/reply",
        chainId: "01KCHAIN0000000000000000000",
        chainStep: "draft",
        chainStepIndex: 2,
        cost: picoCost(1n, 20_000_000_000_000_000n, 18_750n, 0n),
      });
      e.redactions = [
        { $typeName: "tessera.events.v1.RedactionCount", entityType: "EMAIL", count: 2 },
        { $typeName: "tessera.events.v1.RedactionCount", entityType: "IBAN", count: 1 },
      ];
      await store.insert([e]);
      const [row] = await q<Record<string, unknown>>(
        `SELECT *, toUnixTimestamp(time) AS time_s, ${COSTS.map((c) => `toString(${c}) AS ${c}_text`).join(", ")}
         FROM ${database}.requests WHERE request_id = ${escapeString(e.requestId)}`,
      );
      const expected = toRow(e);
      assert.ok(row);
      assert.equal(Number(row.time_s), Math.floor((T0 + 1_234) / 1000));
      // Int64 comes back quoted or not depending on output_format_json_quote_64bit_integers.
      assert.equal(Number(row.time_ms), T0 + 1_234);
      for (const [col, value] of Object.entries(expected)) {
        if (col === "time" || col === "time_ms" || COSTS.includes(col)) continue;
        assert.deepEqual(row[col], value, `column ${col}`);
      }
      assert.equal(row.surface, "openai");
      assert.deepEqual(row.redaction_types, ["EMAIL", "IBAN"]);
      assert.deepEqual(row.redaction_counts, [2, 1]);
      assert.equal(row.latency_total_ms, 250.5);
      assert.deepEqual(
        COSTS.map((c) => parseUsdToPico(String(row[`${c}_text`]))),
        [20_000_000_000_018_751n, 1n, 20_000_000_000_000_000n, 18_750n, 0n],
        "costs to the pico-dollar",
      );
      assert.equal(row.redaction_total, 3);
      await store.close();
    });

    it("records the applied migration once, however often or concurrently migrate runs", async () => {
      const database = freshDatabase();
      const stores = [1, 2, 3].map(() => createClickHouseUsageStore({ url: URL, database, log: quiet }));
      await Promise.all(stores.map((s) => s.migrate()));
      await stores[0]!.migrate();
      const rows = await q<{ version: number; name: string }>(
        `SELECT version, name FROM ${database}.schema_migrations FINAL ORDER BY version`,
      );
      assert.deepEqual(rows.map((r) => Number(r.version)), [1, 2, 3]);
      const tables = await q<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${database}' ORDER BY name`);
      assert.deepEqual(tables.map((t) => t.name), [
        "requests",
        "requests_by_minute",
        "requests_by_minute_mv",
        "schema_migrations",
        "usage_by_hour",
        "usage_by_hour_mv",
        "usage_by_minute",
        "usage_by_minute_mv",
      ]);
      await Promise.all(stores.map((s) => s.close()));
    });

    it("migrates a database at version 1: columns added, rollups filled from its requests, then fed by new ones", async () => {
      const database = freshDatabase();
      const v1 = createClickHouseUsageStore({ url: URL, database, log: quiet, schemaVersion: 1 });
      await v1.migrate();
      await v1.close();
      // Rows as a version-1 writer stored them (no prompt, fallback or cost columns yet).
      const old = Array.from({ length: 30 }, (_, i) => usageEvent({ timeUnixMs: BigInt(T0 + i * 5 * 60_000), teamId: `t${i % 2}`, promptTokens: i }));
      const v2Columns = new Set(["prompt_name", "prompt_version", "fallbacks", ...COSTS, "redaction_total"]);
      const laterColumns = new Set([...v2Columns, "api_path", "chain_id", "chain_step", "chain_step_index"]);
      await admin.insert({
        table: `${database}.requests`,
        values: old.map((e) => Object.fromEntries(Object.entries(toRow(e)).filter(([c]) => !laterColumns.has(c)))),
        format: "JSONEachRow",
      });
      const store = createClickHouseUsageStore({ url: URL, database, log: quiet });
      await store.migrate();
      const columns = new Set((await q<{ name: string }>(`SELECT name FROM system.columns WHERE database = '${database}' AND table = 'requests'`)).map((c) => c.name));
      for (const c of laterColumns) assert.ok(columns.has(c), `requests.${c}`);
      await store.insert([usageEvent({ timeUnixMs: BigInt(T0 + 7), teamId: "t0", promptTokens: 1000, promptName: "faq", promptVersion: 2, cost: picoCost(5n) })]);
      const query = { groupBy: ["team", "prompt_version"] as Dimension[], bucket: "hour", filters: {}, orderBy: "cost", limit: 0 } as const;
      const hourly = await store.queryUsage({ ...query, fromMs: T0, toMs: T0 + 3 * HOUR });
      const minutes = await store.queryUsage({ ...query, fromMs: T0 - 60_000, toMs: T0 + 3 * HOUR });
      const raw = await store.queryUsage({ ...query, fromMs: T0 - 1, toMs: T0 + 3 * HOUR });
      assert.deepEqual([hourly.source, minutes.source, raw.source], ["usage_by_hour", "usage_by_minute", "requests"]);
      assert.deepEqual(hourly.rows, raw.rows, "the hourly rollup holds the old rows and the new one");
      assert.deepEqual(minutes.rows, raw.rows, "so does the per-minute one");
      assert.deepEqual(
        raw.rows.map((r) => [r.bucketStartMs - T0, r.dims.team, r.dims.prompt_version, r.requests, r.promptTokens, r.cost.input]),
        [
          [0, "t0", "0", 6, 0 + 2 + 4 + 6 + 8 + 10, 0n],
          [0, "t0", "2", 1, 1000, 5n],
          [0, "t1", "0", 6, 1 + 3 + 5 + 7 + 9 + 11, 0n],
          [HOUR, "t0", "0", 6, 12 + 14 + 16 + 18 + 20 + 22, 0n],
          [HOUR, "t1", "0", 6, 13 + 15 + 17 + 19 + 21 + 23, 0n],
          [2 * HOUR, "t0", "0", 3, 24 + 26 + 28, 0n],
          [2 * HOUR, "t1", "0", 3, 25 + 27 + 29, 0n],
        ],
      );
      await store.close();
    });

    it("a version-2 migration interrupted part-way is completed by the next start without double counting", async () => {
      const database = freshDatabase();
      const v1 = createClickHouseUsageStore({ url: URL, database, log: quiet, schemaVersion: 1 });
      await v1.migrate();
      await v1.close();
      // What a crash after some steps leaves: one column added, a rollup table half filled, no
      // views, and the dead process's lock.
      await admin.command({ query: `ALTER TABLE ${database}.requests ADD COLUMN prompt_name String` });
      await admin.command({ query: `CREATE TABLE ${database}.usage_by_minute (minute DateTime, tenant_id String, requests UInt64) ENGINE = SummingMergeTree ORDER BY (tenant_id, minute)` });
      await admin.insert({ table: `${database}.usage_by_minute`, values: [{ minute: T0 / 1000, tenant_id: "tenant-a", requests: 99 }], format: "JSONEachRow" });
      await admin.command({ query: `CREATE TABLE ${database}.schema_migrations_lock (at DateTime) ENGINE = TinyLog` });
      const store = createClickHouseUsageStore({ url: URL, database, log: quiet, migrationLockTimeoutMs: 300 });
      await store.migrate();
      await store.insert([usageEvent({ timeUnixMs: BigInt(T0 + 10) })]);
      const rollup = await store.queryUsage({ fromMs: T0, toMs: T0 + HOUR, groupBy: [], bucket: "minute", filters: {}, orderBy: "cost", limit: 0 });
      assert.equal(rollup.source, "usage_by_minute");
      assert.deepEqual(rollup.rows.map((r) => r.requests), [1], "the half-filled table was started over");
      const locks = await q<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${database}' AND name LIKE '%lock%'`);
      assert.deepEqual(locks, [], "the lock is released");
      await store.close();
    });

    it("the per-minute rollup counts a redelivered event once, also after a restart", async () => {
      const database = freshDatabase();
      const first = createClickHouseUsageStore({ url: URL, database, log: quiet });
      await first.migrate();
      const a = usageEvent({ promptTokens: 5 });
      const b = usageEvent({ promptTokens: 7, timeUnixMs: BigInt(T0 + 61_000), statusCode: 500 });
      await first.insert([a, a, b]);
      await first.insert([a]);
      await first.close();
      // A new process knows nothing of what the old one inserted: the server is asked.
      const second = createClickHouseUsageStore({ url: URL, database, log: quiet });
      await second.insert([a, b]);
      const rollup = await q<{ minute: string; requests: string; errors: string; prompt_tokens: string }>(
        `SELECT toUnixTimestamp(minute) AS minute, sum(requests) AS requests, sum(errors) AS errors,
                sum(prompt_tokens) AS prompt_tokens
         FROM ${database}.requests_by_minute GROUP BY minute ORDER BY minute`,
      );
      assert.deepEqual(
        rollup.map((r) => [Number(r.minute) * 1000, Number(r.requests), Number(r.errors), Number(r.prompt_tokens)]),
        [
          [T0, 1, 0, 5],
          [T0 + 60_000, 1, 1, 7],
        ],
      );
      const [raw] = await q<{ n: string }>(`SELECT count() AS n FROM ${database}.requests`);
      assert.equal(Number(raw?.n), 2, "no duplicate rows reached the table");
      await second.close();
    });

    it("without the server-side check, raw reads stay exact though the rollups double-count", async () => {
      const database = freshDatabase();
      const one = createClickHouseUsageStore({ url: URL, database, log: quiet, checkExisting: false });
      await one.migrate();
      const a = usageEvent({ promptTokens: 5 });
      await one.insert([a]);
      const two = createClickHouseUsageStore({ url: URL, database, log: quiet, checkExisting: false });
      await two.insert([a]);
      const usage = await two.usageByModel("tenant-a", T0, T0 + 60_001);
      assert.equal(usage[0]?.requests, 1, "FINAL collapses the duplicate row");
      for (const table of ["requests_by_minute", "usage_by_minute", "usage_by_hour"]) {
        const [r] = await q<{ n: string }>(`SELECT sum(requests) AS n FROM ${database}.${table}`);
        assert.equal(Number(r?.n), 2, `the documented limit of ${table} without the check`);
      }
      await Promise.all([one.close(), two.close()]);
    });

    it("rows the server refuses raise RowsRejectedError; an unreachable server raises something else", async () => {
      const database = freshDatabase();
      const store = createClickHouseUsageStore({ url: URL, database, log: quiet });
      await store.migrate();
      // Schema drift: a column whose type no longer holds what the events carry.
      await admin.command({ query: `ALTER TABLE ${database}.requests MODIFY COLUMN user_id UInt64` });
      assert.equal(await store.insert([usageEvent({ userId: "42" })]), 1, "a value the new type holds goes in");
      const err = await store.insert([usageEvent({ userId: "someone" })]).catch((e: unknown) => e);
      assert.ok(err instanceof RowsRejectedError, String(err));
      assert.match(err.message, /^ClickHouse refused the rows \(code \d+\): /);
      const down = createClickHouseUsageStore({ url: "http://127.0.0.1:1", database, log: quiet, requestTimeoutMs: 2_000 });
      const outage = await down.insert([usageEvent()]).catch((e: unknown) => e);
      assert.ok(outage instanceof Error && !(outage instanceof RowsRejectedError), String(outage));
      await Promise.all([store.close(), down.close()]);
    });

    it("inserts a large batch in one go and reads it back", async () => {
      const database = freshDatabase();
      const store = createClickHouseUsageStore({ url: URL, database, log: quiet });
      await store.migrate();
      const events = Array.from({ length: 5_000 }, (_, i) =>
        usageEvent({ timeUnixMs: BigInt(T0 + i * 10), promptTokens: 1, tenantId: `tenant-${i % 4}` }),
      );
      await store.insert(events);
      await store.insert(events.slice(0, 2_500)); // redelivery of half: skipped via recent ids
      const rows = await store.usageByModel("tenant-1", T0, T0 + 60_000);
      assert.equal(rows[0]?.requests, 1_250);
      const fresh = createClickHouseUsageStore({ url: URL, database, log: quiet });
      await fresh.insert(events.slice(2_000, 4_500)); // redelivery after a restart: server check, chunked
      const [r] = await q<{ n: string }>(`SELECT sum(requests) AS n FROM ${database}.requests_by_minute`);
      assert.equal(Number(r?.n), 5_000);
      await Promise.all([store.close(), fresh.close()]);
    });
  });
}
