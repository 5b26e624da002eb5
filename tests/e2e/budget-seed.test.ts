import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { createClient } from "@clickhouse/client";
import { OPERATOR_ENV, OPERATOR_TOKEN, adminClient, openai, setUpTenants } from "../helpers/tenants.js";
import { startTestGateway } from "../helpers/gateway.js";
import { testSchemas } from "../helpers/postgres.js";
import { eventually, requireEnv } from "../helpers/procs.js";

/**
 * Spend flows back from metering to authz's budgets: a gateway whose counters are in memory
 * (lost on restart) but whose tenants and usage outlive it (Postgres, ClickHouse) starts a
 * budget ledger from the spend metering stored, not from 0.
 */
describe("budgets start from metering's stored spend", () => {
  const pg = requireEnv("TESSERA_TEST_POSTGRES_URL");
  const ch = requireEnv("TESSERA_TEST_CLICKHOUSE_URL");
  const schemas = testSchemas(pg, "seed", ["authz"] as const);
  const database = `tessera_seed_${randomBytes(4).toString("hex")}`;
  const suffix = randomBytes(3).toString("hex");
  before(() => {
    process.env[OPERATOR_ENV] = OPERATOR_TOKEN;
  });
  after(async () => {
    const c = createClient({ url: ch });
    await c.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await c.close();
  });
  // $1000 per million tokens: a milli-dollar a token, so every figure is exact in the 402 text.
  const gateway = () =>
    startTestGateway({
      authz: `{ store: { kind: postgres, url: "${schemas.url("authz")}" }, counters: memory, admin_token_env: ${OPERATOR_ENV} }`,
      extra: `
prices:
  - { model: gpt-4o-mini, provider: fake, input: 1000, output: 1000 }
usage_store: { kind: clickhouse, url: "${ch}", database: ${database} }
`,
    });

  test("calls before a restart count against a budget after it, to the milli-dollar", async () => {
    let g = await gateway();
    let tokens = 0;
    let keyId = "";
    let tenantId = "";
    let dev = "";
    try {
      const t = await setUpTenants(g.url, suffix);
      ({ id: tenantId, devKeyId: keyId, dev } = t.a);
      const client = openai(g.url, dev);
      for (let i = 0; i < 3; i++) {
        const r = await client.chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: `hello ${i}` }], max_tokens: 8 });
        tokens += r.usage!.prompt_tokens + r.usage!.completion_tokens;
      }
      assert.ok(tokens > 0);
      // Metering (in process) has stored and priced all three before the restart.
      await eventually(async () => {
        const rows = await g.gw.store.queryUsage({ fromMs: 0, toMs: Date.now() + 1, groupBy: [], bucket: "none", filters: { tenant: [tenantId] }, orderBy: "cost", limit: 0 });
        return rows.rows[0]?.requests === 3 ? true : undefined;
      }, 10_000, "three priced rows in ClickHouse");
    } finally {
      await g.stop();
    }

    // A new process: counters empty, tenants in Postgres, usage in ClickHouse.
    g = await gateway();
    try {
      const op = adminClient(g.url, OPERATOR_TOKEN);
      const spentUsd = tokens / 1000;
      // Room for what was spent plus a thousandth of a cent: no call fits if the ledger knows the spend.
      await op.setBudget({ budget: { tenantId, id: "key-month", scope: "key", scopeId: keyId, period: "month", limitUsd: spentUsd + 0.00001 } });
      const err = await openai(g.url, dev)
        .chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: "one more" }], max_tokens: 8 })
        .then(() => undefined, (e: unknown) => e as { status: number; code: string; message: string });
      assert.ok(err, "the call must be refused: the ledger starts from the stored spend");
      assert.equal(err.status, 402);
      assert.equal(err.code, "budget_exceeded");
      assert.match(err.message, new RegExp(`\\$${spentUsd.toFixed(4).replace(".", "\\.")} spent`));
      const b = (await op.listBudgets({ tenantId })).budgets.find((x) => x.id === "key-month")!;
      assert.equal(Math.round(b.spentUsd * 1e6), tokens * 1000, "the ledger holds exactly the metered spend");
      assert.equal(b.reservedUsd, 0);
    } finally {
      await g.stop();
    }
  });
});
