import { test } from "node:test";
import assert from "node:assert/strict";
import { sha256Hex, TesseraError } from "@tessera/runtime";
import { createKeyring } from "./keyring.js";

const keyring = createKeyring([
  { id: "k1", tenant: "acme", team: "t", user: "", roles: ["developer"], models: [], redaction_policy: "default", keySha256: sha256Hex("secret-1") },
  { id: "k2", tenant: "beta", team: "", user: "", roles: ["viewer"], models: ["demo"], redaction_policy: "default", keySha256: sha256Hex("secret-2") },
]);

function denied(fn: () => unknown, kind: string, code: string) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TesseraError);
    assert.equal(err.kind, kind);
    assert.equal(err.details.code, code);
    assert.doesNotMatch(err.message, /secret/);
    return true;
  });
}

test("a known key resolves to its tenant and key id", () => {
  const p = keyring.authorize("secret-1", "anything");
  assert.equal(p.tenantId, "acme");
  assert.equal(p.keyId, "k1");
  assert.deepEqual(p.roles, ["developer"]);
});

test("a missing key is unauthenticated", () => denied(() => keyring.authorize("", "demo"), "unauthenticated", "missing_api_key"));

test("an unknown key is unauthenticated and not echoed", () =>
  denied(() => keyring.authorize("secret-nope", "demo"), "unauthenticated", "invalid_api_key"));

test("a model outside the key's allow-list is forbidden", () => {
  assert.equal(keyring.authorize("secret-2", "demo").tenantId, "beta");
  denied(() => keyring.authorize("secret-2", "gpt-4o"), "permission_denied", "model_not_allowed");
});
