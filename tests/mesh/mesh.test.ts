import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import OpenAI from "openai";
import { Redis } from "ioredis";
import { createClickHouseUsageStore, type UsageStore } from "@tessera/usage-store";
import { startFakeOpenAI, type FakeOpenAI } from "../../services/router/src/providers/openai/fake.js";
import { SCENARIO_USAGE } from "../../services/router/src/providers/fake-scenario.js";
import pg from "pg";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { MeteringService } from "@tessera/gen/tessera/metering/v1/metering_pb";
import { TEST_ENV, TEST_KEYS, testConfigYaml } from "../helpers/config.js";
import { adminClient, burst, OPERATOR_ENV, OPERATOR_TOKEN, openai, setUpTenants } from "../helpers/tenants.js";
import { eventually, meshPorts, meshYaml, requireEnv, startMesh, type Proc } from "../helpers/procs.js";

const MESH_STRICT_KEY = "tk-mesh-strict-0123456789";

/**
 * The mesh for real: six services as separate processes talking Connect over HTTP/2, events
 * through Kafka into ClickHouse, traces exported over OTLP/HTTP to a collector in this test.
 */
describe("mesh: six processes, Kafka, ClickHouse, Redis", { timeout: 180_000 }, () => {
  const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
  const database = `tessera_mesh_${suffix}`;
  let fake: FakeOpenAI;
  let procs: Proc[] = [];
  let store: UsageStore;
  let client: OpenAI;
  let collector: Server;
  const spans: { traceId: string; service: string; name: string }[] = [];
  let dir: string;
  let redisUrl = "";
  let pgUrl = "";
  let ingressUrl = "";
  let meteringUrl = "";
  const schema = `tessera_mesh_${suffix}`;

  before(async () => {
    const brokers = requireEnv("TESSERA_TEST_KAFKA_BROKERS");
    redisUrl = requireEnv("TESSERA_TEST_REDIS_URL");
    const clickhouse = requireEnv("TESSERA_TEST_CLICKHOUSE_URL");
    pgUrl = requireEnv("TESSERA_TEST_POSTGRES_URL");
    const pgc = new pg.Client({ connectionString: pgUrl });
    await pgc.connect();
    await pgc.query(`CREATE SCHEMA ${schema}`);
    await pgc.end();
    const authzPg = new URL(pgUrl);
    authzPg.searchParams.set("options", `-c search_path=${schema}`);
    fake = await startFakeOpenAI();
    collector = createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on("data", (c: Buffer) => parts.push(c));
      req.on("end", () => {
        try {
          const body = JSON.parse(Buffer.concat(parts).toString("utf8"));
          for (const rs of body.resourceSpans ?? []) {
            const service = rs.resource?.attributes?.find((a: { key: string }) => a.key === "service.name")?.value?.stringValue ?? "";
            for (const ss of rs.scopeSpans ?? []) for (const s of ss.spans ?? []) spans.push({ traceId: s.traceId, service, name: s.name });
          }
        } catch {
          /* protobuf or other: ignore */
        }
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      });
    });
    await new Promise<void>((r) => collector.listen(0, "127.0.0.1", r));
    const otlp = `http://127.0.0.1:${(collector.address() as { port: number }).port}/v1/traces`;
    const ports = await meshPorts();
    const yaml = testConfigYaml({
      fakeUrl: fake.url,
      port: ports.ingress,
      keys: `  - { id: mesh-strict, tenant: acme, redaction_policy: strict, key_env: TESSERA_MESH_STRICT_KEY }`,
      authz: `{ store: { kind: postgres, url_env: TESSERA_MESH_PG_URL }, counters: redis, admin_token_env: ${OPERATOR_ENV}, max_failed_auth_per_minute: 1000 }`,
      routing: "{ retries: 1, backoff_base_ms: 5, circuit_breaker: { failure_threshold: 4, window_ms: 60000, cooldown_ms: 60000 } }",
      extra: `
events: { kind: kafka, brokers: ["${brokers}"], topic: "tessera.requests.mesh-${suffix}", group_id: "metering-${suffix}" }
usage_store: { kind: clickhouse, url: "${clickhouse}", database: ${database} }
telemetry: { otlp_traces_url: "${otlp}" }
redaction: { policies: { strict: { entities: { email: tokenize } } } }
redis: { url: "${redisUrl}", key_prefix: "tessera:mesh-${suffix}:" }
${meshYaml(ports)}`,
    });
    dir = mkdtempSync(join(tmpdir(), "tessera-mesh-"));
    const cfgPath = join(dir, "tessera.yaml");
    writeFileSync(cfgPath, yaml);
    const env = { ...TEST_ENV, TESSERA_MESH_STRICT_KEY: MESH_STRICT_KEY, TESSERA_MESH_PG_URL: authzPg.toString(), [OPERATOR_ENV]: OPERATOR_TOKEN, TESSERA_CONFIG: cfgPath, TESSERA_LOG_LEVEL: "warn", OTEL_BSP_SCHEDULE_DELAY: "200" };
    procs = await startMesh(ports, env, 60_000);
    store = createClickHouseUsageStore({ url: clickhouse, database });
    ingressUrl = `http://127.0.0.1:${ports.ingress}`;
    meteringUrl = `http://127.0.0.1:${ports.metering}`;
    client = new OpenAI({ baseURL: `http://127.0.0.1:${ports.ingress}/v1`, apiKey: TEST_KEYS.acme, maxRetries: 0, timeout: 20_000 });
  });

  after(async () => {
    await Promise.all(procs.map((p) => p.stop()));
    await store?.close();
    await fake?.close();
    collector?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
    if (pgUrl) {
      const pgc = new pg.Client({ connectionString: pgUrl });
      await pgc.connect();
      await pgc.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
      await pgc.end();
    }
  });

  test("tokenised e-mails cross the mesh as placeholders and come back restored (vault in Redis)", async () => {
    const strict = openai(ingressUrl, MESH_STRICT_KEY);
    const r = await strict.chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: "mail zoe@corp.example" }] });
    assert.equal(r.choices[0]!.message.content, "Echo: mail zoe@corp.example");
    const upstream = fake.calls.at(-1)!.body as { messages: { content: string }[] };
    assert.equal(upstream.messages.at(-1)!.content, "mail <EMAIL_1>");
    const s = await strict.chat.completions.create({ model: "gpt-fake", stream: true, messages: [{ role: "user", content: "mail zoe@corp.example" }] });
    let text = "";
    for await (const c of s) text += c.choices[0]?.delta.content ?? "";
    assert.equal(text, "Echo: mail zoe@corp.example");
  });

  test("two tenants share the mesh: admin API through ingress into Postgres, limits counted in Redis, revocation within a second", async () => {
    const t = await setUpTenants(ingressUrl, suffix);
    const adminA = adminClient(ingressUrl, t.a.admin);
    await assert.rejects(adminA.listKeys({ tenantId: t.b.id }), /only act within your own tenant/);
    const k = await adminA.createKey({ tenantId: t.a.id, teamId: "core", name: "mesh-limited" });
    await adminA.setLimit({ limit: { tenantId: t.a.id, scope: "team", scopeId: "core", requestsPerMinute: 6 } });
    // The team limit holds across the key and the team's other key, whatever replica counts.
    const [one, two] = await Promise.all([burst(openai(ingressUrl, k.secret), "demo", 12), burst(openai(ingressUrl, t.a.dev), "demo", 12)]);
    assert.equal((one.get(200) ?? 0) + (two.get(200) ?? 0), 6, JSON.stringify([[...one], [...two]]));
    assert.equal((await burst(openai(ingressUrl, t.b.dev), "demo", 8)).get(200), 8, "tenant B is not limited by tenant A's team");
    // A token quota on tenant B, reserved and settled through Redis: parallel calls never pass it.
    await adminClient(ingressUrl, t.b.admin).setBudget({ budget: { tenantId: t.b.id, id: "daily-tokens", scope: "tenant", scopeId: t.b.id, period: "day", tokenQuota: 100n } });
    const quota = await burst(openai(ingressUrl, t.b.dev), "demo", 12, 16);
    // Each call reserves 1 prompt + 16 output tokens, so at least 5 fit even all in flight at once.
    assert.ok((quota.get(200) ?? 0) >= 5, JSON.stringify([...quota]));
    await new Promise((r) => setTimeout(r, 300));
    const spent = (await adminClient(ingressUrl, t.b.admin).listBudgets({ tenantId: t.b.id })).budgets[0]!;
    assert.ok(spent.tokensUsed > 0n && spent.tokensUsed <= 100n, `tokens used ${spent.tokensUsed}`);
    // Whatever was used, a call that may use 1 + 99 tokens no longer fits.
    const err = await openai(ingressUrl, t.b.dev).chat.completions.create({ model: "demo", max_tokens: 99, messages: [{ role: "user", content: "hi" }] }).catch((e: unknown) => e);
    assert.ok(err instanceof OpenAI.APIError && err.status === 402, String(err));
    assert.equal(err.code, "token_quota_exceeded");
    await adminClient(ingressUrl, t.b.admin).revokeKey({ tenantId: t.b.id, id: t.b.devKeyId });
    const t0 = Date.now();
    let status = 200;
    while (status === 200 && Date.now() - t0 < 1500) {
      status = (await burst(openai(ingressUrl, t.b.dev), "demo", 1)).keys().next().value!;
      if (status === 200) await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(status, 401);
    assert.ok(Date.now() - t0 <= 1100, `revoked after ${Date.now() - t0} ms`);
  });

  test("a call through the mesh is answered and its event lands in ClickHouse", async () => {
    const { data, response } = await client.chat.completions
      .create({ model: "gpt-fake", messages: [{ role: "user", content: "mesh hello from eve@example.com" }] })
      .withResponse();
    assert.equal(data.choices[0]!.message.content, "Echo: mesh hello from <EMAIL_1>");
    const id = response.headers.get("x-request-id")!;
    const row = await eventually(() => store.findRequest(id), 30_000, `request ${id} in ClickHouse`);
    assert.equal(row.tenantId, "acme");
    assert.equal(row.keyId, "acme-key");
    assert.equal(row.modelRequested, "gpt-fake");
    assert.equal(row.modelServed, "gpt-4o-mini");
    assert.equal(row.deployment, "fake/gpt-4o-mini");
    assert.equal(row.statusCode, 200);
    assert.equal(row.stream, false);
    assert.ok(row.promptTokens > 0);
  });

  test("a streamed call through the mesh is answered and metered with its usage", async () => {
    const { data: stream, response } = await client.chat.completions
      .create({ model: "gpt-fake", messages: [{ role: "user", content: "stream through the mesh" }], stream: true })
      .withResponse();
    let text = "";
    for await (const c of stream) text += c.choices[0]?.delta.content ?? "";
    assert.equal(text, "Echo: stream through the mesh");
    const id = response.headers.get("x-request-id")!;
    const row = await eventually(() => store.findRequest(id), 30_000, `streamed request ${id} in ClickHouse`);
    assert.equal(row.stream, true);
    assert.equal(row.completionTokens, SCENARIO_USAGE.completion);
  });

  test("usage through ingress names its caller; metering's own port answers no one without a credential", async () => {
    const from = Date.now() - 120_000;
    const rows = await eventually(
      async () => {
        const res = await fetch(`${ingressUrl}/v1/usage?group_by=tenant&from=${from}`, { headers: { authorization: `Bearer ${TEST_KEYS.acme}` } });
        assert.equal(res.status, 200);
        const body = (await res.json()) as { rows?: { group: { tenant_id: string }; requests: string }[] };
        return body.rows?.length ? body.rows : undefined;
      },
      30_000,
      "acme's usage through ingress",
    );
    assert.deepEqual(rows.map((r) => r.group.tenant_id), ["acme"]);
    const other = await fetch(`${ingressUrl}/v1/usage?from=${from}&tenant=beta`, { headers: { authorization: `Bearer ${TEST_KEYS.acme}` } });
    assert.equal(other.status, 403);
    const direct = createClient(MeteringService, createGrpcTransport({ baseUrl: meteringUrl }));
    await assert.rejects(direct.getUsage({ tenantId: "acme" }), (e: unknown) => e instanceof ConnectError && e.code === Code.Unauthenticated);
    await assert.rejects(direct.queryUsage({ query: { startUnixMs: BigInt(from) } }), (e: unknown) => e instanceof ConnectError && e.code === Code.Unauthenticated);
  });

  test("errors cross the mesh with their status: bad key 401, unknown model 404", async () => {
    const bad = new OpenAI({ baseURL: client.baseURL, apiKey: "nope", maxRetries: 0 });
    await assert.rejects(bad.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "x" }] }), OpenAI.AuthenticationError);
    await assert.rejects(client.chat.completions.create({ model: "missing", messages: [{ role: "user", content: "x" }] }), OpenAI.NotFoundError);
  });

  test("embeddings and header-matched routes work across the mesh", async () => {
    const r = await client.embeddings.create({ model: "embed-fake", input: ["a", "b"], encoding_format: "float" });
    assert.deepEqual(r.data.map((d) => d.index), [0, 1]);
    const { response } = await client.chat.completions
      .create({ model: "routed", messages: [{ role: "user", content: "x" }] }, { headers: { "x-tessera-route": "upstream" } })
      .withResponse();
    assert.equal(response.headers.get("x-tessera-deployment"), "fake/gpt-4o-mini", "the x- header reached the router");
    const plain = await client.chat.completions.create({ model: "routed", messages: [{ role: "user", content: "x" }] }).withResponse();
    assert.equal(plain.response.headers.get("x-tessera-deployment"), "demo/demo");
  });

  test("a failing deployment's circuit breaker opens in Redis, shared by every router replica", async () => {
    // Each call tries the unreachable deployment twice (one retry) before falling back.
    for (let i = 0; i < 2; i++) {
      const { response } = await client.chat.completions.create({ model: "with-fallback", messages: [{ role: "user", content: "x" }] }).withResponse();
      assert.equal(response.headers.get("x-tessera-deployment"), "fake/gpt-4o-mini");
    }
    const redis = new Redis(redisUrl);
    try {
      const until = await eventually(async () => Number(await redis.get(`tessera:mesh-${suffix}:breaker:open:down/x`)) || undefined, 5_000, "open breaker key");
      assert.ok(until > Date.now(), "open until a time in the future");
    } finally {
      redis.disconnect();
    }
    const t0 = Date.now();
    const { response } = await client.chat.completions.create({ model: "with-fallback", messages: [{ role: "user", content: "x" }] }).withResponse();
    assert.equal(response.headers.get("x-tessera-deployment"), "fake/gpt-4o-mini");
    assert.ok(Date.now() - t0 < 1_000, "the open deployment is skipped, not retried");
  });

  test("stored prompts and APIs across the mesh: published at ingress, the caller resolved by authz, kept in Postgres, invoked", async () => {
    const call = (method: string, path: string, body: unknown) =>
      fetch(`${ingressUrl}${path}`, { method, headers: { authorization: `Bearer ${TEST_KEYS.acme}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    const spec = { model: "gpt-fake", messages: [{ role: "user", content: "mesh {{ who }}" }], variables: [{ name: "who" }] };
    const published = await call("POST", "/admin/v1/prompts/mesh-greet/versions", { spec });
    assert.equal(published.status, 201, await published.clone().text());
    assert.equal(((await published.json()) as { version: { created_by: string } }).version.created_by, "key:acme-key");
    assert.equal((await call("PUT", "/admin/v1/prompts/mesh-greet/labels/production", { version: 1 })).status, 200);
    const bad = await call("POST", "/admin/v1/prompts/mesh-greet/versions", { spec: { ...spec, messages: [{ role: "user", content: "{{ who" }] } });
    assert.equal(bad.status, 400);
    const r = await call("POST", "/v1/prompts/mesh-greet/invoke", { variables: { who: "Ann" } });
    assert.equal(r.status, 200, await r.clone().text());
    assert.equal(r.headers.get("x-tessera-prompt-version"), "1");
    assert.equal((fake.calls.at(-1)!.body as { messages: { content: string }[] }).messages.at(-1)!.content, "mesh Ann");

    // Published at a path at run time: its access rules reach authz, another process, with each call.
    const api = { path: "/apis/mesh/greet", prompt: "mesh-greet", access: { teams: ["platform"] } };
    assert.equal((await call("POST", "/admin/v1/apis", { api })).status, 201);
    const viaApi = await call("POST", "/apis/mesh/greet", { variables: { who: "Bo" } });
    assert.equal(viaApi.status, 200, await viaApi.clone().text());
    assert.equal((await call("POST", "/admin/v1/apis", { api: { ...api, access: { teams: ["elsewhere"] } } })).status, 201);
    const denied = await call("POST", "/apis/mesh/greet", { variables: { who: "Bo" } });
    assert.equal(((await denied.json()) as { error: { code: string } }).error.code, "api_access_denied");
  });

  test("one trace spans ingress, authz, redaction and router", async () => {
    await client.chat.completions.create({ model: "demo", messages: [{ role: "user", content: "trace me" }] });
    const trace = await eventually(
      async () => {
        const byTrace = new Map<string, Set<string>>();
        for (const s of spans) {
          const set = byTrace.get(s.traceId) ?? new Set<string>();
          set.add(s.service);
          byTrace.set(s.traceId, set);
        }
        return [...byTrace.values()].find((set) => ["tessera-ingress", "tessera-authz", "tessera-redaction", "tessera-router"].every((x) => set.has(x)));
      },
      30_000,
      "spans of one trace from four services",
    );
    assert.ok(trace.size >= 4);
  });
});
