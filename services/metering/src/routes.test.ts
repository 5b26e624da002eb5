import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, createRouterTransport, type Client } from "@connectrpc/connect";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { RequestEventSchema } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { Bucket, Dimension, MeteringService, Metric } from "@tessera/gen/tessera/metering/v1/metering_pb";
import { createMemoryEventBus, type MemoryEventBus } from "@tessera/events";
import { createEmbeddedUsageStore } from "@tessera/usage-store";
import { build as buildAuthz } from "@tessera/authz";
import { createDirectClient, createErrorInterceptor, createPriceTable, parseConfig, routesOf, sha256Hex, type BuiltService, type ServiceBinding } from "@tessera/runtime";
import { memoryLogger } from "../../../tests/helpers/log.js";
import { createMetering } from "./server.js";

const OPERATOR = "op-metering-test-token";
const KEYS = { acme: "tk-metering-acme-dev", viewer: "tk-metering-acme-viewer", beta: "tk-metering-beta-dev", noRole: "tk-metering-acme-none" };

/** Authz from configuration: static keys per tenant and role, and an operator token. */
const CONFIG = `
api_keys:
  - { id: acme-dev, tenant: acme, key_sha256: ${sha256Hex(KEYS.acme)} }
  - { id: acme-viewer, tenant: acme, roles: [viewer], key_sha256: ${sha256Hex(KEYS.viewer)} }
  - { id: acme-none, tenant: acme, roles: [], key_sha256: ${sha256Hex(KEYS.noRole)} }
  - { id: beta-dev, tenant: beta, key_sha256: ${sha256Hex(KEYS.beta)} }
authz: { store: { kind: pglite, path: "" }, admin_token_env: TESSERA_METERING_TEST_OPERATOR }
prices:
  - { model: m1, provider: p, input: 2, output: 8 }
  - { model: m1, provider: p, input: 1, output: 4, effective_from: "2026-01-01" }
`;

