import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { createClient } from "@clickhouse/client";
import { createClickHouseUsageStore, toRow } from "./clickhouse.js";
import { T0, usageEvent, usageStoreContract } from "./contract.js";
import { RowsRejectedError } from "./port.js";
import type { PortLogger as Logger } from "@tessera/runtime";
import { escapeString, identifier, integerLiteral } from "./sql.js";

const URL = process.env["TESSERA_TEST_CLICKHOUSE_URL"];

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

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
    it("escapeString: random strings come back from the server byte for byte", async () => {
      const pools = [
        Array.from({ length: 128 }, (_, i) => String.fromCharCode(i)).join(""),
        "''''\\\\\\\\\"\"``{}[]%_?$:;--/**/",
        "äöüßéèçñøåÆŒ€£¥©®±µ¶·¼½¾¿",
        "漢字仮名カタカナ한국어עבריתالعربيةहिन्दी",
        "😀🎉👍🏽🇫🇷𝔘𝔫𝔦𝔠𝔬𝔡𝔢\u200d\u00a0\u2028\u2029\ufeff",
      ];
      const chars = pools.flatMap((p) => [...p]);
      let seed = 12345;
      const rand = (n: number) => {
        seed = (seed * 1103515245 + 12345) & 0x7fffffff;
        return seed % n;
      };
      const strings = Array.from({ length: 400 }, () =>
        Array.from({ length: rand(40) }, () => chars[rand(chars.length)]).join(""),
      );
      strings.push("", "'", "\\", "\\'", "'\\", "\0", "\\x41", "\\n", "'; SELECT 1; --");
      for (let i = 0; i < strings.length; i += 100) {
        const chunk = strings.slice(i, i + 100);
        const select = chunk.map((s, j) => `${escapeString(s)} AS s${j}, hex(${escapeString(s)}) AS h${j}`).join(", ");
        const [row] = await q<Record<string, string>>(`SELECT ${select}`);
        chunk.forEach((s, j) => {
          const bytes = Buffer.from(s, "utf8").toString("hex").toUpperCase();
          assert.equal(row?.[`h${j}`], bytes, `bytes of ${JSON.stringify(s)}`);
          assert.equal(row?.[`s${j}`], s, `text of ${JSON.stringify(s)}`);
        });
      }
    });

    it("stores every event field in its column", async () => {
      const database = freshDatabase();
      const store = createClickHouseUsageStore({ url: URL, database, log: quiet });
      await store.migrate();
      const e = usageEvent({ cachedTokens: 7, reasoningTokens: 9, cacheHit: true, attempts: 3, stream: true });
      e.redactions = [
        { $typeName: "tessera.events.v1.RedactionCount", entityType: "EMAIL", count: 2 },
        { $typeName: "tessera.events.v1.RedactionCount", entityType: "IBAN", count: 1 },
      ];
      await store.insert([e]);
      const [row] = await q<Record<string, unknown>>(
        `SELECT *, toUnixTimestamp(time) AS time_s FROM ${database}.requests WHERE request_id = ${escapeString(e.requestId)}`,
      );
      const expected = toRow(e);
      assert.ok(row);
      assert.equal(Number(row.time_s), Math.floor((T0 + 1_234) / 1000));
      // Int64 comes back quoted or not depending on output_format_json_quote_64bit_integers.
      assert.equal(Number(row.time_ms), T0 + 1_234);
      for (const [col, value] of Object.entries(expected)) {
        if (col === "time" || col === "time_ms") continue;
        assert.deepEqual(row[col], value, `column ${col}`);
      }
      assert.equal(row.surface, "openai");
      assert.deepEqual(row.redaction_types, ["EMAIL", "IBAN"]);
      assert.deepEqual(row.redaction_counts, [2, 1]);
      assert.equal(row.latency_total_ms, 250.5);
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
      assert.deepEqual(rows.map((r) => Number(r.version)), [1]);
      const tables = await q<{ name: string }>(`SELECT name FROM system.tables WHERE database = '${database}' ORDER BY name`);
      assert.deepEqual(tables.map((t) => t.name), ["requests", "requests_by_minute", "requests_by_minute_mv", "schema_migrations"]);
      await Promise.all(stores.map((s) => s.close()));
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

    it("without the server-side check, reads stay exact though the rollup double-counts", async () => {
      const database = freshDatabase();
      const one = createClickHouseUsageStore({ url: URL, database, log: quiet, checkExisting: false });
      await one.migrate();
      const a = usageEvent({ promptTokens: 5 });
      await one.insert([a]);
      const two = createClickHouseUsageStore({ url: URL, database, log: quiet, checkExisting: false });
      await two.insert([a]);
      const usage = await two.usageByModel("tenant-a", T0, T0 + 60_000);
      assert.equal(usage[0]?.requests, 1, "FINAL collapses the duplicate row");
      const [r] = await q<{ n: string }>(`SELECT sum(requests) AS n FROM ${database}.requests_by_minute`);
      assert.equal(Number(r?.n), 2, "the documented limit of the rollup without the check");
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
