import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import type { RequestEvent } from "@tessera/gen/tessera/events/v1/request_event_pb";
import { GatewayService } from "@tessera/gen/tessera/gateway/v1/gateway_pb";
import { PromptAdminService } from "@tessera/gen/tessera/promptregistry/v1/prompt_admin_pb";
import { startTestGateway } from "../helpers/gateway.js";
import { adminClient, OPERATOR_ENV, OPERATOR_TOKEN } from "../helpers/tenants.js";

type Gateway = Awaited<ReturnType<typeof startTestGateway>>;

const TENANT = "shop";
const PATH = "/apis/shop/welcome";

/** A configured prompt every tenant may use, and a configured API of the tenant. */
const CONFIG = `
prompts:
  - { name: classify, versions: [{ version: 1, model: gpt-fake, variables: [topic], messages: [{ role: user, content: "Classify: {{ topic }}" }] }], labels: { production: 1 } }
prompt_apis:
  - { path: /apis/shop/configured, tenant: ${TENANT}, prompt: classify }
`;

/** Two steps: a stored prompt greets, the configured prompt classifies its answer. */
const CHAIN = {
  path: PATH,
  description: "greet, then classify the greeting",
  input: [{ name: "name" }],
  steps: [
    { name: "greet", prompt: "greet", variables: { name: "{{ input.name }}" } },
    { name: "classify", prompt: "classify", variables: { topic: "{{ steps.greet.output }}" } },
  ],
};

/**
 * Prompt APIs published at run time, through the front door of the all-in-one gateway: a
 * stored prompt and a chain over it and a configured prompt published over REST, called over
 * REST and gRPC, each step metered; its access rules and approval enforced by authz; a stored
 * key limited to it; refused at publish with errors naming the field; unpublished, a 404.
 */
