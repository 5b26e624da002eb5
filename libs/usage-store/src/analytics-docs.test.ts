import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { after, describe, it } from "node:test";
import { createClient } from "@clickhouse/client";
import { parseUsdToPico, type PortLogger as Logger } from "@tessera/runtime";
import { Surface } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { createClickHouseUsageStore } from "./clickhouse.js";
import { picoCost, usageEvent } from "./contract.js";

const URL = process.env["TESSERA_TEST_CLICKHOUSE_URL"];
const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} };

/** The ```sql blocks of docs/analytics.md, in order. */
const DOC = readFileSync(new globalThis.URL("../../../docs/analytics.md", import.meta.url), "utf8");
const QUERIES = [...DOC.matchAll(/```sql\n([\s\S]*?)```/g)].map((m) => m[1]!.trim());

if (!URL) {
  it("the analysts' SQL needs a ClickHouse server", () => {
    assert.fail("TESSERA_TEST_CLICKHOUSE_URL is not set; load the engines' addresses with `eval \"$(scripts/infra env)\"`.");
  });
} else {
  describe("docs/analytics.md: every ready query runs on the real server and answers", () => {
    const db = `tessera_docs_${randomBytes(6).toString("hex")}`;
    const admin = createClient({ url: URL, compression: { request: false, response: false } });
    after(async () => {
      await admin.command({ query: `DROP DATABASE IF EXISTS ${db}` });
      await admin.close();
    });

    it("has the queries the guide promises", () => {
      assert.ok(QUERIES.length >= 9, `found ${QUERIES.length} sql blocks`);
      for (const q of QUERIES) assert.match(q, /\btessera\./, "each query names the tessera database");
    });

    it("each query runs against data like production's and returns rows", async () => {
      const store = createClickHouseUsageStore({ url: URL, database: db, log: quiet });
      await store.migrate();
      const now = Date.now();
      const events = Array.from({ length: 60 }, (_, i) =>
        usageEvent({
          timeUnixMs: BigInt(now - 1_000 - i * 250),
          tenantId: i % 5 === 0 ? "globex" : "acme",
          teamId: `team-${i % 3}`,
          keyId: `key-${i % 4}`,
          provider: i % 2 ? "openai" : "anthropic",
          modelServed: i % 2 ? "gpt-4o" : "claude-3-5-sonnet",
          promptName: i % 3 === 0 ? "faq" : "",
          promptVersion: i % 3 === 0 ? 1 + (i % 2) : 0,
          statusCode: i % 7 === 0 ? 502 : 200,
          errorType: i % 7 === 0 ? "upstream_error" : "",
          stream: i % 2 === 0,
          surface: i % 2 ? Surface.OPENAI : Surface.ANTHROPIC,
          promptTokens: 1000 + i,
          cachedTokens: 200,
          completionTokens: 100,
          cacheHit: i % 10 === 0,
          latency: { totalMs: 100 + i, ttftMs: i % 2 === 0 ? 20 + i : 0 },
          cost: picoCost(BigInt(800 + i) * 2_500_000n, 100n * 10_000_000n, 200n * 1_250_000n),
        }),
      );
      await store.insert(events);
      for (const sql of QUERIES) {
        const rs = await admin.query({ query: sql.replaceAll("tessera.", `${db}.`), format: "JSONEachRow" });
        const rows = await rs.json<Record<string, unknown>>();
        assert.ok(rows.length > 0, `no rows from:\n${sql}`);
      }
      // The first query's answer matches the events' own costs, to the pico-dollar.
      const rs = await admin.query({ query: QUERIES[0]!.replaceAll("tessera.", `${db}.`).replace("sum(cost_usd) AS spend_usd", "toString(sum(cost_usd)) AS spend_usd"), format: "JSONEachRow" });
      const spend = new Map((await rs.json<{ team_id: string; spend_usd: string }>()).map((r) => [r.team_id, parseUsdToPico(r.spend_usd)]));
      const expected = new Map<string, bigint>();
      for (const e of events.filter((x) => x.tenantId === "acme")) {
        const c = e.cost!;
        expected.set(e.teamId, (expected.get(e.teamId) ?? 0n) + c.inputPicoUsd + c.outputPicoUsd + c.cachedPicoUsd + c.reasoningPicoUsd);
      }
      assert.deepEqual(spend, expected);
      await store.close();
    });
  });
}
