import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { JsonObject } from "@bufbuild/protobuf";
import { parseConfig, TesseraError, type PromptApiConfig } from "@tessera/runtime";
import { createRegistry, type Prompt } from "./registry.js";
import { configPrompts, createApis, planApis, type Apis } from "./apis.js";
import { createPromptAdmin, type Caller } from "./admin.js";
import { createPromptRenderer } from "./renderer.js";
import { counting, memoryPromptStore } from "./store-contract.js";
import type { PromptStore } from "./store.js";

const PROMPTS: Prompt[] = [
  {
    name: "extract",
    tenant: "*",
    labels: { production: 1 },
    versions: [
      {
        version: 1,
        model: "demo",
        variables: ["ticket"],
        output_schema: { type: "object", required: ["customer"], properties: { customer: { type: "string" }, topic: { type: "string" } } },
        messages: [{ role: "user", content: "Extract: {{ ticket }}" }],
      },
    ],
  },
  {
    name: "classify",
    tenant: "acme",
    labels: { production: 1, staging: 2 },
    versions: [
      { version: 1, model: "demo", variables: ["topic"], messages: [{ role: "user", content: "Classify {{ topic }}" }] },
      { version: 2, model: "demo", variables: ["topic", { name: "hint", type: "string", default: "none" }], messages: [{ role: "user", content: "Classify {{ topic }} ({{ hint }})" }] },
    ],
  },
  {
    name: "draft",
    tenant: "*",
    labels: { production: 1 },
    versions: [
      {
        version: 1,
        model: "demo",
        variables: ["customer", "category", { name: "facts", type: "object" }],
        messages: [{ role: "user", content: "Dear {{ customer }}, about {{ category }} ({{ facts.topic }})" }],
      },
    ],
  },
];

/** An API as the configuration would hold it (defaults filled in by the config schema). */
function api(over: Partial<PromptApiConfig>): PromptApiConfig {
  return { path: "/apis/support/reply", tenant: "acme", description: "", input: [], access: { keys: [], teams: [], roles: [] }, requires_approval: false, ...over };
}

const CHAIN = api({
  input: ["ticket"],
  steps: [
    { name: "extract", prompt: "extract", variables: { ticket: "{{ input.ticket }}" } },
    { name: "classify", prompt: "classify", label: "staging", variables: { topic: "{{ steps.extract.output.topic | upcase }}" } },
    { name: "draft", prompt: "draft", variables: { customer: "{{ steps.extract.output.customer }}", category: "{{ steps.classify.output }}", facts: "{{ steps.extract.output }}" } },
  ],
});

/** The load error of one API, or "" when it loads. */
function loadError(a: PromptApiConfig): string {
  try {
    planApis([a], PROMPTS);
    return "";
  } catch (err) {
    return (err as Error).message;
  }
}

