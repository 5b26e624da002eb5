import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { AdminService, ApiKeySchema, CreateKeyResponseSchema, TenantSchema } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { bind, createDirectClient, TesseraError } from "@tessera/runtime";
import { recordAdminCalls } from "../../../../tests/helpers/admin-recorder.js";
import { memoryLogger } from "../../../../tests/helpers/log.js";
import { ADMIN_ROUTES, adminApi, createAdminRest } from "./admin.js";

const { impl, seen, last, answering } = recordAdminCalls();

const { log, lines } = memoryLogger("admin-rest");
let server: http.Server;
let base = "";

before(async () => {
  const rest = createAdminRest({ apis: [adminApi(AdminService, createDirectClient(bind(AdminService, impl)), ADMIN_ROUTES)], maxBodyBytes: 1024, log });
  server = http.createServer((req, res) => {
    if (!rest(req, res)) {
      res.writeHead(418);
      res.end("not admin");
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const TOKEN = "tsk_secret_token_123";

/** Call the REST API; bodies given as objects are sent as JSON, strings as they are. */
async function call(method: string, path: string, body?: unknown, headers: Record<string, string> = { authorization: `Bearer ${TOKEN}` }) {
  seen.length = 0;
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === "string" ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)["content-type"] = "application/json";
  }
  const r = await fetch(`${base}${path}`, init);
  const text = await r.text();
  let json: Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as Record<string, unknown>;
  } catch {
    /* not JSON: left empty */
  }
  return { status: r.status, headers: r.headers, json, text };
}

/** The error object of an error answer. */
function errorOf(json: Record<string, unknown>): { message: string; type: string; code: string | null; param: string | null } {
  return json["error"] as { message: string; type: string; code: string | null; param: string | null };
}

const ROUTE_CASES: { method: string; path: string; body?: unknown; rpc: string; req: Record<string, unknown>; status?: number }[] = [
  { method: "GET", path: "/admin/v1/whoami", rpc: "whoAmI", req: {} },
  { method: "POST", path: "/admin/v1/tenants", body: { id: "acme", name: "Acme" }, rpc: "createTenant", req: { id: "acme", name: "Acme" }, status: 201 },
  { method: "GET", path: "/admin/v1/tenants", rpc: "listTenants", req: {} },
  {
    method: "POST",
    path: "/admin/v1/tenants/acme/teams",
    body: { id: "ml", name: "ML", models_allow: ["gpt-4o*"], models_deny: ["o1"] },
    rpc: "createTeam",
    req: { tenant_id: "acme", id: "ml", name: "ML", models_allow: ["gpt-4o*"], models_deny: ["o1"] },
    status: 201,
  },
  { method: "GET", path: "/admin/v1/tenants/acme/teams", rpc: "listTeams", req: { tenant_id: "acme" } },
  { method: "PATCH", path: "/admin/v1/tenants/acme/teams/ml", body: { name: "Machine learning" }, rpc: "updateTeam", req: { tenant_id: "acme", id: "ml", name: "Machine learning" } },
  {
    method: "POST",
    path: "/admin/v1/tenants/acme/users",
    body: { id: "ann", email: "ann@acme.test", team_id: "ml", roles: ["admin"] },
    rpc: "createUser",
    req: { tenant_id: "acme", id: "ann", email: "ann@acme.test", team_id: "ml", roles: ["admin"] },
    status: 201,
  },
  { method: "GET", path: "/admin/v1/tenants/acme/users", rpc: "listUsers", req: { tenant_id: "acme" } },
  {
    method: "POST",
    path: "/admin/v1/tenants/acme/keys",
    body: { team_id: "ml", name: "ci", roles: ["developer"], models_allow: ["m1"], ttl_seconds: 3600 },
    rpc: "createKey",
    req: { tenant_id: "acme", team_id: "ml", name: "ci", roles: ["developer"], models_allow: ["m1"], ttl_seconds: "3600" },
    status: 201,
  },
  { method: "GET", path: "/admin/v1/tenants/acme/keys", rpc: "listKeys", req: { tenant_id: "acme" } },
  {
    method: "PATCH",
    path: "/admin/v1/tenants/acme/keys/k1",
    body: { fields: ["apis_allow"], apis_allow: ["/apis/support/*"] },
    rpc: "updateKey",
    req: { tenant_id: "acme", id: "k1", fields: ["apis_allow"], apis_allow: ["/apis/support/*"] },
  },
  { method: "POST", path: "/admin/v1/tenants/acme/keys/k1/rotate", body: { overlap_seconds: "60" }, rpc: "rotateKey", req: { tenant_id: "acme", id: "k1", overlap_seconds: "60" } },
  { method: "POST", path: "/admin/v1/tenants/acme/keys/k1/rotate", rpc: "rotateKey", req: { tenant_id: "acme", id: "k1" } },
  { method: "POST", path: "/admin/v1/tenants/acme/keys/k1/revoke", rpc: "revokeKey", req: { tenant_id: "acme", id: "k1" } },
  { method: "DELETE", path: "/admin/v1/tenants/acme/keys/k1", rpc: "revokeKey", req: { tenant_id: "acme", id: "k1" } },
  {
    method: "PUT",
    path: "/admin/v1/tenants/acme/limits",
    body: { scope: "key", scope_id: "k1", requests_per_minute: 60, tokens_per_minute: "100000" },
    rpc: "setLimit",
    req: { limit: { tenant_id: "acme", scope: "key", scope_id: "k1", requests_per_minute: 60, tokens_per_minute: "100000" } },
  },
  { method: "GET", path: "/admin/v1/tenants/acme/limits", rpc: "listLimits", req: { tenant_id: "acme" } },
  { method: "DELETE", path: "/admin/v1/tenants/acme/limits/key/k1", rpc: "deleteLimit", req: { tenant_id: "acme", scope: "key", scope_id: "k1" } },
  {
    method: "POST",
    path: "/admin/v1/tenants/acme/budgets",
    body: { scope: "team", scope_id: "ml", period: "month", limit_usd: 100, soft_limit_usd: 80 },
    rpc: "setBudget",
    req: { budget: { tenant_id: "acme", scope: "team", scope_id: "ml", period: "month", limit_usd: 100, soft_limit_usd: 80 } },
    status: 201,
  },
  { method: "PUT", path: "/admin/v1/tenants/acme/budgets/b1", body: { scope: "team", scope_id: "ml", period: "day", token_quota: 5000 }, rpc: "setBudget", req: { budget: { tenant_id: "acme", id: "b1", scope: "team", scope_id: "ml", period: "day", token_quota: "5000" } } },
  { method: "GET", path: "/admin/v1/tenants/acme/budgets", rpc: "listBudgets", req: { tenant_id: "acme" } },
  { method: "DELETE", path: "/admin/v1/tenants/acme/budgets/b1", rpc: "deleteBudget", req: { tenant_id: "acme", id: "b1" } },
  {
    method: "POST",
    path: "/admin/v1/tenants/acme/subscriptions",
    body: { team_id: "ml", resource_kind: "model", resource: "o1", note: "eval" },
    rpc: "requestSubscription",
    req: { tenant_id: "acme", team_id: "ml", resource_kind: "model", resource: "o1", note: "eval" },
    status: 201,
  },
  { method: "GET", path: "/admin/v1/tenants/acme/subscriptions", rpc: "listSubscriptions", req: { tenant_id: "acme" } },
  { method: "POST", path: "/admin/v1/tenants/acme/subscriptions/s1/decide", body: { status: "approved", note: "ok" }, rpc: "decideSubscription", req: { tenant_id: "acme", id: "s1", status: "approved", note: "ok" } },
  { method: "GET", path: "/admin/v1/audit?tenant_id=acme&limit=20&before_id=a9", rpc: "listAudit", req: { tenant_id: "acme", limit: 20, before_id: "a9" } },
  { method: "GET", path: "/admin/v1/audit", rpc: "listAudit", req: {} },
  { method: "GET", path: "/admin/v1/tenants/acme/audit?limit=5", rpc: "listAudit", req: { tenant_id: "acme", limit: 5 } },
];

test("each route calls its RPC with the path, body and query fields", async () => {
  for (const c of ROUTE_CASES) {
    const r = await call(c.method, c.path, c.body);
    const what = `${c.method} ${c.path}`;
    assert.equal(r.status, c.status ?? 200, `${what}: ${r.text}`);
    assert.equal(seen.length, 1, what);
    assert.equal(last().rpc, c.rpc, what);
    assert.deepEqual(last().req, c.req, what);
  }
});

test("the caller's credential is passed on as a bearer token, from authorization or x-api-key, with its address", async () => {
  await call("GET", "/admin/v1/whoami");
  assert.equal(last().authorization, `Bearer ${TOKEN}`);
  assert.equal(last().sourceIp, "127.0.0.1");
  await call("GET", "/admin/v1/whoami", undefined, { "x-api-key": "other-key" });
  assert.equal(last().authorization, "Bearer other-key");
  await call("GET", "/admin/v1/whoami", undefined, {});
  assert.equal(last().authorization, null);
  assert.ok(!lines.some((l) => l.includes(TOKEN)), "the token is never logged");
});

test("answers are proto JSON with snake_case names and implicit fields", async () => {
  const created = create(CreateKeyResponseSchema, { secret: "tsk_new", key: create(ApiKeySchema, { id: "k2", tenantId: "acme", createdAtMs: 1_700_000_000_000n, roles: ["developer"] }) });
  await answering("createKey", created, async () => {
    const r = await call("POST", "/admin/v1/tenants/acme/keys", { name: "x" });
    assert.equal(r.status, 201);
    assert.equal(r.headers.get("content-type"), "application/json");
    assert.equal(r.json["secret"], "tsk_new");
    const key = r.json["key"] as Record<string, unknown>;
    assert.equal(key["tenant_id"], "acme");
    assert.equal(key["created_at_ms"], "1700000000000");
    assert.equal(key["revoked_at_ms"], "0", "implicit fields are there");
    assert.deepEqual(key["models_allow"], []);
  });
  const tenants = create(AdminService.method.listTenants.output, { tenants: [create(TenantSchema, { id: "acme", name: "Acme" })] });
  await answering("listTenants", tenants, async () => {
    const r = await call("GET", "/admin/v1/tenants");
    assert.deepEqual(r.json, { tenants: [{ id: "acme", name: "Acme", created_at_ms: "0" }] });
  });
  const empty = await call("DELETE", "/admin/v1/tenants/acme/budgets/b1");
  assert.deepEqual([empty.status, empty.json], [200, {}]);
});

test("path params win over body fields of the same name, either spelling", async () => {
  await call("POST", "/admin/v1/tenants/acme/teams", { tenant_id: "evil", id: "t" });
  assert.equal(last().req["tenant_id"], "acme");
  await call("POST", "/admin/v1/tenants/acme/teams", { tenantId: "evil", id: "t" });
  assert.equal(last().req["tenant_id"], "acme");
  await call("PUT", "/admin/v1/tenants/acme/budgets/b1", { id: "b2", tenant_id: "evil", period: "day" });
  assert.deepEqual(last().req, { budget: { tenant_id: "acme", id: "b1", period: "day" } });
  await call("GET", "/admin/v1/tenants/acme/audit?tenant_id=evil");
  assert.equal(last().req["tenant_id"], "acme");
  await call("GET", "/admin/v1/tenants/ac%20me/keys");
  assert.equal(last().req["tenant_id"], "ac me", "path params are percent-decoded");
});

test("service errors keep their status and render as { error: { message, type, code, param } }", async () => {
  const cases: [Error, number, string, string | null][] = [
    [new TesseraError("permission_denied", "Your role may not create keys.", { code: "forbidden" }), 403, "Your role may not create keys.", "forbidden"],
    [new TesseraError("unauthenticated", "Invalid API key.", { code: "invalid_api_key" }), 401, "Invalid API key.", "invalid_api_key"],
    [new TesseraError("invalid_request", "Bad scope.", { param: "scope" }), 400, "Bad scope.", null],
    [new TesseraError("not_found", "No key k9.", { code: "key_not_found" }), 404, "No key k9.", "key_not_found"],
    [new ConnectError("tenant exists", Code.AlreadyExists), 409, "tenant exists", null],
    [new ConnectError("storage broke", Code.DataLoss), 500, "internal error", null],
    [new ConnectError("no such team", Code.NotFound), 404, "no such team", null],
    [new Error("db password=hunter2 exploded"), 500, "internal error", null],
  ];
  for (const [err, status, message, code] of cases) {
    const r = await answering("createKey", err, () => call("POST", "/admin/v1/tenants/acme/keys", {}));
    assert.equal(r.status, status, r.text);
    const e = errorOf(r.json);
    assert.equal(e.message, message);
    assert.equal(e.code, code);
    assert.ok(typeof e.type === "string");
    assert.ok(!r.text.includes("hunter2"));
  }
  const r = await answering("setLimit", new TesseraError("invalid_request", "Bad scope.", { param: "scope" }), () => call("PUT", "/admin/v1/tenants/acme/limits", { scope: "galaxy" }));
  assert.deepEqual(r.json, { error: { message: "Bad scope.", type: "invalid_request_error", param: "scope", code: null } });
});

test("bad bodies and queries are 400s naming the field, before any RPC", async () => {
  const cases: [string, string, unknown, string | null, RegExp][] = [
    ["POST", "/admin/v1/tenants", "{not json", null, /could not parse the JSON body/],
    ["POST", "/admin/v1/tenants", [1, 2], null, /must be a JSON object/],
    ["POST", "/admin/v1/tenants", { id: "a", colour: "red" }, "colour", /Unknown field 'colour'/],
    ["POST", "/admin/v1/tenants/acme/teams", { id: "t", models_allow: "gpt" }, "models_allow", /models_allow/],
    ["POST", "/admin/v1/tenants/acme/keys", { ttl_seconds: "soon" }, "ttl_seconds", /ttl_seconds/],
    ["PUT", "/admin/v1/tenants/acme/limits", { requests_per_minute: -1 }, "requests_per_minute", /requests_per_minute/],
    ["PUT", "/admin/v1/tenants/acme/limits", { limit: { scope: "key" } }, "limit", /Unknown field 'limit'/],
    ["POST", "/admin/v1/tenants/acme/budgets", { limit_usd: "lots" }, "limit_usd", /limit_usd/],
    ["POST", "/admin/v1/tenants?id=acme", { id: "a" }, "id", /JSON body/],
    ["GET", "/admin/v1/audit?limit=many", undefined, "limit", /limit/],
    ["GET", "/admin/v1/audit?colour=red", undefined, "colour", /Unknown query parameter 'colour'/],
    ["GET", "/admin/v1/audit?limit=1&limit=2", undefined, "limit", /more than once/],
    ["GET", "/admin/v1/tenants/%E0%A4%A/keys", undefined, "tenant_id", /percent-encoding/],
  ];
  for (const [method, path, body, param, message] of cases) {
    const r = await call(method, path, body);
    const what = `${method} ${path} ${JSON.stringify(body)}`;
    assert.equal(r.status, 400, `${what}: ${r.text}`);
    assert.equal(errorOf(r.json).param, param, what);
    assert.match(errorOf(r.json).message, message, what);
    assert.equal(errorOf(r.json).type, "invalid_request_error");
    assert.equal(seen.length, 0, `${what}: no RPC`);
  }
  const big = await call("POST", "/admin/v1/tenants", { id: "a", name: "x".repeat(2000) });
  assert.equal(big.status, 413);
});

test("unknown admin paths are 404, a wrong method 405 with allow, other paths are not handled", async () => {
  const nf = await call("GET", "/admin/v1/nope?token=hidden");
  assert.equal(nf.status, 404);
  assert.equal(errorOf(nf.json).code, "unknown_url");
  assert.ok(!nf.text.includes("hidden"), "the query string is not echoed");
  assert.equal((await call("GET", "/admin/v1/tenants/acme/keys/k1/explode")).status, 404);
  assert.equal((await call("GET", "/admin/v1")).status, 404);

  const m = await call("DELETE", "/admin/v1/tenants");
  assert.equal(m.status, 405);
  assert.equal(m.headers.get("allow"), "POST, GET");
  assert.equal(errorOf(m.json).code, "method_not_allowed");
  const k = await call("GET", "/admin/v1/tenants/acme/keys/k1");
  assert.deepEqual([k.status, k.headers.get("allow")], [405, "PATCH, DELETE"]);
  assert.equal(seen.length, 0);

  const other = await call("GET", "/v1/models");
  assert.deepEqual([other.status, other.text], [418, "not admin"]);
  assert.equal((await call("GET", "/admin/v10/tenants")).status, 418);
});

test("a trailing slash is the same path", async () => {
  const r = await call("GET", "/admin/v1/tenants/");
  assert.equal(r.status, 200);
  assert.equal(last().rpc, "listTenants");
});
