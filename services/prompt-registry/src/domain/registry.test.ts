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
      { version: 2, model: "gpt-4o", variables: ["text", "n"], messages: [{ role: "system", content: "{{n}} words" }, { role: "user", content: "{{text}}" }] },
    ],
  },
]);

test("renders the production label by default", () => {
  const r = registry.render("acme", "summarize", "", 0, { text: "hello" });
  assert.equal(r.version, 1);
  assert.equal(r.model, "demo");
  assert.deepEqual(r.messages, [{ role: "user", content: "Summarize: hello" }]);
});

test("renders a label or an explicit version; non-strings become JSON", () => {
  assert.equal(registry.render("acme", "summarize", "staging", 0, { text: "t", n: 5 }).messages[0]!.content, "5 words");
  assert.equal(registry.render("acme", "summarize", "", 2, { text: "t", n: [1] }).messages[0]!.content, "[1] words");
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
