import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import * as http from "node:http";
import type { AddressInfo } from "node:net";
import { create } from "@bufbuild/protobuf";
import { AdminService } from "@tessera/gen/tessera/authz/v1/admin_pb";
import { DiffVersionsResponseSchema, PromptAdminService } from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import { bind, createDirectClient, TesseraError } from "@tessera/runtime";
import { recordAdminCalls } from "../../../../tests/helpers/admin-recorder.js";
import { memoryLogger } from "../../../../tests/helpers/log.js";
import { ADMIN_ROUTES, adminApi, createAdminRest } from "./admin.js";
import { PROMPT_ADMIN_ROUTES } from "./prompt-admin.js";

const prompts = recordAdminCalls(PromptAdminService);
const authz = recordAdminCalls();
let server: http.Server;
let base = "";

before(async () => {
  const rest = createAdminRest({
    apis: [
      adminApi(AdminService, createDirectClient(bind(AdminService, authz.impl)), ADMIN_ROUTES),
      adminApi(PromptAdminService, createDirectClient(bind(PromptAdminService, prompts.impl)), PROMPT_ADMIN_ROUTES),
    ],
    maxBodyBytes: 4096,
    log: memoryLogger("prompt-admin-rest").log,
  });
  server = http.createServer((req, res) => void rest(req, res));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function call(method: string, path: string, body?: unknown) {
  prompts.seen.length = 0;
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: "Bearer tsk-dev", ...(body !== undefined ? { "content-type": "application/json" } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  return { status: r.status, headers: r.headers, json: (await r.json()) as Record<string, any> };
}

const API = {
  path: "/apis/support/reply",
  input: [{ name: "ticket" }],
  steps: [{ name: "extract", prompt: "extract", label: "staging", variables: { ticket: "{{ input.ticket }}" } }],
  access: { teams: ["support"] },
  requires_approval: true,
};
const SPEC = { model: "demo", messages: [{ role: "user", content: "{{ text }}" }], variables: [{ name: "text" }], temperature: 0.5 };

const CASES: { method: string; path: string; body?: unknown; rpc: string; req: Record<string, unknown>; status?: number }[] = [
  { method: "GET", path: "/admin/v1/prompts", rpc: "listPrompts", req: {} },
  { method: "GET", path: "/admin/v1/prompts?tenant_id=acme", rpc: "listPrompts", req: { tenant_id: "acme" } },
  { method: "POST", path: "/admin/v1/prompts", body: { name: "p", description: "d" }, rpc: "createPrompt", req: { name: "p", description: "d" }, status: 201 },
  { method: "GET", path: "/admin/v1/prompts:export", rpc: "exportPrompts", req: {} },
  { method: "POST", path: "/admin/v1/prompts:export", body: { names: ["a", "b"] }, rpc: "exportPrompts", req: { names: ["a", "b"] } },
  { method: "POST", path: "/admin/v1/prompts:import", body: { yaml: "prompts: []" }, rpc: "importPrompts", req: { yaml: "prompts: []" } },
  { method: "GET", path: "/admin/v1/prompts:history?limit=5", rpc: "listHistory", req: { limit: 5 } },
  { method: "GET", path: "/admin/v1/prompts/summarize", rpc: "getPrompt", req: { name: "summarize" } },
  { method: "POST", path: "/admin/v1/prompts/summarize/versions", body: { spec: SPEC }, rpc: "publishVersion", req: { name: "summarize", spec: SPEC }, status: 201 },
  { method: "GET", path: "/admin/v1/prompts/summarize/versions/2", rpc: "getVersion", req: { name: "summarize", version: 2 } },
  { method: "PUT", path: "/admin/v1/prompts/summarize/labels/production", body: { version: 2 }, rpc: "setLabel", req: { name: "summarize", label: "production", version: 2 } },
  {
    method: "PUT",
    path: "/admin/v1/prompts/summarize/labels/production",
    body: { split: [{ version: 1, weight: 90 }, { version: 2, weight: 10 }] },
    rpc: "setLabel",
    req: { name: "summarize", label: "production", split: [{ version: 1, weight: 90 }, { version: 2, weight: 10 }] },
  },
  { method: "DELETE", path: "/admin/v1/prompts/summarize/labels/staging", rpc: "deleteLabel", req: { name: "summarize", label: "staging" } },
  { method: "GET", path: "/admin/v1/prompts/summarize/history?before_id=01J", rpc: "listHistory", req: { name: "summarize", before_id: "01J" } },
  { method: "GET", path: "/admin/v1/prompts/summarize/diff?from_version=1&to_version=2", rpc: "diffVersions", req: { name: "summarize", from_version: 1, to_version: 2 } },
  { method: "GET", path: "/admin/v1/apis?tenant_id=acme", rpc: "listApis", req: { tenant_id: "acme" } },
  { method: "POST", path: "/admin/v1/apis", body: { api: API }, rpc: "publishApi", req: { api: API }, status: 201 },
  { method: "GET", path: "/admin/v1/apis/support/reply", rpc: "getApi", req: { path: "/apis/support/reply" } },
  { method: "GET", path: "/admin/v1/apis/a/b/c%2Dd?tenant_id=acme", rpc: "getApi", req: { path: "/apis/a/b/c-d", tenant_id: "acme" } },
  { method: "DELETE", path: "/admin/v1/apis/support/reply", rpc: "deleteApi", req: { path: "/apis/support/reply" } },
  { method: "GET", path: "/admin/v1/prompts:history?name=/apis/support/reply", rpc: "listHistory", req: { name: "/apis/support/reply" } },
];

test("each prompt route calls its RPC with the path, body and query fields", async () => {
  for (const c of CASES) {
    const r = await call(c.method, c.path, c.body);
    const what = `${c.method} ${c.path}`;
    assert.equal(r.status, c.status ?? 200, `${what}: ${JSON.stringify(r.json)}`);
    assert.equal(prompts.seen.length, 1, what);
    assert.equal(prompts.last().rpc, c.rpc, what);
    assert.deepEqual(prompts.last().req, c.req, what);
    assert.equal(prompts.last().authorization, "Bearer tsk-dev");
  }
  assert.equal(authz.seen.length, 0, "authz's admin API was not called");
});

test("answers are proto JSON; refusals keep their status, code and param", async () => {
  const diff = create(DiffVersionsResponseSchema, { fields: [{ field: "model", before: '"a"', after: '"b"' }], unified: "--- v1\n" });
  await prompts.answering("diffVersions", diff, async () => {
    const r = await call("GET", "/admin/v1/prompts/p/diff?from_version=1&to_version=2");
    assert.deepEqual(r.json, { fields: [{ field: "model", before: '"a"', after: '"b"' }], unified: "--- v1\n" });
  });
  const refusal = new TesseraError("invalid_request", "spec.messages.0: template syntax error: unexpected end", { param: "spec.messages.0", code: "invalid_version" });
  await prompts.answering("publishVersion", refusal, async () => {
    const r = await call("POST", "/admin/v1/prompts/p/versions", { spec: SPEC });
    assert.equal(r.status, 400);
    assert.deepEqual(r.json["error"], { message: "spec.messages.0: template syntax error: unexpected end", type: "invalid_request_error", param: "spec.messages.0", code: "invalid_version" });
  });
  const missing = new TesseraError("not_found", "Prompt 'p' does not exist.", { code: "prompt_not_found", param: "name" });
  await prompts.answering("getPrompt", missing, async () => assert.equal((await call("GET", "/admin/v1/prompts/p")).status, 404));
});

test("bad input is a 400 naming the field before any call; wrong methods 405", async () => {
  const cases: [string, string, unknown, string][] = [
    ["GET", "/admin/v1/prompts/p/versions/two", undefined, "version"],
    ["PUT", "/admin/v1/prompts/p/labels/production", { split: [{ version: 1, weight: "lots" }] }, "weight"],
    ["POST", "/admin/v1/prompts/p/versions", { spec: { temperature: "hot" } }, "temperature"],
    ["POST", "/admin/v1/prompts/p/versions", { spec: SPEC, colour: "red" }, "colour"],
  ];
  for (const [method, path, body, param] of cases) {
    const r = await call(method, path, body);
    assert.equal(r.status, 400, `${method} ${path}`);
    assert.equal(r.json["error"].param, param);
    assert.equal(prompts.seen.length, 0);
  }
  const m = await call("PATCH", "/admin/v1/prompts/p/labels/production", {});
  assert.deepEqual([m.status, m.headers.get("allow")], [405, "PUT, DELETE"]);
  const a = await call("PUT", "/admin/v1/apis/support/reply", {});
  assert.deepEqual([a.status, a.headers.get("allow")], [405, "GET, DELETE"]);
  assert.equal((await call("GET", "/admin/v1/apis/")).status, 200, "a trailing slash is the collection");
  const bad = await call("POST", "/admin/v1/apis", { api: { ...API, steps: [{ name: "x", version: "two" }] } });
  assert.deepEqual([bad.status, bad.json["error"].param], [400, "version"]);
  assert.equal((await call("GET", "/admin/v1/prompts/p/nothing")).status, 404);
});