describe("prompt APIs published at run time, all-in-one", () => {
  let g: Gateway;
  let dev = "";
  let devKeyId = "";
  let tenantAdmin = "";
  const events: RequestEvent[] = [];
  before(async () => {
    process.env[OPERATOR_ENV] = OPERATOR_TOKEN;
    g = await startTestGateway({ authz: `{ store: { kind: pglite, path: "" }, admin_token_env: ${OPERATOR_ENV}, max_failed_auth_per_minute: 1000 }`, extra: CONFIG });
    const publish = g.gw.events.publish.bind(g.gw.events);
    g.gw.events.publish = (e) => {
      events.push(e);
      publish(e);
    };
    const op = adminClient(g.url, OPERATOR_TOKEN);
    await op.createTenant({ id: TENANT, name: "Shop" });
    await op.createTeam({ tenantId: TENANT, id: "core", name: "Core" });
    tenantAdmin = (await op.createKey({ tenantId: TENANT, name: "admin", roles: ["admin"] })).secret;
    const d = await op.createKey({ tenantId: TENANT, teamId: "core", name: "dev", roles: ["developer"] });
    [dev, devKeyId] = [d.secret, d.key!.id];
  });
  after(() => g.stop());

  const rest = async (method: string, path: string, body?: unknown, key = dev) => {
    const r = await fetch(`${g.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${key}`, ...(body ? { "content-type": "application/json" } : {}) },
      ...(body ? { body: JSON.stringify(body) } : {}),
    });
    return { status: r.status, headers: r.headers, json: (await r.json()) as Record<string, any> };
  };
  const call = (path: string, variables: unknown, key = dev) => rest("POST", path, { variables }, key);
  const publishApi = (api: unknown, key = dev) => rest("POST", "/admin/v1/apis", { api }, key);
  const grpc = () => createClient(GatewayService, createConnectTransport({ baseUrl: g.url, httpVersion: "1.1" }));
  const upstream = () => (g.fake.calls.at(-1)!.body as { messages: { content: string }[] }).messages.map((m) => m.content);

  test("a stored prompt and a chain over it and a configured prompt, published over REST, answer over REST and gRPC, each step metered", async () => {
    assert.equal((await rest("POST", "/admin/v1/prompts/greet/versions", { spec: { model: "gpt-fake", variables: [{ name: "name" }], messages: [{ role: "user", content: "Greet {{ name }}" }] } })).status, 201);
    assert.equal((await rest("PUT", "/admin/v1/prompts/greet/labels/production", { version: 1 })).status, 200);
    const published = await publishApi(CHAIN);
    assert.equal(published.status, 201, JSON.stringify(published.json));
    assert.deepEqual([published.json["replaced"], published.json["api"].source, published.json["api"].created_by], [false, "store", `key:${devKeyId}`]);

    events.length = 0;
    const r = await call(PATH, { name: "Ann" });
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.equal(r.json["choices"][0].message.content, "Echo: Classify: Echo: Greet Ann", "the second step read the first one's answer");
    assert.deepEqual(upstream(), ["Classify: Echo: Greet Ann"]);
    const chainId = r.headers.get("x-tessera-chain-id") ?? "";
    assert.match(chainId, /^[0-9A-Z]{26}$/);

    const answer = await grpc().invokePrompt({ call: { api: PATH, variables: { name: "Bo" } } }, { headers: { authorization: `Bearer ${dev}` } });
    assert.equal(answer.response!.choices[0]!.message!.content, "Echo: Classify: Echo: Greet Bo");
    await g.gw.events.flush();
    for (const id of [chainId, answer.chainId]) {
      const steps = events.filter((e) => e.chainId === id);
      assert.deepEqual(
        steps.map((e) => [e.apiPath, e.chainStep, e.chainStepIndex, e.promptName, e.promptVersion, e.statusCode, e.tenantId]),
        [
          [PATH, "greet", 0, "greet", 1, 200, TENANT],
          [PATH, "classify", 1, "classify", 1, 200, TENANT],
        ],
      );
    }
    const listed = await rest("GET", "/admin/v1/apis");
    assert.deepEqual(listed.json["apis"].map((a: { path: string; source: string }) => [a.path, a.source]), [["/apis/shop/configured", "config"], [PATH, "store"]]);
    assert.deepEqual((await rest("GET", `/admin/v1${PATH}`)).json["api"].steps.map((s: { prompt: string }) => s.prompt), ["greet", "classify"]);
  });

  test("a key made through the admin API and limited to the API calls it, and is refused everywhere else", async () => {
    const made = await rest("POST", `/admin/v1/tenants/${TENANT}/keys`, { name: "api-only", team_id: "core", apis_allow: ["/apis/shop/*"] }, tenantAdmin);
    assert.equal(made.status, 201, JSON.stringify(made.json));
    assert.deepEqual(made.json["key"].apis_allow, ["/apis/shop/*"]);
    const key = made.json["secret"] as string;
    assert.equal((await call(PATH, { name: "Cy" }, key)).status, 200);
    const chat = await rest("POST", "/v1/chat/completions", { model: "gpt-fake", messages: [{ role: "user", content: "hi" }] }, key);
    assert.deepEqual([chat.status, chat.json["error"].code], [403, "prompt_key_only"], "OpenAI's error format");
    assert.match(chat.json["error"].message, /may only invoke the prompt APIs \/apis\/shop\/\*/);
    const anthropic = await fetch(`${g.url}/v1/messages`, {
      method: "POST",
      headers: { "x-api-key": key, "content-type": "application/json", "anthropic-version": "2023-06-01" },
      body: JSON.stringify({ model: "gpt-fake", max_tokens: 16, messages: [{ role: "user", content: "hi" }] }),
    });
    assert.equal(anthropic.status, 403);
    assert.equal(((await anthropic.json()) as { type: string; error: { type: string } }).error.type, "permission_error", "Anthropic's error format");
    await assert.rejects(
      grpc().chat({ request: { model: "gpt-fake", messages: [{ role: 1, content: "hi" }] } }, { headers: { authorization: `Bearer ${key}` } }),
      (e: unknown) => e instanceof ConnectError && e.code === Code.PermissionDenied,
    );
    // Limited to another API afterwards: refused here at once.
    const updated = await rest("PATCH", `/admin/v1/tenants/${TENANT}/keys/${made.json["key"].id}`, { fields: ["apis_allow"], apis_allow: ["/apis/shop/configured"] }, tenantAdmin);
    assert.deepEqual(updated.json["key"].apis_allow, ["/apis/shop/configured"]);
    const refused = await call(PATH, { name: "Cy" }, key);
    assert.deepEqual([refused.status, refused.json["error"].code], [403, "api_not_allowed"]);
    assert.equal((await call("/apis/shop/configured", { topic: "x" }, key)).status, 200);
  });

  test("a stored API's access rules and approval are enforced by authz like a configured API's", async () => {
    assert.equal((await publishApi({ ...CHAIN, access: { keys: ["key_someone_else"] } })).json["replaced"], true);
    const denied = await call(PATH, { name: "Di" });
    assert.deepEqual([denied.status, denied.json["error"].code], [403, "api_access_denied"]);
    await publishApi({ ...CHAIN, access: { teams: ["core"] }, requires_approval: true });
    const gated = await call(PATH, { name: "Di" });
    assert.deepEqual([gated.status, gated.json["error"].code], [403, "subscription_required"]);
    const sub = await rest("POST", `/admin/v1/tenants/${TENANT}/subscriptions`, { team_id: "core", resource_kind: "prompt", resource: PATH }, tenantAdmin);
    await rest("POST", `/admin/v1/tenants/${TENANT}/subscriptions/${sub.json["subscription"].id}/decide`, { status: "approved" }, tenantAdmin);
    assert.equal((await call(PATH, { name: "Di" })).status, 200);
    const history = await rest("GET", `/admin/v1/prompts:history?name=${PATH}`);
    assert.deepEqual(history.json["entries"].map((e: { action: string; api_after?: { requires_approval: boolean } }) => [e.action, e.api_after?.requires_approval]), [
      ["api.publish", true],
      ["api.publish", false],
      ["api.publish", false],
    ]);
  });

  test("publish-time mistakes are refused, naming the field, in REST's and Connect's formats; nothing changes", async () => {
    const step = (i: number, over: object) => ({ ...CHAIN, steps: CHAIN.steps.map((s, j) => (j === i ? { ...s, ...over } : s)) });
    const cases: [unknown, number, string, string, RegExp][] = [
      [step(0, { prompt: "greeet" }), 400, "invalid_api", "api.steps.0.prompt", /unknown prompt 'greeet' for tenant shop/],
      [step(1, { label: "canary" }), 400, "invalid_api", "api.steps.1.label", /prompt 'classify' has no label 'canary' \(labels: production\)/],
      [step(1, { variables: { topic: "{{ steps.greet.output.mood }}" } }), 400, "invalid_api", "api.steps.1.variables.topic", /step 'greet' answers text .* read steps\.greet\.output/],
      [step(0, { variables: { name: "{{ input.nom }}" } }), 400, "invalid_api", "api.steps.0.variables.name", /reads input\.nom, which is not declared under input \(declared: name\)/],
      [{ ...CHAIN, path: "/apis/shop/configured" }, 409, "api_in_config", "api.path", /defined in the configuration file/],
      [{ ...CHAIN, path: "apis/shop" }, 400, "invalid_api", "api.path", /must be \/apis\//],
    ];
    for (const [api, status, code, param, message] of cases) {
      const r = await publishApi(api);
      assert.deepEqual([r.status, r.json["error"].code, r.json["error"].param], [status, code, param], JSON.stringify(r.json));
      assert.match(r.json["error"].message, message);
    }
    const prompts = createClient(PromptAdminService, createConnectTransport({ baseUrl: g.url, httpVersion: "1.1" }));
    await assert.rejects(
      prompts.publishApi({ api: { path: PATH, prompt: "greet", label: "nightly" } }, { headers: { authorization: `Bearer ${dev}` } }),
      (e: unknown) => e instanceof ConnectError && e.code === Code.InvalidArgument && /^api\.label: prompt 'greet' has no label 'nightly'/.test(e.rawMessage),
    );
    assert.equal((await call(PATH, { name: "Ed" })).status, 200, "the published API is unchanged");
  });

  test("unpublished, the path answers 404 on REST and gRPC; the configured API cannot be unpublished", async () => {
    assert.equal((await rest("DELETE", `/admin/v1${PATH}`)).status, 200);
    const gone = await call(PATH, { name: "Fa" });
    assert.deepEqual([gone.status, gone.json["error"].code], [404, "api_not_found"]);
    await assert.rejects(
      grpc().invokePrompt({ call: { api: PATH, variables: { name: "Fa" } } }, { headers: { authorization: `Bearer ${dev}` } }),
      (e: unknown) => e instanceof ConnectError && e.code === Code.NotFound,
    );
    assert.equal((await rest("GET", `/admin/v1${PATH}`)).status, 404);
    const configured = await rest("DELETE", "/admin/v1/apis/shop/configured");
    assert.deepEqual([configured.status, configured.json["error"].code], [409, "api_in_config"]);
    const history = await rest("GET", `/admin/v1/prompts:history?name=${PATH}&limit=1`);
    assert.equal(history.json["entries"][0].action, "api.delete");
  });
});
