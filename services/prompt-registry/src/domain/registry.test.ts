import { test } from "node:test";
import assert from "node:assert/strict";
import { TesseraError } from "@tessera/runtime";
import { createRegistry } from "./registry.js";

const registry = createRegistry([
  {
    name: "summarize",
    tenant: "*",
    labels: { production: 1, staging: 2 },
    versions: [
      { version: 1, model: "demo", variables: ["text"], messages: [{ role: "user", content: "Summarize: {{ text }}" }] },
      { version: 2, model: "gpt-4o", variables: ["text", { name: "n", type: "integer" }], messages: [{ role: "system", content: "{{n}} words" }, { role: "user", content: "{{text}}" }] },
    ],
  },
]);

test("renders the production label by default", () => {
  const r = registry.render("acme", "summarize", "", 0, { text: "hello" });
  assert.equal(r.version, 1);
  assert.equal(r.model, "demo");
  assert.deepEqual(r.messages, [{ role: "user", content: "Summarize: hello" }]);
});

test("renders a label or an explicit version, typed variables as their values", () => {
  assert.equal(registry.render("acme", "summarize", "staging", 0, { text: "t", n: 5 }).messages[0]!.content, "5 words");
  assert.equal(registry.render("acme", "summarize", "", 2, { text: "t", n: 12 }).messages[0]!.content, "12 words");
  assert.throws(() => registry.render("acme", "summarize", "", 2, { text: "t", n: 1.5 }), /must be an integer/);
});

test("unknown prompt, label, version and missing variables are clear errors", () => {
  const kind = (fn: () => unknown, k: string, msg: RegExp) =>
    assert.throws(fn, (e: unknown) => e instanceof TesseraError && e.kind === k && msg.test(e.message));
  kind(() => registry.render("acme", "nope", "", 0, {}), "not_found", /Prompt 'nope' does not exist/);
  kind(() => registry.render("acme", "summarize", "canary", 0, {}), "not_found", /no label 'canary'/);
  kind(() => registry.render("acme", "summarize", "", 9, {}), "not_found", /no version 9/);
  kind(() => registry.render("acme", "summarize", "", 0, {}), "invalid_request", /Missing variable 'text'/);
});

test("a template using an undeclared variable is rejected when loaded, not at call time", () => {
  assert.throws(
    () => createRegistry([{ name: "p", tenant: "*", labels: {}, versions: [{ version: 1, model: "m", variables: [], messages: [{ role: "user", content: "{{x}}" }] }] }]),
    /undeclared variable 'x'/,
  );
});

const typed = createRegistry([
  {
    name: "triage",
    tenant: "acme",
    labels: { production: 1 },
    versions: [
      {
        version: 1,
        model: "demo",
        max_tokens: 64,
        variables: [
          "ticket",
          { name: "tone", type: "string", enum: ["formal", "casual"], default: "formal" },
          { name: "tags", type: "array", default: [] },
          { name: "urgent", type: "boolean", default: false },
        ],
        messages: [
          { role: "system", content: "Answer in a {{ tone }} tone.{% if urgent %} This is urgent.{% endif %}" },
          { role: "user", content: "{{ ticket }}{% for t in tags %} #{{ t }}{% endfor %}" },
        ],
      },
    ],
  },
]);

test("Liquid: conditionals, loops and defaults; the version's max_tokens comes along", () => {
  const r = typed.render("acme", "triage", "", 0, { ticket: "Printer on fire", tags: ["hw", "p1"], urgent: true });
  assert.deepEqual(r.messages, [
    { role: "system", content: "Answer in a formal tone. This is urgent." },
    { role: "user", content: "Printer on fire #hw #p1" },
  ]);
  assert.equal(r.maxTokens, 64);
  assert.equal(typed.render("acme", "triage", "", 0, { ticket: "x", tone: "casual" }).messages[0]!.content, "Answer in a casual tone.");
});

test("variables are checked against their declarations, naming the variable", () => {
  const err = (vars: Record<string, unknown>, code: string, param: string) =>
    assert.throws(
      () => typed.render("acme", "triage", "", 0, vars as never),
      (e: unknown) => e instanceof TesseraError && e.details.code === code && e.details.param === param,
    );
  err({}, "missing_variable", "variables.ticket");
  err({ ticket: 3 }, "invalid_variable", "variables.ticket");
  err({ ticket: "x", tone: "angry" }, "invalid_variable", "variables.tone");
  err({ ticket: "x", tags: "hw" }, "invalid_variable", "variables.tags");
  err({ ticket: "x", extra: 1 }, "unknown_variable", "variables.extra");
  assert.throws(() => typed.render("beta", "triage", "", 0, { ticket: "x" }), /does not exist/, "another tenant's prompt is invisible");
});

test("template syntax errors and undeclared variables are refused when the prompt is loaded", () => {
  const load = (content: string, variables: string[] = []) =>
    createRegistry([{ name: "p", tenant: "*", labels: { production: 1 }, versions: [{ version: 1, model: "m", variables, messages: [{ role: "user", content }] }] }]);
  assert.throws(() => load("{% if x %}unclosed", ["x"]), /prompts\.p\.versions\.1\.messages\.0: template syntax error/);
  assert.throws(() => load("{{ tpyo }}", ["typo"]), /undeclared variable 'tpyo'/);
  assert.doesNotThrow(() => load("{{ a | upcase }}", ["a"]));
});

test("templates cannot reach beyond their values (no code, no prototype walking)", () => {
  const r = createRegistry([{ name: "p", tenant: "*", labels: { production: 1 }, versions: [{ version: 1, model: "m", variables: [{ name: "o", type: "object" }], messages: [{ role: "user", content: "[{{ o.constructor }}]" }] }] }]);
  assert.throws(() => r.render("t", "p", "", 0, { o: {} }), (e: unknown) => e instanceof TesseraError && e.details.code === "render_failed");
});
