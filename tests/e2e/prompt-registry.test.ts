import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { PromptAdminService } from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import { sha256Hex } from "@tessera/runtime";
import { TEST_KEYS } from "../helpers/config.js";
import { startTestGateway } from "../helpers/gateway.js";
import { OPERATOR_ENV, OPERATOR_TOKEN } from "../helpers/tenants.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

/** Callers with user ids of their own, as a canary splits by user. */
const CALLERS = 200;
const callerKey = (i: number) => `tk-test-canary-user-${String(i).padStart(4, "0")}`;
const CALLER_KEYS = Array.from({ length: CALLERS }, (_, i) => `  - { id: canary-${i}, tenant: acme, user: user-${i}, key_sha256: ${sha256Hex(callerKey(i))} }`).join("\n");
const VIEWER_KEY = "tk-test-prompt-viewer-0001";

const V1 = { model: "gpt-fake", messages: [{ role: "user", content: "v1: {{ text }}" }], variables: [{ name: "text" }] };
const V2 = { model: "gpt-fake", messages: [{ role: "system", content: "Be brief." }, { role: "user", content: "v2: {{ text }}" }], variables: [{ name: "text" }] };

/**
 * Stored prompts through the front door of the all-in-one gateway: published and labelled
 * over REST, invoked at /v1/prompts/{name}/invoke, a 90/10 canary sticky per user with the
 * served version in the event, and the rollback.
 */
