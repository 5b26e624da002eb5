import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { parse as parseYaml } from "yaml";
import { TesseraError } from "@tessera/runtime";
import { memoryPromptStore } from "./store-contract.js";
import { createPromptAdmin, type Caller } from "./admin.js";
import type { PromptStore } from "./store.js";

/** Asserts that `p` rejects with a TesseraError of this kind, code and param; returns its message. */
async function refused(p: Promise<unknown>, kind: string, code: string, param?: string): Promise<string> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => ((caught = err), true));
  assert.ok(caught instanceof TesseraError, `expected a TesseraError, got ${String(caught)}`);
  assert.equal(caught.kind, kind, caught.message);
  assert.equal(caught.details.code, code, caught.message);
  if (param !== undefined) assert.equal(caught.details.param, param, caught.message);
  return caught.message;
}

const operator: Caller = { operator: true, tenantId: "", roles: ["admin"], actor: "operator" };
const dev = (tenantId: string): Caller => ({ operator: false, tenantId, roles: ["developer"], actor: "key:dev-1" });
const viewer = (tenantId: string): Caller => ({ operator: false, tenantId, roles: ["viewer"], actor: "key:view-1" });

const SPEC = {
  model: "gpt-fake",
  messages: [
    { role: "system", content: "Summarise for {{ audience }}." },
    { role: "user", content: "{{ text }}" },
  ],
  variables: [{ name: "text", type: "string" }, { name: "audience", type: "string", default: "everyone" }],
  temperature: 0.2,
};