describe("chain planner: checked once, when the configuration loads", () => {
  test("a valid chain is planned in order with its input declared", () => {
    const plan = planApis([CHAIN], PROMPTS).get("acme\u0000/apis/support/reply")!;
    assert.deepEqual(
      plan.steps.map((s) => [s.name, s.prompt, s.label, s.version]),
      [
        ["extract", "extract", "", 0],
        ["classify", "classify", "staging", 0],
        ["draft", "draft", "", 0],
      ],
    );
    assert.deepEqual(plan.input?.map((d) => d.name), ["ticket"]);
  });

  test("a single prompt without mappings passes the input through as the prompt's variables", () => {
    const plan = planApis([api({ path: "/apis/x", prompt: "classify", version: 2 })], PROMPTS).get("acme\u0000/apis/x")!;
    assert.equal(plan.input, undefined);
    assert.deepEqual(plan.steps.map((s) => [s.name, s.version, s.mappings]), [["classify", 2, undefined]]);
  });

  test("references to unknown, later or own steps are refused, a cycle is named as one", () => {
    const steps = CHAIN.steps!;
    assert.match(
      loadError(api({ input: ["ticket"], steps: [steps[0]!, { ...steps[1]!, variables: { topic: "{{ steps.extrakt.output }}" } }] })),
      /^prompt_apis\.0\.steps\.1\.variables\.topic: unknown step 'extrakt' \(steps: extract, classify\)$/,
    );
    assert.match(
      loadError(api({ input: ["ticket"], steps: [{ ...steps[0]!, variables: { ticket: "{{ steps.classify.output }}" } }, { ...steps[1]!, variables: { topic: "{{ input.ticket }}" } }] })),
      /^prompt_apis\.0\.steps\.0\.variables: step 'extract' reads step 'classify', which runs after it/,
    );
    assert.match(
      loadError(api({ input: ["ticket"], steps: [{ ...steps[0]!, variables: { ticket: "{{ steps.classify.output }}" } }, steps[1]!] })),
      /^prompt_apis\.0\.steps\.0\.variables: cycle between steps: extract → classify → extract$/,
    );
    assert.match(loadError(api({ input: ["ticket"], steps: [{ ...steps[0]!, variables: { ticket: "{{ steps.extract.output }}" } }] })), /step 'extract' reads its own output/);
  });

  test("unknown prompts, labels, versions and mapped variables name the field", () => {
    assert.equal(loadError(api({ prompt: "nope" })), "prompt_apis.0.prompt: unknown prompt 'nope' for tenant acme");
    assert.equal(loadError(api({ tenant: "beta", prompt: "classify" })), "prompt_apis.0.prompt: unknown prompt 'classify' for tenant beta", "another tenant's prompt is not visible");
    assert.equal(loadError(api({ prompt: "classify", label: "canary" })), "prompt_apis.0.label: prompt 'classify' has no label 'canary' (labels: production, staging)");
    assert.equal(loadError(api({ prompt: "classify", version: 7 })), "prompt_apis.0.version: prompt 'classify' has no version 7");
    assert.equal(
      loadError(api({ prompt: "classify", input: ["t"], variables: { topic: "{{ input.t }}", tone: "x" } })),
      "prompt_apis.0.variables.tone: prompt 'classify' version 1 has no variable 'tone' (it takes topic)",
    );
  });

  test("input, output properties, required variables and syntax are checked", () => {
    assert.match(loadError(api({ prompt: "classify", variables: { topic: "{{ input.subject }}" } })), /variables\.topic: reads input\.subject, which is not declared under input \(declared: none\)/);
    assert.match(loadError(api({ prompt: "classify", input: ["t"] })), /input: an API with input maps it to the prompt's variables/);
    assert.match(loadError(api({ prompt: "classify", input: ["t"], variables: {} })), /variables: required variable 'topic' of prompt 'classify' is not mapped/);
    assert.match(loadError(api({ prompt: "classify", input: ["t"], variables: { topic: "{{ input.t " } })), /variables\.topic: template syntax error/);
    assert.match(loadError(api({ prompt: "classify", input: ["t"], variables: { topic: "{{ secrets.t }}" } })), /unknown name 'secrets\.t'; mappings read input/);
    const steps = CHAIN.steps!;
    assert.match(
      loadError(api({ input: ["ticket"], steps: [steps[0]!, { ...steps[1]!, variables: { topic: "{{ steps.extract.output.city }}" } }] })),
      /the output of step 'extract' has no property 'city' \(its output_schema declares customer, topic\)/,
    );
    assert.match(
      loadError(api({ input: ["ticket"], steps: [steps[0]!, steps[1]!, { name: "again", prompt: "classify", variables: { topic: "{{ steps.classify.output.label }}" } }] })),
      /step 'classify' answers text \(prompt 'classify' version 2 has no output_schema\); read steps\.classify\.output/,
    );
    assert.match(loadError(api({ input: ["ticket"], steps: [steps[0]!, { ...steps[1]!, name: "extract" }] })), /steps\.1\.name: duplicate step name 'extract'/);
    assert.match(loadError(api({ input: ["ticket"], steps: [steps[0]!, { name: "classify", prompt: "classify" }] })), /steps\.1\.variables: every step of a chain maps/);
  });
});

describe("published APIs at call time", () => {
  let store: PromptStore;
  let apis: Apis;
  before(async () => {
    store = await memoryPromptStore();
    const renderer = createPromptRenderer({ config: createRegistry(PROMPTS), store, labelCacheMs: 1000 });
    apis = createApis({ configured: [CHAIN, api({ path: "/apis/classify", prompt: "classify" })], prompts: PROMPTS, renderer, store, cacheMs: 1000 });
  });
  after(() => store.close());
  const kind = (p: Promise<unknown>, k: string, code: string, msg: RegExp) =>
    assert.rejects(p, (e: unknown) => e instanceof TesseraError && e.kind === k && e.details.code === code && msg.test(e.message));

  test("the plan lists the steps, checks the input (400 naming the variable) and carries the access rules", async () => {
    assert.deepEqual(await apis.resolve("acme", "/apis/support/reply", { ticket: "t" }), {
      steps: [
        { name: "extract", prompt: "extract" },
        { name: "classify", prompt: "classify" },
        { name: "draft", prompt: "draft" },
      ],
      input: { ticket: "t" },
      access: { keys: [], teams: [], roles: [] },
      requiresApproval: false,
    });
    await kind(apis.resolve("acme", "/apis/support/reply", {}), "invalid_request", "missing_variable", /^Missing variable 'ticket' for API '\/apis\/support\/reply'\.$/);
    await kind(apis.resolve("acme", "/apis/support/reply", { ticket: 3 }), "invalid_request", "invalid_variable", /Variable 'ticket' of API '\/apis\/support\/reply' must be a string/);
    await kind(apis.resolve("beta", "/apis/support/reply", { ticket: "t" }), "not_found", "api_not_found", /no prompt API at \/apis\/support\/reply for your tenant/);
  });

  test("each step renders with variables mapped from the input and earlier outputs, values keeping their type", async () => {
    const context: JsonObject = { input: { ticket: "my invoice" }, steps: {} };
    assert.equal((await apis.renderStep("acme", "/apis/support/reply", 0, context)).messages[0]!.content, "Extract: my invoice");
    (context["steps"] as JsonObject)["extract"] = { output: { customer: "C-7", topic: "billing" } };
    const classify = await apis.renderStep("acme", "/apis/support/reply", 1, context);
    assert.equal(classify.version, 2, "the step's label picks the version");
    assert.equal(classify.messages[0]!.content, "Classify BILLING (none)");
    (context["steps"] as JsonObject)["classify"] = { output: "refund" };
    // facts is an object variable: the lone expression hands over the parsed output itself.
    assert.equal((await apis.renderStep("acme", "/apis/support/reply", 2, context)).messages[0]!.content, "Dear C-7, about refund (billing)");
  });

  test("a single-prompt API checks the prompt's own variables", async () => {
    assert.equal((await apis.renderStep("acme", "/apis/classify", 0, { input: { topic: "x" } })).messages[0]!.content, "Classify x");
    await kind(apis.renderStep("acme", "/apis/classify", 0, { input: {} }), "invalid_request", "missing_variable", /Missing variable 'topic' for prompt 'classify'/);
  });

  test("an earlier output without the property a mapping reads is a 502 naming the variable", async () => {
    const context = { input: { ticket: "t" }, steps: { extract: { output: { customer: "C-7" } } } };
    await kind(apis.renderStep("acme", "/apis/support/reply", 1, context), "upstream_error", "chain_mapping_failed", /^Variable 'topic' of prompt 'classify' could not be mapped: undefined variable: steps\.extract\.output\.topic\.$/);
  });
});

describe("APIs published at run time over stored and configured prompts", () => {
  const dev: Caller = { operator: false, tenantId: "acme", roles: ["developer"], actor: "key:dev" };
  /** A stored prompt "greet" (v1: {{ who }}, v2: {{ who }} and {{ tone }}) labelled production → 1. */
  async function setUp() {
    const cacheMs = 60_000;
    const raw = await memoryPromptStore();
    const c = counting(raw);
    const config = createRegistry(PROMPTS);
    const renderer = createPromptRenderer({ config, store: c.store, labelCacheMs: cacheMs });
    const apis = createApis({ configured: [], prompts: PROMPTS, renderer, store: c.store, cacheMs });
    const admin = createPromptAdmin({ store: raw, models: new Set(["demo"]), inConfig: config.has, onChange: renderer.changed, configApis: [api({ path: "/apis/taken", prompt: "classify" })], configPrompts: configPrompts(PROMPTS), onApiChange: apis.changed });
    const greet = (content: string, variables: unknown[]) => admin.publishVersion(dev, { tenantId: "", name: "greet", spec: { model: "demo", variables, messages: [{ role: "user", content }] } });
    await greet("Hello {{ who }}", ["who"]);
    await greet("Hello {{ who }}, {{ tone }}", ["who", "tone"]);
    await admin.setLabel(dev, { tenantId: "", name: "greet", label: "production", version: 1, split: [] });
    return { store: raw, reads: c.reads, apis, admin, renderer };
  }
  /** A test with its own store and services, closed after it. */
  const scenario = (name: string, fn: (t: Awaited<ReturnType<typeof setUp>>) => Promise<void>) =>
    test(name, async () => {
      const t = await setUp();
      try {
        await fn(t);
      } finally {
        await t.store.close();
      }
    });
  /** A chain: the stored prompt greets, the configured classify reads its answer. */
  const CHAINED = { path: "/apis/greet/classify", input: ["name"], steps: [{ name: "greet", prompt: "greet", variables: { who: "{{ input.name }}" } }, { name: "classify", prompt: "classify", variables: { topic: "{{ steps.greet.output }}" } }] };
  const planError = (p: Promise<unknown>, param: string, message: RegExp) =>
    assert.rejects(p, (e: unknown) => e instanceof TesseraError && e.details.code === "invalid_api" && e.details.param === param && message.test(e.message));

  scenario("a chain over a stored and a configured prompt is served after publishing, with no store read per call", async (t) => {
    const r = await t.admin.publishApi(dev, { tenantId: "", api: CHAINED });
    assert.deepEqual([r.replaced, r.view.source, r.view.row?.createdBy], [false, "store", "key:dev"]);
    const plan = await t.apis.resolve("acme", "/apis/greet/classify", { name: "Ann" });
    assert.deepEqual(plan.steps, [{ name: "greet", prompt: "greet" }, { name: "classify", prompt: "classify" }]);
    assert.equal((await t.apis.renderStep("acme", CHAINED.path, 0, { input: plan.input, steps: {} }, "k")).messages[0]!.content, "Hello Ann");
    const second = await t.apis.renderStep("acme", CHAINED.path, 1, { input: plan.input, steps: { greet: { output: "hi there" } } }, "k");
    assert.equal(second.messages[0]!.content, "Classify hi there");
    const before = t.reads();
    for (let i = 0; i < 100; i++) {
      await t.apis.resolve("acme", CHAINED.path, { name: `u${i}` });
      await t.apis.renderStep("acme", CHAINED.path, 0, { input: { name: "x" }, steps: {} }, `u${i}`);
    }
    await assert.rejects(t.apis.resolve("acme", "/apis/none", {}), /no prompt API at \/apis\/none/);
    await assert.rejects(t.apis.resolve("acme", "/apis/none", {}), /no prompt API at \/apis\/none/);
    assert.equal(t.reads() - before, 1, "200 calls, one read: the unknown path, once");
    const h = await t.admin.listHistory(dev, { tenantId: "", name: CHAINED.path, limit: 0, beforeId: "" });
    assert.deepEqual(h.map((e) => [e.action, e.actor, e.apiBefore, e.apiAfter?.steps?.length]), [["api.publish", "key:dev", null, 2]]);
  });

  scenario("republished, the new definition is served at once here; unpublished, the path is a 404", async (t) => {
    await t.admin.publishApi(dev, { tenantId: "", api: CHAINED });
    await t.apis.resolve("acme", CHAINED.path, { name: "Ann" });
    const r = await t.admin.publishApi(dev, { tenantId: "", api: { path: CHAINED.path, prompt: "greet", version: 2, access: { teams: ["core"] }, requires_approval: true } });
    assert.equal(r.replaced, true);
    const plan = await t.apis.resolve("acme", CHAINED.path, { who: "Bo", tone: "warm" });
    assert.deepEqual([plan.steps, plan.access, plan.requiresApproval], [[{ name: "greet", prompt: "greet" }], { keys: [], teams: ["core"], roles: [] }, true]);
    assert.equal((await t.apis.renderStep("acme", CHAINED.path, 0, { input: plan.input }, "")).messages[0]!.content, "Hello Bo, warm");
    assert.deepEqual((await t.admin.listApis(dev, "")).map((v) => [v.spec.path, v.source]), [["/apis/greet/classify", "store"], ["/apis/taken", "config"]]);
    await t.admin.deleteApi(dev, { tenantId: "", path: CHAINED.path });
    await assert.rejects(t.apis.resolve("acme", CHAINED.path, {}), (e: unknown) => e instanceof TesseraError && e.details.code === "api_not_found");
    await assert.rejects(t.admin.deleteApi(dev, { tenantId: "", path: CHAINED.path }), (e: unknown) => e instanceof TesseraError && e.details.code === "api_not_found");
    const h = await t.admin.listHistory(dev, { tenantId: "", name: CHAINED.path, limit: 0, beforeId: "" });
    assert.deepEqual(h.map((e) => [e.action, e.apiBefore?.prompt ?? e.apiBefore?.steps?.length ?? null, e.apiAfter?.prompt ?? e.apiAfter?.steps?.length ?? null]), [
      ["api.delete", "greet", null],
      ["api.publish", 2, "greet"],
      ["api.publish", null, 2],
    ]);
  });

  scenario("another replica serves a published or unpublished API within the cache time", async (t) => {
    const other = createApis({ configured: [], prompts: PROMPTS, renderer: t.renderer, store: t.store, cacheMs: 100 });
    await assert.rejects(other.resolve("acme", CHAINED.path, { name: "x" }), /no prompt API/);
    await t.admin.publishApi(dev, { tenantId: "", api: CHAINED });
    await assert.rejects(other.resolve("acme", CHAINED.path, { name: "x" }), /no prompt API/, "the miss is cached");
    await new Promise((r) => setTimeout(r, 120));
    assert.equal((await other.resolve("acme", CHAINED.path, { name: "x" })).steps.length, 2);
  });

  scenario("publish-time errors name the field: unknown prompt or label, bad mapping, a configured API's path, bad shape", async (t) => {
    const step0 = CHAINED.steps[0]!;
    await planError(t.admin.publishApi(dev, { tenantId: "", api: { ...CHAINED, steps: [{ ...step0, prompt: "gret" }, CHAINED.steps[1]] } }), "api.steps.0.prompt", /^api\.steps\.0\.prompt: unknown prompt 'gret' for tenant acme$/);
    await planError(t.admin.publishApi(dev, { tenantId: "", api: { ...CHAINED, steps: [{ ...step0, label: "staging" }, CHAINED.steps[1]] } }), "api.steps.0.label", /prompt 'greet' has no label 'staging' \(labels: production\)/);
    await planError(t.admin.publishApi(dev, { tenantId: "", api: { ...CHAINED, steps: [{ ...step0, version: 9 }, CHAINED.steps[1]] } }), "api.steps.0.version", /prompt 'greet' has no version 9/);
    await planError(t.admin.publishApi(dev, { tenantId: "", api: { ...CHAINED, steps: [{ ...step0, variables: { who: "{{ input.nmae }}" } }, CHAINED.steps[1]] } }), "api.steps.0.variables.who", /reads input\.nmae, which is not declared under input \(declared: name\)/);
    await planError(t.admin.publishApi(dev, { tenantId: "", api: { ...CHAINED, steps: [{ ...step0, variables: { who: "{{ input.name }}", tone: "x" } }, CHAINED.steps[1]] } }), "api.steps.0.variables.tone", /prompt 'greet' version 1 has no variable 'tone' \(it takes who\)/);
    await planError(t.admin.publishApi(dev, { tenantId: "", api: { path: "/v1/x", prompt: "greet" } }), "api.path", /^api\.path: must be \/apis\//);
    await planError(t.admin.publishApi(dev, { tenantId: "", api: { path: "/apis/x", prompt: "greet", steps: CHAINED.steps } }), "api", /give exactly one of prompt/);
    await assert.rejects(t.admin.publishApi(dev, { tenantId: "", api: { path: "/apis/taken", prompt: "greet" } }), (e: unknown) => e instanceof TesseraError && e.kind === "conflict" && e.details.code === "api_in_config");
    await assert.rejects(t.admin.publishApi({ ...dev, roles: ["viewer"] }, { tenantId: "", api: CHAINED }), (e: unknown) => e instanceof TesseraError && e.details.code === "role_not_allowed");
    assert.deepEqual(await t.store.listApis("acme"), [], "nothing stored");
  });

  scenario("a label move or delete that would break a published API is refused, naming the API", async (t) => {
    // v2 needs tone, which the API does not map.
    await t.admin.publishApi(dev, { tenantId: "", api: CHAINED });
    const moved = t.admin.setLabel(dev, { tenantId: "", name: "greet", label: "production", version: 2, split: [] });
    await assert.rejects(moved, (e: unknown) => e instanceof TesseraError && e.details.code === "api_depends_on_label" && /^Moving label 'production' of prompt 'greet' to version 2 would break the published API \/apis\/greet\/classify \(api\.steps\.0\.variables: required variable 'tone' of prompt 'greet' is not mapped\)/.test(e.message));
    await assert.rejects(t.admin.deleteLabel(dev, { tenantId: "", name: "greet", label: "production" }), (e: unknown) => e instanceof TesseraError && e.details.code === "api_depends_on_label");
    await assert.rejects(t.admin.setLabel(dev, { tenantId: "", name: "greet", label: "production", version: 0, split: [{ version: 1, weight: 90 }, { version: 2, weight: 10 }] }), /would break the published API/, "every version of a split is checked");
    await t.admin.setLabel(dev, { tenantId: "", name: "greet", label: "staging", version: 2, split: [] });
    await t.admin.deleteApi(dev, { tenantId: "", path: CHAINED.path });
    await t.admin.setLabel(dev, { tenantId: "", name: "greet", label: "production", version: 2, split: [] });
  });
});

describe("prompt_apis in the configuration file", () => {
  const yaml = (apis: string, keys = "") => `
api_keys:
  - { id: k, tenant: acme, key_sha256: ${"a".repeat(64)}${keys} }
prompts:
  - { name: classify, versions: [{ version: 1, model: demo, variables: [topic], messages: [{ role: user, content: "{{ topic }}" }] }] }
prompt_apis:
${apis}`;
  const problem = (text: string) => {
    try {
      parseConfig(text, "t.yaml", {});
      return "";
    } catch (err) {
      return (err as Error).message;
    }
  };

  test("path shape, one of prompt or steps, duplicates and keys' API lists are checked", () => {
    assert.equal(problem(yaml("  - { path: /apis/a, tenant: acme, prompt: classify }", ", apis: [/apis/a, '/apis/b*']")), "");
    assert.match(problem(yaml("  - { path: /v1/a, tenant: acme, prompt: classify }")), /prompt_apis\.0\.path: must be \/apis\/ then 1-8 segments/);
    assert.match(problem(yaml("  - { path: /apis/a/../b, tenant: acme, prompt: classify }")), /prompt_apis\.0\.path/);
    assert.match(problem(yaml("  - { path: /apis/a, tenant: acme }")), /give exactly one of prompt \(one prompt\) or steps \(a chain\)/);
    assert.match(problem(yaml("  - { path: /apis/a, tenant: acme, prompt: classify, label: x, version: 1 }")), /give label or version, not both/);
    assert.match(problem(yaml("  - { path: /apis/a, tenant: acme, prompt: classify }\n  - { path: /apis/a, tenant: acme, prompt: classify }")), /prompt_apis\.1\.path: duplicate API \/apis\/a for tenant acme/);
    assert.match(problem(yaml("  - { path: /apis/a, tenant: acme, prompt: classify }", ", apis: [/apis/z]")), /api_keys\.0\.apis\.0: no prompt API "\/apis\/z" for tenant acme/);
    assert.match(problem(yaml("  - { path: /apis/a, tenant: acme, prompt: classify, access: { roles: [viewer] } }")), /prompt_apis\.0\.access\.roles\.0/);
  });
});