describe("prompt registry, all-in-one", () => {
  let g: Gateway;
  const events: RequestEvent[] = [];
  before(async () => {
    process.env[OPERATOR_ENV] = OPERATOR_TOKEN;
    g = await startTestGateway({
      keys: `${CALLER_KEYS}\n  - { id: prompt-viewer, tenant: acme, roles: [viewer], key_sha256: ${sha256Hex(VIEWER_KEY)} }`,
      authz: `{ store: { kind: pglite, path: "" }, admin_token_env: ${OPERATOR_ENV}, max_failed_auth_per_minute: 1000 }`,
      extra: "prompts:\n  - { name: configured, versions: [{ version: 1, model: demo, messages: [{ role: user, content: hi }] }], labels: { production: 1 } }",
    });
    const publish = g.gw.events.publish.bind(g.gw.events);
    g.gw.events.publish = (e) => {
      events.push(e);
      publish(e);
    };
  });
  after(() => g.stop());

  /** A REST admin call as the acme developer key (or `key`). */
  const admin = async (method: string, path: string, body?: unknown, key: string = TEST_KEYS.acme) => {
    const r = await fetch(`${g.url}/admin/v1/prompts${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, json: (await r.json()) as Record<string, any> };
  };
  const invoke = async (name: string, body: unknown, key: string = TEST_KEYS.acme) => {
    const r = await fetch(`${g.url}/v1/prompts/${name}/invoke`, { method: "POST", headers: { authorization: `Bearer ${key}`, "content-type": "application/json" }, body: JSON.stringify(body) });
    return { status: r.status, version: Number(r.headers.get("x-tessera-prompt-version")), requestId: r.headers.get("x-request-id") ?? "", json: (await r.json()) as Record<string, any> };
  };
  const upstream = () => (g.fake.calls.at(-1)!.body as { messages: { content: string }[] }).messages.map((m) => m.content);

  test("publish v1, label it production, invoke it; publish v2, canary 90/10 sticky per user, roll back", async () => {
    const v1 = await admin("POST", "/summarize/versions", { spec: V1 });
    assert.equal(v1.status, 201, JSON.stringify(v1.json));
    assert.equal(v1.json["version"].version, 1);
    assert.equal((await admin("PUT", "/summarize/labels/production", { version: 1 })).status, 200);
    const first = await invoke("summarize", { variables: { text: "hello" } });
    assert.equal(first.status, 200, JSON.stringify(first.json));
    assert.equal(first.version, 1);
    assert.deepEqual(upstream(), ["v1: hello"]);

    assert.equal((await admin("POST", "/summarize/versions", { spec: V2 })).json["version"].version, 2);
    const canary = await admin("PUT", "/summarize/labels/production", { split: [{ version: 1, weight: 90 }, { version: 2, weight: 10 }] });
    assert.deepEqual(canary.json["before"], [{ version: 1, weight: 100 }]);

    events.length = 0;
    const served = new Map<number, number>();
    for (let i = 0; i < CALLERS; i++) {
      const r = await invoke("summarize", { variables: { text: `t${i}` } }, callerKey(i));
      assert.equal(r.status, 200, JSON.stringify(r.json));
      served.set(i, r.version);
      assert.deepEqual(upstream().at(-1), `v${r.version}: t${i}`, "the version announced is the one rendered");
    }
    const share = [...served.values()].filter((v) => v === 2).length / CALLERS;
    assert.ok(share >= 0.04 && share <= 0.18, `v2 served to ${share * 100}% of ${CALLERS} users, expected about 10%`);
    for (let i = 0; i < CALLERS; i += 4) assert.equal((await invoke("summarize", { variables: { text: "again" } }, callerKey(i))).version, served.get(i), `user-${i} keeps their version`);
    await g.gw.events.flush();
    const byUser = new Map(events.filter((e) => e.promptName === "summarize").map((e) => [e.userId, e.promptVersion]));
    assert.equal(byUser.size, CALLERS);
    for (let i = 0; i < CALLERS; i++) assert.equal(byUser.get(`user-${i}`), served.get(i), `user-${i}: the event records the version served`);

    const back = await admin("PUT", "/summarize/labels/production", { version: 1 });
    assert.deepEqual(back.json["before"], [{ version: 1, weight: 90 }, { version: 2, weight: 10 }]);
    const onV2 = [...served].find(([, v]) => v === 2)![0];
    assert.equal((await invoke("summarize", { variables: { text: "x" } }, callerKey(onV2))).version, 1, "rolled back: a canary user is on v1 again");

    const history = await admin("GET", "/summarize/history");
    assert.deepEqual(
      history.json["entries"].map((e: { action: string; version: number; actor: string }) => [e.action, e.version, e.actor]),
      [["label.set", 0, "key:acme-key"], ["label.set", 0, "key:acme-key"], ["version.publish", 2, "key:acme-key"], ["label.set", 0, "key:acme-key"], ["version.publish", 1, "key:acme-key"], ["prompt.create", 0, "key:acme-key"]],
    );
    const diff = await admin("GET", "/summarize/diff?from_version=1&to_version=2");
    assert.match(diff.json["unified"], /-v1: \{\{ text \}\}\n\+Be brief\./);
  });

  test("a template syntax error is refused at publish, naming the problem, in each protocol's format", async () => {
    const bad = await admin("POST", "/broken/versions", { spec: { ...V1, messages: [{ role: "user", content: "Hi {% if text %}" }] } });
    assert.equal(bad.status, 400);
    assert.equal(bad.json["error"].param, "spec.messages.0");
    assert.match(bad.json["error"].message, /^spec\.messages\.0: template syntax error: tag \{% if text %\} not closed/);
    const model = await admin("POST", "/broken/versions", { spec: { ...V1, model: "gpt-9" } });
    assert.equal(model.json["error"].param, "spec.model");
    assert.equal((await admin("GET", "/broken")).status, 404, "nothing was stored");
    const prompts = createClient(PromptAdminService, createConnectTransport({ baseUrl: g.url, httpVersion: "1.1" }));
    await assert.rejects(
      prompts.publishVersion({ name: "broken", spec: { model: "gpt-fake", messages: [{ role: "user", content: "{{ nope }}" }] } }, { headers: { authorization: `Bearer ${TEST_KEYS.acme}` } }),
      (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && /spec\.messages\.0: template uses undeclared variable 'nope'/.test(e.rawMessage),
    );
  });

  test("unknown prompt or label: clear 404s; viewers read, may not write; the operator names a tenant; config names are taken", async () => {
    const nope = await invoke("nope", { variables: {} });
    assert.deepEqual([nope.status, nope.json["error"].code], [404, "prompt_not_found"]);
    const label = await invoke("summarize", { label: "staging", variables: { text: "x" } });
    assert.equal(label.status, 404);
    assert.match(label.json["error"].message, /Prompt 'summarize' has no label 'staging' \(labels: production\)/);
    assert.equal((await admin("GET", "/nope")).json["error"].code, "prompt_not_found");

    const list = await admin("GET", "", undefined, VIEWER_KEY);
    assert.deepEqual(list.json["prompts"].map((p: { name: string }) => p.name), ["summarize"]);
    const write = await admin("PUT", "/summarize/labels/production", { version: 2 }, VIEWER_KEY);
    assert.deepEqual([write.status, write.json["error"].code], [403, "role_not_allowed"]);
    assert.deepEqual((await admin("GET", "", undefined, "tk-wrong")).status, 401);
    const op = await admin("GET", "", undefined, OPERATOR_TOKEN);
    assert.deepEqual([op.status, op.json["error"].param], [400, "tenant_id"]);
    assert.equal((await admin("GET", "?tenant_id=acme", undefined, OPERATOR_TOKEN)).json["prompts"].length, 1);
    const taken = await admin("POST", "/configured/versions", { spec: V1 });
    assert.deepEqual([taken.status, taken.json["error"].code], [409, "prompt_in_config"]);
  });

  test("export and import through REST: the same file twice changes nothing", async () => {
    const exported = await admin("GET", ":export");
    assert.match(exported.json["yaml"], /^prompts:\n {2}- name: summarize\n/);
    const again = await admin("POST", ":import", { yaml: exported.json["yaml"] });
    assert.deepEqual(again.json, { changes: [] });
  });
});
