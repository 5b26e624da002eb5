import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport } from "@connectrpc/connect-node";
import { Bucket, Dimension, MeteringService, Metric } from "@tessera/gen/tessera/metering/v1/metering_pb";
import { formatPicoUsd } from "@tessera/runtime";
import { startTestGateway } from "../helpers/gateway.js";
import { adminClient, OPERATOR_ENV, OPERATOR_TOKEN, openai, setUpTenants, type TwoTenants } from "../helpers/tenants.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

/** $1 and $2 per million prompt and completion tokens of the fake upstream's model. */
const PRICES = "prices: [{ model: gpt-4o-mini, provider: fake, input: 1, output: 2 }]";

/** The usage API on the public port, with a credential, over Connect or gRPC. */
function usageClient(url: string, token: string, grpc = false): Client<typeof MeteringService> {
  const auth: Interceptor = (next) => (req) => {
    if (token) req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
  return createClient(MeteringService, grpc ? createGrpcTransport({ baseUrl: url, interceptors: [auth] }) : createConnectTransport({ baseUrl: url, httpVersion: "1.1", interceptors: [auth] }));
}

/**
 * The usage API through the all-in-one gateway's public port, REST and Connect/gRPC: the
 * operator sees every tenant, a tenant's viewer only its own (forced server-side), and asking
 * for another tenant is refused in each protocol's way.
 */
describe("usage API through the gateway: role scoping", () => {
  let g: Gateway;
  let t: TwoTenants;
  let viewerA: string;
  const suffix = Math.random().toString(36).slice(2, 8);
  const from = Date.now() - 60_000;

  before(async () => {
    process.env[OPERATOR_ENV] = OPERATOR_TOKEN;
    g = await startTestGateway({ authz: `{ store: { kind: pglite, path: "" }, admin_token_env: ${OPERATOR_ENV}, max_failed_auth_per_minute: 1000 }`, extra: PRICES });
    t = await setUpTenants(g.url, suffix);
    viewerA = (await adminClient(g.url, t.a.admin).createKey({ tenantId: t.a.id, name: "viewer", roles: ["viewer"] })).secret;
    for (const [key, n] of [[t.a.dev, 3], [t.b.dev, 2]] as const)
      for (let i = 0; i < n; i++) await openai(g.url, key).chat.completions.create({ model: "gpt-fake", messages: [{ role: "user", content: "hi" }] });
    await openai(g.url, t.a.dev).chat.completions.create({ model: "demo", messages: [{ role: "user", content: "hi" }] });
    await g.gw.events.flush();
  });
  after(() => g.stop());

  const get = (path: string, token?: string) => fetch(`${g.url}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
  type Body = { rows?: { group: Record<string, string>; requests: string; cost_usd: string; prompt_tokens: string; completion_tokens: string }[]; source?: string; error?: { code: string; message: string; param?: string } };

  test("REST: the operator sees every tenant's usage and exact spend, grouped and bucketed", async () => {
    const res = await get(`/v1/usage?group_by=tenant,model&from=${from}&bucket=day`, OPERATOR_TOKEN);
    assert.equal(res.status, 200);
    const body = (await res.json()) as Body;
    const rows = body.rows!.filter((r) => r.group["tenant_id"]!.endsWith(suffix));
    assert.deepEqual(
      rows.map((r) => [r.group["tenant_id"], r.group["model"], r.requests]),
      [
        [t.a.id, "demo", "1"],
        [t.a.id, "gpt-4o-mini", "3"],
        [t.b.id, "gpt-4o-mini", "2"],
      ],
    );
    // Each call: the fake's prompt and completion tokens at $1 and $2 per million, to the pico-dollar.
    for (const r of rows.filter((x) => x.group["model"] === "gpt-4o-mini")) {
      assert.ok(Number(r.prompt_tokens) > 0);
      assert.equal(r.cost_usd, formatPicoUsd(BigInt(r.prompt_tokens) * 1_000_000n + BigInt(r.completion_tokens) * 2_000_000n));
    }
    assert.equal(rows.find((r) => r.group["model"] === "demo")?.cost_usd, "0", "an unpriced model costs 0");
  });

  test("REST: a tenant's viewer sees only its own tenant, without asking and when asking for it", async () => {
    for (const q of [`group_by=tenant&from=${from}`, `group_by=tenant&from=${from}&tenant=${t.a.id}`]) {
      const res = await get(`/v1/usage?${q}`, viewerA);
      assert.equal(res.status, 200);
      assert.deepEqual(((await res.json()) as Body).rows!.map((r) => [r.group["tenant_id"], r.requests]), [[t.a.id, "4"]]);
    }
    const latency = await get(`/v1/usage/latency?group_by=tenant&from=${from}`, viewerA);
    const lat = (await latency.json()) as { rows: { group: { tenant_id: string }; requests: string; total: { p50_ms: number } }[] };
    assert.deepEqual(lat.rows.map((r) => [r.group.tenant_id, r.requests]), [[t.a.id, "4"]]);
    assert.ok(lat.rows[0]!.total.p50_ms > 0);
  });

  test("REST: another tenant is 403 other_tenant, no credential 401, bad parameters 400 naming them", async () => {
    const other = await get(`/v1/usage?from=${from}&tenant=${t.b.id}`, viewerA);
    assert.equal(other.status, 403);
    assert.equal(((await other.json()) as Body).error?.code, "other_tenant");
    const both = await get(`/v1/usage?from=${from}&tenant=${t.a.id}&tenant=${t.b.id}`, t.a.admin);
    assert.equal(both.status, 403, "one foreign tenant among the asked is enough to refuse");
    const anon = await get(`/v1/usage?from=${from}`);
    assert.equal(anon.status, 401);
    const bad = async (q: string, param: string, message: RegExp) => {
      const res = await get(`/v1/usage?${q}`, OPERATOR_TOKEN);
      assert.equal(res.status, 400, q);
      const e = ((await res.json()) as Body).error!;
      assert.equal(e.param, param, q);
      assert.match(e.message, message, q);
    };
    await bad(`from=${from}&group_by=colour`, "group_by", /'colour' is not a valid group_by; use one of tenant, team, key, model/);
    await bad(`from=${from}&bucket=fortnight`, "bucket", /not a valid bucket; use one of none, minute, hour, day, week, month/);
    await bad(`from=yesterday`, "from", /not a time/);
    await bad(`group_by=model`, "from", /from is required/);
    await bad(`from=${from}&color=red`, "color", /Unknown query parameter 'color'/);
    await bad(`from=${from}&status=ok`, "filters[0].values", /status values must be whole numbers/);
    const post = await fetch(`${g.url}/v1/usage`, { method: "POST", headers: { authorization: `Bearer ${OPERATOR_TOKEN}` } });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET");
  });

  test("REST: top-N keys by spend", async () => {
    const res = await get(`/v1/usage?group_by=key&from=${from}&order_by=cost&limit=1&tenant=${t.a.id}`, t.a.admin);
    const body = (await res.json()) as Body;
    assert.equal(body.rows!.length, 1);
    assert.equal(body.rows![0]!.group["key_id"], t.a.devKeyId);
  });

  for (const grpc of [false, true]) {
    test(`${grpc ? "gRPC" : "Connect"}: the same scoping, PERMISSION_DENIED for another tenant, UNAUTHENTICATED without a credential`, async () => {
      const range = { startUnixMs: BigInt(from), groupBy: [Dimension.TENANT], bucket: Bucket.HOUR };
      const op = await usageClient(g.url, OPERATOR_TOKEN, grpc).queryUsage({ query: range });
      assert.deepEqual(op.rows.filter((r) => r.group!.tenantId.endsWith(suffix)).map((r) => [r.group!.tenantId, r.requests]), [[t.a.id, 4n], [t.b.id, 2n]]);
      const viewer = usageClient(g.url, viewerA, grpc);
      assert.deepEqual((await viewer.queryUsage({ query: range })).rows.map((r) => [r.group!.tenantId, r.requests]), [[t.a.id, 4n]]);
      const top = await viewer.queryUsage({ query: { ...range, groupBy: [Dimension.MODEL], bucket: Bucket.UNSPECIFIED, orderBy: Metric.REQUESTS, limit: 1 } });
      assert.deepEqual(top.rows.map((r) => [r.group!.model, r.requests]), [["gpt-4o-mini", 3n]]);
      await assert.rejects(
        viewer.queryUsage({ query: { ...range, filters: [{ dimension: Dimension.TENANT, values: [t.b.id] }] } }),
        (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied,
      );
      await assert.rejects(viewer.getUsage({ tenantId: t.b.id, startUnixMs: BigInt(from) }), (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied);
      assert.equal((await viewer.getUsage({ tenantId: t.a.id, startUnixMs: BigInt(from) })).models.length, 2);
      await assert.rejects(usageClient(g.url, "", grpc).queryUsage({ query: range }), (e: unknown) => e instanceof ConnectError && e.code === Code.Unauthenticated);
    });
  }
});
