import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { JsonObject } from "@bufbuild/protobuf";
import { parseConfig, TesseraError, type PromptApiConfig } from "@tessera/runtime";
import { createRegistry, type Prompt } from "./registry.js";
import { createApis, planApis } from "./apis.js";

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
  const registry = createRegistry(PROMPTS);
  const apis = createApis([CHAIN, api({ path: "/apis/classify", prompt: "classify" })], PROMPTS, registry);
  const kind = (fn: () => unknown, k: string, code: string, msg: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof TesseraError && e.kind === k && e.details.code === code && msg.test(e.message));

  test("the plan lists the steps and checks the input (400 naming the variable)", () => {
    assert.deepEqual(apis.resolve("acme", "/apis/support/reply", { ticket: "t" }), {
      steps: [
        { name: "extract", prompt: "extract" },
        { name: "classify", prompt: "classify" },
        { name: "draft", prompt: "draft" },
      ],
      input: { ticket: "t" },
    });
    kind(() => apis.resolve("acme", "/apis/support/reply", {}), "invalid_request", "missing_variable", /^Missing variable 'ticket' for API '\/apis\/support\/reply'\.$/);
    kind(() => apis.resolve("acme", "/apis/support/reply", { ticket: 3 }), "invalid_request", "invalid_variable", /Variable 'ticket' of API '\/apis\/support\/reply' must be a string/);
    kind(() => apis.resolve("beta", "/apis/support/reply", { ticket: "t" }), "not_found", "api_not_found", /no prompt API at \/apis\/support\/reply for your tenant/);
  });

  test("each step renders with variables mapped from the input and earlier outputs, values keeping their type", () => {
    const context: JsonObject = { input: { ticket: "my invoice" }, steps: {} };
    assert.equal(apis.renderStep("acme", "/apis/support/reply", 0, context).messages[0]!.content, "Extract: my invoice");
    (context["steps"] as JsonObject)["extract"] = { output: { customer: "C-7", topic: "billing" } };
    const classify = apis.renderStep("acme", "/apis/support/reply", 1, context);
    assert.equal(classify.version, 2, "the step's label picks the version");
    assert.equal(classify.messages[0]!.content, "Classify BILLING (none)");
    (context["steps"] as JsonObject)["classify"] = { output: "refund" };
    // facts is an object variable: the lone expression hands over the parsed output itself.
    assert.equal(apis.renderStep("acme", "/apis/support/reply", 2, context).messages[0]!.content, "Dear C-7, about refund (billing)");
  });

  test("a single-prompt API checks the prompt's own variables", () => {
    assert.equal(apis.renderStep("acme", "/apis/classify", 0, { input: { topic: "x" } }).messages[0]!.content, "Classify x");
    kind(() => apis.renderStep("acme", "/apis/classify", 0, { input: {} }), "invalid_request", "missing_variable", /Missing variable 'topic' for prompt 'classify'/);
  });

  test("an earlier output without the property a mapping reads is a 502 naming the variable", () => {
    const context = { input: { ticket: "t" }, steps: { extract: { output: { customer: "C-7" } } } };
    kind(() => apis.renderStep("acme", "/apis/support/reply", 1, context), "upstream_error", "chain_mapping_failed", /^Variable 'topic' of prompt 'classify' could not be mapped: undefined variable: steps\.extract\.output\.topic\.$/);
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