describe("prompt admin", () => {
  let store: PromptStore;
  const changed: string[] = [];
  let admin: ReturnType<typeof createPromptAdmin>;
  before(async () => {
    store = await memoryPromptStore();
    admin = createPromptAdmin({
      store,
      models: new Set(["gpt-fake", "demo"]),
      inConfig: (_tenant, name) => name === "configured",
      onChange: (tenant, name) => changed.push(`${tenant}/${name}`),
      configApis: [{ path: "/apis/configured", tenant: "epsilon", prompt: "configured", description: "", input: [], access: { keys: [], teams: [], roles: [] }, requires_approval: false }],
    });
  });
  after(() => store.close());

  it("publishes numbered versions, creating the prompt, in one canonical shape, with history", async () => {
    changed.length = 0;
    const v1 = await admin.publishVersion(dev("acme"), { tenantId: "", name: "summarize", spec: SPEC });
    assert.equal(v1.version, 1);
    assert.equal(v1.createdBy, "key:dev-1");
    assert.deepEqual(v1.spec.variables, ["text", { name: "audience", type: "string", default: "everyone" }], "a plain required string is written as its name");
    assert.match(v1.digest, /^[0-9a-f]{64}$/);
    const v2 = await admin.publishVersion(dev("acme"), { tenantId: "acme", name: "summarize", spec: { ...SPEC, variables: ["text", { name: "audience", default: "everyone" }] } });
    assert.equal(v2.version, 2);
    assert.equal(v2.digest, v1.digest, "the same declarations written differently are the same content");
    assert.deepEqual(changed, ["acme/summarize", "acme/summarize"]);
    const got = await admin.getPrompt(viewer("acme"), "", "summarize");
    assert.equal(got.prompt.latestVersion, 2);
    assert.deepEqual(got.versions.map((v) => v.version), [1, 2]);
    assert.equal((await admin.getVersion(viewer("acme"), "", "summarize", 1)).spec.temperature, 0.2);
    const h = await admin.listHistory(viewer("acme"), { tenantId: "", name: "summarize", limit: 0, beforeId: "" });
    assert.deepEqual(h.map((e) => [e.action, e.version, e.actor]), [
      ["version.publish", 2, "key:dev-1"],
      ["version.publish", 1, "key:dev-1"],
      ["prompt.create", 0, "key:dev-1"],
    ]);
  });

  it("refuses a bad version at publish time, naming what is wrong, and stores nothing", async () => {
    const cases: [unknown, string, RegExp][] = [
      [{ ...SPEC, messages: [{ role: "user", content: "Hello {{ text " }] }, "spec.messages.0", /template syntax error/],
      [{ ...SPEC, messages: [{ role: "user", content: "Hello {{ txet }}" }] }, "spec.messages.0", /undeclared variable 'txet'/],
      [{ ...SPEC, output_schema: { type: "objekt" } }, "spec.output_schema", /not a valid JSON Schema/],
      [{ ...SPEC, model: "gpt-9" }, "spec.model", /unknown model 'gpt-9' \(models: gpt-fake, demo\)/],
      [{ ...SPEC, messages: [{ role: "robot", content: "hi" }] }, "spec.messages.0.role", /spec\.messages\.0\.role/],
      [{ ...SPEC, messages: [] }, "spec.messages", /spec\.messages/],
      [{ ...SPEC, variables: [...SPEC.variables, { name: "n", type: "integer", default: "three" }] }, "spec.variables.n", /default is not a integer/],
      [{ ...SPEC, temperature: 3 }, "spec.temperature", /spec\.temperature/],
    ];
    for (const [spec, param, message] of cases) {
      const m = await refused(admin.publishVersion(dev("acme"), { tenantId: "", name: "broken", spec }), "invalid_request", "invalid_version", param);
      assert.match(m, message);
    }
    await refused(admin.getPrompt(dev("acme"), "", "broken"), "not_found", "prompt_not_found");
    await refused(admin.publishVersion(dev("acme"), { tenantId: "", name: "bad name!", spec: SPEC }), "invalid_request", "invalid_field", "name");
  });

  it("moves labels to versions and splits, recording what they pointed at, and refuses bad targets", async () => {
    const c = dev("acme");
    await admin.publishVersion(c, { tenantId: "", name: "canary", spec: SPEC });
    await admin.publishVersion(c, { tenantId: "", name: "canary", spec: { ...SPEC, temperature: 0.9 } });
    changed.length = 0;
    const first = await admin.setLabel(c, { tenantId: "", name: "canary", label: "production", version: 1, split: [] });
    assert.equal(first.before, null);
    const split = [
      { version: 1, weight: 90 },
      { version: 2, weight: 10 },
    ];
    const canary = await admin.setLabel(c, { tenantId: "", name: "canary", label: "production", version: 0, split });
    assert.deepEqual(canary.before, [{ version: 1, weight: 100 }]);
    assert.deepEqual(canary.row.targets, split);
    const back = await admin.setLabel(c, { tenantId: "", name: "canary", label: "production", version: 1, split: [] });
    assert.deepEqual(back.before, split, "the rollback knows what it undid");
    assert.deepEqual(changed, ["acme/canary", "acme/canary", "acme/canary"]);
    const h = await admin.listHistory(c, { tenantId: "", name: "canary", limit: 3, beforeId: "" });
    assert.deepEqual(h.map((e) => [e.action, e.label, e.before, e.after]), [
      ["label.set", "production", split, [{ version: 1, weight: 100 }]],
      ["label.set", "production", [{ version: 1, weight: 100 }], split],
      ["label.set", "production", null, [{ version: 1, weight: 100 }]],
    ]);

    const bad: [number, { version: number; weight: number }[], string, RegExp][] = [
      [3, [], "version", /there is no version 3 \(versions: 1-2\)/],
      [0, [], "split", /needs a version, or a split/],
      [0, [{ version: 1, weight: 0 }], "split", /weight must be a whole number from 1 to 10000/],
      [0, [{ version: 2, weight: 1 }, { version: 2, weight: 1 }], "split", /version 2 is in the split twice/],
      [1, [{ version: 2, weight: 1 }], "split", /a version or a split, not both/],
    ];
    for (const [version, s, param, message] of bad) {
      const err = admin.setLabel(c, { tenantId: "", name: "canary", label: "production", version, split: s });
      assert.match(await refused(err, "invalid_request", param === "split" && version === 1 ? "invalid_field" : "invalid_label", param), message);
    }
    await refused(admin.setLabel(c, { tenantId: "", name: "canary", label: "no good", version: 1, split: [] }), "invalid_request", "invalid_field", "label");
    await refused(admin.setLabel(c, { tenantId: "", name: "nope", label: "production", version: 1, split: [] }), "not_found", "prompt_not_found");
    await admin.deleteLabel(c, { tenantId: "", name: "canary", label: "production" });
    await refused(admin.deleteLabel(c, { tenantId: "", name: "canary", label: "production" }), "not_found", "label_not_found");
    assert.deepEqual((await admin.getPrompt(c, "", "canary")).labels, []);
    const del = (await admin.listHistory(c, { tenantId: "", name: "canary", limit: 1, beforeId: "" }))[0]!;
    assert.deepEqual([del.action, del.before, del.after], ["label.delete", [{ version: 1, weight: 100 }], null]);
  });

  it("checks rights: writers and readers within their tenant, the operator anywhere but naming it", async () => {
    await refused(admin.publishVersion(viewer("acme"), { tenantId: "", name: "x", spec: SPEC }), "permission_denied", "role_not_allowed");
    await refused(admin.listPrompts(dev("beta"), "acme"), "permission_denied", "other_tenant");
    await refused(admin.listPrompts({ ...dev("acme"), roles: [] }, ""), "permission_denied", "role_not_allowed");
    await refused(admin.listPrompts(operator, ""), "invalid_request", "invalid_field", "tenant_id");
    const names = (await admin.listPrompts(operator, "acme")).map((p) => p.prompt.name);
    assert.ok(names.includes("summarize"));
    assert.deepEqual(await admin.listPrompts(viewer("beta"), ""), [], "tenants do not see each other's prompts");
    const made = await admin.publishVersion(operator, { tenantId: "beta", name: "summarize", spec: SPEC });
    assert.deepEqual([made.tenantId, made.version, made.createdBy], ["beta", 1, "operator"]);
  });

  it("refuses a stored prompt with a configured prompt's name", async () => {
    await refused(admin.publishVersion(dev("acme"), { tenantId: "", name: "configured", spec: SPEC }), "conflict", "prompt_in_config", "name");
    await refused(admin.createPrompt(dev("acme"), { tenantId: "", name: "configured", description: "" }), "conflict", "prompt_in_config");
    await admin.createPrompt(dev("acme"), { tenantId: "", name: "described", description: "for the docs" });
    await refused(admin.createPrompt(dev("acme"), { tenantId: "", name: "described", description: "" }), "conflict", "already_exists");
  });

  it("diffs two versions: changed fields, and a unified diff of each changed template", async () => {
    const c = dev("acme");
    await admin.publishVersion(c, { tenantId: "", name: "diffed", spec: SPEC });
    await admin.publishVersion(c, {
      tenantId: "",
      name: "diffed",
      spec: { ...SPEC, model: "demo", temperature: undefined, messages: [{ role: "system", content: "Summarise briefly for {{ audience }}." }, SPEC.messages[1], { role: "user", content: "Thanks." }] },
    });
    const d = await admin.diffVersions(viewer("acme"), { tenantId: "", name: "diffed", from: 1, to: 2 });
    assert.deepEqual(d.fields, [
      { field: "model", before: '"gpt-fake"', after: '"demo"' },
      { field: "temperature", before: "0.2", after: "" },
      { field: "messages.2.role", before: "", after: '"user"' },
    ]);
    assert.match(d.unified, /--- v1\/messages\/0\tsystem\n\+\+\+ v2\/messages\/0\tsystem\n@@ -1,1 \+1,1 @@\n-Summarise for \{\{ audience \}\}\.\n\+Summarise briefly for \{\{ audience \}\}\.\n/);
    assert.match(d.unified, /--- v1\/messages\/2\t\(none\)\n\+\+\+ v2\/messages\/2\tuser\n@@ -0,0 \+1,1 @@\n\+Thanks\.\n/);
    assert.doesNotMatch(d.unified, /messages\/1/, "an unchanged message is left out");
    assert.deepEqual(await admin.diffVersions(c, { tenantId: "", name: "diffed", from: 2, to: 2 }), { fields: [], unified: "" });
    await refused(admin.diffVersions(c, { tenantId: "", name: "diffed", from: 1, to: 7 }), "not_found", "version_not_found");
    await refused(admin.diffVersions(c, { tenantId: "", name: "diffed", from: 0, to: 1 }), "invalid_request", "invalid_field", "from_version");
  });

  it("exports YAML in the configuration's shape; importing it elsewhere recreates it, and again changes nothing", async () => {
    const c = dev("acme");
    await admin.setLabel(c, { tenantId: "", name: "summarize", label: "production", version: 2, split: [] });
    await admin.setLabel(c, { tenantId: "", name: "summarize", label: "canary", version: 0, split: [{ version: 1, weight: 3 }, { version: 2, weight: 1 }] });
    const yaml = await admin.exportPrompts(viewer("acme"), { tenantId: "", names: ["summarize"] });
    const doc = parseYaml(yaml) as { prompts: { name: string; versions: { version: number; model: string }[]; labels: Record<string, unknown> }[] };
    assert.equal(doc.prompts.length, 1);
    assert.deepEqual(doc.prompts[0]!.versions.map((v) => [v.version, v.model]), [[1, "gpt-fake"], [2, "gpt-fake"]]);
    assert.deepEqual(doc.prompts[0]!.labels, { canary: [{ version: 1, weight: 3 }, { version: 2, weight: 1 }], production: 2 });

    const into = dev("gamma");
    const made = await admin.importPrompts(into, { tenantId: "", yaml });
    assert.deepEqual(made.map((x) => [x.action, x.version, x.label]), [["prompt.create", 0, ""], ["version.publish", 1, ""], ["version.publish", 2, ""], ["label.set", 0, "canary"], ["label.set", 0, "production"]]);
    const [a, b] = await Promise.all([admin.getPrompt(c, "", "summarize"), admin.getPrompt(into, "", "summarize")]);
    assert.deepEqual(b.versions.map((v) => v.digest), a.versions.map((v) => v.digest));
    assert.deepEqual(await admin.importPrompts(into, { tenantId: "", yaml }), [], "idempotent");
    assert.equal(await admin.exportPrompts(into, { tenantId: "", names: [] }), yaml, "the round trip is exact");

    // In git: a new version appended and the label moved to it.
    const next = yaml.replace("    labels:", "      - version: 3\n        model: demo\n        messages: [{ role: user, content: \"v3 {{ text }}\" }]\n        variables: [text]\n    labels:").replace("production: 2", "production: 3");
    const applied = await admin.importPrompts(into, { tenantId: "", yaml: next });
    assert.deepEqual(applied.map((x) => [x.action, x.version, x.label]), [["version.publish", 3, ""], ["label.set", 0, "production"]]);
    const h = (await admin.listHistory(into, { tenantId: "", name: "summarize", limit: 1, beforeId: "" }))[0]!;
    assert.deepEqual([h.actor, h.before, h.after], ["key:dev-1", [{ version: 2, weight: 100 }], [{ version: 3, weight: 100 }]]);
  });

  it("refuses an import that would rewrite a version, skip a number or break the file, changing nothing", async () => {
    const into = dev("delta");
    const ok = "prompts:\n  - name: first\n    versions: [{ version: 1, model: demo, messages: [{ role: user, content: hi }] }]\n    labels: { production: 1 }\n";
    const cases: [string, string, string, RegExp][] = [
      ["prompts: [ {", "yaml", "invalid_yaml", /not valid YAML/],
      ["prompts:\n  - name: x\n    versions: []\n", "prompts.0.versions", "invalid_yaml", /prompts\.0\.versions/],
      [`${ok}  - name: second\n    versions: [{ version: 1, model: demo, messages: [{ role: user, content: "{{ oops" }] }]\n`, "prompts.1.versions.0.messages.0", "invalid_version", /template syntax error/],
      [`${ok}  - name: second\n    versions: [{ version: 2, model: demo, messages: [{ role: user, content: hi }] }]\n`, "prompts.1.versions.0.version", "version_gap", /next one is 1, not 2/],
      [`${ok}  - name: second\n    versions: [{ version: 1, model: demo, messages: [{ role: user, content: hi }] }]\n    labels: { production: 4 }\n`, "prompts.1.labels.production", "invalid_label", /there is no version 4/],
      [ok.replace("name: first", "name: configured"), "prompts.0.name", "prompt_in_config", /configuration file/],
      [ok.replace("  - name: first", "  - name: first\n    tenant: acme"), "prompts.0.tenant", "other_tenant", /for tenant 'acme', not 'delta'/],
    ];
    for (const [yaml, param, code, message] of cases) {
      const err = await refused(admin.importPrompts(into, { tenantId: "", yaml }), code === "prompt_in_config" ? "conflict" : "invalid_request", code, param);
      assert.match(err, message);
      assert.deepEqual(await admin.listPrompts(into, ""), [], `${code}: all or nothing`);
    }
    await admin.importPrompts(into, { tenantId: "", yaml: ok });
    const changedV1 = ok.replace("content: hi", "content: hello");
    assert.match(await refused(admin.importPrompts(into, { tenantId: "", yaml: changedV1 }), "invalid_request", "version_differs", "prompts.0.versions.0"), /versions are immutable, so add the change as version 2/);
  });

  it("published APIs: shown from the store or the configuration, read by viewers, changed by writers of the tenant only", async () => {
    const t = "epsilon";
    await admin.publishVersion(dev(t), { tenantId: "", name: "greet", spec: { model: "demo", variables: ["who"], messages: [{ role: "user", content: "Hi {{ who }}" }] } });
    await admin.setLabel(dev(t), { tenantId: "", name: "greet", label: "production", version: 1, split: [] });
    const api = { path: "/apis/hello", prompt: "greet" };
    await refused(admin.publishApi(viewer(t), { tenantId: "", api }), "permission_denied", "role_not_allowed");
    await refused(admin.publishApi(dev("other"), { tenantId: t, api }), "permission_denied", "other_tenant");
    await refused(admin.publishApi(operator, { tenantId: "", api }), "invalid_request", "invalid_field", "tenant_id");
    await refused(admin.publishApi(dev(t), { tenantId: "", api: undefined }), "invalid_request", "invalid_api", "api");
    const made = await admin.publishApi(operator, { tenantId: t, api });
    assert.deepEqual([made.replaced, made.view.row?.createdBy, made.view.spec.access], [false, "operator", { keys: [], teams: [], roles: [] }], "defaults filled in as in the configuration");
    const shown = await admin.getApi(viewer(t), "", "/apis/hello");
    assert.deepEqual([shown.source, shown.spec.prompt], ["store", "greet"]);
    assert.deepEqual((await admin.getApi(viewer(t), "", "/apis/configured")).source, "config");
    await refused(admin.getApi(viewer(t), "", "/apis/none"), "not_found", "api_not_found", "path");
    await refused(admin.getApi(viewer("other"), "", "/apis/hello"), "not_found", "api_not_found", "path");
    assert.deepEqual((await admin.listApis(viewer(t), "")).map((v) => [v.spec.path, v.source]), [["/apis/configured", "config"], ["/apis/hello", "store"]]);
    assert.deepEqual((await admin.listApis(viewer("other"), "")).map((v) => v.spec.path), []);
    await refused(admin.deleteApi(viewer(t), { tenantId: "", path: "/apis/hello" }), "permission_denied", "role_not_allowed");
    await refused(admin.deleteApi(dev(t), { tenantId: "", path: "/apis/configured" }), "conflict", "api_in_config", "path");
    await admin.deleteApi(dev(t), { tenantId: "", path: "/apis/hello" });
    const h = await admin.listHistory(viewer(t), { tenantId: "", name: "/apis/hello", limit: 0, beforeId: "" });
    assert.deepEqual(h.map((e) => [e.action, e.actor, e.apiBefore?.prompt ?? null, e.apiAfter?.prompt ?? null]), [
      ["api.delete", "key:dev-1", "greet", null],
      ["api.publish", "operator", null, "greet"],
    ]);
  });
});
