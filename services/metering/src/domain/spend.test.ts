import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { createClient } from "@clickhouse/client";
import { createDirectClient } from "@tessera/runtime";
import { createClickHouseUsageStore, createEmbeddedUsageStore, type UsageStore } from "@tessera/usage-store";
import { picoCost, T0, usageEvent } from "../../../../libs/usage-store/src/contract.js";
import { memoryLogger } from "../../../../tests/helpers/log.js";
import { spendSource } from "../../../authz/src/server.js";
import { spendService } from "../routes.js";
import { createSpendReader } from "./spend.js";

const CH_URL = process.env["TESSERA_TEST_CLICKHOUSE_URL"];

/** Events of two keys in one team, a second team, another tenant, and one before the period. */
const events = () => [
  usageEvent({ tenantId: "acme", teamId: "core", keyId: "k1", promptTokens: 100, completionTokens: 10, cost: picoCost(1_000_000_001n) }),
  usageEvent({ tenantId: "acme", teamId: "core", keyId: "k1", promptTokens: 200, completionTokens: 20, cost: picoCost(2_000_000_000n, 500n) }),
  usageEvent({ tenantId: "acme", teamId: "core", keyId: "k2", promptTokens: 1, completionTokens: 1, cost: picoCost(7n) }),
  usageEvent({ tenantId: "acme", teamId: "lab", keyId: "k3", promptTokens: 5, completionTokens: 5, cost: picoCost(3_000_000_000n) }),
  usageEvent({ tenantId: "other", teamId: "core", keyId: "k1", promptTokens: 9, completionTokens: 9, cost: picoCost(9_000_000_000n) }),
  usageEvent({ tenantId: "acme", teamId: "core", keyId: "k1", timeUnixMs: BigInt(T0 - 60_000), promptTokens: 50, completionTokens: 50, cost: picoCost(5_000_000_000n) }),
];

function spendContract(name: string, open: () => Promise<UsageStore>) {
  describe(`spend for budgets: ${name}`, () => {
    it("sums exact cost and tokens per tenant, team and key since the period start, nothing of other tenants", async () => {
      const store = await open();
      try {
        await store.insert(events());
        const spend = createSpendReader({ store, now: () => T0 + 3_600_000 });
        assert.deepEqual(await spend("acme", "key", "k1", T0), { picoUsd: 3_000_000_501n, tokens: 330, requests: 2 });
        assert.deepEqual(await spend("acme", "team", "core", T0), { picoUsd: 3_000_000_508n, tokens: 332, requests: 3 });
        assert.deepEqual(await spend("acme", "tenant", "", T0), { picoUsd: 6_000_000_508n, tokens: 342, requests: 4 });
        assert.deepEqual(await spend("acme", "key", "k1", T0 - 120_000), { picoUsd: 8_000_000_501n, tokens: 430, requests: 3 }, "an earlier period start counts the earlier call");
        assert.deepEqual(await spend("acme", "key", "nobody", T0), { picoUsd: 0n, tokens: 0, requests: 0 });
        await assert.rejects(spend("acme", "key", "", T0), /scope_id is required/);
        await assert.rejects(spend("acme", "tenant", "", T0 + 7_200_000), /since_unix_ms must be in the past/);

        // Through SpendService as authz calls it: micro-dollars rounded up (never under-counted).
        const source = spendSource(createDirectClient(spendService({ spend })), 5_000);
        assert.deepEqual(await source({ tenantId: "acme", scope: "key", scopeId: "k1", sinceMs: T0 }), { micros: 3_001, tokens: 330 });
        assert.deepEqual(await source({ tenantId: "acme", scope: "team", scopeId: "lab", sinceMs: T0 }), { micros: 3_000, tokens: 10 });
      } finally {
        await store.close();
      }
    });
  });
}

spendContract("embedded", async () => createEmbeddedUsageStore({ maxRows: 1_000 }));

if (CH_URL) {
  const database = `tessera_spend_${randomBytes(4).toString("hex")}`;
  after(async () => {
    const c = createClient({ url: CH_URL });
    await c.command({ query: `DROP DATABASE IF EXISTS ${database}` });
    await c.close();
  });
  spendContract("ClickHouse", async () => {
    const store = createClickHouseUsageStore({ url: CH_URL, database, log: memoryLogger("spend-test").log });
    await store.migrate();
    return store;
  });
} else {
  it("spend for budgets on ClickHouse", { skip: "TESSERA_TEST_CLICKHOUSE_URL is not set (npm test sets it)" }, () => {});
}