describe("metering service: priced events, usage queries scoped by the caller's role", () => {
  const { log } = memoryLogger("metering");
  let bus: MemoryEventBus;
  let authz: BuiltService;
  let metering: BuiltService;
  let as: (credential: string) => Client<typeof MeteringService>;
  const t = Date.UTC(2026, 0, 1, 12);

  before(async () => {
    process.env["TESSERA_METERING_TEST_OPERATOR"] = OPERATOR;
    const cfg = parseConfig(CONFIG, "metering-test", process.env);
    authz = await buildAuthz(cfg, log);
    const admin = createDirectClient(authz.bindings.find((b) => b.service.typeName === AdminService.typeName) as ServiceBinding<typeof AdminService>);
    bus = createMemoryEventBus({ log });
    metering = createMetering({ consumer: bus, store: createEmbeddedUsageStore(), prices: createPriceTable(cfg.prices), admin, log });
    await metering.start!();
    as = (credential) =>
      createClient(
        MeteringService,
        createRouterTransport(routesOf(metering.bindings), {
          router: { interceptors: [createErrorInterceptor(log)] },
          transport: { interceptors: [(next) => (req) => (credential && req.header.set("authorization", `Bearer ${credential}`), next(req))] },
        }),
      );
    const ev = (id: string, tenant: string, at: number, status = 200) =>
      create(RequestEventSchema, { requestId: id, tenantId: tenant, teamId: "core", modelRequested: "m1", modelServed: "m1-2025", deployment: "p/m1", provider: "openai", timeUnixMs: BigInt(at), statusCode: status, promptTokens: 1000, completionTokens: 100 });
    bus.publish(ev("r1", "acme", t));
    bus.publish(ev("r2", "acme", t, 502));
    bus.publish(ev("r2", "acme", t, 502)); // redelivered duplicate
    bus.publish(ev("r3", "acme", Date.UTC(2025, 11, 31, 23, 59))); // the older price
    bus.publish(ev("r4", "beta", t));
    await bus.flush();
  });
  after(async () => {
    await metering.stop();
    await authz.stop();
  });

  const range = { startUnixMs: BigInt(Date.UTC(2025, 11, 31)), endUnixMs: BigInt(Date.UTC(2026, 0, 2)) };
  const denied = (code: Code) => (e: unknown) => ConnectError.from(e).code === code;

  test("GetUsage answers a tenant's own per-model totals, deduplicated", async () => {
    const res = await as(KEYS.acme).getUsage({ tenantId: "acme", ...range });
    assert.deepEqual(
      res.models.map((m) => [m.model, m.requests, m.errors, m.promptTokens]),
      [["m1-2025", 3n, 1n, 3000n]],
    );
    await assert.rejects(as(KEYS.acme).getUsage({ tenantId: "" }), denied(Code.InvalidArgument));
  });

  test("each event is priced at the price in force at its time, exactly", async () => {
    const res = await as(OPERATOR).queryUsage({ query: { ...range, groupBy: [Dimension.TENANT], bucket: Bucket.DAY } });
    assert.deepEqual(
      res.rows.map((r) => [r.group!.tenantId, new Date(Number(r.group!.bucketStartUnixMs)).toISOString().slice(0, 10), r.requests, r.costUsd, r.costInputUsd, r.costOutputUsd]),
      [
        // 1000 × $2/M + 100 × $8/M before 2026-01-01; 1000 × $1/M + 100 × $4/M after
        ["acme", "2025-12-31", 1n, "0.0028", "0.002", "0.0008"],
        ["acme", "2026-01-01", 2n, "0.0028", "0.002", "0.0008"],
        ["beta", "2026-01-01", 1n, "0.0014", "0.001", "0.0004"],
      ],
    );
  });

  test("the operator sees every tenant; a tenant's developer or viewer only its own, forced server-side", async () => {
    const q = { query: { ...range, groupBy: [Dimension.TENANT] } };
    assert.deepEqual((await as(OPERATOR).queryUsage(q)).rows.map((r) => r.group!.tenantId), ["acme", "beta"]);
    for (const key of [KEYS.acme, KEYS.viewer]) assert.deepEqual((await as(key).queryUsage(q)).rows.map((r) => [r.group!.tenantId, r.requests]), [["acme", 3n]]);
    assert.deepEqual((await as(KEYS.beta).queryLatency(q)).rows.map((r) => [r.group!.tenantId, r.requests]), [["beta", 1n]]);
  });

  test("asking for another tenant is PERMISSION_DENIED, not an empty answer; no credential is UNAUTHENTICATED", async () => {
    const other = { query: { ...range, filters: [{ dimension: Dimension.TENANT, values: ["beta"] }] } };
    await assert.rejects(as(KEYS.acme).queryUsage(other), (e: unknown) => denied(Code.PermissionDenied)(e) && /own tenant's usage \('acme'\), not 'beta'/.test(ConnectError.from(e).rawMessage));
    await assert.rejects(as(KEYS.acme).queryLatency(other), denied(Code.PermissionDenied));
    await assert.rejects(as(KEYS.acme).getUsage({ tenantId: "beta", ...range }), denied(Code.PermissionDenied));
    await assert.rejects(as(KEYS.noRole).queryUsage({ query: range }), (e: unknown) => denied(Code.PermissionDenied)(e) && /needs the admin, developer, viewer or operator role/.test(ConnectError.from(e).rawMessage));
    for (const c of [as(""), as("tk-not-a-key")]) {
      await assert.rejects(c.queryUsage({ query: range }), denied(Code.Unauthenticated));
      await assert.rejects(c.getUsage({ tenantId: "acme", ...range }), denied(Code.Unauthenticated));
    }
  });

  test("bad questions are INVALID_ARGUMENT naming the field", async () => {
    const bad = async (query: object, field: RegExp) =>
      assert.rejects(as(OPERATOR).queryUsage({ query: { ...range, ...query } }), (e: unknown) => denied(Code.InvalidArgument)(e) && field.test(ConnectError.from(e).rawMessage));
    await bad({ groupBy: [Dimension.UNSPECIFIED] }, /group_by\[0\] is not a dimension/);
    await bad({ groupBy: [Dimension.MODEL, Dimension.MODEL] }, /group_by names model twice/);
    await bad({ bucket: 99 }, /bucket is not a bucket size/);
    await bad({ bucket: Bucket.MINUTE, endUnixMs: range.startUnixMs + 30n * 86_400_000n }, /more than 20000 minute buckets/);
    await bad({ filters: [{ dimension: Dimension.STATUS, values: ["2xx"] }] }, /status values must be whole numbers/);
    await bad({ orderBy: Metric.COST, limit: 10_001 }, /limit must be between 0 and 10000/);
    await bad({ endUnixMs: range.startUnixMs }, /end_unix_ms .* must be after start_unix_ms/);
    await assert.rejects(as(OPERATOR).queryLatency({ query: { ...range, limit: 3 } }), /no top-N/);
  });
});
